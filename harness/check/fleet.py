"""``check`` as a command: one destination, or a fleet of them in parallel.

``harness.check.core`` judges one destination; this module reads the command's
options (the request to send, the date to judge for, the engines), runs the
destinations with bounded concurrency and a deadline each, and writes the
reports: text (one destination in full, a fleet as a table), ``--json``,
``--junit``. Bad input is exit 2 with one line on stderr, and the ``--json``
and ``--junit`` reports asked for are written then too, carrying the error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.check.core import Destination, Report, Request, render_text, run_check, write_report_junit
from harness.engines import Engine
from harness.errors import HarnessError, UsageError
from harness.outputs import check_output_file, write_output

if TYPE_CHECKING:
    from harness.secret import Secret

    PasswordOf = Callable[[argparse.Namespace, str], Secret | None]

__all__ = ["check_command", "content_type_for", "parse_at", "request_from"]

_RELATIVE = re.compile(r"([+-])(\d{1,6})([dhw])")
_UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}


def parse_at(text: str, now: dt.datetime) -> dt.datetime:
    """``--at``: an ISO date or date-time (UTC unless it has an offset), or an offset from now: +30d, -5d, +12h, +2w."""
    if match := _RELATIVE.fullmatch(text.strip()):
        seconds = int(match[2]) * _UNIT_SECONDS[match[3]]
        return now + dt.timedelta(seconds=seconds if match[1] == "+" else -seconds)
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            "--at",
            f"{text!r} is neither a date nor an offset",
            "use an ISO date or date-time (2026-12-15, 2026-12-15T09:00:00Z) or an offset from now (+30d, -5d, +12h)",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def content_type_for(path: Path) -> str:
    return {".json": "application/json", ".xml": "application/xml", ".txt": "text/plain"}.get(
        path.suffix.lower(), "application/octet-stream"
    )


def request_from(args: argparse.Namespace) -> Request:
    """The request check sends after the handshake: GET (or --method HEAD), or --post FILE's exact bytes."""
    post: Path | None = args.post
    if post is None:
        if args.content_type is not None:
            raise UsageError("--content-type", "only goes with --post FILE", "add --post FILE, or drop --content-type")
        return Request(method=args.method)
    if args.method != "GET":
        raise UsageError("--post", f"cannot go with --method {args.method}", "choose one of them")
    if post.is_dir():
        raise UsageError(str(post), "is a folder, not a file to POST", "give the message file, e.g. --post order.json")
    try:
        body = post.read_bytes()
    except FileNotFoundError:
        raise UsageError(str(post), "no such file", "give the message file to send with --post") from None
    except OSError as exc:
        raise UsageError(str(post), f"cannot read: {exc.strerror}", "check the --post file's permissions") from None
    return Request("POST", body, args.content_type or content_type_for(post), post)


def _run_check(
    args: argparse.Namespace,
    destination: Destination,
    engines: Sequence[Engine],
    at: dt.datetime | None,
    request: Request,
    jdks: tuple[Sequence[Any], Sequence[str]] = ((), ()),
) -> Report:
    """One destination's check with the command line's settings (alone, or as a row of a fleet)."""
    # --client-tls: the platform's jdk.tls.client.protocols (issue 11)
    client_tls = tuple(sorted(set(args.client_tls))) if args.client_tls else None
    return run_check(
        destination,
        engines=engines,
        at=at,
        expiring_days=args.expiring_days,
        timeout=args.timeout,
        request=request,
        engine_choice=args.engine,
        jdks=jdks,
        client_tls=client_tls,
    )


def _engines(choice: str) -> list[Engine]:
    from harness.engines.factory import make_engines

    return make_engines(choice)


