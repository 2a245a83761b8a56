"""The catalogue against a real third-party client: ``openssl s_client``.

Every shipped scenario that reaches the network is replayed with s_client
using the scenario's own key entry and truststore: the alert the local server
sent must be the one s_client reports (not EOF / reset), and the acceptable
client CA names must be listed exactly when the scenario advertises them —
what `openssl s_server -Verify 2 -verify_return_error` makes clients see.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from harness.build import write_scenario_files
from harness.errors import StoreError
from harness.scenario import Scenario, load_scenario
from harness.server import LocalServer, ServerPolicy
from harness.stores import read_store
from tests.conftest import SHIPPED

pytestmark = pytest.mark.openssl

PEM = serialization.Encoding.PEM


def _network_scenarios() -> list[Any]:
    """Scenarios whose stores open (the platform gets as far as connecting)."""
    params = []
    for path in SHIPPED:
        scenario = load_scenario(path)
        stores_fail = scenario.expect.outcome in {
            "keystore-password-wrong",
            "truststore-password-wrong",
            "store-unreadable",
            "key-password-mismatch",
            "key-cert-mismatch",  # s_client refuses a key that is not its certificate's before connecting
        }
        if not stores_fail:
            params.append(pytest.param(path, id=scenario.name))
    return params


def _s_client(openssl: str, scenario: Scenario, folder: Path, port: int) -> str:
    keystore = read_store(folder / f"keystore{scenario.keystore.extension}", scenario.keystore.password, "keystore")
    truststore = read_store(
        folder / f"truststore{scenario.truststore.extension}", scenario.truststore.password, "truststore"
    )
    args = [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-verify_ip", "127.0.0.1", "-ign_eof"]
    anchors = folder / "anchors.pem"
    anchors.write_bytes(b"".join(c.public_bytes(PEM) for c in truststore.certificates))
    args += ["-CAfile", str(anchors), "-verify_return_error", "-partial_chain"]
    if len(keystore.key_entries) == 1 and keystore.key_entries[0].key is not None:
        entry = keystore.key_entries[0]
        key = folder / "client-key.pem"
        key.touch(mode=0o600)
        key.write_bytes(entry.key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (folder / "client-leaf.pem").write_bytes(entry.chain[0].public_bytes(PEM))
        (folder / "client-chain.pem").write_bytes(b"".join(c.public_bytes(PEM) for c in entry.chain[1:]))
        # -cert takes the first certificate only; the rest of the key entry's chain goes in -cert_chain.
        args += ["-cert", str(folder / "client-leaf.pem"), "-key", str(key)]
        if len(entry.chain) > 1:
            args += ["-cert_chain", str(folder / "client-chain.pem")]
    if scenario.client.tls_versions == ("1.2",):
        args.append("-tls1_2")
    # Security level 0 lets s_client present the weak-key / weak-signature
    # certificates, as the JDK would; the server judges them.
    args += ["-cipher", "DEFAULT:@SECLEVEL=0"]
    request = (
        f"POST {scenario.server.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    done = subprocess.run(args, input=request, capture_output=True, text=True, timeout=30, check=False)
    return done.stdout + done.stderr


@pytest.mark.parametrize("path", _network_scenarios())
def test_s_client_sees_what_the_server_did(openssl: str, tmp_path: Path, path: Path) -> None:
    scenario = load_scenario(path)
    built = write_scenario_files(scenario, tmp_path)
    try:
        read_store(built.keystore, scenario.keystore.password, "keystore")
    except StoreError:
        pytest.fail(f"{scenario.name}: its keystore should open")
    with LocalServer(built.server) as server:
        output = _s_client(openssl, scenario, tmp_path, server.port)
        records = server.wait_for_handshakes(1, timeout=5)
    assert records, f"{scenario.name}: the server recorded no handshake"
    record = records[0]
    text = output.lower()

    # No CertificateRequest without a common TLS version.
    # A post-handshake persona asks after the handshake, where s_client prints nothing.
    asked = scenario.server.client_auth != "none" and record.reason != "UNSUPPORTED_PROTOCOL"
    asked = asked and scenario.server.client_cert_request != "post-handshake"
    if asked and scenario.server.ca_names:
        assert "acceptable client certificate ca names" in text, output
        for cas in scenario.server.trust:
            cn = scenario.pki[cas].subject.split(",")[0].split("=", 1)[1]
            assert cn.lower() in text, f"{cn} not listed by s_client:\n{output}"
    elif asked:
        assert "no client certificate ca names sent" in text, output

    # What the scenario expects of a stack that, like s_client, sends its only
    # key entry whatever the CA names (the python engine's expectation).
    expected = scenario.expect.for_engine("python")
    # Personas that judge after the handshake (nginx's 400 pages, Apache's post-handshake 403).
    at_http = ServerPolicy(persona=scenario.server.persona, rejection=scenario.server.rejection).chosen_persona()
    after = at_http.rejection == "http" or scenario.server.client_cert_request == "post-handshake"
    assert record.accepted == (expected in ("ok", "http-error") or after), f"{expected}: {record}\n{output}"
    if record.accepted:
        assert "verify return code: 0 (ok)" in text, output
        status = r"http/1.1 (200|400|403)" if after else f"http/1.1 {scenario.server.status}"
        assert re.search(status, text), output
    elif record.reason == "JSSE":
        # The java persona (a JSSE server) does not report which alert it sent.
        assert "ssl alert number" in text, output
    elif record.alert_sent:
        # OpenSSL prints a received alert as "<version> alert <words>", e.g.
        # "tlsv1 alert unknown ca"; EOF or a reset would not say it.
        words = record.alert_sent.replace("_", " ")
        assert f"alert {words}" in text, f"server sent {record.alert_sent}, s_client saw:\n{output}"
    else:
        # The server did not send an alert: s_client rejected the server
        # (a server-side scenario) and said why.
        assert "verify error:num=" in text, output
