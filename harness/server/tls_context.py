"""Server-side TLS fidelity: make the local server fail the way production MTLS servers fail.

The python server's context (``harness.server.python_server``): ``make_server_context``
returns an ``ssl.SSLContext`` subclass for asyncio servers (hypercorn passes it to
``loop.create_server(ssl=...)``) that, compared with a plain context:

* records every handshake through ``on_record`` (a
  :class:`~harness.server.records.HandshakeRecord`): the accepted identity, or the
  OpenSSL reason, verify code/message and the alert actually sent. The record
  is also left on the connection's ``ssl.SSLObject`` as ``handshake_record``,
  which the server reads from ``writer.get_extra_info("ssl_object")``;
* delivers the alert OpenSSL queued on a failed handshake and lingers (bounded)
  until the client's EOF, so clients see ``unknown_ca`` and the like, not EOF
  or a reset (asyncio drops the queued alert, see ``_RecordingSSLObject``);
* advertises the acceptable client CA names in the CertificateRequest (TLS 1.2
  and 1.3), which the stdlib cannot do (``harness.server.ca_names``: proved before any
  write; where this Python cannot, the server runs without them).

Reference behaviour: ``openssl s_server -Verify 2 -verify_return_error``.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import ssl
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.errors import ServerError
from harness.knowledge.alerts import RECORD_ALERT, alert_name
from harness.knowledge.tls import TLS_VERSIONS
from harness.server import ca_names
from harness.server.ca_names import CaNamesUnavailable
from harness.server.records import HandshakeRecord

__all__ = ["ClientAuth", "Rejection", "current_connection", "make_server_context"]

ClientAuth = Literal["required", "optional", "none"]
# How a rejected client certificate is answered: the alert, then wait for the
# client's EOF (openssl s_server); the alert, then close at once (nginx, Apache,
# HAProxy: a client still writing sees a reset or "Broken pipe"); or accept the
# handshake and let the HTTP layer answer (nginx's 400 pages).
Rejection = Literal["alert-linger", "alert-close", "http"]

_VERIFY_MODES = {
    "required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
}
# The local server serves TLS 1.2 and 1.3 only: what the platform's JDKs negotiate by default.
_SERVED_VERSIONS = {v.short: v.version for v in TLS_VERSIONS if v.short in ("1.2", "1.3")}


@dataclass(frozen=True)
class _Settings:
    on_record: Callable[[HandshakeRecord], None]
    linger_seconds: float
    linger_bytes: int
    handshake_timeout: float | None
    close_at_once: bool = False


# The connection whose handshake runs on this thread: OpenSSL's verify callback
# (harness.server.personas) runs inside SSL_do_handshake, on the caller's thread, and
# files what it saw here.
_current = threading.local()


def current_connection() -> _RecordingSSLObject | None:
    """The server connection whose handshake is running on this thread, if any."""
    found = getattr(_current, "connection", None)
    return found if isinstance(found, _RecordingSSLObject) else None


def _why(exc: OSError) -> str:
    # OpenSSL's reason or the OS's message; never the file's content.
    return str(getattr(exc, "reason", None) or exc.strerror or type(exc).__name__)


def _note_alert(
    conn: object, direction: str, version: object, content_type: int, msg_type: object, data: bytes
) -> None:
    # OpenSSL's message callback (SSL_CTX_set_msg_callback, exposed by CPython as
    # the debugging hook SSLContext._msg_callback, Lib/ssl.py) sees each alert
    # before it is encrypted: in TLS 1.3 the alert on the wire is unreadable, and
    # a table from verify errors to alerts (OpenSSL's ssl_x509err2alert) would be
    # a guess at what was sent. It must never raise: CPython re-raises a
    # callback's exception from the SSL call that triggered it. Its cost, measured
    # on Python 3.11 / OpenSSL 3.0: ~37 calls a TLS 1.3 handshake (+0.1 ms, ~6 %),
    # then 2 calls a TLS record (+4 us a record, whatever its size).
    sent = direction == "write" and content_type == RECORD_ALERT
    if sent and isinstance(conn, _RecordingSSLObject):
        conn._alert_sent = data[1] if len(data) >= 2 else None


class _RecordingSSLObject(ssl.SSLObject):
    """The server end of one connection; records its handshake and delivers its alert.

    ``handshake_record`` is ``None`` until the handshake ends, then the record
    also passed to ``on_record``.

    Why the linger: asyncio's ``SSLProtocol._do_handshake`` treats an ``SSLError``
    as final and closes the transport without writing out the outgoing BIO, where
    OpenSSL queued the alert; it only flushes after ``SSLWantReadError``. So the
    first failure is reported as "want read", which makes asyncio send the alert
    and keep the connection in its handshake state. Closing right after is still
    not enough: unread client bytes make the kernel answer with a reset, and a
    Java TLS 1.2 client, still sending its flight, reports "Broken pipe" instead
    of the alert (measured; ``openssl s_server`` drains until EOF for the same
    reason). So input is discarded until the client's EOF, which asyncio handles
    itself during a handshake (``eof_received`` ends it with
    ``ConnectionResetError``, never calling ``do_handshake``), or until a linger
    bound, checked as data arrives; a client that neither closes nor sends is
    dropped at ``ssl_handshake_timeout``. Only then is the real error raised.
    """

    handshake_record: HandshakeRecord | None = None
    _settings: _Settings | None = None
    _incoming: ssl.MemoryBIO
    _outgoing: ssl.MemoryBIO
    _alert_sent: int | None = None
    _failure: ssl.SSLError | None = None
    _linger_deadline = 0.0
    _lingered_bytes = 0
    _driven = 0
    _timer: asyncio.TimerHandle | None = None
    _protocol: weakref.ref[Any] | None = None
    # Filled by a persona's verify callback during the handshake.
    verify_errors: list[str]
    refused: str | None = None

    def _attach(
        self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, settings: _Settings, protocol: object = None
    ) -> None:
        self._incoming, self._outgoing, self._settings = incoming, outgoing, settings
        self.verify_errors = []
        if isinstance(protocol, asyncio.sslproto.SSLProtocol):
            self._protocol = weakref.ref(protocol)
        if settings.handshake_timeout is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not driven by asyncio: no way to learn of a stall
            return
        # Neither a silent client's timeout nor its early close ever reaches the
        # SSLObject (asyncio's handshake timer and eof_received act on the
        # transport), so a timer of our own gives such connections their record.
        self._timer = loop.call_later(settings.handshake_timeout, self._expire)

    def do_handshake(self) -> None:
        self._driven += 1
        if self._failure is not None:
            self._linger(self._failure)
        _current.connection = self
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            self._emit(self._rejection(exc))
            if self._outgoing.pending:
                self._failure = exc
                self._linger_deadline = time.monotonic() + self._bounds().linger_seconds
                if self._bounds().close_at_once:
                    self._close_soon()
                raise ssl.SSLWantReadError("alert queued; flushing it before closing") from exc
            raise
        finally:
            _current.connection = None
        self._emit(
            HandshakeRecord(
                accepted=True,
                protocol=self.version(),
                cipher=cipher[0] if (cipher := self.cipher()) else None,
                client_cert_der=self.getpeercert(binary_form=True),
                verify_errors=tuple(self.verify_errors),
                at=time.time(),
            )
        )

    def _close_soon(self) -> None:
        # asyncio writes the alert out when do_handshake says "want read"; the
        # next do_handshake, called right after, raises the real error, and
        # asyncio then closes the socket at once (SSLProtocol._fatal_error), as
        # nginx, Apache and HAProxy do. Unread or later client bytes make the
        # kernel answer with a reset: what their Java clients see.
        protocol = self._protocol() if self._protocol is not None else None
        if protocol is None:
            return  # not driven by asyncio: the linger bounds still end it
        try:
            asyncio.get_running_loop().call_soon(protocol._do_handshake)
        except RuntimeError:
            return

    def _linger(self, failure: ssl.SSLError) -> None:
        self._lingered_bytes += len(self._incoming.read())
        settings = self._bounds()
        if (
            settings.close_at_once
            or self._incoming.eof
            or self._lingered_bytes > settings.linger_bytes
            or time.monotonic() >= self._linger_deadline
        ):
            raise failure
        raise ssl.SSLWantReadError("alert sent; waiting for the client to close")

    def _rejection(self, exc: ssl.SSLError) -> HandshakeRecord:
        alert = self._alert_sent
        return HandshakeRecord(
            accepted=False,
            reason=exc.reason or type(exc).__name__,
            verify_code=getattr(exc, "verify_code", None),
            verify_message=getattr(exc, "verify_message", None),
            alert_sent=None if alert is None else (alert_name(alert) or f"alert_{alert}"),
            verify_errors=tuple(getattr(self, "verify_errors", ())),
            error=str(exc),
            at=time.time(),
        )

    def _expire(self) -> None:
        self._timer = None
        if self.handshake_record is not None:
            return
        timeout = self._bounds().handshake_timeout
        began = "began its handshake but did not finish it" if self._driven > 1 else "sent nothing"
        self._emit(
            HandshakeRecord(
                accepted=False,
                reason="handshake-incomplete",
                error=f"the client {began} within {timeout} s (it stalled, or closed early)",
                at=time.time(),
            )
        )

    def _emit(self, record: HandshakeRecord) -> None:
        if self.handshake_record is not None:
            return
        self.handshake_record = record
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._bounds().on_record(record)

    def _bounds(self) -> _Settings:
        if self._settings is None:
            raise RuntimeError("SSLObject not created through _RecordingContext.wrap_bio")
        return self._settings


class _RecordingContext(ssl.SSLContext):
    """Server context whose connections are ``_RecordingSSLObject``."""

    sslobject_class = _RecordingSSLObject
    _settings: _Settings

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        # The SSLObject keeps its BIOs in C; this is the one place that sees them.
        sslobj = super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)
        if isinstance(sslobj, _RecordingSSLObject):
            # asyncio's SSLProtocol calls wrap_bio from its __init__: the one
            # place to learn which protocol drives this connection (to close it
            # at once after an alert).
            caller = sys._getframe(1).f_locals.get("self")
            sslobj._attach(incoming, outgoing, self._settings, caller)
        return sslobj


def make_server_context(
    *,
    cert_chain: Path,
    key: Path,
    client_cas: Path | None,
    client_auth: ClientAuth,
    tls_versions: tuple[str, ...],
    advertise_ca_names: bool,
    on_record: Callable[[HandshakeRecord], None],
    linger_seconds: float = 2.0,
    linger_bytes: int = 1 << 20,
    handshake_timeout: float | None = None,
    rejection: Rejection = "alert-linger",
    post_handshake: bool = False,
) -> ssl.SSLContext:
    """A server context for ``asyncio`` servers; see the module docstring.

    ``on_record`` is called once per connection, on the event loop, and must not
    raise. With ``handshake_timeout`` (pass the server's ``ssl_handshake_timeout``)
    a connection whose handshake has not ended by then is recorded as
    ``handshake-incomplete``; without it such connections leave no record.
    After a failed handshake the server waits for the client's EOF at most
    ``linger_seconds`` or ``linger_bytes`` (checked as data arrives) and at most
    the ``ssl_handshake_timeout`` counted from the connection's start.
    ``rejection`` says how a rejected certificate is answered (see ``Rejection``;
    ``http`` needs a persona's verify callback, harness.server.personas). With
    ``post_handshake`` the handshake asks for no certificate: the server asks
    after it (TLS 1.3 post-handshake authentication), per request.
    Refuses what it cannot serve with ``ServerError``.
    """
    where = "local server"
    versions = sorted(_SERVED_VERSIONS[v] for v in set(tls_versions) if v in _SERVED_VERSIONS)
    if not versions or len(versions) != len(set(tls_versions)):
        raise ServerError(
            where,
            f"TLS versions {list(tls_versions)!r} not supported",
            "use a non-empty subset of ['1.2', '1.3']",
        )
    if client_auth not in _VERIFY_MODES:
        raise ServerError(where, f"client auth {client_auth!r} unknown", "use 'required', 'optional' or 'none'")
    if client_cas is None and client_auth != "none":
        raise ServerError(
            where,
            f"client auth {client_auth!r} but no client CAs to trust",
            "list the client CAs the server trusts, or set client auth 'none'",
        )
    ctx = _RecordingContext(ssl.PROTOCOL_TLS_SERVER)
    ctx._settings = _Settings(
        on_record, linger_seconds, linger_bytes, handshake_timeout, close_at_once=rejection == "alert-close"
    )
    ctx.minimum_version, ctx.maximum_version = versions[0], versions[-1]
    try:
        ctx.load_cert_chain(cert_chain, key)
    except (OSError, ssl.SSLError) as exc:
        raise ServerError(
            f"{cert_chain} + {key}",
            f"cannot load the server certificate chain and key: {_why(exc)}",
            "give a PEM chain (leaf first) and its unencrypted PEM key",
        ) from None
    if post_handshake:
        # OpenSSL's SSL_VERIFY_POST_HANDSHAKE: no CertificateRequest in the
        # handshake; verify_client_post_handshake() sends one later.
        ctx.post_handshake_auth = True
    # nginx verifies with SSL_VERIFY_PEER only and judges at the HTTP layer.
    ctx.verify_mode = ssl.CERT_OPTIONAL if rejection == "http" and client_auth != "none" else _VERIFY_MODES[client_auth]
    if client_cas is not None:
        try:
            ctx.load_verify_locations(cafile=client_cas)
        except (OSError, ssl.SSLError) as exc:
            raise ServerError(
                str(client_cas),
                f"cannot load the client CAs: {_why(exc)}",
                "give a PEM bundle of CA certificates",
            ) from None
    ctx._msg_callback = _note_alert  # type: ignore[attr-defined]
    if advertise_ca_names and client_cas is not None and client_auth != "none":
        # Where this Python cannot (harness.server.ca_names), the server runs without
        # them; the reports say so and skip what depends on them.
        with contextlib.suppress(CaNamesUnavailable):
            ca_names.advertise(ctx, client_cas)
    return ctx
