"""A recording MTLS server on 127.0.0.1: for the redirect tests (issue 22) and the silent application (issue 24).

``RecordingServer`` is a stdlib ``ssl`` server with the certificate and client
CAs a scenario's ``build`` wrote. It records every TCP connection it accepts
(before any TLS), every client certificate it was shown and every request
line it read, and answers each request with a fixed status and headers. The
redirecting server answers ``302 Location: <the other>``; the other one must
record nothing at all. ``mode="silent"`` reads the request and never answers
(tests/test_http_timeout.py); ``mode="refuse"`` closes each connection before
any TLS.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Literal

from harness.server.policy import ServerFiles

__all__ = ["Mode", "RecordingServer", "Seen"]

IO_TIMEOUT = 5.0  # every accept, handshake and read is bounded
Mode = Literal["answer", "silent", "refuse"]


@dataclass
class Seen:
    """What a server saw: TCP connections, client certificates (DER), request lines."""

    connections: int = 0
    certificates: list[bytes] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.connections or self.certificates or self.requests)


class RecordingServer:
    """A TLS server asking for a client certificate (by default CERT_OPTIONAL: it records whether one came).

    ``require_certificate``: CERT_REQUIRED and TLS 1.3 only; ``io_timeout`` bounds every accept, handshake,
    read and a silent server's wait.
    """

    def __init__(
        self,
        files: ServerFiles,
        status: int = 200,
        headers: dict[str, str] | None = None,
        *,
        mode: Mode = "answer",
        require_certificate: bool = False,
        io_timeout: float = IO_TIMEOUT,
    ) -> None:
        self.status = status
        self.headers = dict(headers or {})
        self.mode = mode
        self.io_timeout = io_timeout
        self.seen = Seen()
        self._lock = threading.Lock()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(files.chain, files.key)
        if files.client_cas is not None:
            self._context.load_verify_locations(files.client_cas)
        self._context.verify_mode = ssl.CERT_REQUIRED if require_certificate else ssl.CERT_OPTIONAL
        if require_certificate:
            self._context.minimum_version = ssl.TLSVersion.TLSv1_3
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/inbound/orders"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.seen.connections += 1
            worker = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(self.io_timeout)
        try:
            if self.mode == "refuse":
                return  # closed before any TLS: the handshake cannot complete
            with self._context.wrap_socket(conn, server_side=True) as tls:
                cert = tls.getpeercert(binary_form=True)
                if cert:
                    with self._lock:
                        self.seen.certificates.append(cert)
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                if not head:
                    return
                # Read the body too (bounded): closing with unread bytes would reset the connection.
                headers, _, body_in = head.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (h.partition(b":") for h in headers.split(b"\r\n")[1:])
                        if k.strip().lower() == b"content-length" and v.strip().isdigit()
                    ),
                    0,
                )
                while len(body_in) < min(length, 65536):
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    body_in += chunk
                with self._lock:
                    self.seen.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                if self.mode == "silent":
                    self._stop.wait(self.io_timeout)  # never answers; close() lets it go
                    return
                body = b'{"answer": "redirect-test"}' if self.status == 200 else b""
                lines = [f"HTTP/1.1 {self.status} X", f"Content-Length: {len(body)}", "Connection: close"]
                lines += [f"{k}: {v}" for k, v in self.headers.items()]
                if body:
                    lines.append("Content-Type: application/json")
                tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept at once
        self._listener.close()
        self._thread.join(self.io_timeout)
        for worker in self._threads:
            worker.join(self.io_timeout)

    def __enter__(self) -> RecordingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