def check_command(args: argparse.Namespace, password: PasswordOf) -> int:
    """``mtls-harness check``: exit 0 ready (or, without a URL, stores without error), 1 not, 2 bad input."""
    if args.junit is not None:
        check_output_file(args.junit, "--junit")  # before any work: a bad path is bad input
    for option, value, least in (("--concurrency", args.concurrency, 1), ("--warn-days", args.expiring_days, 0)):
        if value < least:
            raise UsageError(option, f"{value} is below {least}", f"give {option} {max(least, 1)} or more")
    for option, seconds in (("--timeout", args.timeout), ("--destination-timeout", args.destination_timeout)):
        if not seconds > 0:
            raise UsageError(option, f"{seconds} is not a positive number of seconds", f"give {option} 10, say")
    files, fleet = destination_files(args.destinations)
    if fleet:
        if args.url is not None:
            raise UsageError("--url", "goes with one destination only", "put each destination's url in its JSON")
        if args.jdk:
            raise UsageError("--jdk", "goes with one destination only", "check the fleet on the default JDK")
        return run_fleet(args, files, password)
    return _check(args, password)


def destination_files(paths: Sequence[Path]) -> tuple[list[Path], bool]:
    """The destination JSON files given (a folder: its *.json files), and whether they make a fleet."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if p.is_file())
            if not found:
                raise UsageError(
                    str(path), "holds no destination (*.json) files", "give destination files or a folder of them"
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(str(path), "no such file or folder", "give destination JSON files or a folder of them")
    unique = list(dict.fromkeys(p.resolve() for p in files))
    return unique if len(unique) > 1 else files[:1], len(paths) > 1 or any(p.is_dir() for p in paths)


def _check(args: argparse.Namespace, password: PasswordOf) -> int:
    from harness.check.core import load_destination

    now = dt.datetime.now(dt.UTC)
    at = parse_at(args.at, now) if args.at else None
    request = request_from(args)
    [path] = args.destinations
    destination = load_destination(
        path,
        url=args.url,
        keystore_password=password(args, "keystore"),
        truststore_password=password(args, "truststore"),
    )
    from harness.check.jdk import jsse_engines

    jdks = jsse_engines(args.jdk)  # the JDKs that judge the stores (and, with a URL, shake hands)
    engines: list[Engine] = _engines("python") if destination.url and args.engine in ("python", "all") else []
    if destination.url and args.engine in ("jsse", "all"):
        engines += jdks[0]
    try:
        report = _run_check(args, destination, engines, at, request, jdks)
    finally:
        for engine in {*engines, *jdks[0]}:
            engine.close()
    print(report.to_json() if args.json else render_text(report))
    if args.junit:
        write_output(args.junit, "--junit", lambda path: write_report_junit(report, path))
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
        return (self.report.destination.url if self.report else None) or "-"

    def first_finding(self) -> str:
        if self.error is not None:
            return self.error
        assert self.report is not None
        if self.report.destination.url is None:
            first = self.report.first_finding()
            return f"{first.code}: {first.message}" if first else "no url: not tried live"
        first = self.report.first_finding()
        if first is None:
            return "-" if self.ready else "no engine verified the handshake"
        return f"{first.code}: {first.message}"

    def expiry(self) -> str:
        if self.report is None or self.report.first_expiry is None:
            return "-"
        return str(self.report.first_expiry[0])

    def as_dict(self) -> dict[str, object]:
        if self.report is None:
            return {"destination": str(self.path), "error": self.error, "ready": False, "ok": False}
        return {**self.report.as_dict(), "seconds": round(self.seconds, 3)}


class _Pool:
    """Engines lent to the workers: one python engine for all, a few JVMs (each serves one probe at a time)."""

    def __init__(self, choice: str, jvms: int) -> None:
        self.choice = choice
        self.python = _engines("python")[0] if choice in ("python", "all") else None
        self.jsse: queue.Queue[Engine] = queue.Queue()
        self._all: list[Engine] = []
        if choice in ("jsse", "all"):
            for _ in range(jvms):
                engine = _engines("jsse")[0]
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


def run_fleet(args: argparse.Namespace, files: Sequence[Path], password: PasswordOf) -> int:
    """Check every destination, ``--concurrency`` at a time, each bounded by ``--destination-timeout``."""
    from harness.check.core import load_destination

    now = dt.datetime.now(dt.UTC)
    at = parse_at(args.at, now) if args.at else None
    request = request_from(args)
    ks_password, ts_password = password(args, "keystore"), password(args, "truststore")
    rows = [Row(path) for path in files]
    workers = min(args.concurrency, len(rows))
    pool = _Pool(args.engine, jvms=min(workers, os.cpu_count() or 1))
    started: dict[int, float] = {}
    progress = Progress(len(rows), enabled=sys.stderr.isatty())

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
            report = _run_check(args, destination, engines, at, request)
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
            for index in [i for i in left if i in started and clock - started[i] > args.destination_timeout]:
                row = rows[index]
                row.timed_out = True
                row.error = f"timed out: no result within {args.destination_timeout:g} s (--destination-timeout)"
                row.seconds = clock - started[index]
                left.discard(index)
                progress.tick(False)
                # Its thread is stuck with this destination: another takes its place for the rest.
                spare = threading.Thread(target=worker, name=f"check-spare-{index}", daemon=True)
                spare.start()
    finally:
        progress.clear()
        pool.close()
    if args.json:
        for row in rows:
            print(json.dumps(row.as_dict()))
    else:
        print(render_table(rows, args.expiring_days, at or now, at is not None))
    if args.junit:
        write_output(args.junit, "--junit", lambda path: write_fleet_junit(rows, path))
    if any(r.error and r.error.startswith("bad input") for r in rows):
        return 2  # a destination file that cannot be used, as for one destination; every report is written
    return 0 if all(r.ready for r in rows) else 1


class Progress:
    """``checked 57/200, 3 not ready`` on one line of a terminal (stderr), rewritten in place."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.count = self.not_ready = 0
        self._lock = threading.Lock()

    def tick(self, ready: bool) -> None:
        with self._lock:
            self.count += 1
            self.not_ready += not ready
            if self.enabled:
                sys.stderr.write(f"\rchecked {self.count}/{self.total}, {self.not_ready} not ready ")
                sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled and self.count:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(rows: Sequence[Row], warn_days: int, at: dt.datetime, at_given: bool) -> str:
    """destination | URL | ready | first finding | days to the first expiry (either side), then a summary."""
    head = ("destination", "url", "ready", "expires in (days)", "first finding")
    body = []
    for row in rows:
        mark = "yes" if row.ready else ("ERROR" if row.report is None else "no")
        days = row.expiry()
        if days != "-" and int(days) < warn_days:
            days += " !"
        body.append((row.path.name, row.url, mark, days, _cut(row.first_finding(), 90)))
    widths = [max(len(r[i]) for r in (head, *body)) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line[:4], widths, strict=True)) + "  " + line[4] for line in (head, *body)
    ]
    ready = sum(r.ready for r in rows)
    soon = sum(1 for r in rows if r.report and r.report.first_expiry and r.report.first_expiry[0] < warn_days)
    when = f"{at:%Y-%m-%d %H:%M} UTC" + (" (--at)" if at_given else " (now)")
    lines.append(
        f"fleet: {len(rows)} destination(s), {ready} ready, {len(rows) - ready} not ready; {soon} with a "
        f"certificate expiring within {warn_days} days (!); validity judged for {when}"
    )
    return "\n".join(lines)


def write_fleet_junit(rows: Sequence[Row], path: Path) -> None:
    """One testcase per destination, failed unless it is ready; its findings in the text."""
    from harness.junit import Case, write_junit

    cases = []
    for row in rows:
        if row.report is None:
            text = row.error or "not checked"
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
                name=str(row.path),
                classname="mtls-harness.check.core",
                failure=None if row.ready else f"not ready: {row.first_finding()}\n{text}",
                output=text if row.ready else "",
                seconds=row.seconds,
            )
        )
    write_junit(path, "mtls-harness check", cases, {"destinations": str(len(rows))})
