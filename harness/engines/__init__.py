"""Client engines: the same probe through different TLS stacks.

``python`` is the stdlib ``ssl`` module over OpenSSL; ``jsse`` is the JDK's own
TLS stack, the one the platform runs. Both take a :class:`Probe` (where to POST,
which stores, which passwords) and return an :class:`Outcome`: what the client
saw, raw errors included. Turning an outcome into a verdict is
``harness.diagnose.verdict``'s job, not the engines'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from harness.secret import Secret

__all__ = ["ENGINE_NAMES", "MAX_BODY", "METHODS", "Engine", "Outcome", "Probe", "Stage", "server_seen"]

ENGINE_NAMES = ("python", "jsse")
METHODS = ("POST", "HEAD", "GET")  # only POST sends a body
MAX_BODY = 1 << 20  # engines read at most this much of an answer (as MtlsProbe.java)

# Where a probe stopped: loading the keystore or truststore (the platform
# would fail before connecting), connecting (TCP), the TLS handshake, or the
# HTTP exchange after it. "done" means an HTTP answer was read (any status).
Stage = Literal["keystore", "truststore", "connect", "handshake", "http", "done"]


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


@dataclass(frozen=True)
class Outcome:
    """What one engine saw. Never holds a password or key material."""

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
    # An outcome code the engine knows for certain without diagnosis, e.g. a
    # keystore that the password cannot open ("keystore-password-wrong").
    code_hint: str | None = None
    elapsed_ms: float = 0.0
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        """True when the handshake succeeded and an HTTP answer was read."""
        return self.stage == "done"


def server_seen(body: bytes) -> dict[str, str] | None:
    """The client identity the local server saw: the string fields of its answer's ``client`` object.

    None for any other answer (a real destination's own response).
    """
    import json

    try:
        answer = json.loads(body)
    except ValueError:
        return None
    client = answer.get("client") if isinstance(answer, dict) else None
    if not isinstance(client, dict):
        return None
    return {k: v for k, v in client.items() if isinstance(v, str)}


class Engine(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when the engine can run here; otherwise why not and how to fix it."""

    def warm_up(self) -> None:
        """Get ready in the background (start a JVM, say); probes wait for it. May do nothing."""

    def probe(self, probe: Probe) -> Outcome: ...

    def close(self) -> None: ...
