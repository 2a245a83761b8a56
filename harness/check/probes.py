"""``check``'s live part: a real handshake and one request through every chosen engine.

Each engine probes the destination's URL with its stores, once. A body the user
gave (``--post FILE``) goes to the server once, through the platform's stack
when it is here; the other engines send the default request, which changes
nothing. An engine that cannot run here is evidence too (the judge says what it
costs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.check.report import Request, is_jsse
from harness.destination import Destination
from harness.engines import Engine, Outcome, Probe

__all__ = ["EngineResult", "probe_all"]


@dataclass(frozen=True)
class EngineResult:
    """One engine's live probe: what it sent and the outcome, or why it could not run."""

    engine: str
    unavailable: str | None = None
    sent: Request | None = None
    outcome: Outcome | None = None


def probe_all(
    destination: Destination,
    engines: Sequence[Engine],
    timeout: float,
    request: Request,
    client_tls: tuple[str, ...] | None = None,
) -> tuple[EngineResult, ...]:
    """Every engine's probe of ``destination.url``, in the order given."""
    assert destination.url is not None
    available = [e for e in engines if e.unavailable_reason() is None]
    # A body the user gave goes to the server once, through the platform's stack when it is here;
    # the other engines send the default request, which changes nothing.
    poster = next((e for e in available if is_jsse(e.name)), available[0] if available else None)
    results = []
    for engine in engines:
        reason = engine.unavailable_reason()
        if reason is not None:
            results.append(EngineResult(engine.name, unavailable=reason))
            continue
        sent = request if request.body is None or engine is poster else Request()
        outcome = engine.probe(
            Probe(
                url=destination.url,
                keystore=destination.keystore,
                keystore_password=destination.keystore_password,
                truststore=destination.truststore,
                truststore_password=destination.truststore_password,
                method=sent.method,
                once=True,
                message=sent.body or b"",
                content_type=sent.content_type,
                timeout=timeout,
                tls_versions=client_tls,  # --client-tls: the platform's jdk.tls.client.protocols
            )
        )
        results.append(EngineResult(engine.name, sent=sent, outcome=outcome))
    return tuple(results)
