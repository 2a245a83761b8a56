"""The password options of ``check``, ``keystore`` and ``truststore``: from an environment variable, a file or a prompt.

Never from the command line itself (it would show in ``ps`` and the shell's history), as keytool's
``-storepass:env`` / ``-storepass:file``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from harness.errors import UsageError
from harness.secret import Secret

__all__ = ["password_options", "read_password"]


def password_options(parser: argparse.ArgumentParser, prefix: str, what: str) -> None:
    """``--PREFIX-password-env VAR`` / ``--PREFIX-password-file FILE`` (as keytool's ``-storepass:env``)."""
    name = f"{prefix}-password" if prefix else "password"
    group = parser.add_mutually_exclusive_group()
    group.add_argument(f"--{name}-env", metavar="VAR", help=f"read {what} from environment variable VAR")
    group.add_argument(f"--{name}-file", type=Path, metavar="FILE", help=f"read {what} from the first line of FILE")


def read_password(
    args: argparse.Namespace, prefix: str, *, prompt: str | None = None, confirm: bool = False
) -> Secret | None:
    """The password from --…-env / --…-file, else a prompt on a terminal, else None."""
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
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} (again): ") != first:
        raise UsageError("password", "the two entries differ", "run again and type the same password twice")
    return Secret(first)
