"""``capture`` against the harness's own server and against plain stdlib ``ssl`` MTLS servers.

Every server here is on 127.0.0.1, an ephemeral port, with deadlines; the
stdlib servers record every byte they receive, so the tests prove that no
request body (and, unless the handshake completes without a certificate, no
request at all) is sent.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from harness.capture import capture, server_table
from harness.scenario import load_scenario
from tests.conftest import Live, assert_one_line_error, cli

# -- the harness's own server ------------------------------------------------------------


def test_required_with_ca_names(live: Callable[[Path], Live], write_scenario: Any) -> None:
    running = live(write_scenario())
    profile = capture(running.url, timeout=5)
    assert profile.client_auth == "required"
    assert profile.ca_names == ["CN=Test Client Root CA,O=Test Corp"]
    assert profile.rejects_missing_cert_with == "alert certificate_required"
    assert profile.tls_versions == ["TLSv1.3", "TLSv1.2"]
    assert {"TLSv1.1", "TLSv1"} <= set(profile.tls_versions_refused) | set(profile.tls_versions_untested)
    assert set(profile.ciphers) == {"TLSv1.3", "TLSv1.2"}
    assert [c["subject"] for c in profile.chain] == [c.subject.rfc4514_string() for c in running.chain()]
    assert profile.intermediates_sent
    assert profile.sni.startswith("not sent")
    # Handshakes only: nothing reached the application.
    assert profile.request_sent == "nothing"
    assert running.server.requests == []
    assert all(not r.accepted for r in running.server.handshakes)


def test_optional_is_told_from_required(live: Callable[[Path], Live], write_scenario: Any) -> None:
    running = live(write_scenario({"server": {"client_auth": "optional"}}))
    profile = capture(running.url, timeout=5)
    assert profile.client_auth == "optional"
    assert profile.rejects_missing_cert_with is None
    # The only request: one HEAD, without a body.
    assert [(r.method, r.received_bytes) for r in running.server.requests] == [("HEAD", 0)]
    assert profile.request_sent == "one HEAD /inbound request without a body"


def test_no_request_means_none(live: Callable[[Path], Live], write_scenario: Any) -> None:
    running = live(write_scenario({"server": {"client_auth": "optional"}}))
    profile = capture(running.url, timeout=5, request=False)
    assert profile.request_sent == "nothing"
    assert running.server.requests == []


def test_no_client_auth_no_ca_names_leaf_only_tls12(live: Callable[[Path], Live], write_scenario: Any) -> None:
    running = live(write_scenario({"server": {"client_auth": "none", "send_chain": False, "tls_versions": ["1.2"]}}))
    profile = capture(running.url, timeout=5)
    assert profile.client_auth == "none"
    assert profile.ca_names == []
    assert profile.tls_versions == ["TLSv1.2"]
    assert "TLSv1.3" in profile.tls_versions_refused
    assert not profile.intermediates_sent
    assert len(profile.chain) == 1
    # Its negative twin: asked for a certificate, but without CA names.
    running = live(write_scenario({"server": {"ca_names": False}}, name="no-names"))
    profile = capture(running.url, timeout=5)
    assert profile.client_auth == "required"
    assert profile.ca_names == []


def test_server_table_is_a_valid_scenario_server(
    live: Callable[[Path], Live], write_scenario: Any, tmp_path: Path
) -> None:
    running = live(write_scenario({"server": {"send_chain": False, "tls_versions": ["1.3"]}}))
    table = server_table(capture(running.url, timeout=5))
    assert "Test Client Root CA" not in table  # shape, not names
    assert "127.0.0.1" not in table
    doc = tomllib.loads(table)["server"]
    assert doc["client_auth"] == "required"
    assert doc["ca_names"] is True
    assert doc["send_chain"] is False
    assert doc["tls_versions"] == ["1.3"]
    # It drops into a scenario that the harness loads.
    base = write_scenario().read_text("utf-8")
    base = base.split("[server]")[0] + table + '\n[expect]\noutcome = "ok"\n'
    path = tmp_path / "captured.toml"
    path.write_text(base, "utf-8")
    scenario = load_scenario(path)
    assert scenario.server.tls_versions == ("1.3",)
    assert scenario.server.send_chain is False


# -- plain stdlib ssl MTLS servers -----------------------------------------------------------


@dataclass
class StdlibServer:
    port: int
    received: list[bytes] = field(default_factory=list)  # bytes read after each accepted handshake
    handshakes: list[str] = field(default_factory=list)  # "ok" / the reason a handshake failed


@contextlib.contextmanager
def stdlib_mtls_server(
    tmp_path: Path, *, verify: ssl.VerifyMode, http_reject: bool = False, sni_name: str | None = None
) -> Iterator[StdlibServer]:
    """An ``ssl`` server on 127.0.0.1 that requires (or asks for) a client certificate.

    ``http_reject``: like nginx's ``ssl_verify_client optional`` + 400, answer a
    request without a certificate with "400 No required SSL certificate was sent".
    """
    ca = trustme.CA()
    client_ca = trustme.CA()
    identity = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    identity.configure_cert(context)
    client_ca.configure_trust(context)
    context.verify_mode = verify
    if sni_name is not None:

        def only_known_name(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
            return None if name == sni_name else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

        context.sni_callback = only_known_name  # type: ignore[assignment]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    server = StdlibServer(listener.getsockname()[1])
    stop = threading.Event()

    def serve_one(raw: socket.socket) -> None:
        raw.settimeout(3)
        try:
            tls = context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            server.handshakes.append(type(exc).__name__)
            raw.close()
            return
        server.handshakes.append("ok")
        with tls:
            data = b""
            try:
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                # Anything after the headers (a body) would arrive within this wait.
                tls.settimeout(0.3)
                with contextlib.suppress(TimeoutError, ssl.SSLError, OSError):
                    data += tls.recv(4096)
            except (TimeoutError, ssl.SSLError, OSError):
                pass
            server.received.append(data)
            if data and http_reject and tls.getpeercert() is None:
                page = b"<center>No required SSL certificate was sent</center>"
                head = f"HTTP/1.1 400 Bad Request\r\nContent-Length: {len(page)}\r\nConnection: close\r\n\r\n"
                with contextlib.suppress(OSError):
                    tls.sendall(head.encode() + page)
            elif data:
                with contextlib.suppress(OSError):
                    tls.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    def loop() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(raw,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_stdlib_server_requiring_a_certificate(tmp_path: Path) -> None:
    with stdlib_mtls_server(tmp_path, verify=ssl.CERT_REQUIRED) as server:
        profile = capture(f"https://127.0.0.1:{server.port}/x", timeout=5)
    assert profile.client_auth == "required"
    assert profile.ca_names == []  # the stdlib cannot advertise CA names
    assert profile.rejects_missing_cert_with == "alert certificate_required"
    assert "TLSv1.3" in profile.tls_versions
    assert profile.request_sent == "nothing"
    assert all(data == b"" for data in server.received)


def test_stdlib_server_rejecting_at_http_level_gets_one_bodyless_head(tmp_path: Path) -> None:
    with stdlib_mtls_server(tmp_path, verify=ssl.CERT_OPTIONAL, http_reject=True) as server:
        profile = capture(f"https://127.0.0.1:{server.port}/inbound", timeout=5)
    assert profile.client_auth == "required"
    assert profile.rejects_missing_cert_with == "HTTP 400"
    requests = [data for data in server.received if data]
    assert len(requests) == 1
    assert requests[0].startswith(b"HEAD /inbound HTTP/1.1\r\n")
    assert requests[0].endswith(b"\r\n\r\n")  # nothing after the headers: no body
    assert b"content-length" not in requests[0].lower()
    # Negative twin: the same server without the HTTP rejection is optional.
    with stdlib_mtls_server(tmp_path, verify=ssl.CERT_OPTIONAL) as server:
        profile = capture(f"https://127.0.0.1:{server.port}/inbound", timeout=5)
    assert profile.client_auth == "optional"
    assert profile.rejects_missing_cert_with is None


def test_sni_required_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The URL's host name goes in SNI; name resolution is pinned so that the
    # TCP connections go to 127.0.0.1 only.
    real = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "partner.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    with stdlib_mtls_server(tmp_path, verify=ssl.CERT_REQUIRED, sni_name="partner.test") as server:
        profile = capture(f"https://partner.test:{server.port}/", timeout=5)
    assert profile.sni == "required: without SNI the server sends unrecognized_name"
    assert profile.client_auth == "required"
    with stdlib_mtls_server(tmp_path, verify=ssl.CERT_REQUIRED) as server:
        profile = capture(f"https://partner.test:{server.port}/", timeout=5)
    assert profile.sni == "same certificate with and without SNI"


# -- the command line ----------------------------------------------------------------------


def test_cli_capture_json_and_out(live: Callable[[Path], Live], write_scenario: Any, tmp_path: Path) -> None:
    running = live(write_scenario())
    out = tmp_path / "profile.json"
    done = cli("capture", running.url, "--json", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert {"client_auth", "ca_names", "tls_versions", "chain", "rejects_missing_cert_with"} <= set(doc)
    assert json.loads(out.read_text("utf-8")) == doc
    table = tmp_path / "server.toml"
    done = cli("capture", running.url, "--out", str(table), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert tomllib.loads(table.read_text("utf-8"))["server"]["client_auth"] == "required"
    # Existing --out without --force: refused, file untouched.
    before = table.read_bytes()
    assert_one_line_error(cli("capture", running.url, "--out", str(table), cwd=tmp_path), "already exists")
    assert table.read_bytes() == before


def test_cli_capture_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(cli("capture", "http://127.0.0.1:1/", cwd=tmp_path), "https://")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert_one_line_error(cli("capture", f"https://127.0.0.1:{port}/", "--timeout", "2", cwd=tmp_path), "reach")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # --out is checked before anything is sent.
    assert_one_line_error(
        cli("capture", f"https://127.0.0.1:{port}/", "--out", str(blocker / "p.json"), cwd=tmp_path), "p.json"
    )


def test_unwritable_out_is_one_line(live: Callable[[Path], Live], write_scenario: Any, tmp_path: Path) -> None:
    running = live(write_scenario())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = cli("capture", running.url, "--out", str(blocker / "p.json"), cwd=tmp_path)
    assert_one_line_error(done, "p.json")
    done = cli("capture", running.url, "--out", str(tmp_path / "p.yaml"), cwd=tmp_path)
    assert_one_line_error(done, ".toml")
