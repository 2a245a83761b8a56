"""Client CA names with no /proc, and the server without them where a Python cannot.

The mechanism (``harness.server.ca_names``) is exercised end to end by test_fidelity.py
(s_client lists the names; JSSE withholds a certificate whose issuer is not
listed) and test_catalogue.py; here: that it reads no process maps, and that
the fallback, forced, starts the server, says so in one line, and skips (or,
under CI=true, fails) exactly the scenarios whose outcome depends on the names.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from harness.build import write_scenario_files
from harness.errors import ServerError
from harness.scenario import load_scenario
from harness.server import LocalServer, ca_names
from tests.conftest import REPO
from tests.test_catalogue import _s_client
from tests.test_cli import Served

OFF_LINE = f"CA names are off on this platform: switched off by {ca_names.CA_NAMES_ENV}=off"


@pytest.fixture(autouse=True)
def _fresh_answer() -> Iterator[None]:
    # unavailable_reason() is proved once per process and switch value; tests
    # that replace the finder must not see, or leave, a cached answer.
    ca_names._reason.cache_clear()
    yield
    ca_names._reason.cache_clear()


@pytest.fixture
def client_cas(tmp_path: Path) -> Path:
    path = tmp_path / "client-cas.pem"
    for ca in (trustme.CA(), trustme.CA()):
        with path.open("ab") as out:
            out.write(ca.cert_pem.bytes())
    return path


AUDIT = """
import json, ssl, sys
from pathlib import Path
seen = []
def hook(event, args):
    if event == "open" and str(args[0]).startswith("/proc"):
        seen.append(str(args[0]))
    elif event == "ctypes.dlopen":
        seen.append("dlopen " + str(args[0]))
sys.addaudithook(hook)
from harness.server import ca_names
import _ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ca_names.advertise(ctx, Path(sys.argv[1]))
names = ca_names.advertised_names(ctx)
during = list(seen)
open("/proc/self/maps").close()  # the control: a /proc read is seen
print(json.dumps({"names": names, "during": during, "control": seen[len(during):], "ssl": _ssl.__file__}))
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="the control needs a /proc to read")
def test_advertises_without_reading_proc(client_cas: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", AUDIT, str(client_cas)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert seen["names"] == 2  # both CAs, read back through OpenSSL
    assert seen["control"] == ["/proc/self/maps"]
    assert not [s for s in seen["during"] if "/proc" in s], seen["during"]
    # Nothing but handles on what is loaded already: _ssl itself and the process (libc's write).
    assert set(seen["during"]) <= {f"dlopen {seen['ssl']}", "dlopen None"}, seen["during"]


def test_refused_candidate_is_unavailable_not_a_crash(client_cas: Path) -> None:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # A library without OpenSSL's functions (a static OpenSSL exports none).
    empty = ca_names.OpenSSL("a library without OpenSSL", [])
    with pytest.raises(ca_names.CaNamesUnavailable, match="OpenSSL_version_num not found through a library"):
        ca_names._ssl_ctx_pointer(ctx, empty, object.__basicsize__)
    # Unmapped and misaligned addresses are refused before any dereference.
    assert not ca_names._readable(8, 64)
    assert not ca_names._readable(id(ctx) + 1, 8)
    assert ca_names._readable(id(ctx), 8)


def test_no_libssl_found_means_off_with_the_reason(monkeypatch: pytest.MonkeyPatch, client_cas: Path) -> None:
    import ssl

    monkeypatch.setattr(ca_names, "_loaded_libssl", tuple)
    reason = ca_names.unavailable_reason()
    assert reason is not None
    assert reason.startswith("CA names are off on this platform: ")
    assert "\n" not in reason
    with pytest.raises(ca_names.CaNamesUnavailable):
        ca_names.advertise(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), client_cas)


def test_available_here_and_a_bad_ca_file_is_still_an_error(tmp_path: Path) -> None:
    import ssl

    assert ca_names.unavailable_reason() is None
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ServerError, match="no CA certificate names could be read") as raised:
        ca_names.advertise(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), junk)
    assert not isinstance(raised.value, ca_names.CaNamesUnavailable)


