"""``mtls-harness``: the command line. Thin over the modules; imports them only when a command runs.

Exit codes: 0 all as expected / no error finding, 1 some scenario not as
expected / an error finding, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from harness.errors import HarnessError, UsageError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}; see `{self.prog} --help`\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _parser() -> _Parser:
    parser = _Parser(
        prog="mtls-harness",
        description="Prove a Mutual-TLS (client-certificate) HTTPS destination works: "
        "scenario files, JKS/PKCS#12 stores, a local MTLS server, real handshakes, JUnit.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser("run", help="run scenario files (through pytest) and report")
    run.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path("scenarios")],
        metavar="PATH",
        help="scenario files or folders (default: scenarios/)",
    )
    run.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    run.add_argument(
        "--engine", choices=("python", "jsse", "all"), default="all", help="client engine(s) (default: all)"
    )
    run.add_argument("-k", dest="keyword", metavar="EXPR", help="only scenarios matching EXPR (pytest -k)")
    run.add_argument("-n", dest="workers", metavar="N|auto", help="parallel workers (pytest-xdist)")
    run.add_argument("--keep", type=Path, metavar="DIR", help="keep each scenario's stores and server files under DIR")
    run.add_argument("-v", "--verbose", action="store_true", help="print every scenario's details")
    run.set_defaults(handler=_run)

    build = commands.add_parser(
        "build", help="write a scenario's keystore, truststore, destination.json and server files"
    )
    build.add_argument("scenario", type=Path, metavar="SCENARIO")
    build.add_argument("--out", type=Path, required=True, metavar="DIR")
    build.add_argument(
        "--port",
        type=int,
        default=8443,
        help="port written into destination.json's url (default 8443; `serve DIR` updates it)",
    )
    build.add_argument("--force", action="store_true", help="replace DIR if it is not empty")
    build.set_defaults(handler=_build)

    serve = commands.add_parser("serve", help="run a scenario's local MTLS server until Ctrl-C")
    serve.add_argument("source", type=Path, metavar="SCENARIO|DIR")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--handshake-timeout", type=float, default=5.0, metavar="SECONDS")
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except HarnessError as exc:
        sys.stderr.write(f"mtls-harness: error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("mtls-harness: interrupted\n")
        return 130


# -- run ---------------------------------------------------------------------------------


def _scenario_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(str(path), "no such file or folder", "give scenario files or a folder of them")
    if not files:
        raise UsageError(
            ", ".join(map(str, paths)), "holds no scenario (*.toml) files", "give scenario files or a folder of them"
        )
    return files


def _run(args: argparse.Namespace) -> int:
    from harness.scenario import load_scenario

    files = _scenario_files(args.paths)
    # Validate every file first: a malformed scenario is one line and exit 2,
    # before any server starts.
    for file in files:
        load_scenario(file)
    import pytest

    pytest_args = [str(f) for f in files]
    pytest_args += ["-p", "harness.plugin", "-p", "no:cacheprovider", "--mtls-engine", args.engine]
    pytest_args += ["-o", "junit_logging=system-out", "-o", "junit_family=xunit2"]
    if args.junit:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        pytest_args += ["--junitxml", str(args.junit), "-o", "junit_suite_name=mtls-harness"]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.workers:
        try:
            import xdist  # noqa: F401
        except ImportError:
            raise UsageError("-n", "parallel runs need pytest-xdist", "pip install pytest-xdist") from None
        pytest_args += ["-n", args.workers]
    if args.keep:
        pytest_args += ["--mtls-keep", str(args.keep)]
    pytest_args += ["-rA", "-v"] if args.verbose else ["-rfEs"]
    code = int(pytest.main(pytest_args))
    if code == 0:
        return EXIT_OK
    if code == 1:
        return EXIT_FAILED
    return EXIT_BAD_INPUT


# -- build -------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
    from harness.build import build_scenario
    from harness.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    built = build_scenario(scenario, args.out, port=args.port, force=args.force)
    print(f"built {scenario.name} into {built.folder}/")
    for path in (built.keystore, built.truststore, built.destination):
        print(f"  {path.name}")
    print(f"  server/ (chain.pem, key.pem{', client-cas.pem' if built.server.client_cas else ''}, server.json)")
    return EXIT_OK


# -- serve -------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import json
    import shutil
    import tempfile

    from harness.build import write_scenario_files
    from harness.files import write_atomic
    from harness.scenario import load_scenario
    from harness.server import LocalServer, ServerFiles

    source: Path = args.source
    temporary: Path | None = None
    destination: Path | None = None
    if source.is_dir():
        files = ServerFiles.from_dir(source / "server")
        destination = source / "destination.json"
    elif source.is_file():
        scenario = load_scenario(source)
        temporary = Path(tempfile.mkdtemp(prefix=f"mtls-serve-{scenario.name}-"))
        files = write_scenario_files(scenario, temporary).server
    else:
        raise UsageError(
            str(source), "no such file or folder", "give a scenario file or a folder written by `mtls-harness build`"
        )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with LocalServer(
            files, port=args.port, handshake_timeout=args.handshake_timeout, on_event=_print_line
        ) as server:
            if destination is not None and destination.is_file():
                # Keep the built folder usable as-is: its url now points here.
                doc = json.loads(destination.read_text("utf-8"))
                doc["url"] = server.url
                write_atomic(destination, (json.dumps(doc, indent=2) + "\n").encode(), private=True)
            _print_line(f"listening on {server.url}")
            while not stop.wait(0.5):
                pass
            _print_line("stopping")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    return EXIT_OK


_print_lock = threading.Lock()


def _print_line(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
