"""``mtls-harness run``, ``build`` and ``serve``: the scenario commands."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.build import build_scenario, write_scenario_files
from harness.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from harness.cli.jdk import add_jdk_option, resolve_for_run
from harness.destination import load_destination
from harness.discovery import is_scenario_file
from harness.errors import UsageError
from harness.files import refuse_symlink, write_atomic
from harness.html import run_html, write_html
from harness.jsonfile import BadJson, read_json
from harness.outputs import check_output_file, check_output_folder, write_output
from harness.scenario import load_scenario
from harness.server import LocalServer, ServerFiles, address_family
from harness.server.ca_names import unavailable_reason

__all__ = ["AUTO_MIN_SCENARIOS", "add_commands", "auto_workers", "bind_warning"]


def add_commands(commands: Any) -> None:
    """Register ``run``, ``build`` and ``serve`` on ``mtls-harness``'s sub-parsers."""
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
    run.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report")
    run.add_argument(
        "--engine", choices=("python", "jsse", "all"), default="all", help="client engine(s) (default: all)"
    )
    run.add_argument("-k", dest="keyword", metavar="EXPR", help="only scenarios matching EXPR (pytest -k)")
    run.add_argument(
        "-n",
        dest="workers",
        metavar="N|auto",
        help="parallel workers (pytest-xdist); auto: as many as pay off: one per core for the python engine "
        f"from {AUTO_MIN_SCENARIOS} scenarios on, one per two cores with a JVM engine (jsse, all), else none",
    )
    run.add_argument("--keep", type=Path, metavar="DIR", help="keep each scenario's stores and server files under DIR")
    run.add_argument(
        "--key-cache", type=Path, metavar="DIR", help="cache generated RSA-3072/4096 keys in DIR across runs"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="print every scenario's details")
    run.add_argument("--no-color", action="store_true", help="no colours, even on a terminal (as NO_COLOR=1)")
    add_jdk_option(run, "run the jsse engine")
    run.set_defaults(handler=_run)

    build = commands.add_parser(
        "build", help="write a scenario's keystore, truststore, destination.json and server files"
    )
    build.add_argument("scenario", type=Path, metavar="SCENARIO", help="the scenario file (.toml)")
    build.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write (created)")
    build.add_argument(
        "--port",
        type=int,
        default=8443,
        help="port written into destination.json's url (default 8443; `serve DIR` updates it)",
    )
    build.add_argument("--force", action="store_true", help="replace DIR if it is not empty")
    build.set_defaults(handler=_build)

    serve = commands.add_parser("serve", help="run a scenario's local MTLS server until Ctrl-C")
    serve.add_argument(
        "source", type=Path, metavar="SCENARIO|DIR", help="a scenario file, or a folder written by `build`"
    )
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    serve.add_argument(
        "--bind",
        type=_bind_address,
        default="127.0.0.1",
        metavar="ADDR",
        help="IP address to listen on (default 127.0.0.1). Any non-loopback address (0.0.0.0, a LAN address) "
        "makes the server reachable from other machines: serve warns on stderr; its key and CAs are "
        "test material written for the scenario, no secrets",
    )
    serve.add_argument(
        "--handshake-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="drop a client that has not finished its handshake after SECONDS (default 5)",
    )
    serve.set_defaults(handler=_serve)


# -- run ---------------------------------------------------------------------------------


def _scenario_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            # In a folder, only scenario files (by content): not its settings.toml.
            files.extend(sorted(p for p in path.glob("*.toml") if is_scenario_file(p)))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(str(path), "no such file or folder", "give scenario files or a folder of them")
    if not files:
        raise UsageError(
            ", ".join(map(str, paths)), "holds no scenario (*.toml) files", "give scenario files or a folder of them"
        )
    return files


# Where `-n auto` starts workers (benchmarks/scaling.py, 2 cores): a worker costs ~0.4 s to start (its own Python,
# its own collection) and saves ~6 ms a python scenario, so below ~60 scenarios it loses; a JVM worker keeps a core
# and a half busy (the JVM and the Python server it talks to): two of them on two cores ran 250 jsse scenarios in
# 14.6 s against 10-12 s for one.
AUTO_MIN_SCENARIOS = 100
_JVM_WORKER_CORES = 2


