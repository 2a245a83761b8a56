"""Server-side TLS fidelity: make the local server fail the way production MTLS servers fail.

INTERFACE STUB — being implemented. Only ``harness.server`` imports this module.

What it provides (see ../shared/DESIGN.md, "Server fidelity"):
- ``make_server_context(...)`` returns an ``ssl.SSLContext`` (a subclass) for
  asyncio/hypercorn servers that
  * records every handshake (accepted identity, or the OpenSSL reason, verify
    code/message and the alert sent) through ``on_record``;
  * flushes the TLS alert OpenSSL queued on a failed handshake and lingers
    (bounded) until the client's EOF, so clients see ``unknown_ca`` etc., not
    EOF / reset;
  * advertises the acceptable client CA names in the CertificateRequest (TLS 1.2
    and 1.3) unless told not to, with a runtime self-check that refuses to start.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ClientAuth", "HandshakeRecord", "make_server_context"]

ClientAuth = Literal["required", "optional", "none"]


@dataclass(frozen=True)
class HandshakeRecord:
    """One TLS connection as the server saw it."""

    accepted: bool
    protocol: str | None = None
    cipher: str | None = None
    # The client's leaf certificate (DER) when one was sent and accepted.
    client_cert_der: bytes | None = None
    # On rejection: the OpenSSL reason ("CERTIFICATE_VERIFY_FAILED",
    # "PEER_DID_NOT_RETURN_A_CERTIFICATE", "UNSUPPORTED_PROTOCOL", ...).
    reason: str | None = None
    verify_code: int | None = None
    verify_message: str | None = None
    # The TLS alert the server sent, RFC 8446 name ("unknown_ca").
    alert_sent: str | None = None
    error: str | None = None
    # Seconds since the epoch when the handshake ended.
    at: float = 0.0


def make_server_context(
    *,
    cert_chain: Path,
    key: Path,
    client_cas: Path | None,
    client_auth: ClientAuth,
    tls_versions: tuple[str, ...],
    advertise_ca_names: bool,
    on_record: Callable[[HandshakeRecord], None],
) -> ssl.SSLContext:
    raise NotImplementedError
