"""``check`` as a command: one destination, or a fleet of them in parallel.

``harness.check.run_check`` judges one destination; this module runs it with
the command's settings (the request to send, the date to judge for, the
engines), runs a fleet's destinations with bounded concurrency and a deadline
each, and writes the reports: text (one destination in full, a fleet as a
table), ``--json``, ``--junit``. The command line itself is read by
``harness.cli.check``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check import run_check
from harness.check.jdk import jsse_engines
from harness.check.metrics import sample_of, write_metrics
from harness.check.render import render_text, unused_keys_line, write_report_junit
from harness.check.report import EXPIRING_DAYS, Report, Request
from harness.destination import Destination, load_destination
from harness.engines import Engine
from harness.engines.factory import make_engines
from harness.errors import HarnessError
from harness.junit import Case, write_junit
from harness.outputs import write_output
from harness.secret import Secret
from harness.terminal import Bar, paint
from harness.text import shown

__all__ = ["CheckSettings", "Row", "check_one", "render_table", "run_fleet", "write_fleet_junit"]


@dataclass(frozen=True)
class CheckSettings:
    """The command's settings for every destination it checks."""

    now: dt.datetime
    at: dt.datetime | None = None  # --at: the moment validity is judged for (None: now)
    request: Request = field(default_factory=Request)
    engine: str = "all"  # --engine: python, jsse or all
    expiring_days: int = EXPIRING_DAYS  # --warn-days
    timeout: float = 10.0  # --timeout, per connection and read
    client_tls: tuple[str, ...] | None = None  # --client-tls: the platform's jdk.tls.client.protocols (issue 11)
    concurrency: int = 8  # a fleet's destinations at a time
    destination_timeout: float = 120.0  # a fleet's deadline per destination
    json: bool = False  # --json: the report(s) as JSON on stdout
    junit: Path | None = None  # --junit FILE
    verbose: bool = False  # -v: also the destination JSON's keys the check does not use
    metrics: Path | None = None  # --metrics FILE: the Prometheus textfile
    colour: bool = False  # stdout is a terminal, NO_COLOR unset, no --no-color
    # --html FILE: given the rows and whether they are a fleet, writes the HTML report (harness.html, via the cli).
    html: Callable[[Sequence[Row], bool], None] | None = None


def _run_check(
    settings: CheckSettings,
    destination: Destination,
    engines: Sequence[Engine],
    jdks: tuple[Sequence[Any], Sequence[str]] = ((), ()),
) -> Report:
    """One destination's check with the command's settings (alone, or as a row of a fleet)."""
    return run_check(
        destination,
        engines=engines,
        at=settings.at,
        expiring_days=settings.expiring_days,
        timeout=settings.timeout,
        request=settings.request,
        engine_choice=settings.engine,
        jdks=jdks,
        client_tls=settings.client_tls,
    )


def check_one(destination: Destination, settings: CheckSettings, jdk: Sequence[str] | None = None) -> int:
    """One destination, its report printed: exit 0 ready (or, without a URL, stores without error), 1 not."""
    jdks = jsse_engines(jdk)  # the JDKs that judge the stores (and, with a URL, shake hands)
    engines: list[Engine] = make_engines("python") if destination.url and settings.engine in ("python", "all") else []
    if destination.url and settings.engine in ("jsse", "all"):
        engines += jdks[0]
    started = time.monotonic()
    try:
        report = _run_check(settings, destination, engines, jdks)
    finally:
        for engine in {*engines, *jdks[0]}:
            engine.close()
    seconds = time.monotonic() - started
    print(report.to_json() if settings.json else render_text(report, verbose=settings.verbose, colour=settings.colour))
    if settings.junit:
        write_output(settings.junit, "--junit", lambda path: write_report_junit(report, path))
    if settings.metrics:
        source = destination.source or Path("destination")
        sample = sample_of(source, report, seconds, dt.datetime.now(dt.UTC), destination.name)
        write_output(settings.metrics, "--metrics", lambda path: write_metrics(path, [sample], dt.datetime.now(dt.UTC)))
    if settings.html:
        settings.html([Row(destination.source or Path("destination.json"), report)], False)
    return report.exit_code