@pytest.mark.openssl
@pytest.mark.parametrize("switch", ["off", None], ids=["forced-off", "on"])
def test_server_starts_without_names_when_off(
    monkeypatch: pytest.MonkeyPatch, openssl: str, tmp_path: Path, switch: str | None
) -> None:
    if switch is None:
        monkeypatch.delenv(ca_names.CA_NAMES_ENV, raising=False)
    else:
        monkeypatch.setenv(ca_names.CA_NAMES_ENV, switch)
    scenario = load_scenario(REPO / "scenarios" / "ok-rsa.toml")
    built = write_scenario_files(scenario, tmp_path)
    with LocalServer(built.server) as server:
        output = _s_client(openssl, scenario, tmp_path, server.port)
        (record,) = server.wait_for_handshakes(1, timeout=5)
    assert record.accepted
    if switch == "off":
        assert ca_names.unavailable_reason() == OFF_LINE
        assert "No client certificate CA names sent" in output
    else:
        assert ca_names.unavailable_reason() is None
        assert "Acceptable client certificate CA names" in output


@pytest.mark.parametrize("switch", ["off", None], ids=["forced-off", "on"])
def test_serve_says_so_in_one_line(tmp_path: Path, switch: str | None) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != ca_names.CA_NAMES_ENV}
    if switch:
        env[ca_names.CA_NAMES_ENV] = switch
    served = Served([str(REPO / "scenarios" / "client-cert-missing-ca-names.toml")], tmp_path, env)
    try:
        assert served.line().startswith("listening on https://127.0.0.1:")
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=30) == 0
        stderr = served.stderr()
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(30)
        served._reader.join(30)
        for stream in (served.process.stdout, served.process.stderr):
            if stream is not None:
                stream.close()
    assert "Traceback" not in stderr
    if switch:
        assert stderr == f"mtls-harness serve: {OFF_LINE}\n"
    else:
        assert stderr == ""


# -- the plugin: skip what depends on the names, fail it in CI -------------------------------

DEPENDENT = ("client-cert-missing-ca-names", "keystore-ambiguous-ca-names")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "scenarios").mkdir()
    for name in (*DEPENDENT, "ok-rsa"):
        shutil.copy(REPO / "scenarios" / f"{name}.toml", pytester.path / "scenarios")
    pytester.makeini("[pytest]\nmtls_scenarios = scenarios\n")
    return pytester


@pytest.mark.jdk
@pytest.mark.parametrize(
    ("switch", "ci", "outcomes"),
    [
        ("off", "", {"passed": 4, "skipped": 2}),
        ("off", "true", {"passed": 4, "failed": 2}),
        (None, "", {"passed": 6}),
    ],
    ids=["off-skips", "off-fails-in-ci", "on-runs-all"],
)
def test_plugin_skips_only_scenarios_that_depend_on_the_names(
    project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    java: str,
    switch: str | None,
    ci: str,
    outcomes: dict[str, int],
) -> None:
    if switch is None:
        monkeypatch.delenv(ca_names.CA_NAMES_ENV, raising=False)
    else:
        monkeypatch.setenv(ca_names.CA_NAMES_ENV, switch)
    monkeypatch.setenv("CI", ci)
    result = project.runpytest("-rsf")
    result.assert_outcomes(**outcomes)
    text = result.stdout.str()
    assert "Traceback" not in text
    affected = [line for line in result.outlines if line.startswith(("SKIPPED", "FAILED"))]
    named = sorted(name for line in affected for name in (*DEPENDENT, "ok-rsa") if f"{name}[jsse]" in line)
    assert named == (sorted(DEPENDENT) if switch else [])
    assert not [line for line in affected if "[python]" in line]
    if switch:
        assert f"mtls-harness: {OFF_LINE}" in result.outlines
        assert all(OFF_LINE in line and "depends on them" in line for line in affected), affected
    else:
        assert "CA names are off" not in text


def test_a_loader_that_raises_means_off_not_a_traceback(monkeypatch: pytest.MonkeyPatch, client_cas: Path) -> None:
    import ssl

    from harness.server.tls_context import make_server_context

    def refuse() -> tuple[ca_names.OpenSSL, ...]:
        raise OSError("dlopen refused")

    monkeypatch.setattr(ca_names, "_loaded_libssl", refuse)
    reason = ca_names.unavailable_reason()
    assert reason is not None
    assert "(OSError)" in reason
    records: list[object] = []
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    chain, key = client_cas.parent / "chain.pem", client_cas.parent / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(chain))
    leaf.private_key_pem.write_to_path(str(key))
    server = make_server_context(
        cert_chain=chain,
        key=key,
        client_cas=client_cas,
        client_auth="required",
        tls_versions=("1.3",),
        advertise_ca_names=True,
        on_record=records.append,
    )
    assert isinstance(server, ssl.SSLContext)
