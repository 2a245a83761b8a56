"""Hostile inputs, made from real ones: shared by tests/test_hardening.py and benchmarks/attacks.py.

Each maker takes a genuine file (written by openssl, keytool or the harness)
and changes only what the attack needs, so a refusal proves the limit and not
some unrelated damage. At the end, hostile servers (127.0.0.1 only, every loop
bounded) for tests/test_hardening.py and tests/test_jsse_deadline.py.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.build import Built

__all__ = [
    "HostileServer",
    "answer_then",
    "deep_json",
    "deep_toml",
    "drip",
    "jks_declaring_entries",
    "jks_with_huge_certificate_length",
    "pem_bundle",
    "pfx_with_iterations",
    "read_request",
    "scenario_chain",
    "scenario_with_certs",
    "tls_server",
]


# -- DER, definite lengths (what openssl and the JDK write) ---------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _elements(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        else:
            length = first
        if pos + length > len(data):
            raise ValueError("overruns")
        yield tag, data[pos : pos + length]
        pos += length


def _rewrite(data: bytes, count: int) -> bytes:
    """``data`` (a run of DER elements) with every INTEGER that follows an OCTET STRING set to ``count``."""
    out = []
    previous = -1
    for tag, content in _elements(data):
        if tag == 0x02 and previous == 0x04:
            content = count.to_bytes((count.bit_length() + 8) // 8, "big")
        elif tag & 0x20:
            content = _rewrite(content, count)
        elif tag == 0x04 and content[:1] == b"\x30":
            with contextlib.suppress(ValueError, IndexError):  # opaque bytes that merely start like a SEQUENCE
                content = _rewrite(content, count)
        out.append(bytes([tag]) + _length(len(content)) + content)
        previous = tag
    return b"".join(out)


def pfx_with_iterations(pfx: bytes, count: int) -> bytes:
    """A PKCS#12 file whose MAC and every PBE/PBKDF2 iteration count say ``count`` (as ``openssl -iter`` would).

    The MAC no longer matches, which does not matter: a reader must refuse the
    count before computing anything with it.
    """
    return _rewrite(pfx, count)


# -- JKS (sun.security.provider.JavaKeyStore layout) ------------------------------------


def jks_declaring_entries(jks: bytes, count: int) -> bytes:
    """A JKS whose header declares ``count`` entries (magic, version, count)."""
    return jks[:8] + struct.pack(">I", count) + jks[12:]


def jks_with_huge_certificate_length(jks: bytes) -> bytes:
    """A JKS with one trusted-certificate entry whose certificate declares 2^31-1 bytes."""
    pos = 12
    tag = struct.unpack(">I", jks[pos : pos + 4])[0]
    if tag != 2:
        raise ValueError("give a JKS whose first entry is a trusted certificate")
    pos += 4
    alias_length = struct.unpack(">H", jks[pos : pos + 2])[0]
    pos += 2 + alias_length + 8  # alias, timestamp
    type_length = struct.unpack(">H", jks[pos : pos + 2])[0]
    pos += 2 + type_length  # "X.509"
    return jks[:pos] + struct.pack(">I", 0x7FFFFFFF) + jks[pos + 4 :]


# -- text formats ------------------------------------------------------------------------


def pem_bundle(cert_pem: bytes, count: int) -> bytes:
    return cert_pem * count


def deep_toml(depth: int) -> str:
    return "a = " + "[" * depth + "]" * depth + "\n"


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


# The rest of a valid scenario around a [pki] whose leaf is "client" and whose root is "ca0".
_REST = """
[keystore]
password = "ks-Pw-hostile"
[[keystore.entries]]
alias = "client"
key = "client"

[truststore]
password = "ts-Pw-hostile"

[server]
trust = ["ca0"]

[expect]
outcome = "ok"
"""


def scenario_with_certs(count: int) -> str:
    """A valid scenario TOML declaring ``count`` certificates: a root and leaves under it."""
    lines = ['[pki.ca0]\nkind = "root"\n', '[pki.client]\nkind = "leaf"\nissuer = "ca0"\n']
    for i in range(count - 2):
        lines.append(f'[pki.leaf{i}]\nkind = "leaf"\nissuer = "ca0"\n')
    return "\n".join(lines) + _REST


def scenario_chain(depth: int) -> str:
    """A valid scenario TOML whose client chain is ``depth`` certificates long, leaf to root."""
    lines = ['[pki.ca0]\nkind = "root"\n']
    for i in range(1, depth - 1):
        lines.append(f'[pki.ca{i}]\nkind = "intermediate"\nissuer = "ca{i - 1}"\n')
    lines.append(f'[pki.client]\nkind = "leaf"\nissuer = "ca{depth - 2}"\n')
    return "\n".join(lines) + _REST


# -- hostile servers (127.0.0.1 only, every loop bounded) -----------------------------


class HostileServer:
    """A TCP server on 127.0.0.1 that runs ``behave(conn)`` for each connection, in a thread."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self._behave = behave
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> HostileServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self._behave(conn)


def drip(conn: socket.socket, data: bytes, server: Callable[[], bool], pause: float = 0.05, limit: int = 600) -> None:
    """Send ``data`` (repeated) one byte per ``pause``, at most ``limit`` bytes, until the client leaves."""
    for i in range(limit):
        if server():
            return
        conn.sendall(data[i % len(data) : i % len(data) + 1])
        time.sleep(pause)


def tls_server(built: Built) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(built.server.chain, built.server.key)
    assert built.server.client_cas is not None
    context.load_verify_locations(built.server.client_cas)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def answer_then(built: Built, head: bytes, then: Callable[[ssl.SSLSocket], None]) -> Callable[[socket.socket], None]:
    context = tls_server(built)

    def behave(conn: socket.socket) -> None:
        conn.settimeout(10)
        with context.wrap_socket(conn, server_side=True) as tls:
            read_request(tls)
            tls.sendall(head)
            then(tls)
            # Until the client leaves: closing first could reset the connection under unread answer bytes.
            for _ in range(1_000):
                if not tls.recv(1 << 16):
                    break

    return behave


def read_request(tls: ssl.SSLSocket) -> bytes:
    """The whole request: headers, then Content-Length bytes of body."""
    data = b""
    for _ in range(1_000):
        if b"\r\n\r\n" in data:
            break
        data += tls.recv(1 << 16)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
    )
    for _ in range(1_000):
        if len(body) >= length:
            break
        body += tls.recv(1 << 16)
    return data
