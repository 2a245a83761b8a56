"""The local MTLS server over real loopback TLS: what it binds, answers, records and refuses."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from harness.build import Built, build_scenario
from harness.errors import ServerError
from harness.scenario import load_scenario
from harness.server import LocalServer, running_ports

# The base scenario plus a second good client and a client from a CA the server does not trust.
CLIENTS = {
    "pki": {
        "client-2": {"kind": "leaf", "issuer": "client-ca", "subject": "CN=test-client-2,O=Test Corp"},
        "rogue-root": {"kind": "root", "subject": "CN=Rogue Root CA,O=Rogue"},
        "rogue": {"kind": "leaf", "issuer": "rogue-root", "subject": "CN=rogue-client,O=Rogue"},
    },
    "server": {"trust": ["client-root"]},
}

Build = Callable[..., Built]
BODY = b'{"order": 1}'


@pytest.fixture
def build(write_scenario: Any, tmp_path: Path) -> Build:
    count = 0

    def make(overrides: dict[str, Any] | None = None) -> Built:
        nonlocal count
        count += 1
        doc = {**CLIENTS, **(overrides or {})}
        doc["server"] = {**CLIENTS["server"], **(overrides or {}).get("server", {})}
        scenario = load_scenario(write_scenario(doc, name=f"case{count}"))
        return build_scenario(scenario, tmp_path / f"out{count}")

    return make


def client_context(built: Built, name: str | None, *, chain: tuple[str, ...] | None = None) -> ssl.SSLContext:
    """A Python client trusting the server's root, presenting ``name``'s certificate (and ``chain``)."""
    material = built.material
    pem = serialization.Encoding.PEM
    context = ssl.create_default_context(cadata=material.cert("server.root").public_bytes(pem).decode())
    if name is not None:
        issued = material.issued[name]
        key = issued.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        certs = b"".join(material.cert(n).public_bytes(pem) for n in chain or (name,))
        path = built.folder / f"{name}-client.pem"
        path.write_bytes(certs + key)
        context.load_cert_chain(path)
    return context


def request(
    server: LocalServer, context: ssl.SSLContext, *, method: str = "POST", path: str | None = None
) -> tuple[int, dict[str, Any], str | None]:
    """(status, JSON answer, TLS version) of one request on a fresh connection."""
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    try:
        body = BODY if method == "POST" else None
        conn.request(method, path or server.policy.path, body=body, headers={"Connection": "close"})
        version = conn.sock.version() if isinstance(conn.sock, ssl.SSLSocket) else None
        response = conn.getresponse()
        return response.status, json.loads(response.read()), version
    finally:
        conn.close()


def identity_of(cert: x509.Certificate) -> dict[str, Any]:
    """What the answer must say about ``cert``, normalised: subject, issuer, serial, SHA-256."""
    return {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial": cert.serial_number,
        "sha256": cert.fingerprint(hashes.SHA256()),
    }


def parsed_identity(seen: dict[str, str]) -> dict[str, Any]:
    return {
        "subject": x509.Name.from_rfc4514_string(seen["subject"]),
        "issuer": x509.Name.from_rfc4514_string(seen["issuer"]),
        "serial": int(seen["serial"], 16),
        "sha256": bytes.fromhex(seen["sha256"].replace(":", "")),
    }


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses listening on ``port``, from the kernel's table (Linux)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("no /proc/net/tcp to read listening sockets from")
    found = set()
    for line in table.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if int(hex_port, 16) == port and state == "0A":  # TCP_LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


# -- binding -----------------------------------------------------------------------------------------


def test_binds_loopback_on_an_ephemeral_port(build: Build) -> None:
    with LocalServer(build().server) as server:
        assert server.port > 0
        assert server.url == f"https://127.0.0.1:{server.port}/inbound"
        assert listening_addresses(server.port) == {"127.0.0.1"}


def test_port_in_use_is_a_one_line_server_error(build: Build) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalServer(build().server, port=port)
        with pytest.raises(ServerError) as caught:
            server.start()
    text = str(caught.value)
    assert text.startswith(f"127.0.0.1:{port}: cannot listen: ")
    assert "\n" not in text
    server.stop()  # harmless after a failed start


def test_stop_closes_the_port(build: Build) -> None:
    server = LocalServer(build().server)
    with server:
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()  # the twin: open while running
        assert server.port in running_ports()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5)
    assert server.port not in running_ports()
    server.stop()  # idempotent


# -- answering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["client", "client-2"])
def test_answers_with_the_identity_of_the_certificate_the_client_used(build: Build, name: str) -> None:
    built = build()
    used = built.material.cert(name)
    other = built.material.cert("client-2" if name == "client" else "client")
    with LocalServer(built.server) as server:
        status, answer, _ = request(server, client_context(built, name, chain=(name, "client-ca")))
        records = server.wait_for_handshakes(1, timeout=5)
    assert status == 200
    assert parsed_identity(answer["client"]) == identity_of(used)
    assert parsed_identity(answer["client"]) != identity_of(other)
    assert answer["received_bytes"] == len(BODY)
    [record] = records
    assert record.accepted
    assert record.client_cert_der == used.public_bytes(serialization.Encoding.DER)
    [seen] = server.requests
    assert (seen.method, seen.path, seen.status, seen.client) == ("POST", "/inbound", 200, answer["client"])


def test_rejects_an_untrusted_client_and_records_why(build: Build) -> None:
    built = build()
    events: list[str] = []
    with LocalServer(built.server, on_event=events.append) as server:
        with pytest.raises(ssl.SSLError) as caught:
            request(server, client_context(built, "rogue"))
        [record] = server.wait_for_handshakes(1, timeout=5)
    assert caught.value.reason == "TLSV1_ALERT_UNKNOWN_CA"
    assert not record.accepted
    assert record.reason == "CERTIFICATE_VERIFY_FAILED"
    assert (record.verify_code, record.verify_message) == (20, "unable to get local issuer certificate")
    assert record.alert_sent == "unknown_ca"
    assert server.requests == []
    assert events == [
        "handshake rejected: CERTIFICATE_VERIFY_FAILED; verify error 20: unable to get local issuer certificate; "
        "sent alert unknown_ca"
    ]


def test_event_lines_of_an_accepted_client(build: Build) -> None:
    built = build()
    events: list[str] = []
    with LocalServer(built.server, on_event=events.append) as server:
        _, _, version = request(server, client_context(built, "client", chain=("client", "client-ca")))
    assert events[0].startswith(f"handshake accepted: CN=test-client,O=Test Corp ({version}, ")
    assert events[1:] == [f"POST /inbound -> 200 ({len(BODY)} bytes) from CN=test-client,O=Test Corp"]


@pytest.mark.parametrize(
    ("client_auth", "accepted"), [("optional", True), ("required", False)], ids=["optional", "required"]
)
def test_client_without_certificate(build: Build, client_auth: str, accepted: bool) -> None:
    built = build({"server": {"client_auth": client_auth}})
    with LocalServer(built.server) as server:
        if accepted:
            status, answer, _ = request(server, client_context(built, None))
            assert (status, answer["client"]) == (200, None)
        else:
            with pytest.raises(ssl.SSLError) as caught:
                request(server, client_context(built, None))
            assert caught.value.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
        [record] = server.wait_for_handshakes(1, timeout=5)
    assert record.accepted is accepted
    assert record.reason == (None if accepted else "PEER_DID_NOT_RETURN_A_CERTIFICATE")


@pytest.mark.parametrize(
    ("server", "method", "path", "status"),
    [
        ({}, "POST", "/inbound", 200),
        ({}, "POST", "/elsewhere", 404),
        ({}, "GET", "/inbound", 405),
        ({"status": 503}, "POST", "/inbound", 503),
        ({"status": 503}, "POST", "/elsewhere", 404),
    ],
    ids=["post", "other-path", "get", "policy-503", "policy-503-other-path"],
)
def test_status_by_method_path_and_policy(
    build: Build, server: dict[str, Any], method: str, path: str, status: int
) -> None:
    built = build({"server": server})
    with LocalServer(built.server) as running:
        got, answer, _ = request(
            running, client_context(built, "client", chain=("client", "client-ca")), method=method, path=path
        )
    assert got == status
    assert answer["path"] == path
    assert answer["client"]["subject"] == "CN=test-client,O=Test Corp"  # the handshake was accepted either way
    assert [r.status for r in running.requests] == [status]


@pytest.mark.parametrize(("versions", "negotiated"), [(["1.2"], "TLSv1.2"), (["1.3"], "TLSv1.3")])
def test_tls_versions_from_policy(build: Build, versions: list[str], negotiated: str) -> None:
    built = build({"server": {"tls_versions": versions}})
    with LocalServer(built.server) as server:
        status, _, version = request(server, client_context(built, "client", chain=("client", "client-ca")))
        [record] = server.wait_for_handshakes(1, timeout=5)
    assert (status, version, record.protocol) == (200, negotiated, negotiated)


# -- a silent client ---------------------------------------------------------------------------------


def test_silent_client_is_dropped_and_recorded_while_others_are_served(build: Build) -> None:
    built = build()
    events: list[str] = []
    with LocalServer(built.server, handshake_timeout=1.0, on_event=events.append) as server:
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        try:
            # Served while the silent connection is still open.
            status, answer, _ = request(server, client_context(built, "client", chain=("client", "client-ca")))
            assert (status, answer["client"]["subject"]) == (200, "CN=test-client,O=Test Corp")
            # Then the server closes the silent one (EOF), well before our own 10 s limit.
            assert silent.recv(1) == b""
        finally:
            silent.close()
        records = server.wait_for_handshakes(2, timeout=10)
    assert sorted((r.accepted, r.reason) for r in records) == [(False, "handshake-incomplete"), (True, None)]
    assert any(e.startswith("handshake rejected: handshake-incomplete") for e in events)
