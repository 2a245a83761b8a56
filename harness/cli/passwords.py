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
from harness.limits import PASSWORD_FILE_BYTES, NotARegularFile, TooLarge, read_bounded
from harness.secret import Secret
from harness.text import inert

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
        return Secret(_first_line(file, f"{option}-file"))
    if prompt is None or not sys.stdin.isatty():
        return None
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} (again): ") != first:
        raise UsageError("password", "the two entries differ", "run again and type the same password twice")
    return Secret(first)


def _first_line(file: Path, option: str) -> str:
    """The first line of the regular file ``file``, read under PASSWORD_FILE_BYTES (never a FIFO or /dev/zero)."""
    where = inert(file)
    try:
        data = read_bounded(file, PASSWORD_FILE_BYTES)
    except NotARegularFile as exc:
        raise UsageError(where, f"{exc}", f"give {option} a file holding the password on its first line") from None
    except TooLarge as exc:
        raise UsageError(where, f"{exc}", f"give {option} a file holding only the password") from None
    except OSError as exc:
        raise UsageError(where, f"cannot read: {exc.strerror}", f"check {option}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(where, "is not UTF-8 text", f"give {option} a text file holding the password") from None
    lines = text.splitlines()
    return lines[0] if lines else ""
