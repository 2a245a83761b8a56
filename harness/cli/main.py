"""``mtls-harness``: the command line. Thin over the modules; imports them only when a command runs.

Exit codes: 0 all as expected / no error finding, 1 some scenario not as
expected / an error finding, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from harness.cli.jdk import add_jdk_command, add_jdk_option
from harness.errors import HarnessError, UsageError

if TYPE_CHECKING:
    from harness.secret import Secret

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


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
    check.add_argument("--junit", type=Path, metavar="FILE", help="write one JUnit testcase per check")
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

    keystore = commands.add_parser(
        "keystore", help="build the platform's keystore from a PKCS#12 key pair (KeyPair.p12)"
    )
    keystore.add_argument("pkcs12", type=Path, metavar="IN.p12", help="the PKCS#12 file with the key and its chain")
    keystore.add_argument("--out", type=Path, required=True, metavar="OUT", help="the keystore file to write")
    keystore.add_argument("--alias", help="the key entry's alias (default: the PKCS#12 friendly name)")
    keystore.add_argument("--format", choices=("jks", "pkcs12"), default="jks", help="store format (default jks)")
    keystore.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _password_options(keystore, "p12", "the PKCS#12 file's password")
    _password_options(keystore, "", "the new keystore's password (also its key password)")
    keystore.set_defaults(handler=_keystore)

    truststore = commands.add_parser("truststore", help="build a truststore from the certificates a server presents")
    truststore.add_argument("url", metavar="URL", help="the server's https:// URL")
    truststore.add_argument("--out", type=Path, required=True, metavar="OUT", help="the truststore file to write")
    truststore.add_argument("--format", choices=("jks", "pkcs12"), default="jks", help="store format (default jks)")
    truststore.add_argument(
        "--add-keystore",
        type=Path,
        metavar="KS",
        help="also trust this keystore's certificates (as the platform's guide does)",
    )
    truststore.add_argument("--force", action="store_true", help="replace OUT if it exists")
    truststore.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="network timeout (default 10)"
    )
    _password_options(truststore, "keystore", "the --add-keystore keystore's password")
    _password_options(truststore, "", "the new truststore's password")
    truststore.set_defaults(handler=_truststore)
    add_jdk_command(commands)
    from harness.cli.support import add_commands  # explain, capture, reproduce (issue 12)

    add_commands(commands)
    return parser


def _version() -> str:
    # The installed distribution's version; the package's own in a bare checkout.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mtls-harness")
    except PackageNotFoundError:
        from harness import __version__

        return __version__


def _password_options(parser: argparse.ArgumentParser, prefix: str, what: str) -> None:
    """``--PREFIX-password-env VAR`` / ``--PREFIX-password-file FILE`` (as keytool's ``-storepass:env``)."""
    name = f"{prefix}-password" if prefix else "password"
    group = parser.add_mutually_exclusive_group()
    group.add_argument(f"--{name}-env", metavar="VAR", help=f"read {what} from environment variable VAR")
    group.add_argument(f"--{name}-file", type=Path, metavar="FILE", help=f"read {what} from the first line of FILE")


def _password(
    args: argparse.Namespace, prefix: str, *, prompt: str | None = None, confirm: bool = False
) -> Secret | None:
    """The password from --…-env / --…-file, else a prompt on a terminal, else None."""
    from harness.secret import Secret

    name = f"{prefix}_password" if prefix else "password"
    env, file = getattr(args, f"{name}_env"), getattr(args, f"{name}_file")
    option = "--" + name.replace("_", "-")
    if env is not None:
        if env not in os.environ:
            raise UsageError(f"{option}-env", f"environment variable {env} is not set", f"export {env}=... first")
        return Secret(os.environ[env])
    if file is not None:
        try:
            lines = file.read_text("utf-8").splitlines()
        except OSError as exc:
            raise UsageError(str(file), f"cannot read: {exc.strerror}", f"check {option}-file") from None
        return Secret(lines[0] if lines else "")
    if prompt is None or not sys.stdin.isatty():
        return None
    import getpass

    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} (again): ") != first:
        raise UsageError("password", "the two entries differ", "run again and type the same password twice")
    return Secret(first)


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
    from harness.outputs import asked_reports, write_error_reports

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
        return handler(args)
    except HarnessError as exc:
        sys.stderr.write(f"mtls-harness: error: {exc}\n")
        write_error_reports(
            args.command, str(exc), json_out=getattr(args, "json", False), junit=getattr(args, "junit", None)
        )
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("mtls-harness: interrupted\n")
        return 130


# -- run ---------------------------------------------------------------------------------


