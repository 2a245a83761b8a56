"""``mtls-harness``: ``main()`` and the parser; each command's arguments and handler live in its own module.

``scenarios`` (run, build, serve), ``golive`` (keystore, truststore; check
below), ``jdk``, ``support`` (explain, capture, reproduce). Exit codes: see
``harness.cli``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn

try:
    from harness import __version__
    from harness.cli import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE
    from harness.cli.check import check_command
    from harness.cli.golive import add_commands as add_golive_commands
    from harness.cli.jdk import add_jdk_command, add_jdk_option
    from harness.cli.passwords import password_options as _password_options
    from harness.cli.passwords import read_password as _password
    from harness.cli.scenarios import add_commands as add_scenario_commands
    from harness.cli.support import add_commands as add_support_commands
    from harness.errors import HarnessError
    from harness.outputs import asked_reports, write_error_reports
    from harness.text import shown
except KeyboardInterrupt:  # Ctrl-C while the commands load (a second on a busy machine): as during a command
    sys.stderr.write("mtls-harness: interrupted\n")
    raise SystemExit(130) from None

__all__ = ["main"]


class _CommandLineError(Exception):
    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog, self.message = prog, message


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise _CommandLineError(self.prog, f"{message}; see `{self.prog} --help`")


def _parser() -> _Parser:
    parser = _Parser(
        prog="mtls-harness",
        description="Prove a Mutual-TLS (client-certificate) HTTPS destination works: "
        "scenario files, JKS/PKCS#12 stores, a local MTLS server, real handshakes, JUnit.",
    )
    parser.add_argument("--version", action="version", version=f"mtls-harness {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    add_scenario_commands(commands)  # run, build, serve

    check = commands.add_parser("check", help="judge a destination JSON, its stores and (with a URL) the live server")
    check.add_argument(
        "destinations",
        nargs="+",
        type=Path,
        metavar="DESTINATION.json|DIR",
        help="a destination JSON, or several, or folders of them (a fleet: checked in parallel, shown as a table)",
    )
    check.add_argument("--url", help='the destination\'s URL (default: its "url" attribute; one destination only)')
    check.add_argument(
        "--method",
        choices=("GET", "HEAD"),
        default="GET",
        help="the request after the handshake (default GET: no body, changes nothing; the answer's first bytes"
        " say why a gateway refused the certificate, which a HEAD answer leaves out)",
    )
    check.add_argument(
        "--post", type=Path, metavar="FILE", help="send FILE's exact bytes with POST, as the platform does (once)"
    )
    check.add_argument("--content-type", metavar="TYPE", help="Content-Type of the --post body (default: by extension)")
    check.add_argument("--concurrency", type=int, default=8, metavar="N", help="fleet: destinations checked at once")
    check.add_argument(
        "--destination-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="fleet: the most one destination may take (default 60)",
    )
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.add_argument(
        "-v", "--verbose", action="store_true", help="also list the destination JSON's keys the check does not use"
    )
    check.add_argument("--junit", type=Path, metavar="FILE", help="write one JUnit testcase per check")
    check.add_argument(
        "--metrics",
        type=Path,
        metavar="FILE",
        help="write the Prometheus text format for node_exporter's textfile collector (docs/metrics.md)",
    )
    check.add_argument("--no-color", action="store_true", help="no colours, even on a terminal (as NO_COLOR=1)")
    check.add_argument(
        "--html", type=Path, metavar="FILE", help="write a self-contained HTML report (a fleet: table, expiry timeline)"
    )
    check.add_argument(
        "--engine", choices=("python", "jsse", "all"), default="all", help="engines for the live handshake"
    )
    check.add_argument(
        "--at", metavar="WHEN", help="judge validity at this time (ISO date/date-time, or +30d / -5d), e.g. go-live"
    )
    check.add_argument(
        "--warn-days",
        "--expiring-days",
        dest="expiring_days",
        type=int,
        default=30,
        metavar="N",
        help="warn when a certificate expires within N days (default 30)",
    )
    check.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="network timeout per step (default 10)"
    )
    _password_options(check, "keystore", "keystorePass")
    _password_options(check, "truststore", "truststorePass")
    add_jdk_option(check, "judge the stores (and the live handshake)")
    check.add_argument(
        "--client-tls",
        action="append",
        choices=("1.2", "1.3"),
        metavar="1.2|1.3",
        help="the TLS versions the platform enables (as jdk.tls.client.protocols), repeatable (default: the JDK's)",
    )
    check.set_defaults(handler=_check)

    add_golive_commands(commands)  # keystore, truststore
    add_jdk_command(commands)
    add_support_commands(commands)  # explain, capture, reproduce (issue 12)
    return parser


def _version() -> str:
    # The installed distribution's version; the package's own in a bare checkout.
    try:
        return version("mtls-harness")
    except PackageNotFoundError:
        return __version__


def _joined_at(argv: Sequence[str]) -> list[str]:
    """``--at -5d`` as ``--at=-5d``: argparse takes a value starting with "-" for an option."""
    out: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg == "--at" and (value := next(rest, None)) is not None:
            out.append(f"--at={value}")
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    given = _joined_at(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(given)
    except _CommandLineError as exc:
        sys.stderr.write(f"{exc.prog}: error: {exc.message}\n")
        command = exc.prog.removeprefix("mtls-harness").strip()
        if command:
            json_out, junit = asked_reports(given)
            write_error_reports(command, exc.message, json_out=json_out, junit=junit)
        return EXIT_BAD_INPUT
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler's try, not at interpreter exit
        return code
    except BrokenPipeError:
        # `mtls-harness explain ... | head`: the reader has gone. Nothing more to say, and nothing left to flush at
        # exit (stdout now points at /dev/null); 141 = 128 + SIGPIPE, as a shell reports a command killed by it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except HarnessError as exc:
        sys.stderr.write(f"mtls-harness: error: {shown(exc)}\n")  # paths, aliases, URLs: inert, password masked
        write_error_reports(
            args.command, shown(exc), json_out=getattr(args, "json", False), junit=getattr(args, "junit", None)
        )
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("mtls-harness: interrupted\n")
        return 130


# -- check: the go-live command (its arguments above) ------------------------------------


def _check(args: argparse.Namespace) -> int:

    return check_command(args, _password)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
