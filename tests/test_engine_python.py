"""The python engine and the diagnosis over loopback: each failure is reproduced, named and explained.

Every case runs the real pipeline (scenario → stores → LocalServer → PythonEngine
→ diagnose); the verdict is whatever that pipeline says, compared with the code
the case is built to produce and with words its explanation must contain.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from harness.build import probe_for, write_scenario_files
from harness.diagnose import Evidence, diagnose, name_of
from harness.engines.python import PythonEngine
from harness.scenario import load_scenario

SERVER_ROOT = "OU=Local Server Root CA,O=mtls-harness"
SERVER_CA = "OU=Local Server Issuing CA,O=mtls-harness"
CLIENT_ROOT = "CN=Test Client Root CA,O=Test Corp"
CLIENT_CA = "CN=Test Client Issuing CA,O=Test Corp"
CLIENT = "CN=test-client,O=Test Corp"
PARTNER = {"partner-root": {"kind": "root", "subject": "CN=Partner Root CA,O=Partner Inc"}}

# id: (overrides of the base scenario, expected code, words the explanation must contain)
CASES: dict[str, tuple[dict[str, Any], str, tuple[str, ...]]] = {
    "ok": ({}, "ok", ("HTTP 200", "TLSv1.3")),
    "client-cert-untrusted": (
        {"pki": PARTNER, "server": {"trust": ["partner-root"], "ca_names": False}},
        "client-cert-untrusted",
        ("the server trusts CN=Partner Root CA,O=Partner Inc", f"{CLIENT} is issued by {CLIENT_CA}"),
    ),
    "server-cert-untrusted": (
        {"truststore": {"trust": ["client-root"]}},
        "server-cert-untrusted",
        (f"the truststore trusts {CLIENT_ROOT}", f"does not include {SERVER_ROOT}"),
    ),
    "key-password-mismatch": (
        {"keystore": {"key_password": "key-Pw-e5d0c8"}},
        "key-password-mismatch",
        ("entry 'test-client'", "Cannot recover key"),
    ),
    "client-cert-expired": (
        {"pki": {"client": {"not_before": "-30d", "not_after": "-1d"}}},
        "client-cert-expired",
        (f"your certificate {CLIENT} (key entry 'test-client') expired on",),
    ),
    "client-cert-not-yet-valid": (
        {"pki": {"client": {"not_before": "+1d", "not_after": "+30d"}}},
        "client-cert-not-yet-valid",
        (f"your certificate {CLIENT} (key entry 'test-client') is valid only from",),
    ),
    "client-cert-missing": (
        {"keystore": {"entries": []}},
        "client-cert-missing",
        ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "the keystore holds no key entry"),
    ),
    "client-chain-incomplete": (
        {"keystore": {"entries": [{"alias": "test-client", "key": "client", "chain": ["client"]}]}},
        "client-chain-incomplete",
        (f"the server trusts {CLIENT_ROOT}", f"without the intermediate {CLIENT_CA}"),
    ),
    "client-cert-wrong-usage": (
        {"pki": {"client": {"eku": ["serverAuth"]}}},
        "client-cert-wrong-usage",
        ("verify error 26", "may be used only for serverAuth, not for client authentication"),
    ),
    "weak-key": (
        {"pki": {"client": {"key": "rsa-1024"}}},
        "weak-key",
        (f"your certificate {CLIENT} (key entry 'test-client') has an RSA-1024 key",),
    ),
    "weak-signature": (
        {"pki": {"client": {"signature": "sha1"}}},
        "weak-signature",
        (f"your certificate {CLIENT} (key entry 'test-client') is signed with SHA-1",),
    ),
    "protocol-mismatch": (
        {"server": {"tls_versions": ["1.3"]}, "client": {"tls_versions": ["1.2"]}},
        "protocol-mismatch",
        ("share no TLS version",),
    ),
    "server-name-mismatch": (
        {"server": {"identity": {"names": ["other.example"]}}},
        "server-name-mismatch",
        ("names other.example but the URL's host is 127.0.0.1",),
    ),
    "server-cert-expired": (
        {"server": {"identity": {"not_before": "-30d", "not_after": "-1d"}}},
        "server-cert-expired",
        ("the server certificate CN=127.0.0.1,OU=Local Server,O=mtls-harness expired on",),
    ),
    "server-sends-leaf-only": (
        {"server": {"send_chain": False}},
        "server-cert-untrusted",
        (
            "the server sends only its certificate",
            f"the truststore trusts {SERVER_ROOT}",
            f"does not include {SERVER_CA}",
        ),
    ),
    "http-error": ({"server": {"status": 503}}, "http-error", ("answered HTTP 503",)),
    "keystore-password-wrong": (
        {"keystore": {"destination_password": "wrong-Pw-1b9f3e"}},
        "keystore-password-wrong",
        ("keystorePass does not open this keystore",),
    ),
    "truststore-password-wrong": (
        {"truststore": {"destination_password": "wrong-Pw-1b9f3e"}},
        "truststore-password-wrong",
        ("truststorePass does not open this truststore",),
    ),
    "keystore-unreadable": (
        {"keystore": {"corrupt": "garbage"}},
        "store-unreadable",
        ("keystore.jks: not a keystore",),
    ),
    "truststore-truncated": (
        {"truststore": {"format": "pkcs12", "corrupt": "truncate"}},
        "store-unreadable",
        ("truststore.p12: damaged PKCS#12 store (truncated",),
    ),
}


@pytest.mark.parametrize(("overrides", "code", "words"), CASES.values(), ids=CASES.keys())
def test_variant_is_diagnosed(
    run_scenario: Any, no_secret: Any, overrides: dict[str, Any], code: str, words: tuple[str, ...]
) -> None:
    run = run_scenario(overrides)
    verdict = run.verdict
    assert verdict.code == code, verdict.text()
    for part in words:
        assert part in verdict.explanation
    assert verdict.fix or code == "ok"
    no_secret(repr(run.outcome) + verdict.text(), run.scenario)


# The server rejects a CA of the client's chain, not the leaf: the explanation must name that CA.
CA_CASES = [
    pytest.param({"client-ca": {"signature": "sha1"}}, "weak-signature", CLIENT_CA, id="intermediate-sha1"),
    pytest.param(
        {"client-ca": {"not_before": "-30d", "not_after": "-1d"}},
        "client-cert-expired",
        CLIENT_CA,
        id="intermediate-expired",
    ),
    pytest.param(
        {"client-ca": {"not_before": "+1d", "not_after": "+300d"}},
        "client-cert-not-yet-valid",
        CLIENT_CA,
        id="intermediate-not-yet-valid",
    ),
    pytest.param(
        {"client-ca": {"key": "rsa-1024"}},
        "weak-key",
        CLIENT_CA,
        id="intermediate-rsa-1024",
    ),
    pytest.param(
        {"client-root": {"key": "rsa-1024"}},
        "weak-key",
        CLIENT_ROOT,
        id="root-rsa-1024",
    ),
]


@pytest.mark.parametrize(("pki", "code", "ca"), CA_CASES)
def test_failure_of_a_ca_names_that_ca(run_scenario: Any, pki: dict[str, Any], code: str, ca: str) -> None:
    verdict = run_scenario({"pki": pki}).verdict
    assert verdict.code == code, verdict.text()
    assert ca in verdict.explanation


def test_base_scenario_is_the_positive_twin(run_scenario: Any) -> None:
    """Every failure above is the base scenario with one thing changed; unchanged, it works."""
    run = run_scenario()
    assert run.verdict.code == "ok"
    assert run.outcome.completed
    assert run.record is not None
    assert run.record.accepted
    leaf = run.built.material.cert("client")
    assert run.outcome.server_seen is not None
    assert run.outcome.server_seen["subject"] == name_of(leaf) == CLIENT
    assert run.record.client_cert_der == leaf.public_bytes(serialization.Encoding.DER)
    assert [(r.method, r.path, r.status) for r in run.requests] == [("POST", "/inbound", 200)]


def test_shipped_scenario_through_the_python_engine(run_scenario: Any, no_secret: Any, shipped_scenario: Path) -> None:
    run = run_scenario(path=shipped_scenario)
    assert run.verdict.code == run.scenario.expect.for_engine("python"), run.verdict.text()
    no_secret(repr(run.outcome) + run.verdict.text(), run.scenario)


@pytest.mark.parametrize(
    ("overrides", "stage", "hint"),
    [
        ({"keystore": {"destination_password": "wrong-Pw-1b9f3e"}}, "keystore", "keystore-password-wrong"),
        ({"keystore": {"key_password": "key-Pw-e5d0c8"}}, "keystore", "key-password-mismatch"),
        ({"truststore": {"destination_password": "wrong-Pw-1b9f3e"}}, "truststore", "truststore-password-wrong"),
    ],
    ids=["keystore-password", "key-password", "truststore-password"],
)
def test_store_failures_stop_before_connecting(
    run_scenario: Any, overrides: dict[str, Any], stage: str, hint: str
) -> None:
    run = run_scenario(overrides)
    assert (run.outcome.stage, run.verdict.code) == (stage, hint)
    assert run.outcome.store_failure is not None
    assert run.record is None  # like the platform: it fails while loading its stores
    assert run.requests == ()


def test_client_rejection_reads_the_alert_the_server_sent(run_scenario: Any) -> None:
    run = run_scenario(CASES["client-cert-untrusted"][0])
    assert run.record is not None
    assert run.record.alert_sent == "unknown_ca"
    assert run.outcome.alert_received == "unknown_ca"
    assert run.outcome.stage == "handshake"


def test_nothing_listening_is_connection_failed(write_scenario: Any, tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario())
    built = write_scenario_files(scenario, tmp_path / "built")
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound, not listening: connecting is refused
        url = f"https://127.0.0.1:{bound.getsockname()[1]}/inbound"
        outcome = PythonEngine().probe(probe_for(scenario, built, url))
    assert (outcome.stage, outcome.store_failure) == ("connect", None)
    assert diagnose(outcome, Evidence()).code == "connection-failed"


# -- the temporary key file ---------------------------------------------------------------------------


def test_key_file_is_private_encrypted_and_gone_after_the_probe(
    run_scenario: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    seen: list[tuple[Path, int, bytes]] = []
    real_load = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        path = Path(certfile)
        seen.append((path, path.stat().st_mode & 0o777, path.read_bytes()))
        real_load(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    run = run_scenario()
    assert run.verdict.code == "ok"
    # The local server (same process) loads its own chain and key from the built folder, not from tmp.
    [(path, mode, data)] = [s for s in seen if private_tmp in s[0].parents]
    assert path.parent.parent == private_tmp
    assert path.parent.name.startswith("mtls-harness-key-")
    assert mode == 0o600
    # ok-rsa's key: OpenSSL's traditional PEM, encrypted (DEK-Info), never in clear.
    assert b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC," in data
    assert b"-----BEGIN PRIVATE KEY-----" not in data
    assert data.count(b"PRIVATE KEY-----") == 2  # one key, its BEGIN and END lines
    assert list(private_tmp.iterdir()) == []


def test_outcome_and_probe_reprs_hold_no_password(run_scenario: Any, write_scenario: Any, no_secret: Any) -> None:
    path = write_scenario({"keystore": {"key_password": "key-Pw-e5d0c8"}})
    scenario = load_scenario(path)
    run = run_scenario(path=path)
    probe = probe_for(scenario, run.built, "https://127.0.0.1:1/")
    assert probe.keystore_password.reveal() == scenario.keystore.password.reveal()
    no_secret(repr(probe) + repr(run.outcome) + repr(run.verdict), scenario)