def auto_workers(scenarios: int, engine: str, cores: int) -> str | None:
    """What ``-n auto`` means for this run: a worker count for pytest-xdist, or None (one process)."""
    per_worker = _JVM_WORKER_CORES if engine in ("jsse", "all") else 1
    count = cores // per_worker
    if scenarios < AUTO_MIN_SCENARIOS or count < 2:
        return None
    return str(min(count, scenarios // (AUTO_MIN_SCENARIOS // 2)))


def _pytest_paths(paths: Sequence[Path], files: Sequence[Path]) -> list[str]:
    """Folders as folders (with --mtls-scenario-dirs), files as files: pytest collects a folder once."""
    if not any(p.is_dir() for p in paths):
        return [str(f) for f in files]
    return [str(p) for p in paths] + ["--mtls-scenario-dirs"]


def _run(args: argparse.Namespace) -> int:

    if args.junit:
        # pytest's junitxml writes through a link: refused here, as every output is.
        refuse_symlink(args.junit, "--junit")
        check_output_file(args.junit, "--junit")
    if args.html:
        check_output_file(args.html, "--html")
    for option, folder in (("--keep", args.keep), ("--key-cache", args.key_cache)):
        if folder is not None:
            refuse_symlink(folder, option)
            check_output_folder(folder, option)
    files = _scenario_files(args.paths)
    # Validate every file first: a malformed scenario is one line and exit 2,
    # before any server starts.
    for file in files:
        load_scenario(file)

    pytest_args = _pytest_paths(args.paths, files)
    pytest_args += ["-p", "harness.plugin", "-p", "no:cacheprovider", "--mtls-engine", args.engine]
    # Scenario items hold no assert statements: rewriting the harness's modules
    # (pytest rewrites a plugin's whole distribution) and hypothesis's plugin
    # (installed with the test extras) only cost start-up time.
    pytest_args += ["--assert=plain", "-p", "no:hypothesispytest"]
    pytest_args += ["-o", "junit_logging=system-out", "-o", "junit_family=xunit2"]
    # --html is made from the run's JUnit XML: a temporary one when --junit is not given.
    scratch = tempfile.TemporaryDirectory(prefix="mtls-run-") if args.html and not args.junit else None
    junit = Path(scratch.name) / "junit.xml" if scratch else args.junit
    if args.junit:
        write_output(args.junit.parent, "--junit", lambda p: p.mkdir(parents=True, exist_ok=True))
    if junit:
        pytest_args += ["--junitxml", str(junit), "-o", "junit_suite_name=mtls-harness"]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    workers = auto_workers(len(files), args.engine, os.cpu_count() or 1) if args.workers == "auto" else args.workers
    if workers and workers != "0":
        # pytest-xdist is a dependency. loadfile: a scenario's engine items stay on one worker, which builds its
        # stores and starts its server once (load would split them and build twice).
        pytest_args += ["-n", workers, "--dist", "loadfile", "--mtls-validated"]
    if args.keep:
        pytest_args += ["--mtls-keep", str(args.keep)]
    if args.key_cache:
        pytest_args += ["--mtls-key-cache", str(args.key_cache)]
    for runtime in resolve_for_run(args.jdk):
        pytest_args += ["--mtls-jdk", str(runtime.home)]
    pytest_args += ["-rA", "-v"] if args.verbose else ["-rfEs"]
    if args.no_color:
        pytest_args += ["--color=no"]  # pytest itself honours NO_COLOR
    if sys.stderr.isatty() and not sys.stdout.isatty():
        # pytest's own progress goes to stdout; a bar on the same terminal would overwrite its lines.
        pytest_args += ["--mtls-progress"]
    if args.html:
        pytest_args += ["--mtls-chains"]  # the chain diagrams come through the JUnit file
    from harness.plugin import run_session  # LAZY (tests/test_layers.py): pytest loads only when `run` runs

    with scratch or contextlib.nullcontext():
        code = run_session(pytest_args)
        if args.html and junit and junit.is_file():
            write_html(args.html, run_html(junit))
    if code == 0:
        return EXIT_OK
    if code == 1:
        return EXIT_FAILED
    return EXIT_BAD_INPUT


# -- build -------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:

    refuse_symlink(args.out, "--out")  # before the write probe, which would create a file in the link's folder
    check_output_folder(args.out, "--out")
    scenario = load_scenario(args.scenario)
    built = write_output(args.out, "--out", lambda out: build_scenario(scenario, out, port=args.port, force=args.force))
    print(f"built {scenario.name} into {built.folder}/")
    for path in (built.keystore, built.truststore, built.destination):
        print(f"  {path.name}")
    print(f"  server/ (chain.pem, key.pem{', client-cas.pem' if built.server.client_cas else ''}, server.json)")
    return EXIT_OK


# -- serve -------------------------------------------------------------------------------


def _bind_address(text: str) -> str:
    """``--bind``: an IPv4 or IPv6 address in its normal spelling (no host names: nothing is resolved)."""

    try:
        return str(ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r} (give e.g. 127.0.0.1, ::1 or 0.0.0.0)") from None


def bind_warning(address: str) -> str | None:
    """The one-line warning ``serve --bind ADDR`` prints on stderr, or None for a loopback address."""

    if ipaddress.ip_address(address).is_loopback:  # 127.0.0.0/8, ::1
        return None
    return (
        f"mtls-harness serve: warning: listening on {address}, reachable from other machines; "
        "its key and CAs are test material written for the scenario (no secrets in it)"
    )


def _check_bindable(address: str) -> None:
    """Refuse (exit 2) an address this machine cannot listen on, before any store is written."""

    with socket.socket(address_family(address), socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as exc:
            raise UsageError(
                f"--bind {address}",
                f"cannot listen on this address: {exc.strerror}",
                "give an address of one of this machine's interfaces (`ip addr`), or leave --bind out for 127.0.0.1",
            ) from None


def _serve(args: argparse.Namespace) -> int:

    source: Path = args.source
    address: str = args.bind
    _check_bindable(address)
    temporary: Path | None = None
    destination: Path | None = None
    if source.is_dir():
        files = ServerFiles.from_dir(source / "server")
        destination = source / "destination.json"
        if destination.exists() or destination.is_symlink():
            # Read (and refused in one line) before anything listens; its url is updated once the port is known.
            try:
                read_json(destination)  # size, nesting and digits bounded before the destination's own reading
            except BadJson as exc:
                raise UsageError(str(destination), str(exc), "re-run `mtls-harness build`") from None
            load_destination(destination)
        else:
            destination = None
    elif source.is_file():
        scenario = load_scenario(source)
        temporary = Path(tempfile.mkdtemp(prefix=f"mtls-serve-{scenario.name}-"))
        files = write_scenario_files(scenario, temporary).server
    else:
        raise UsageError(
            str(source), "no such file or folder", "give a scenario file or a folder written by `mtls-harness build`"
        )
    if files.policy.persona == "java" and address != "127.0.0.1":
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise UsageError(f"--bind {address}", "the java persona's server listens on 127.0.0.1 only", "drop --bind")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with LocalServer(
            files, port=args.port, host=address, handshake_timeout=args.handshake_timeout, on_event=_print_line
        ) as server:
            if (warning := bind_warning(address)) is not None:
                sys.stderr.write(warning + "\n")
                sys.stderr.flush()
            if destination is not None:
                _point_at(destination, server.url)
            _print_line(f"listening on {server.url}")
            if (
                files.policy.ca_names
                and files.policy.client_auth != "none"
                and (off := unavailable_reason()) is not None
            ):
                sys.stderr.write(f"mtls-harness serve: {off}\n")
            while not stop.wait(0.5):
                pass
            _print_line("stopping")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    return EXIT_OK


def _point_at(destination: Path, url: str) -> None:
    """Keep the built folder usable as-is: its destination.json's url now points at this server."""
    try:
        doc = read_json(destination)
    except BadJson as exc:  # changed since it was read
        raise UsageError(str(destination), str(exc), "re-run `mtls-harness build`") from None
    if not isinstance(doc, dict):
        raise UsageError(str(destination), "is not a JSON object", "re-run `mtls-harness build`")
    doc["url"] = url
    write_output(
        destination,
        "DIR",
        lambda path: write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode(), private=True),
    )


_print_lock = threading.Lock()


def _print_line(line: str) -> None:
    with _print_lock, contextlib.suppress(BrokenPipeError):  # a closed stdout (`serve | head`) stops no serving
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