# -- a fleet ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One destination of a fleet: its report, or why it could not be checked."""

    path: Path
    report: Report | None = None
    error: str | None = None  # bad input (its JSON), or no result within --destination-timeout
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def ready(self) -> bool:
        return self.report is not None and self.report.ready

    @property
    def url(self) -> str:
        """The URL as shown: its password masked, control characters escaped."""
        return shown((self.report.destination.url if self.report else None) or "-")

    def first_finding(self) -> str:
        if self.error is not None:
            return shown(self.error)
        assert self.report is not None
        if self.report.destination.url is None:
            first = self.report.first_finding()
            return f"{first.code}: {first.message}" if first else "no url: not tried live"
        first = self.report.first_finding()
        if first is None:
            return "-" if self.ready else "no engine verified the handshake"
        # A live handshake's finding names its engines: a row is never one engine's word without saying whose.
        return f"{first.code}: {first.subject}: {first.message}" if first.engines else f"{first.code}: {first.message}"

    def expiry(self) -> str:
        if self.report is None or self.report.first_expiry is None:
            return "-"
        return str(self.report.first_expiry[0])

    def as_dict(self) -> dict[str, object]:
        if self.report is None:
            error = None if self.error is None else shown(self.error)
            return {"destination": shown(self.path), "error": error, "ready": False, "ok": False}
        return {**self.report.as_dict(), "seconds": round(self.seconds, 3)}


class _Pool:
    """Engines lent to the workers: one python engine for all, a few JVMs (each serves one probe at a time)."""

    def __init__(self, choice: str, jvms: int) -> None:
        self.choice = choice
        self.python = make_engines("python")[0] if choice in ("python", "all") else None
        self.jsse: queue.Queue[Engine] = queue.Queue()
        self._all: list[Engine] = []
        if choice in ("jsse", "all"):
            for _ in range(jvms):
                engine = make_engines("jsse")[0]
                engine.warm_up()
                self._all.append(engine)
                self.jsse.put(engine)

    @contextlib.contextmanager
    def lend(self) -> Iterator[list[Engine]]:
        jsse = self.jsse.get() if self._all else None
        try:
            yield [e for e in (self.python, jsse) if e is not None]
        finally:
            if jsse is not None:
                self.jsse.put(jsse)

    def close(self) -> None:
        for engine in self._all:
            engine.close()


