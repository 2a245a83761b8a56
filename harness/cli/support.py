"""The support commands of ``mtls-harness``: explain, capture, reproduce.

``harness/cli/main.py`` calls :func:`add_commands`; each handler imports its module
only when it runs, so ``mtls-harness --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.capture import capture, check_out, write_profile
from harness.cli import EXIT_FAILED, EXIT_OK
from harness.cli.jdk import add_jdk_option
from harness.errors import UsageError
from harness.explainer.ranking import explain
from harness.limits import EXPLAIN_BYTES, NotARegularFile, TooLarge, read_bounded
from harness.reproduce import reproduce
from harness.text import inert

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Register the three sub-commands on ``mtls-harness``'s sub-parsers."""
    explain = commands.add_parser(
        "explain",
        help="rank the likely causes (outcome codes) of a pasted error text or javax.net.debug log",
        description="Rank the likely causes (outcome codes) of a pasted error text or javax.net.debug log.",
        epilog=EXPLAIN_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("text", nargs="?", metavar="TEXT | -", help="the error text; - (or nothing) reads stdin")
    explain.add_argument("--file", type=Path, metavar="FILE", help="read the text from FILE (a log file)")
    explain.add_argument("--json", action="store_true", help='print {"candidates": [...]} best first')
    explain.set_defaults(handler=_explain)

    capture = commands.add_parser(
        "capture", help="read a server's MTLS profile (versions, chain, CA names, client auth) without sending data"
    )
    capture.add_argument("url", metavar="URL", help="the server to look at (https://host:port/path)")
    capture.add_argument(
        "--out", type=Path, metavar="FILE", help="write the profile (.json) or a scenario [server] table (.toml)"
    )
    capture.add_argument("--json", action="store_true", help="print the profile as JSON")
    capture.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="per connection (default 10)")
    capture.add_argument("--force", action="store_true", help="replace --out if it exists")
    capture.add_argument(
        "--no-request", action="store_true", help="send no HEAD request, even after a handshake without certificate"
    )
    capture.set_defaults(handler=_capture)

    reproduce = commands.add_parser(
        "reproduce", help="turn a customer's destination into a sanitized regression scenario, run it, compare"
    )
    reproduce.add_argument(
        "destination", type=Path, metavar="DESTINATION.json", help="the customer's destination JSON and its stores"
    )
    reproduce.add_argument(
        "--profile", type=Path, metavar="CAPTURE", help="a profile written by `capture --out X.json`"
    )
    reproduce.add_argument(
        "--error", metavar="TEXT", help="the customer's error text, or @FILE (compared with `explain`)"
    )
    reproduce.add_argument("--out", type=Path, required=True, metavar="DIR", help="the scenario folder to write")
    reproduce.add_argument("--keep-names", action="store_true", help="keep subjects and aliases (internal use only)")
    reproduce.add_argument("--force", action="store_true", help="replace DIR if it is not empty")
    reproduce.add_argument(
        "--engine",
        choices=("python", "jsse", "all"),
        default="all",
        help="engine(s) to run it with (default: all; [expect] holds each engine's code)",
    )
    add_jdk_option(reproduce, "run the jsse engine (and check's reading of the stores)")
    reproduce.set_defaults(handler=_reproduce)


def _read_text(args: argparse.Namespace) -> str:
    if args.file is not None:
        if args.text is not None:
            raise UsageError("explain", "both TEXT and --file given", "give one of them")
        return _read_log(args.file, "--file")
    if args.text is None or args.text == "-":
        if sys.stdin.isatty():
            raise UsageError(
                "explain",
                "no text given",
                "pass the error text as an argument, or pipe it: ... | mtls-harness explain -",
            )
        data = sys.stdin.buffer.read(EXPLAIN_BYTES.value + 1)
        if len(data) > EXPLAIN_BYTES.value:
            raise UsageError("stdin", str(TooLarge(EXPLAIN_BYTES)), _CUT)
        return data.decode("utf-8", "replace")
    text = str(args.text)
    if len(text.encode("utf-8", "replace")) > EXPLAIN_BYTES.value:
        raise UsageError("explain TEXT", str(TooLarge(EXPLAIN_BYTES)), _CUT)
    return text


EXPLAIN_EXIT_CODES = """exit codes:
  0  candidate causes printed (handshake-failed when the text is about TLS but no known cause fits;
     connection-failed, http-timeout when TLS never started or the answer never came)
  1  no TLS or certificate failure found in this text (it says what would help)
  2  unusable input: an empty text, an unreadable or too large file, TEXT and --file both given"""

_CUT = "cut the log to the failing handshake (from its ClientHello to the alert)"


def _read_log(path: Path, option: str) -> str:
    """A log file's text: a regular file under EXPLAIN_BYTES (a FIFO or /dev/zero is refused unread)."""
    where = inert(path)
    try:
        data = read_bounded(path, EXPLAIN_BYTES)
    except NotARegularFile as exc:
        raise UsageError(
            where, f"{exc}", f"give {option} a log file, or pipe the text: ... | mtls-harness explain -"
        ) from None
    except TooLarge as exc:
        raise UsageError(where, f"{exc}", _CUT) from None
    except OSError as exc:
        raise UsageError(where, f"cannot read: {exc.strerror}", f"give {option} a readable log file") from None
    return data.decode("utf-8", "replace")


def _explain(args: argparse.Namespace) -> int:

    result = explain(_read_text(args))
    print(result.to_json() if args.json else result.render())
    return EXIT_OK if result.found else EXIT_FAILED


def _capture(args: argparse.Namespace) -> int:

    if args.out is not None:
        check_out(args.out, force=args.force)
    profile = capture(args.url, timeout=args.timeout, request=not args.no_request)
    if args.out is not None:
        write_profile(profile, args.out, force=args.force)
    print(profile.to_json() if args.json else profile.render())
    if args.out is not None:
        print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK


def _reproduce(args: argparse.Namespace) -> int:

    error: str | None = args.error
    if error is not None and error.startswith("@"):
        error = _read_log(Path(error[1:]), "--error @FILE")
    report = reproduce(
        args.destination,
        out=args.out,
        profile=args.profile,
        error=error,
        keep_names=args.keep_names,
        force=args.force,
        engine=args.engine,
        jdks=args.jdk,
    )
    print(report.render())
    return EXIT_OK if report.matches else EXIT_FAILED
