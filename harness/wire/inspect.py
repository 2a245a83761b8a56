"""What a server shows any client: its certificate chain and the client CA names it asks for.

``inspect_server(url)`` connects without a client certificate and without
verifying anything (it is a look, not a trust decision), and reads two
handshake messages as OpenSSL hands them to its message callback
(``SSLContext._msg_callback``, the stdlib's hook over
``SSL_CTX_set_msg_callback``): the server's Certificate and its
CertificateRequest. Reading the messages, rather than asking the finished
connection, works even when the server then aborts because no certificate
came (TLS 1.2 servers requiring one do), and the stdlib has no API for the
CertificateRequest's CA names at all.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509

from harness.destination import split_url
from harness.knowledge.alerts import (
    CERTIFICATE,
    CERTIFICATE_AUTHORITIES,
    CERTIFICATE_REQUEST,
    RECORD_HANDSHAKE,
    SIGNATURE_ALGORITHMS,
)
from harness.knowledge.tls import tls_version
from harness.wire.contexts import look_only_context
from harness.wire.deadlines import Deadline, ServerTooLarge, ServerTooSlow

__all__ = ["HANDSHAKE_BYTES", "MAX_CHAIN", "ServerView", "inspect_server", "server_hello_version"]

# Bytes accepted from a server during the handshake. OpenSSL caps the
# certificate list at 100 KiB by default (SSL_CTX_set_max_cert_list); 1 MiB
# leaves room for the rest of the flight and still bounds memory.
HANDSHAKE_BYTES = 1 << 20
# Certificates parsed from a server's chain; real chains have 2-4.
MAX_CHAIN = 32


@dataclass(frozen=True)
class ServerView:
    host: str
    port: int
    chain: tuple[x509.Certificate, ...]
    # None: the server did not ask for a client certificate; () it asked and named no CA.
    ca_names: tuple[x509.Name, ...] | None
    protocol: str | None
    # Set when the handshake did not complete (expected when a client certificate is required).
    handshake_error: str | None = None
    # The CertificateRequest's signature schemes (TLS 1.2 supported_signature_algorithms, TLS 1.3
    # signature_algorithms), in the server's order, and TLS 1.2's certificate_types: what JSSE turns
    # into the key types it asks its key manager for.
    signature_schemes: tuple[int, ...] = ()
    certificate_types: tuple[int, ...] = ()

    @property
    def asks_for_client_certificate(self) -> bool:
        return self.ca_names is not None


def inspect_server(url: str, timeout: float = 10.0, *, deadline: float | None = None) -> ServerView:
    """Connect as an anonymous client and read what the server presents. OSError when unreachable.

    ``timeout`` bounds the connect and each read; ``deadline`` (default twice
    ``timeout``) the whole look, however slowly the server drips its bytes.
    At most HANDSHAKE_BYTES are accepted from the server and MAX_CHAIN
    certificates parsed. A server that is too slow or too large before its
    certificate arrived raises ServerTooSlow / ServerTooLarge (both OSError,
    one line naming the limit); after it, the view is returned with
    ``handshake_error`` saying which limit ended the look.
    """
    host, port, _ = split_url(url)
    clock = Deadline(deadline if deadline is not None else 2 * timeout)
    seen = _Seen()
    context = look_only_context(on_message=seen.message)  # a look at the chain, not a decision to trust it
    error: str | None = None
    limit: OSError | None = None
    protocol = None
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    # Through memory BIOs: every byte from the server passes here, so the
    # deadline and the byte cap hold for the handshake as a whole, not per read.
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
    with socket.create_connection((host, port), timeout=clock.bound(timeout)) as raw:
        received = 0
        try:
            while True:
                try:
                    tls.do_handshake()
                    protocol = tls.version()
                    break
                except ssl.SSLWantReadError:
                    _flush(raw, outgoing, clock, timeout)
                    raw.settimeout(clock.bound(timeout))
                    try:
                        data = raw.recv(1 << 16)
                    except TimeoutError:
                        if clock.expired:
                            raise ServerTooSlow(clock.seconds, received) from None
                        raise OSError(
                            f"the server sent nothing for {timeout:g} s (the timeout for each read)"
                        ) from None
                    if not data:
                        incoming.write_eof()
                        continue
                    received += len(data)
                    if received > HANDSHAKE_BYTES:
                        raise ServerTooLarge(received, cap=HANDSHAKE_BYTES) from None
                    incoming.write(data)
        except (ServerTooSlow, ServerTooLarge) as exc:
            limit = exc
            error = str(exc)
        except (ssl.SSLError, OSError) as exc:
            # A TLS 1.3 server judges the (absent) client certificate after our
            # side of the handshake ends: its verdict is not read, only what it sent.
            error = str(exc)
        if protocol is not None:
            with contextlib.suppress(ssl.SSLError):
                tls.unwrap()  # a close_notify, as the socket-based look sent when its `with` ended
        with contextlib.suppress(OSError):
            _flush(raw, outgoing, clock, timeout)  # our close_notify or alert, if any: best effort
    if seen.chain_cut:
        error = f"{error}; " if error else ""
        error += f"the server sent {seen.chain_cut} certificates; the first {MAX_CHAIN} are shown (limit)"
    if not seen.chain:
        if limit is not None:
            raise limit
        raise OSError(error or "the server sent no certificate")
    return ServerView(
        host,
        port,
        tuple(seen.chain),
        seen.ca_names,
        seen.version or protocol,
        error,
        seen.signature_schemes,
        seen.certificate_types,
    )


def _flush(raw: socket.socket, outgoing: ssl.MemoryBIO, clock: Deadline, timeout: float) -> None:
    data = outgoing.read()
    if data:
        raw.settimeout(clock.bound(timeout))
        raw.sendall(data)


class _Seen:
    """Handshake messages from the server, parsed as they pass the message callback."""

    def __init__(self) -> None:
        self.chain: list[x509.Certificate] = []
        self.ca_names: tuple[x509.Name, ...] | None = None
        self.signature_schemes: tuple[int, ...] = ()
        self.certificate_types: tuple[int, ...] = ()
        self.version: str | None = None
        self.chain_cut = 0  # how many certificates the server sent, when above MAX_CHAIN

    def message(
        self, _conn: object, direction: str, version: object, content_type: int, _msg: object, data: bytes
    ) -> None:
        # Must not raise: CPython re-raises a callback's exception from the SSL call.
        if direction != "read" or content_type != RECORD_HANDSHAKE or len(data) < 4:
            return
        # TLS 1.3 changes both messages' layout. OpenSSL passes the negotiated
        # version with messages after the ServerHello (not with the ServerHello
        # itself, which still carries the version offered).
        tls13 = version == ssl.TLSVersion.TLSv1_3
        body = data[4:]
        try:
            if data[0] == CERTIFICATE and not self.chain:
                self.chain, sent = _certificates(body, tls13)
                self.chain_cut = sent if sent > MAX_CHAIN else 0
                known = tls_version(version) if isinstance(version, ssl.TLSVersion) else None
                self.version = known.name if known is not None else None  # None: the finished handshake's
            elif data[0] == CERTIFICATE_REQUEST:
                self.ca_names, self.signature_schemes, self.certificate_types = _certificate_request(body, tls13)
        except (ValueError, IndexError):
            pass  # a malformed message: the handshake itself will report it


def server_hello_version(body: bytes) -> str | None:
    """The version a ServerHello body (after its 4-byte header) chose, as ``"TLSv1.2"``; None if unknown.

    A TLS 1.3 ServerHello says 1.2 in its legacy_version and 1.3 in its
    supported_versions extension (RFC 8446 4.2.1); ssl.TLSVersion's values are the wire numbers.
    """
    try:
        known = tls_version(ssl.TLSVersion(_chosen_version(body)))
    except ValueError:
        return None
    return known.name if known is not None else None


def _chosen_version(body: bytes) -> int:
    """The version a ServerHello body chose: supported_versions when present, else legacy_version."""
    chosen = int.from_bytes(body[:2], "big")
    at = 2 + 32
    if at >= len(body):
        return chosen
    at += 1 + body[at] + 2 + 1  # session_id, cipher_suite, compression_method
    end = min(len(body), at + 2 + int.from_bytes(body[at : at + 2], "big"))
    at += 2
    while at + 4 <= end:
        kind, size = int.from_bytes(body[at : at + 2], "big"), int.from_bytes(body[at + 2 : at + 4], "big")
        if kind == 43 and size == 2 and at + 6 <= end:  # supported_versions (RFC 8446 4.2.1)
            return int.from_bytes(body[at + 4 : at + 6], "big")
        at += 4 + size
    return chosen


class _Reader:
    """Length-prefixed TLS vectors (RFC 8446 3.4)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def vector(self, size_bytes: int) -> bytes:
        length = int.from_bytes(self.data[self.pos : self.pos + size_bytes], "big")
        start = self.pos + size_bytes
        if start + length > len(self.data):
            raise ValueError("vector overruns its message")
        self.pos = start + length
        return self.data[start : self.pos]

    @property
    def left(self) -> bool:
        return self.pos < len(self.data)


