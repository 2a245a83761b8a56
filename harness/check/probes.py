"""``check``'s live part: a real handshake and one request through every chosen engine.

Each engine probes the destination's URL with its stores, once. A body the user
gave (``--post FILE``) goes to the server once, through the platform's stack
when it is here; the other engines send the default request, which changes
nothing. An engine that cannot run here is evidence too (the judge says what it
costs).

While a probe waits more than ``PROGRESS_AFTER`` s, a terminal (stderr a tty) sees a progress line,
``waiting for URL: N s``, erased when the probe ends; a pipe or file sees nothing (issue 24).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from harness.check.report import Request, is_jsse
from harness.destination import Destination
from harness.engines import Engine, Outcome, Probe, redirect_location
from harness.terminal import PROGRESS_AFTER

__all__ = ["PROGRESS_AFTER", "EngineResult", "probe_all", "progress"]


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
        with progress(destination.url, engine.name):
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


@contextlib.contextmanager
def progress(url: str, engine: str, stream: TextIO | None = None) -> Iterator[None]:
    """On a terminal, ``waiting for URL: N s (engine)`` once the block has run ``PROGRESS_AFTER`` s, then erased."""
    out = sys.stderr if stream is None else stream
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty:
        yield
        return
    shown = redirect_location(url) or url  # credentials in the URL masked
    done = threading.Event()
    wrote = False

    def tick() -> None:
        nonlocal wrote
        started = time.monotonic()
        wait = PROGRESS_AFTER
        while not done.wait(wait):
            with contextlib.suppress(OSError, ValueError):
                out.write(f"\r\033[Kwaiting for {shown}: {time.monotonic() - started:.0f} s ({engine})")
                out.flush()
                wrote = True
            wait = 1.0

    thread = threading.Thread(target=tick, name="check-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5.0)
        if wrote:
            with contextlib.suppress(OSError, ValueError):
                out.write("\r\033[K")
                out.flush()
