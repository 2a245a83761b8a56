"""``check``'s look at the server, once: its chain, the client CA names it asks for, the versions it takes.

``inspect_server`` (``harness.wire.inspect``) reads what the server shows any
client, without a client certificate. When the server cannot be looked at,
the plain-HTTP sniff tells an http port from a dead one. For the Java versions
asked for with no runtime here (``--jdk 8u292``), the server is asked, one
handshake per TLS version and no HTTP request, which versions it takes: the
judge applies those Javas' rules to the answers.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.destination import check_url, split_url
from harness.knowledge.alerts import RECORD_HANDSHAKE, SERVER_HELLO
from harness.knowledge.java import client_tls_versions, has_feature, parse_version
from harness.knowledge.tls import not_tls, tls_version, version_refused
from harness.wire.contexts import look_only_context
from harness.wire.inspect import ServerView, inspect_server

__all__ = ["ServerEvidence", "VersionAsk", "look_at_server", "server_hello", "speaks_plain_http"]

# version_refused's words that server_hello reads as the version taken (see _version_refused).
_AFTER_HELLO = re.compile(r"no[ _]suitable|version[ _]too[ _]high", re.IGNORECASE)


@dataclass(frozen=True)
class VersionAsk:
    """The server's answers as they stood when a Java version with no runtime here was judged."""

    version: str
    on: frozenset[str]  # the TLS versions that Java offers (or --client-tls pins)
    off: frozenset[str]  # in that Java, but off by default for clients
    accepted: Mapping[str, bool | None]  # TLS version -> the server took it (None: could not tell)
    # Whether the server took a TLS 1.2 hello with forward-secret key exchange only (asked once, when a
    # Java without TLS_RSA_* meets a TLS 1.2-only server).
    forward_secret: bool | None = None


@dataclass(frozen=True)
class ServerEvidence:
    """What the one look at the server gave."""

    view: ServerView | None = None
    failure: OSError | None = None  # the server could not be looked at
    host: str = ""
    port: int = 0
    port_given: bool = True
    plain_http: bool = False  # it answered in plain HTTP: an http port
    asks: tuple[VersionAsk, ...] = ()
    accepted: Mapping[str, bool | None] = field(default_factory=dict)  # every answer, for the summary


def look_at_server(
    url: str, timeout: float, missing: Sequence[str] = (), client_tls: Sequence[str] | None = None
) -> ServerEvidence:
    """Inspect the server once; ask its TLS versions for the ``missing`` Java versions."""
    try:
        view = inspect_server(url, timeout=timeout)
    except OSError as exc:
        host, port, port_given = check_url(url, url)
        plain = not_tls(str(exc)) and speaks_plain_http(host, port, timeout)
        asks, accepted = _ask_versions(url, missing, timeout, client_tls)  # a TLS 1.0-only server, say
        return ServerEvidence(None, exc, host, port, port_given, plain, asks, accepted)
    asks, accepted = _ask_versions(url, missing, timeout, client_tls)
    return ServerEvidence(view, None, view.host, view.port, asks=asks, accepted=accepted)


def speaks_plain_http(host: str, port: int, timeout: float) -> bool:
    """True when the server answers a TLS ClientHello with an HTTP response: a plain-HTTP port.

    Asked only after the server answered the handshake with something that is not
    TLS. Sends the ClientHello any TLS client sends, then an empty line (which
    ends a request line for a server reading HTTP: it answers 400 at once, with
    no request made), and reads the first bytes back.
    """
    context = look_only_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()  # writes the ClientHello into ``outgoing``, then wants the answer
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 5.0)) as raw:
            raw.sendall(outgoing.read() + b"\r\n\r\n")
            answer = b""
            while len(answer) < 5:
                chunk = raw.recv(5 - len(answer))
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return False
    # A status line; or, from a server that took the bytes for an HTTP/0.9 request, a bare HTML error page.
    return answer.startswith(b"HTTP/") or answer.lstrip()[:1] == b"<"