def _certificates(body: bytes, tls13: bool) -> tuple[list[x509.Certificate], int]:
    """The first MAX_CHAIN certificates of a Certificate message, and how many it holds."""
    message = _Reader(body)
    if tls13:
        message.vector(1)  # certificate_request_context
    entries = _Reader(message.vector(3))
    chain = []
    sent = 0
    while entries.left:
        der = entries.vector(3)
        sent += 1
        if sent <= MAX_CHAIN:
            chain.append(x509.load_der_x509_certificate(der))
        if tls13:
            entries.vector(2)  # per-certificate extensions
    return chain, sent


def _certificate_request(body: bytes, tls13: bool) -> tuple[tuple[x509.Name, ...], tuple[int, ...], tuple[int, ...]]:
    """A CertificateRequest's CA names, signature schemes and (TLS 1.2) certificate types."""
    message = _Reader(body)
    types = b""
    schemes = b""
    if tls13:
        message.vector(1)  # certificate_request_context
        extensions = _Reader(message.vector(2))
        names = b""
        while extensions.left:
            kind = int.from_bytes(extensions.data[extensions.pos : extensions.pos + 2], "big")
            extensions.pos += 2
            value = extensions.vector(2)
            if kind == CERTIFICATE_AUTHORITIES:
                names = _Reader(value).vector(2)
            elif kind == SIGNATURE_ALGORITHMS:
                schemes = _Reader(value).vector(2)
    else:
        types = message.vector(1)  # certificate_types
        schemes = message.vector(2)  # supported_signature_algorithms
        names = message.vector(2)
    reader = _Reader(names)
    result = []
    while reader.left:
        result.append(_name_from_der(reader.vector(2)))
    pairs = tuple(int.from_bytes(schemes[i : i + 2], "big") for i in range(0, len(schemes) - 1, 2))
    return tuple(result), pairs, tuple(types)


def _name_from_der(der: bytes) -> x509.Name:
    return x509.Name.from_bytes(der)
