"""The one factory for the TLS contexts that look at a server without trusting it.

``inspect``, ``capture`` and ``check`` ask a server what it shows any client
(its chain, the CA names it asks for, the versions and suites it takes, whether
it speaks TLS at all): none of that is a trust decision, and none of it sends a
client certificate. Each default below says why it is what it is, as urllib3's
``create_urllib3_context`` does for its own.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable

__all__ = ["MessageCallback", "look_only_context"]

# OpenSSL's message callback as CPython calls it: (connection, direction, version, content type, message type, data).
MessageCallback = Callable[[object, str, object, int, object, bytes], None]


def look_only_context(
    version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    *,
    seclevel0: bool = False,
    on_message: MessageCallback | None = None,
) -> ssl.SSLContext:
    """A client context that looks: no verification, no host name check, never a client certificate.

    ``version``: offer that TLS version only (the question is whether the
    server takes it); by default, whatever this OpenSSL offers a server.
    ``ciphers``: an OpenSSL cipher string (``ECDHE:DHE:!kRSA``: is the server
    TLS_RSA only?); by default OpenSSL's. ``seclevel0``: security level 0, so
    that this OpenSSL offers what an old client offers (TLS 1.0/1.1, TLS_RSA,
    SHA-1 signatures), without which the server's answer to an old JDK is not
    learnt. ``on_message``: OpenSSL's message callback (the stdlib's hook
    ``SSLContext._msg_callback`` over ``SSL_CTX_set_msg_callback``), which sees
    the server's Certificate and CertificateRequest even when the handshake
    then fails; the stdlib has no other way to the CA names.

    ValueError when this OpenSSL cannot offer ``version``; ssl.SSLError when
    ``ciphers`` selects nothing.
    """
    # PROTOCOL_TLS_CLIENT: the client side's defaults (SNI, ALPN-free, TLS 1.2+ unless pinned below).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # A look at what the server sends, not a decision to trust it: the chain is judged afterwards, with the
    # truststore that matters (the destination's), and a server we cannot verify must still be looked at.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Never a client certificate: none is loaded into this context.
    if on_message is not None:
        context._msg_callback = on_message  # type: ignore[attr-defined]
    if ciphers is not None or seclevel0:
        context.set_ciphers(f"{ciphers or 'DEFAULT'}:@SECLEVEL=0" if seclevel0 else ciphers or "DEFAULT")
    if version is not None:
        # Offering TLS 1.0/1.1 is the point of such a look: the stdlib's deprecation warning is for clients
        # that would rely on them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
    return context