def _scenario_files(paths: Sequence[Path]) -> list[Path]:
    from harness.discovery import is_scenario_file

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
    from harness.cli.jdk import resolve_for_run
    from harness.outputs import check_output_file, check_output_folder, write_output
    from harness.scenario import load_scenario

    if args.junit:
        check_output_file(args.junit, "--junit")
    for option, folder in (("--keep", args.keep), ("--key-cache", args.key_cache)):
        if folder is not None:
            check_output_folder(folder, option)
    files = _scenario_files(args.paths)
    # Validate every file first: a malformed scenario is one line and exit 2,
    # before any server starts.
    for file in files:
        load_scenario(file)
    import pytest

    pytest_args = _pytest_paths(args.paths, files)
    pytest_args += ["-p", "harness.plugin", "-p", "no:cacheprovider", "--mtls-engine", args.engine]
    # Scenario items hold no assert statements: rewriting the harness's modules
    # (pytest rewrites a plugin's whole distribution) and hypothesis's plugin
    # (installed with the test extras) only cost start-up time.
    pytest_args += ["--assert=plain", "-p", "no:hypothesispytest"]
    pytest_args += ["-o", "junit_logging=system-out", "-o", "junit_family=xunit2"]
    if args.junit:
        write_output(args.junit.parent, "--junit", lambda p: p.mkdir(parents=True, exist_ok=True))
        pytest_args += ["--junitxml", str(args.junit), "-o", "junit_suite_name=mtls-harness"]
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
    code = int(pytest.main(pytest_args))
    if code == 0:
        return EXIT_OK
    if code == 1:
        return EXIT_FAILED
    return EXIT_BAD_INPUT


# -- build -------------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
    from harness.build import build_scenario
    from harness.outputs import check_output_folder, write_output
    from harness.scenario import load_scenario

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
    import ipaddress

    try:
        return str(ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r} (give e.g. 127.0.0.1, ::1 or 0.0.0.0)") from None


def bind_warning(address: str) -> str | None:
    """The one-line warning ``serve --bind ADDR`` prints on stderr, or None for a loopback address."""
    import ipaddress

    if ipaddress.ip_address(address).is_loopback:  # 127.0.0.0/8, ::1
        return None
    return (
        f"mtls-harness serve: warning: listening on {address}, reachable from other machines; "
        "its key and CAs are test material written for the scenario (no secrets in it)"
    )


def _check_bindable(address: str) -> None:
    """Refuse (exit 2) an address this machine cannot listen on, before any store is written."""
    import socket

    from harness.server.local import address_family

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
    import json
    import shutil
    import tempfile

    from harness.build import write_scenario_files
    from harness.files import write_atomic
    from harness.scenario import load_scenario
    from harness.server.local import LocalServer, ServerFiles

    source: Path = args.source
    address: str = args.bind
    _check_bindable(address)
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
            if destination is not None and destination.is_file():
                # Keep the built folder usable as-is: its url now points here.
                doc = json.loads(destination.read_text("utf-8"))
                doc["url"] = server.url
                write_atomic(destination, (json.dumps(doc, indent=2) + "\n").encode(), private=True)
            _print_line(f"listening on {server.url}")
            if files.policy.ca_names and files.policy.client_auth != "none":
                from harness.server.ca_names import unavailable_reason

                if (off := unavailable_reason()) is not None:
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


# -- check / keystore / truststore: the go-live commands ---------------------------------


def _engines(choice: str) -> list[Any]:
    from harness.engines.python import PythonEngine

    engines: list[Any] = []
    if choice in ("python", "all"):
        engines.append(PythonEngine())
    if choice in ("jsse", "all"):
        from harness.engines.jsse import JsseEngine

        engines.append(JsseEngine())
    return engines


def _check(args: argparse.Namespace) -> int:
    from harness.cli.check import check_command

    return check_command(args, _password)


def _refuse_overwrite(out: Path, force: bool) -> None:
    from harness.outputs import check_output_file

    if out.is_dir():
        raise UsageError(str(out), "is a folder", "give a file name, e.g. --out keystore.jks")
    if out.exists() and not force:
        raise UsageError(str(out), "already exists", "choose another --out, or pass --force to replace it")
    check_output_file(out, "--out")


def _refuse_unreadable_password(out: Path, fmt: str, password: Secret) -> None:
    # The JDK's PKCS#12 store takes ASCII passwords only ("Password is not
    # ASCII"); a file written with another would never open on the platform.
    if fmt == "pkcs12" and not password.reveal().isascii():
        raise UsageError(
            str(out),
            "a PKCS#12 password must be ASCII for the JDK to open it",
            "choose an ASCII password, or --format jks",
        )


