"""The fixtures for users' own tests (``mtls_server``, ``mtls_stores``), over real loopback TLS."""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.scenario import load_scenario
from harness.secret import Secret
from harness.stores import read_store
from harness.testing import PemFiles
from tests.conftest import REPO

OK = REPO / "scenarios" / "ok-rsa.toml"
UNTRUSTED = REPO / "scenarios" / "client-cert-untrusted.toml"


def post(url: str, pem: PemFiles, *, with_certificate: bool = True) -> int | str:
    """A client of the kind a team writes: stdlib urllib, the PEM files; the HTTP status or the TLS error."""
    assert pem.server_ca is not None
    context = ssl.create_default_context(cafile=str(pem.server_ca))
    if with_certificate:
        assert pem.client_chain is not None
        assert pem.client_key is not None
        context.load_cert_chain(pem.client_chain, pem.client_key)
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=b"{}", headers=headers)  # noqa: S310 - an https URL of the test
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:  # noqa: S310 - https only
            return int(answer.status)
    except urllib.error.URLError as exc:
        reason = exc.reason
        return str(getattr(reason, "reason", None) or reason)
    except (ssl.SSLError, ConnectionError) as exc:
        return str(getattr(exc, "reason", None) or type(exc).__name__)


def test_mtls_server_accepts_the_scenario_client_and_records_it(mtls_server: Any) -> None:
    srv = mtls_server(OK)
    assert srv.url.startswith("https://127.0.0.1:")
    assert srv.destination.url == srv.url
    assert post(srv.url, srv.pem) == 200
    (record,) = srv.wait_for_records(1)
    assert record.accepted
    assert record.client_cert_der is not None
    assert srv.records == [record]


def test_mtls_server_rejects_a_client_without_certificate(mtls_server: Any) -> None:
    srv = mtls_server(OK)
    failed = post(srv.url, srv.pem, with_certificate=False)
    assert failed != 200
    (record,) = srv.wait_for_records(1)
    assert not record.accepted
    assert record.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"


def test_mtls_server_of_an_untrusted_scenario_rejects_its_client(mtls_server: Any) -> None:
    srv = mtls_server(UNTRUSTED)
    assert post(srv.url, srv.pem) != 200
    (record,) = srv.wait_for_records(1)
    assert not record.accepted
    assert record.alert_sent == "unknown_ca"


def test_destination_has_absolute_store_paths_that_open_with_its_passwords(mtls_server: Any) -> None:
    srv = mtls_server(OK)
    d = srv.destination
    for path in (d.keystoreFile, d.truststoreFile):
        assert Path(path).is_absolute()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    keystore = read_store(Path(d.keystoreFile), Secret(d.keystorePass), "keystore")
    assert len(keystore.key_entries) == 1
    assert not keystore.key_entries[0].locked  # key password == store password, as the platform needs
    assert read_store(Path(d.truststoreFile), Secret(d.truststorePass), "truststore").certificates
    # destination.json says the same, with the live URL.
    assert json.loads(srv.destination_file.read_text()) == d.as_dict()
    assert stat.S_IMODE(os.stat(srv.pem.client_key).st_mode) == 0o600
    # Passwords stay out of reprs (pytest prints them in failures).
    assert d.keystorePass not in repr(d) + repr(srv)
    assert d.truststorePass not in repr(d) + repr(srv)


@pytest.mark.jdk
def test_the_keystore_opens_in_keytool_with_the_destination_password(mtls_stores: Any, keytool: str) -> None:
    stores = mtls_stores(OK)
    env = {**os.environ, "KS_PASS": stores.destination.keystorePass}
    listed = subprocess.run(
        [keytool, "-list", "-keystore", stores.destination.keystoreFile, "-storepass:env", "KS_PASS"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "PrivateKeyEntry" in listed.stdout
    env["KS_PASS"] = "wrong-" + stores.destination.keystorePass
    wrong = subprocess.run(
        [keytool, "-list", "-keystore", stores.destination.keystoreFile, "-storepass:env", "KS_PASS"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert wrong.returncode != 0


def test_mtls_stores_builds_without_a_server(mtls_stores: Any) -> None:
    stores = mtls_stores(load_scenario(OK))  # a loaded Scenario works too
    assert Path(stores.destination.keystoreFile).is_file()
    assert stores.destination.url.startswith("https://127.0.0.1:8443/")  # as `build` writes it
    assert stores.pem.client_chain is not None
    assert stores.pem.server_ca is not None
    assert not hasattr(stores, "records")


def test_pem_is_none_where_a_non_java_client_has_no_single_identity(mtls_stores: Any) -> None:
    ambiguous = mtls_stores(REPO / "scenarios" / "keystore-ambiguous.toml")
    assert (ambiguous.pem.client_chain, ambiguous.pem.client_key) == (None, None)
    assert ambiguous.pem.server_ca is not None


TEARDOWN_TEST = """
import json, pathlib
def test_start(mtls_server):
    srv = mtls_server("ok-rsa.toml")
    pathlib.Path("seen.json").write_text(json.dumps({"folder": str(srv.folder), "port": srv.server.port}))
"""


def test_servers_stop_and_folders_go_at_teardown(pytester: pytest.Pytester) -> None:
    (pytester.path / "ok-rsa.toml").write_text(OK.read_text())
    pytester.makepyfile(test_user=TEARDOWN_TEST)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    seen = json.loads((pytester.path / "seen.json").read_text())
    assert not Path(seen["folder"]).exists()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", seen["port"]), timeout=5):
        pass


def test_relative_paths_are_found_under_the_rootdir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "ok-rsa.toml").write_text(OK.read_text())
    (pytester.path / "sub").mkdir()
    pytester.makepyfile(
        **{"sub/test_rel": "def test_rel(mtls_stores):\n    assert mtls_stores('cases/ok-rsa.toml').pem.client_key\n"}
    )
    pytester.makeini("[pytest]\n")
    monkeypatch.chdir(pytester.path / "sub")
    result = pytester.runpytest("-p", "no:cacheprovider", "test_rel.py")
    result.assert_outcomes(passed=1)


def test_a_bad_scenario_is_one_line_not_a_traceback(pytester: pytest.Pytester) -> None:
    (pytester.path / "bad.toml").write_text('[expect]\noutcome = "ok"\n[keystore]\npasword = "x"\n')
    pytester.makepyfile(test_bad="def test_bad(mtls_server):\n    mtls_server('bad.toml')\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ScenarioError*bad.toml*pasword*"])
