"""Server personas: the local server failing the way nginx, Apache httpd, HAProxy or OpenSSL do.

A persona is data: how a rejected client certificate is answered (an alert and
a linger, an alert and an immediate close, or an HTTP 400 page after an
accepted handshake), when the certificate is asked for (in the handshake, or
after it for one path), and how deep a client chain may be. The scenario's
``[server]`` table picks one by name and may override each knob.

Measured against the real servers (tests/test_realservers.py, docs/servers.md):

* nginx 1.22 completes the handshake whatever the certificate (SSL_VERIFY_PEER
  with a callback that accepts) and answers HTTP 400 with its own pages;
  ``optional`` serves a request without a certificate.
* Apache httpd 2.4 and HAProxy 2.6 send the alert and close at once; a Java
  client still writing sees ``Broken pipe`` / ``Connection reset``. Apache's
  ``<Location>`` asks after the handshake: TLS 1.3 post-handshake auth, which a
  client without it answers with HTTP 403 (AH10158). Apache refuses a chain
  deeper than ``SSLVerifyDepth`` with ``internal_error`` (AH02040).
* ``openssl s_server -verify_return_error`` sends the alert and drains until
  the client's EOF: the harness's behaviour before personas (the default).

Only the verify-depth limit and the nginx-style acceptance need OpenSSL's
verify callback, which the ``ssl`` module does not expose: it is set through
ctypes on the very SSL_CTX proved by harness.server.tls_context before any write.
"""

from __future__ import annotations

import ctypes
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from harness.errors import ServerError
from harness.server.ca_names import CaNamesUnavailable, OpenSSL, context_openssl
from harness.server.tls_context import Rejection, current_connection

__all__ = [
    "PERSONAS",
    "CertRequest",
    "Persona",
    "apache_forbidden_page",
    "install_verify_callback",
    "nginx_page",
    "persona",
]

CertRequest = Literal["handshake", "post-handshake"]


@dataclass(frozen=True)
class Persona:
    name: str
    rejection: Rejection = "alert-linger"
    client_cert_request: CertRequest = "handshake"
    # The client chain depth limit, counted as the imitated server counts:
    # nginx (OpenSSL's SSL_CTX_set_verify_depth) allows that many intermediate
    # CAs between the leaf and the trusted root; Apache (its own check in
    # ssl_callback_SSLVerify) refuses any certificate deeper than it, the leaf
    # being 0, so the root counts. None: no limit.
    verify_depth: int | None = None

    @property
    def needs_verify_callback(self) -> bool:
        return self.rejection == "http" or self.verify_depth is not None


PERSONAS: dict[str, Persona] = {
    "openssl": Persona("openssl", "alert-linger"),
    "nginx": Persona("nginx", "http"),
    "apache": Persona("apache", "alert-close"),
    "haproxy": Persona("haproxy", "alert-close"),
    # A JSSE SSLServerSocket (harness.server.java_server): its own alerts and closing.
    "java": Persona("java", "alert-close"),
}


def persona(
    name: str = "openssl",
    *,
    rejection: Rejection | None = None,
    client_cert_request: CertRequest | None = None,
    verify_depth: int | None = None,
) -> Persona:
    """The persona ``name`` with the given knobs overridden (None: the persona's own)."""
    base = PERSONAS[name]
    return Persona(
        name,
        rejection or base.rejection,
        client_cert_request or base.client_cert_request,
        verify_depth if verify_depth is not None else base.verify_depth,
    )


# -- what the HTTP layer answers ----------------------------------------------------------
#
# nginx 1.22's pages, byte for byte as measured (ngx_http_special_response.c):
# a missing certificate under `ssl_verify_client on`, and a certificate that
# failed verification (on or optional).
_NGINX_PAGE = (
    "<html>\r\n<head><title>400 {title}</title></head>\r\n<body>\r\n"
    "<center><h1>400 Bad Request</h1></center>\r\n<center>{title}</center>\r\n"
    "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
)
NGINX_MISSING = "No required SSL certificate was sent"
NGINX_ERROR = "The SSL certificate error"


def nginx_page(title: str) -> bytes:
    return _NGINX_PAGE.format(title=title).encode()


