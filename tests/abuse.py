"""The local server under abuse, while a good client keeps asking: shared by test_hardening and test_load.

Abusers (all on 127.0.0.1, every loop bounded): idle TCP connections that
never speak, half ClientHellos, garbage bytes, plain HTTP on the TLS port, and
trusted clients sending an oversized header or an oversized body. A good
client POSTs in a loop meanwhile; its latency is measured with and without
the abuse.
"""

from __future__ import annotations

import os
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from harness.build import Built

__all__ = ["AbuseResult", "Abusers", "good_context", "good_post", "measure"]

CLIENT_TIMEOUT = 30.0


def good_context(built: Built, folder: Path) -> ssl.SSLContext:
    """The scenario's client: its certificate and issuing CA, trusting the server's root."""
    material = built.material
    pem = serialization.Encoding.PEM
    issued = material.issued["client"]
    key = issued.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = folder / "abuse-client.pem"
    path.touch(mode=0o600)
    path.write_bytes(b"".join(material.cert(n).public_bytes(pem) for n in ("client", "client-ca")) + key)
    context = ssl.create_default_context(cadata=material.cert("server.root").public_bytes(pem).decode())
    context.load_cert_chain(path)
    return context


def _post(port: int, context: ssl.SSLContext, head_extra: bytes = b"", body: bytes = b"{}") -> bytes:
    head = (
        f"POST /inbound HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    ).encode()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        with suppress(OSError):  # the server may answer (413) and close before the body is all sent
            tls.sendall(head + head_extra + b"\r\n" + body)
        data = b""
        for _ in range(10_000):
            try:
                chunk = tls.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            data += chunk
        return data


def status_of(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def good_post(port: int, context: ssl.SSLContext) -> tuple[int | None, float]:
    started = time.perf_counter()
    status = status_of(_post(port, context))
    return status, time.perf_counter() - started


@dataclass
class AbuseResult:
    idle_open: int = 0  # idle connections still open when the good client finished
    outcomes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, outcome: str) -> None:
        self.outcomes.setdefault(kind, []).append(outcome)


class Abusers:
    """Opens the abuse and keeps it going until closed (every loop bounded; sockets closed on exit)."""

    def __init__(self, port: int, context: ssl.SSLContext, *, idle: int, half_hellos: int, garbage: int) -> None:
        self.port = port
        self.context = context
        self.idle, self.half_hellos, self.garbage = idle, half_hellos, garbage
        self.result = AbuseResult()
        self._stack = ExitStack()
        self._idle: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Abusers:
        hello = _half_hello(self.context)
        for i in range(self.idle + self.half_hellos):
            sock = self._stack.enter_context(socket.create_connection(("127.0.0.1", self.port), timeout=5))
            if i >= self.idle:
                sock.sendall(hello)
            self._idle.append(sock)
        for target, kind in (
            (self._garbage, "garbage"),
            (self._plain_http, "plain-http"),
            (self._big_header, "oversized-header"),
            (self._big_body, "oversized-body"),
        ):
            thread = threading.Thread(target=target, args=(kind,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def idle_still_open(self, within: float) -> int:
        """How many idle / half-hello connections the server has not dropped ``within`` seconds from now."""
        deadline = time.monotonic() + within
        while True:
            left = sum(1 for s in self._idle if _still_open(s))
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.result.idle_open = sum(1 for s in self._idle if _still_open(s))
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        self._stack.close()

    def _rounds(self, count: int) -> Iterator[int]:
        for i in range(count):
            if self._stop.is_set():
                return
            yield i

    def _garbage(self, kind: str) -> None:
        for _ in self._rounds(self.garbage):
            self.result.add(kind, _raw_exchange(self.port, os.urandom(4096)))

    def _plain_http(self, kind: str) -> None:
        for _ in self._rounds(20):
            self.result.add(kind, _raw_exchange(self.port, b"POST /inbound HTTP/1.1\r\nHost: x\r\n\r\n"))

    def _big_header(self, kind: str) -> None:
        for _ in self._rounds(10):
            answer = _post(self.port, self.context, head_extra=b"X-Big: " + b"a" * (64 << 10) + b"\r\n")
            self.result.add(kind, f"status {status_of(answer)}")

    def _big_body(self, kind: str) -> None:
        for _ in self._rounds(3):
            answer = _post(self.port, self.context, body=b"." * (8 << 20))
            self.result.add(kind, f"status {status_of(answer)}")


def _half_hello(context: ssl.SSLContext) -> bytes:
    outgoing = ssl.MemoryBIO()
    client = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="127.0.0.1")
    with suppress(ssl.SSLWantReadError):
        client.do_handshake()
    hello = outgoing.read()
    return hello[: len(hello) // 2]


def _raw_exchange(port: int, data: bytes) -> str:
    """Send ``data`` on a bare TCP connection; how the server ended it."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(data)
            for _ in range(1_000):
                if not sock.recv(65536):
                    return "closed by the server"
            return "still talking"
    except ConnectionResetError:
        return "reset by the server"
    except OSError as exc:
        return f"{type(exc).__name__}"


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def measure(port: int, context: ssl.SSLContext, rounds: int) -> tuple[list[int | None], list[float]]:
    """``rounds`` sequential good POSTs: their statuses and latencies (seconds)."""
    statuses, latencies = [], []
    for _ in range(rounds):
        status, seconds = good_post(port, context)
        statuses.append(status)
        latencies.append(seconds)
    return statuses, latencies


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000
