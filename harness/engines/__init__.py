"""Client engines: the same probe through different TLS stacks.

``python`` is the stdlib ``ssl`` module over OpenSSL; ``jsse`` is the JDK's own
TLS stack, the one the platform runs. Both take a :class:`Probe` (where to POST,
which stores, which passwords) and return an :class:`Outcome`: what the client
saw, raw errors included, as typed facts (a certificate asked for and sent,
the alert received, the HTTP status, the store that would not open). Engines
never name an outcome code: turning an outcome into a verdict is
``harness.diagnose``'s job, the one place codes are decided. ``make_engines``
(``harness.engines.factory``) makes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

from harness.knowledge.java import Pkcs12Algorithms
from harness.secret import Secret

if TYPE_CHECKING:
    from harness.stores import WrittenStore

__all__ = [
    "ENGINE_NAMES",
    "MAX_BODY",
    "METHODS",
    "Engine",
    "Outcome",
    "Probe",
    "Stage",
    "StoreFailure",
    "StoreProblem",
    "redirect_location",
    "server_seen",
]

ENGINE_NAMES = ("python", "jsse")
METHODS = ("POST", "HEAD", "GET")  # only POST sends a body
MAX_BODY = 1 << 20  # engines read at most this much of an answer (as MtlsProbe.java)

# Where a probe stopped: loading the keystore or truststore (the platform
# would fail before connecting), connecting (TCP), the TLS handshake, or the
# HTTP exchange after it. "done" means an HTTP answer was read (any status).
Stage = Literal["keystore", "truststore", "connect", "handshake", "http", "done"]
# Why a store could not be used: its password does not open it, it cannot be read at all (a damaged or
# foreign file), the key entry does not open with the store's password, or it holds several key entries
# (the python engine cannot choose among them as the JDK does).
StoreProblem = Literal["password", "unreadable", "key-password", "several-key-entries"]


@dataclass(frozen=True)
class Probe:
    """One HTTPS request with client certificate, as the platform would send it.

    ``method`` is POST (the platform's request: ``message`` is the body, sent
    with ``content_type``), or HEAD / GET, which send no body and no
    Content-Type at all (``check``'s default: a request that changes nothing).

    Store types are found from the files' content, never from their names.
    ``tls_versions`` restricts the client (None: the stack's defaults), to
    reproduce a platform pinned to, say, TLS 1.2.
    """

    url: str
    keystore: Path
    keystore_password: Secret
    truststore: Path
    truststore_password: Secret
    message: bytes = b'{"message": "mtls-harness probe"}'
    content_type: str = "application/json"
    method: str = "POST"  # POST, HEAD or GET
    # Send the body at most once: the JDK, like the platform, resends a POST whose answer it
    # could not read; ``check --post`` turns that off (the bytes on the wire are the same).
    once: bool = False
    tls_versions: tuple[str, ...] | None = None
    timeout: float = 10.0
    # Cipher suites the client enables, by their IANA / Java names (None: the
    # stack's defaults), as jdk.tls.client.cipherSuites pins them (jsse only).
    ciphers: tuple[str, ...] | None = None
    # The stores as the harness wrote them in this process (a scenario's, plainly written; None for any
    # other store): the python engine takes their contents from memory while the file is unchanged and the
    # password is the one written with (issue 26). The jsse engine always reads the files.
    keystore_written: WrittenStore | None = field(default=None, repr=False, compare=False)
    truststore_written: WrittenStore | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class StoreFailure:
    """The store the client could not use, and what stood in the way (the stack's own words: ``Outcome.error``)."""

    store: Literal["keystore", "truststore"]
    problem: StoreProblem
    # The store's PKCS#12 algorithms (jsse, when the JDK found the password wrong; None for JKS / JCEKS):
    # a Java that lacks them reports a PKCS#12 it cannot decrypt as a wrong password.
    pkcs12: Pkcs12Algorithms | None = None


@dataclass(frozen=True)
class Outcome:
    """What one engine saw, as facts; None where the engine does not know. Never holds a password or key material."""

    engine: str
    stage: Stage
    protocol: str | None = None
    cipher: str | None = None
    http_status: int | None = None
    # The client identity as the server saw it (subject, issuer, serial,
    # sha256), from the server's answer; None when there was no answer.
    server_seen: Mapping[str, str] | None = None
    # Raw error text: the exception chain as the stack reported it.
    error: str | None = None
    error_type: str | None = None
    # TLS alert received from the server, as its RFC 8446 name ("unknown_ca").
    alert_received: str | None = None
    # Client-side certificate verification result (OpenSSL verify code).
    verify_code: int | None = None
    elapsed_ms: float = 0.0
    # -- the stores, as the client read them
    store_failure: StoreFailure | None = None
    keystore_type: str | None = None  # "JKS", "PKCS12", "JCEKS": from the content, never the name
    truststore_type: str | None = None
    key_aliases: tuple[str, ...] | None = None  # the keystore's key entries (None: not opened)
    truststore_certs: int | None = None  # jsse: trusted-certificate entries of the truststore
    truststore_key_entries: int | None = None  # jsse
    trust_anchors: int | None = None  # jsse: what its TrustManagerFactory accepts (0: "trustAnchors ... non-empty")
    # -- the handshake
    client_cert_requested: bool | None = None  # the server sent a CertificateRequest
    # Whether the client answered it with a certificate (False: an empty Certificate message; the JDK when no
    # key entry matched the server's CA names); None when not asked or not got that far.
    client_cert_sent: bool | None = None
    chosen_alias: str | None = None  # the key entry whose certificate the client offers
    ca_names_seen: tuple[str, ...] | None = None  # jsse: the CA names the server listed when it asked
    key_types_asked: tuple[str, ...] | None = None  # jsse: the key types its key manager was asked for
    handshake_completed: bool | None = None  # jsse
    connections: int | None = None  # jsse: HttpURLConnection retries a POST whose answer it could not read
    alert_number: int | None = None  # python: the last alert read, by number (RFC 8446, 6)
    openssl_reason: str | None = None  # python: OpenSSL's reason for a TLS failure ("UNSUPPORTED_PROTOCOL")
    # python, TLS 1.3: what the server did after the client's certificate ("session tickets", "closed", ...).
    server_after_handshake: str | None = None
    # -- the HTTP answer
    http_reason: str | None = None  # python: the status line's reason phrase
    # The first 500 characters of an answer that is not the local server's (a real destination's own page).
    response_body: str | None = None
    body_cut_at: int | None = None  # python: the answer was cut at this many bytes (the limit)
    body_error: str | None = None  # jsse: reading the answer's body failed
    # The answer's Location header (a 3xx's target), as sent but with any credentials masked and control
    # characters escaped (``redirect_location``); no engine follows it.
    location: str | None = None
    # -- the engine
    java_version: str | None = None  # jsse: the JVM's java.version
    deadline_s: float | None = None  # jsse: the whole-answer deadline that passed (ServerTooSlow)
    # The per-read timeout a read ran out of after the handshake completed (no answer at all): http-timeout.
    timeout_s: float | None = None

    @property
    def completed(self) -> bool:
        """True when the handshake succeeded and an HTTP answer was read."""
        return self.stage == "done"

    @property
    def key_entries(self) -> int | None:
        """How many key entries the keystore holds (None: not opened)."""
        return None if self.key_aliases is None else len(self.key_aliases)


def server_seen(body: bytes) -> dict[str, str] | None:
    """The client identity the local server saw: the string fields of its answer's ``client`` object.

    None for any other answer (a real destination's own response).
    """
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    client = answer.get("client") if isinstance(answer, dict) else None
    if not isinstance(client, dict):
        return None
    return {k: v for k, v in client.items() if isinstance(v, str)}


LOCATION_CHARS = 2000  # a Location header is kept up to this many characters


def redirect_location(raw: str | None) -> str | None:
    """A Location header as an Outcome keeps it: credentials masked, control characters escaped, bounded.

    ``https://user:pw@host/`` becomes ``https://user:***@host/``: an Outcome never holds a password. None
    when there was no Location header.
    """
    if raw is None:
        return None
    text = raw.strip()[:LOCATION_CHARS]
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
    except ValueError:
        netloc = ""
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0] if ":" in userinfo else userinfo
        masked = f"{user}:***@{hostport}" if ":" in userinfo else f"***@{hostport}"
        text = text.replace(netloc, masked, 1)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Engine(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when the engine can run here; otherwise why not and how to fix it."""

    def warm_up(self) -> None:
        """Get ready in the background (start a JVM, say); probes wait for it. May do nothing."""

    def probe(self, probe: Probe) -> Outcome: ...

    def close(self) -> None: ...