def apache_forbidden_page() -> bytes:
    """Apache 2.4's 403 when a <Location> needs a certificate the TLS 1.3 client cannot give after the handshake."""
    return (
        b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n'
        b"<html><head>\n<title>403 Forbidden</title>\n</head><body>\n<h1>Forbidden</h1>\n"
        b"<p>You don't have permission to access this resource.Reason: Cannot perform Post-Handshake "
        b"Authentication.<br /></p>\n</body></html>\n"
    )


# -- the verify callback ---------------------------------------------------------------------

_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_SSL_VERIFY_PEER, _SSL_VERIFY_FAIL_IF_NO_PEER_CERT, _SSL_VERIFY_POST_HANDSHAKE = 0x01, 0x02, 0x08
_X509_V_OK = 0
# Callbacks must outlive every connection of their context: kept for the process.
_KEEP: list[Any] = []


def install_verify_callback(ctx: ssl.SSLContext, chosen: Persona) -> None:
    """Give ``ctx`` the verify callback ``chosen`` needs (set ``verify_mode`` first). ServerError if impossible."""
    if not chosen.needs_verify_callback:
        return
    try:
        lib, pointer = context_openssl(ctx)
    except CaNamesUnavailable as exc:
        raise ServerError(
            "local server",
            f"persona {chosen.name!r} needs OpenSSL's verify callback: {exc.problem()}",
            "use persona 'openssl' (no verify_depth), or a CPython whose ssl module uses a shared OpenSSL 3",
        ) from None
    callback = _VERIFY_CB(_make_callback(lib, chosen))
    _KEEP.append(callback)
    vp = ctypes.c_void_p
    mode = lib.function("SSL_CTX_get_verify_mode", ctypes.c_int, vp)(pointer)
    # Keeps the mode the ssl module set (it keeps a callback it finds when
    # the mode changes later: _ssl.c _set_verify_mode).
    lib.function("SSL_CTX_set_verify", None, vp, ctypes.c_int, _VERIFY_CB)(pointer, mode, callback)
    if chosen.rejection == "http" and chosen.verify_depth is not None:
        # nginx's ssl_verify_depth is OpenSSL's own limit.
        lib.function("SSL_CTX_set_verify_depth", None, vp, ctypes.c_int)(pointer, chosen.verify_depth)


def _make_callback(lib: OpenSSL, chosen: Persona) -> Callable[[int, int | None], int]:
    vp = ctypes.c_void_p
    get_error = lib.function("X509_STORE_CTX_get_error", ctypes.c_int, vp)
    get_depth = lib.function("X509_STORE_CTX_get_error_depth", ctypes.c_int, vp)
    set_error = lib.function("X509_STORE_CTX_set_error", None, vp, ctypes.c_int)
    # libcrypto's, reached through libssl's own link to it.
    error_string = lib.function("X509_verify_cert_error_string", ctypes.c_char_p, ctypes.c_long)
    accept_all = chosen.rejection == "http"

    def verify(preverify_ok: int, store: int | None) -> int:
        # Runs inside SSL_do_handshake; an exception here would be lost (ctypes
        # prints it and returns 0), so every path returns a verdict.
        try:
            depth = int(get_depth(store))
            if preverify_ok and not accept_all and chosen.verify_depth is not None and depth > chosen.verify_depth:
                # Apache's callback refuses past SSLVerifyDepth and leaves the
                # error at X509_V_OK: OpenSSL then sends internal_error (AH02040).
                set_error(store, _X509_V_OK)
                _note(f"certificate chain too long: depth {depth} > verify depth {chosen.verify_depth}")
                return 0
            if not preverify_ok:
                code = int(get_error(store))
                text = (error_string(code) or b"").decode("ascii", "replace")
                _note(f"verify error {code} at depth {depth}: {text}")
                return 1 if accept_all else 0
            return 1
        except Exception:  # noqa: BLE001 - never let OpenSSL see an exception
            return preverify_ok

    return verify


def _note(text: str) -> None:
    connection = current_connection()
    if connection is not None:
        connection.verify_errors.append(text)
