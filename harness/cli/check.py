"""``mtls-harness check``'s command line: its options read into ``harness.check.fleet``'s typed settings.

Bad input is exit 2 with one line on stderr (a UsageError), and the ``--json``
and ``--junit`` reports asked for are written then too, carrying the error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.check.fleet import CheckSettings, check_one, run_fleet
from harness.check.report import Request
from harness.destination import load_destination
from harness.errors import UsageError
from harness.html import check_report_writer
from harness.outputs import check_output_file
from harness.secret import Secret
from harness.terminal import colour_wanted

__all__ = ["check_command", "content_type_for", "destination_files", "parse_at", "request_from"]

# The password of a store from its --PREFIX-password-env / -file options (harness.cli.main's ``_password``).
PasswordOf = Callable[[argparse.Namespace, str], Secret | None]

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


def check_command(args: argparse.Namespace, password: PasswordOf) -> int:
    """``mtls-harness check``: exit 0 ready (or, without a URL, stores without error), 1 not, 2 bad input."""
    if args.junit is not None:
        check_output_file(args.junit, "--junit")  # before any work: a bad path is bad input
    if args.metrics is not None:
        check_output_file(args.metrics, "--metrics")
    if args.html is not None:
        check_output_file(args.html, "--html")
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
        settings = _settings(args)
        return run_fleet(files, settings, password(args, "keystore"), password(args, "truststore"))
    settings = _settings(args)
    [path] = args.destinations
    destination = load_destination(
        path,
        url=args.url,
        keystore_password=password(args, "keystore"),
        truststore_password=password(args, "truststore"),
    )
    return check_one(destination, settings, args.jdk)


def _settings(args: argparse.Namespace) -> CheckSettings:
    """The command line's settings, read in the order its errors are reported: --at, then the request."""
    now = dt.datetime.now(dt.UTC)
    at = parse_at(args.at, now) if args.at else None
    request = request_from(args)
    return CheckSettings(
        now=now,
        at=at,
        request=request,
        engine=args.engine,
        expiring_days=args.expiring_days,
        timeout=args.timeout,
        # --client-tls: the platform's jdk.tls.client.protocols (issue 11)
        client_tls=tuple(sorted(set(args.client_tls))) if args.client_tls else None,
        concurrency=args.concurrency,
        destination_timeout=args.destination_timeout,
        json=args.json,
        junit=args.junit,
        verbose=args.verbose,
        metrics=args.metrics,
        colour=colour_wanted(sys.stdout, no_color=args.no_color) and not args.json,
        html=check_report_writer(args.html, now, at, args.expiring_days) if args.html else None,
    )


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
