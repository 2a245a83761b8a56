"""``check`` as a command: one destination, or a fleet of them in parallel.

``harness.check`` judges one destination; this module reads the command's
options (the request to send, the date to judge for, the engines), runs the
destinations with bounded concurrency and a deadline each, and writes the
reports: text (one destination in full, a fleet as a table), ``--json``,
``--junit``. Bad input is exit 2 with one line on stderr, and the ``--json``
and ``--junit`` reports asked for are written then too, carrying the error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.check import Request, render_text, run_check, write_report_junit
from harness.errors import UsageError
from harness.outputs import check_output_file, write_output

if TYPE_CHECKING:
    from harness.engines import Engine
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
    """The request check sends after the handshake: HEAD (or --method GET), or --post FILE's exact bytes."""
    post: Path | None = args.post
    if post is None:
        if args.content_type is not None:
            raise UsageError("--content-type", "only goes with --post FILE", "add --post FILE, or drop --content-type")
        return Request(method=args.method)
    if args.method != "HEAD":
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


def _engines(choice: str) -> list[Engine]:
    from harness.engines.python import PythonEngine

    engines: list[Engine] = []
    if choice in ("python", "all"):
        engines.append(PythonEngine())
    if choice in ("jsse", "all"):
        from harness.engines.jsse import JsseEngine

        engines.append(JsseEngine())
    return engines


def check_command(args: argparse.Namespace, password: PasswordOf) -> int:
    """``mtls-harness check``: exit 0 ready (or, without a URL, stores without error), 1 not, 2 bad input."""
    if args.junit is not None:
        check_output_file(args.junit, "--junit")  # before any work: a bad path is bad input
    return _check(args, password)


def _check(args: argparse.Namespace, password: PasswordOf) -> int:
    from harness.check import load_destination

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
    engines = _engines(args.engine) if destination.url else []
    try:
        report = run_check(
            destination,
            engines=engines,
            at=at,
            expiring_days=args.expiring_days,
            timeout=args.timeout,
            request=request,
            engine_choice=args.engine,
        )
    finally:
        for engine in engines:
            engine.close()
    print(report.to_json() if args.json else render_text(report))
    if args.junit:
        write_output(args.junit, "--junit", lambda path: write_report_junit(report, path))
    return report.exit_code