def server_hello(url: str, timeout: float, tls: str, ciphers: str | None = None) -> bool | None:
    """Whether the server answers a ClientHello offering only ``tls`` (and ``ciphers``) with its ServerHello.

    No client certificate, no HTTP request: the handshake is all that is sent,
    and it stops when the server asks for the certificate it does not get.
    None when it cannot tell (no connection, no answer at all).
    """
    host, port, _ = split_url(url)
    hello = []

    def seen(_c: object, direction: str, _v: object, kind: int, _m: object, data: bytes) -> None:
        if direction == "read" and kind == RECORD_HANDSHAKE and data[:1] == bytes([SERVER_HELLO]):
            hello.append(True)

    # A question about versions, not a trust decision. Security level 0: our OpenSSL must offer what an old
    # JDK offers (TLS 1.0/1.1, TLS_RSA).
    version, suites = _ssl_version(tls), ciphers or "ALL"
    try:
        context = look_only_context(version, suites, seclevel0=True, on_message=seen)
    except ValueError:  # this OpenSSL cannot offer ``tls``: the hello goes out unpinned
        context = look_only_context(ciphers=suites, seclevel0=True, on_message=seen)
    except ssl.SSLError:  # the ciphers select nothing here: OpenSSL's own
        context = look_only_context(version, on_message=seen)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls_socket,
        ):
            return tls_socket.version() == tls
    except ssl.SSLError as exc:
        if _version_refused(str(exc)):
            return False
        return True if hello else (False if "handshake failure" in str(exc).lower() else None)
    except OSError:
        return True if hello else None


def _ssl_version(name: str) -> ssl.TLSVersion:
    found = tls_version(name)
    if found is None:  # the names come from knowledge.java's client_tls_versions, and --client-tls's
        raise KeyError(name)
    return found.version


def _version_refused(text: str) -> bool:
    """OpenSSL's words for "the server does not speak this version" (its alert or our check of its hello).

    Not its words for an answer that is no TLS at all (WRONG_VERSION_NUMBER: could not tell), nor
    NO_SUITABLE_* and VERSION_TOO_HIGH, which come after the server's ServerHello: the server took the
    version asked (how check read them before issue 20).
    """
    return version_refused(text) and not not_tls(text) and not _AFTER_HELLO.search(text)


def _ask_versions(
    url: str, missing: Sequence[str], timeout: float, client_tls: Sequence[str] | None
) -> tuple[tuple[VersionAsk, ...], dict[str, bool | None]]:
    """The TLS versions some ``missing`` Java offers, asked of the server one by one (``server_hello``).

    Each is bounded by ``timeout``. ``client_tls`` (``--client-tls 1.2``) pins the
    platform's protocols as jdk.tls.client.protocols does, for these versions too.
    """
    accepted: dict[str, bool | None] = {}
    asks = []
    for version in missing:
        if parse_version(version) is None:
            continue
        on, off = client_tls_versions(version)
        if client_tls:
            # jdk.tls.client.protocols names the versions: on if this Java has them, whatever its default.
            pinned = {known.name for known in map(tls_version, client_tls) if known is not None}
            on, off = frozenset((on | off) & pinned), frozenset()
        for tls in sorted(on | off):
            if tls not in accepted:
                # Once a probe could not tell (no connection), the others are not tried: no 4 x timeout.
                unknown = any(v is None for v in accepted.values())
                accepted[tls] = None if unknown else server_hello(url, timeout, tls)
        answers = dict(accepted)
        if (
            has_feature("tls-rsa-kx-disabled", version)
            and not accepted.get("TLSv1.3")
            and accepted.get("TLSv1.2")
            and "fs" not in accepted
        ):
            # A TLS 1.2 hello with forward-secret key exchange only: refused means TLS_RSA only.
            accepted["fs"] = server_hello(url, timeout, "TLSv1.2", "ECDHE:DHE:!kRSA")
        asks.append(VersionAsk(version, on, off, answers, accepted.get("fs")))
    return tuple(asks), accepted