def _keystore(args: argparse.Namespace) -> int:
    from harness.files import write_atomic
    from harness.keypair import key_pair_warnings, refuse_misnamed_output
    from harness.outputs import write_output
    from harness.stores import keystore_bytes, load_key_pair, read_store

    _refuse_overwrite(args.out, args.force)
    refuse_misnamed_output(args.out, args.format, args.force)
    if not args.pkcs12.is_file():
        raise UsageError(str(args.pkcs12), "no such file", "give the PKCS#12 key pair your CA issued")
    p12_password = _password(args, "p12", prompt=f"Password of {args.pkcs12.name}")
    if p12_password is None:
        raise UsageError(
            str(args.pkcs12), "no password given", "pass --p12-password-env VAR or --p12-password-file FILE"
        )
    entry = load_key_pair(args.pkcs12, p12_password)
    password = _password(args, "", prompt=f"New password for {args.out.name}", confirm=True)
    if password is None:
        raise UsageError(str(args.out), "no password given", "pass --password-env VAR or --password-file FILE")
    if not password.reveal():
        raise UsageError(str(args.out), "the password is empty", "the platform needs a keystorePass")
    _refuse_unreadable_password(args.out, args.format, password)
    given_alias = args.alias or entry.alias or "client"
    alias = given_alias.lower() if args.format == "jks" else given_alias  # JKS aliases are lower case
    data = keystore_bytes(entry, alias, args.format, password)
    write_output(args.out, "--out", lambda out: write_atomic(out, data, private=True, overwrite=args.force))
    written = read_store(args.out, password, "keystore")  # read back: what the platform will open
    leaf = written.key_entries[0].chain[0]
    print(f"wrote {args.out} ({args.format.upper()}, 0600): one key entry {alias!r}, key password = store password")
    print(f"  certificate: {leaf.subject.rfc4514_string()}")
    print(f"  issued by:   {leaf.issuer.rfc4514_string()}")
    print(f"  valid until: {leaf.not_valid_after_utc:%Y-%m-%d}; chain of {len(written.key_entries[0].chain)}")
    import datetime as dt

    for warning in key_pair_warnings(entry, given_alias, alias, dt.datetime.now(dt.UTC)):
        print(f"  warning: {warning}")
    print(f'  in destination.json: "keystoreFile": "{args.out.name}", "keystorePass": the password you gave')
    return EXIT_OK


def _truststore(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import hashes

    from harness.files import write_atomic
    from harness.outputs import write_output
    from harness.pki import sha256_fingerprint
    from harness.stores import alias_for, read_store, truststore_bytes
    from harness.wire.inspect import inspect_server

    _refuse_overwrite(args.out, args.force)
    extra = []
    if args.add_keystore is not None:
        ks_password = _password(args, "keystore", prompt=f"Password of {args.add_keystore.name}")
        if ks_password is None:
            raise UsageError(
                str(args.add_keystore),
                "no password given",
                "pass --keystore-password-env VAR or --keystore-password-file FILE",
            )
        contents = read_store(args.add_keystore, ks_password, "keystore")
        extra = [c for e in contents.key_entries for c in e.chain] + list(contents.certificates)
    password = _password(args, "", prompt=f"New password for {args.out.name}", confirm=True)
    if password is None:
        raise UsageError(str(args.out), "no password given", "pass --password-env VAR or --password-file FILE")
    _refuse_unreadable_password(args.out, args.format, password)
    try:
        view = inspect_server(args.url, timeout=args.timeout)
    except OSError as exc:
        raise UsageError(
            args.url, f"cannot reach the server: {exc}", "check the URL, DNS, the port and any firewall"
        ) from None
    taken: set[str] = set()
    seen: set[bytes] = set()
    entries = []
    for cert in [*view.chain, *extra]:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in seen:
            seen.add(fingerprint)
            entries.append((alias_for(cert, taken), cert))
    data = truststore_bytes(entries, args.format, password)
    write_output(args.out, "--out", lambda out: write_atomic(out, data, private=True, overwrite=args.force))
    read_store(args.out, password, "truststore")  # read back: what the platform will open
    print(f"wrote {args.out} ({args.format.upper()}): {len(entries)} trusted certificate(s)")
    for alias, cert in entries:
        print(f"  {alias}: {cert.subject.rfc4514_string()}")
        print(f"    SHA-256 {sha256_fingerprint(cert)}")
        print(f"    expires {cert.not_valid_after_utc:%Y-%m-%d}")
    if len(view.chain) == 1 and view.chain[0].subject != view.chain[0].issuer:
        print("  note: the server sends only its own certificate; the truststore trusts that certificate itself")
    return EXIT_OK


_print_lock = threading.Lock()


def _print_line(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
