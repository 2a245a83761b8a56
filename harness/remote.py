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

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509

from harness.errors import UsageError

__all__ = ["ServerView", "inspect_server", "split_url"]

_HANDSHAKE = 22  # TLS record content type (RFC 8446 5.1)
_CERTIFICATE = 11  # handshake message types (RFC 8446 4)
_CERTIFICATE_REQUEST = 13
_CERTIFICATE_AUTHORITIES = 47  # extension type (RFC 8446 4.2.4)


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

    @property
    def asks_for_client_certificate(self) -> bool:
        return self.ca_names is not None


def split_url(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an https URL; UsageError for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise UsageError(url, "not an https:// URL", "give the destination's URL, e.g. https://host:8443/path")
    try:
        port = parts.port or 443
    except ValueError:
        raise UsageError(url, "the port is not a number", "fix the URL") from None
    return parts.hostname, port, parts.path or "/"


def inspect_server(url: str, timeout: float = 10.0) -> ServerView:
    """Connect as an anonymous client and read what the server presents. OSError when unreachable."""
    host, port, _ = split_url(url)
    seen = _Seen()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a look at the chain, not a decision to trust it
    context._msg_callback = seen.message  # type: ignore[attr-defined]
    error = None
    protocol = None
    with socket.create_connection((host, port), timeout=timeout) as raw:
        try:
            # A TLS 1.3 server judges the (absent) client certificate after our
            # side of the handshake ends: its verdict is not read, only what it sent.
            with context.wrap_socket(raw, server_hostname=host) as tls:
                protocol = tls.version()
        except (ssl.SSLError, OSError) as exc:
            error = str(exc)
    if not seen.chain:
        raise OSError(error or "the server sent no certificate")
    return ServerView(host, port, tuple(seen.chain), seen.ca_names, seen.version or protocol, error)


class _Seen:
    """Handshake messages from the server, parsed as they pass the message callback."""

    def __init__(self) -> None:
        self.chain: list[x509.Certificate] = []
        self.ca_names: tuple[x509.Name, ...] | None = None
        self.version: str | None = None

    def message(
        self, _conn: object, direction: str, version: object, content_type: int, _msg: object, data: bytes
    ) -> None:
        # Must not raise: CPython re-raises a callback's exception from the SSL call.
        if direction != "read" or content_type != _HANDSHAKE or len(data) < 4:
            return
        # TLS 1.3 changes both messages' layout. OpenSSL passes the negotiated
        # version with messages after the ServerHello (not with the ServerHello
        # itself, which still carries the version offered).
        tls13 = version == ssl.TLSVersion.TLSv1_3
        body = data[4:]
        try:
            if data[0] == _CERTIFICATE and not self.chain:
                self.chain = _certificates(body, tls13)
                self.version = "TLSv1.3" if tls13 else "TLSv1.2"
            elif data[0] == _CERTIFICATE_REQUEST:
                self.ca_names = _ca_names(body, tls13)
        except (ValueError, IndexError):
            pass  # a malformed message: the handshake itself will report it


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


def _certificates(body: bytes, tls13: bool) -> list[x509.Certificate]:
    message = _Reader(body)
    if tls13:
        message.vector(1)  # certificate_request_context
    entries = _Reader(message.vector(3))
    chain = []
    while entries.left:
        chain.append(x509.load_der_x509_certificate(entries.vector(3)))
        if tls13:
            entries.vector(2)  # per-certificate extensions
    return chain


def _ca_names(body: bytes, tls13: bool) -> tuple[x509.Name, ...]:
    message = _Reader(body)
    if tls13:
        message.vector(1)  # certificate_request_context
        extensions = _Reader(message.vector(2))
        names = b""
        while extensions.left:
            kind = int.from_bytes(extensions.data[extensions.pos : extensions.pos + 2], "big")
            extensions.pos += 2
            value = extensions.vector(2)
            if kind == _CERTIFICATE_AUTHORITIES:
                names = _Reader(value).vector(2)
    else:
        message.vector(1)  # certificate_types
        message.vector(2)  # supported_signature_algorithms
        names = message.vector(2)
    reader = _Reader(names)
    result = []
    while reader.left:
        result.append(_name_from_der(reader.vector(2)))
    return tuple(result)


def _name_from_der(der: bytes) -> x509.Name:
    return x509.Name.from_bytes(der)