def run_fleet(
    files: Sequence[Path], settings: CheckSettings, ks_password: Secret | None, ts_password: Secret | None
) -> int:
    """Check every destination, ``concurrency`` at a time, each bounded by ``destination_timeout``."""
    now, at = settings.now, settings.at
    rows = [Row(path) for path in files]
    workers = min(settings.concurrency, len(rows))
    pool = _Pool(settings.engine, jvms=min(workers, os.cpu_count() or 1))
    started: dict[int, float] = {}
    progress = Bar(len(rows), "checked", "not ready", enabled=sys.stderr.isatty())

    def one(index: int) -> None:
        row = rows[index]
        started[index] = time.monotonic()
        try:
            destination = load_destination(row.path, keystore_password=ks_password, truststore_password=ts_password)
        except HarnessError as exc:
            row.error = f"bad input: {str(exc).removeprefix(f'{row.path}: ')}"  # the row names the file
            return
        if destination.url is None:
            engines_cm: contextlib.AbstractContextManager[list[Engine]] = contextlib.nullcontext([])
        else:
            engines_cm = pool.lend()
        with engines_cm as engines:
            report = _run_check(settings, destination, engines)
        if not row.timed_out:
            row.report = report

    # Daemon threads, not an executor: a destination past its deadline is left to end by its own network
    # timeouts, and never holds the command's exit.
    todo: queue.Queue[int] = queue.Queue()
    for index in range(len(rows)):
        todo.put(index)
    finished: queue.Queue[int] = queue.Queue()

    def worker() -> None:
        while True:
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                one(index)
            except Exception as exc:  # noqa: BLE001 - a bug must cost one row, not the fleet
                rows[index].error = f"check failed: {type(exc).__name__}: {exc}"
            finished.put(index)

    threads = [threading.Thread(target=worker, name=f"check-{i}", daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    try:
        left = set(range(len(rows)))
        while left:
            with contextlib.suppress(queue.Empty):
                index = finished.get(timeout=0.2)
                if index in left:
                    left.discard(index)
                    rows[index].seconds = time.monotonic() - started[index]
                    progress.tick(rows[index].ready)
            clock = time.monotonic()
            for index in [i for i in left if i in started and clock - started[i] > settings.destination_timeout]:
                row = rows[index]
                row.timed_out = True
                row.error = f"timed out: no result within {settings.destination_timeout:g} s (--destination-timeout)"
                row.seconds = clock - started[index]
                left.discard(index)
                progress.tick(False)
                # Its thread is stuck with this destination: another takes its place for the rest.
                spare = threading.Thread(target=worker, name=f"check-spare-{index}", daemon=True)
                spare.start()
    finally:
        progress.clear()
        pool.close()
    if settings.json:
        for row in rows:
            print(json.dumps(row.as_dict()))
    else:
        print(render_table(rows, settings.expiring_days, at or now, at is not None, colour=settings.colour))
        if settings.verbose:
            print("\n".join(f"{r.path.name}: {unused_keys_line(r.report)}" for r in rows if r.report is not None))
    if settings.junit:
        write_output(settings.junit, "--junit", lambda path: write_fleet_junit(rows, path))
    if settings.metrics:
        written = dt.datetime.now(dt.UTC)
        samples = [
            sample_of(r.path, r.report, r.seconds, written, r.report.destination.name if r.report else None)
            for r in rows
        ]
        write_output(settings.metrics, "--metrics", lambda path: write_metrics(path, samples, written))
    if settings.html:
        settings.html(rows, True)
    if any(r.error and r.error.startswith("bad input") for r in rows):
        return 2  # a destination file that cannot be used, as for one destination; every report is written
    return 0 if all(r.ready for r in rows) else 1


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(rows: Sequence[Row], warn_days: int, at: dt.datetime, at_given: bool, *, colour: bool = False) -> str:
    """destination | URL | ready | first finding | days to the first expiry (either side), then a summary."""
    head = ("destination", "url", "ready", "expires in (days)", "first finding")
    body = []
    for row in rows:
        mark = "yes" if row.ready else ("ERROR" if row.report is None else "no")
        days = row.expiry()
        if days != "-" and int(days) < warn_days:
            days += " !"
        body.append((shown(row.path.name), row.url, mark, days, _cut(row.first_finding(), 90)))
    widths = [max(len(r[i]) for r in (head, *body)) for i in range(4)]
    styles = {"yes": "ready", "no": "not-ready", "ERROR": "error"}

    def cell(text: str, width: int, column: int, header: bool) -> str:
        padded = text.ljust(width)  # padded first: the colour codes take no column
        return padded if header or column != 2 else paint(padded, styles.get(text, ""), colour)

    lines = [
        "  ".join(cell(c, w, i, n == 0) for i, (c, w) in enumerate(zip(line[:4], widths, strict=True))) + "  " + line[4]
        for n, line in enumerate((head, *body))
    ]
    ready = sum(r.ready for r in rows)
    firsts = [r.report.first_expiry[0] for r in rows if r.report and r.report.first_expiry]
    expired = sum(1 for days in firsts if days < 0)  # already expired on the day judged: not "expiring"
    soon = sum(1 for days in firsts if 0 <= days < warn_days)
    when = f"{at:%Y-%m-%d %H:%M} UTC" + (" (--at)" if at_given else " (now)")
    lines.append(
        f"fleet: {len(rows)} destination(s), {ready} ready, {len(rows) - ready} not ready; {expired} with a "
        f"certificate already expired, {soon} with one expiring within {warn_days} days (!); validity judged for {when}"
    )
    return "\n".join(lines)


def write_fleet_junit(rows: Sequence[Row], path: Path) -> None:
    """One testcase per destination, failed unless it is ready; its findings in the text."""
    cases = []
    for row in rows:
        if row.report is None:
            text = shown(row.error or "not checked")
        else:
            text = "\n".join(
                [
                    f"url: {row.url}",
                    f"ready: {row.ready}",
                    f"verified_with: {', '.join(row.report.verified_with) or '-'}",
                ]
                + [
                    f"{f.severity} {f.code}: {f.subject}: {f.message}" + (f" (fix: {f.fix})" if f.fix else "")
                    for f in row.report.findings
                ]
            )
        cases.append(
            Case(
                name=shown(row.path),
                classname="mtls-harness.check",
                failure=None if row.ready else f"not ready: {row.first_finding()}\n{text}",
                output=text if row.ready else "",
                seconds=row.seconds,
            )
        )
    write_junit(path, "mtls-harness check", cases, {"destinations": str(len(rows))})
