"""The facts a local server records: each handshake as the server saw it, each request that reached it.

Both servers (``python_server``, ``java_server``) file what they see in one
:class:`ServerRecords`, which ``LocalServer`` exposes as ``handshakes`` and
``requests``; each record also becomes one line for ``serve`` and the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography import x509

from harness.pki import sha256_fingerprint
from harness.text import inert

__all__ = ["HandshakeRecord", "RequestRecord", "ServerRecords", "client_identity", "describe_handshake"]

# Every server line under one logger name, whichever server writes it: the name users filter on
# (tests/test_load.py quiets it).
log = logging.getLogger("harness.server.local")


@dataclass(frozen=True)
class HandshakeRecord:
    """One TLS connection as the server saw it."""

    accepted: bool
    protocol: str | None = None
    cipher: str | None = None
    # The client's leaf certificate (DER) when one was sent and accepted; kept
    # out of repr (public, but kilobytes of noise in every report).
    client_cert_der: bytes | None = field(default=None, repr=False)
    # On rejection: the OpenSSL reason ("CERTIFICATE_VERIFY_FAILED",
    # "PEER_DID_NOT_RETURN_A_CERTIFICATE", "UNSUPPORTED_PROTOCOL", ...), or
    # "handshake-incomplete" when the client never finished its handshake.
    reason: str | None = None
    verify_code: int | None = None
    verify_message: str | None = None
    # The TLS alert the server sent, RFC 8446 name ("unknown_ca").
    alert_sent: str | None = None
    # Accepted handshakes of a server that verifies at the HTTP layer (nginx):
    # the verify errors it let through, "verify error 10 at depth 0: certificate has expired".
    verify_errors: tuple[str, ...] = ()
    error: str | None = None
    # Seconds since the epoch when the handshake ended.
    at: float = 0.0


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request that reached the app (so its handshake was accepted)."""

    method: str
    path: str
    status: int
    received_bytes: int
    client: Mapping[str, str] | None
    at: float = field(default_factory=time.time)


def client_identity(der: bytes) -> dict[str, str]:
    """The client certificate as the server saw it: subject, issuer, serial, SHA-256 fingerprint."""
    cert = x509.load_der_x509_certificate(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "sha256": sha256_fingerprint(cert),
    }


def describe_handshake(record: HandshakeRecord) -> str:
    """One line for ``serve`` and the reports."""
    if record.accepted:
        who = client_identity(record.client_cert_der)["subject"] if record.client_cert_der else "no client certificate"
        return f"handshake accepted: {who} ({record.protocol}, {record.cipher})"
    parts = [f"handshake rejected: {record.reason or 'unknown reason'}"]
    if record.reason == "handshake-incomplete" and record.error:
        parts.append(record.error)
    if record.verify_code is not None:
        parts.append(f"verify error {record.verify_code}: {record.verify_message}")
    if record.alert_sent:
        parts.append(f"sent alert {record.alert_sent}")
    return "; ".join(parts)


class ServerRecords:
    """What one server saw, in order: its handshakes and requests, and a line for each on ``on_event`` and the log."""

    def __init__(self, on_event: Callable[[str], None] | None = None) -> None:
        self.handshakes: list[HandshakeRecord] = []
        self.requests: list[RequestRecord] = []
        self._on_event = on_event
        self._changed = threading.Condition()

    def handshake(self, record: HandshakeRecord) -> None:
        """File one handshake (called on the server's thread) and wake whoever waits for it."""
        with self._changed:
            self.handshakes.append(record)
            self._changed.notify_all()
        self.event(describe_handshake(record))

    def event(self, line: str) -> None:
        line = inert(line)  # subjects, paths and headers the client chose: one line, no terminal escapes
        log.info(line)
        if self._on_event is not None:
            self._on_event(line)

    def wait_for_handshakes(self, count: int, timeout: float = 3.0) -> list[HandshakeRecord]:
        """The handshake records once there are at least ``count`` (or whatever there is at the deadline)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.handshakes) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.handshakes)
