"""``check``: judge a real destination — its JSON, its stores, and (with a URL) the live server.

One direction, one module per stage::

    destination (harness.destination)
      -> stores   Python's reading of the keystore and truststore       (stores.py)
      -> jdk      each chosen JDK's reading of them                      (jdk.py)
      -> server   one look at the server: chain, CA names, versions     (server.py)
      -> probes   a real handshake and one request per engine           (probes.py)
      -> judge    all the evidence -> findings, codes and severities    (judge/)
      -> render   text, JSON, JUnit                                     (render.py, Report.to_json)

Static checks read the stores as the platform would and look at every
certificate; with a URL, the server's chain and client CA names are fetched
and checked against the stores, then a real handshake and one request (HEAD
by default: nothing is sent that changes anything; ``--post FILE``: that
body, once) run through every chosen engine, diagnosed with the outcome codes.
Ready only when the JSSE engine verified it (or the user chose OpenSSL only). A broken store is a
finding here (exit 1), not bad input: judging the input is this command's job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from harness.check.jdk import read_with_jdks
from harness.check.judge import condense_error, judge
from harness.check.keychoice import ask_key_choices
from harness.check.probes import EngineResult, probe_all
from harness.check.render import judged_for, render_text, write_report_junit
from harness.check.report import CHECKS, EXPIRING_DAYS, Finding, Report, Request, is_jsse
from harness.check.server import look_at_server
from harness.check.stores import read_stores
from harness.destination import Destination
from harness.engines import Engine
from harness.engines.jsse import JsseEngine

__all__ = [
    "CHECKS",
    "Finding",
    "Report",
    "Request",
    "condense_error",
    "is_jsse",
    "judged_for",
    "render_text",
    "run_check",
    "write_report_junit",
]


def run_check(
    destination: Destination,
    *,
    engines: Sequence[Engine] = (),
    at: dt.datetime | None = None,
    expiring_days: int = EXPIRING_DAYS,
    timeout: float = 10.0,
    jdks: tuple[Sequence[Any], Sequence[str]] = ((), ()),
    client_tls: tuple[str, ...] | None = None,
    request: Request | None = None,
    engine_choice: str = "all",
) -> Report:
    """``jdks``: the jsse engines whose JDKs judge the stores, and versions with no runtime here (issue 11)."""
    now = at or dt.datetime.now(dt.UTC)
    stores = read_stores(destination)
    if any(r.error is not None and r.error.over_bounds for r in stores):
        # A store Python refused by a bound (size, nesting, iteration counts) goes to no JVM either: the bound
        # holds on every path. Its finding says why; the JDK judges nothing and no jsse probe runs.
        jdks = ((), jdks[1])
        engines = [e for e in engines if not isinstance(e, JsseEngine)]
    jdk_evidence = read_with_jdks(destination, jdks[0], jdks[1])
    server = None
    results: tuple[EngineResult, ...] = ()
    if destination.url is not None:
        server = look_at_server(destination.url, timeout, jdks[1], client_tls)
        if server.view is not None:
            results = probe_all(destination, engines, timeout, request or Request(), client_tls)
    several = any(r.reading is not None and len(r.reading.key_aliases or ()) > 1 for r in jdk_evidence.readings)
    view = server.view if server is not None else None
    choices = ask_key_choices(destination, jdks[0], view, timeout) if several else ()
    return judge(
        destination,
        stores,
        jdk_evidence,
        server,
        results,
        at=now,
        at_given=at is not None,
        expiring_days=expiring_days,
        engine_choice=engine_choice,
        pinned=bool(client_tls),
        key_choices=choices,
    )
