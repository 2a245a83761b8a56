"""Output paths given on the command line: refused in one line before any work, never a traceback after it.

``check_output_file`` / ``check_output_folder`` look at where a report, store
or folder would go (a folder where a file is wanted, a path under a file, a
folder that cannot be written) and raise UsageError (exit 2) naming the path
and the option. ``write_output`` turns what can still fail while writing (a
full disk, a read-only file system, a permission the check could not see) into
the same kind of line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness.errors import HarnessError, UsageError
from harness.junit import Case, write_junit

__all__ = ["check_output_file", "check_output_folder", "write_output"]

T = TypeVar("T")


def _existing_ancestor(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists() or parent.is_symlink():
            return parent
    return Path("/")


def _check_parent(path: Path, option: str) -> None:
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise UsageError(
            str(path), f"cannot be written: {ancestor} is a file, not a folder", f"choose another {option} path"
        )
    _probe_write(ancestor, path, option)


def _probe_write(folder: Path, path: Path, option: str) -> None:
    """Create and remove a file in ``folder``: the only test that holds for root and read-only mounts alike."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".mtls-harness-probe-", dir=folder)
    except OSError as exc:
        raise UsageError(
            str(path), f"cannot be written: {exc.strerror or exc} in {folder}", f"choose another {option}"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_output_file(path: Path, option: str) -> None:
    """A file to be written at ``path``: not a folder, not under a file, in a folder we may write."""
    if path.is_dir():
        raise UsageError(str(path), "is a folder", f"give a file name for {option}, e.g. {path / 'report.xml'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(str(path), "cannot be written: permission denied", f"choose another {option}")
    _check_parent(path, option)


def check_output_folder(path: Path, option: str) -> None:
    """A folder to be filled at ``path``: a folder if it exists, not under a file, writable."""
    if path.exists() and not path.is_dir():
        raise UsageError(str(path), "is a file, not a folder", f"give a folder for {option}")
    if path.is_dir():
        _probe_write(path, path, option)
        return
    _check_parent(path, option)


def write_output(path: Path, option: str, write: Callable[[Path], T]) -> T:
    """``write(path)``, with an OSError (disk full, read-only, permission) as one line naming the path."""
    try:
        return write(path)
    except IsADirectoryError:
        raise UsageError(str(path), "is a folder", f"give a file name for {option}") from None
    except (FileExistsError, NotADirectoryError):
        raise UsageError(str(path), "cannot be written: a file is in the way", f"choose another {option}") from None
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        raise UsageError(str(path), f"cannot be written: {reason}", f"choose another {option}") from None


def asked_reports(argv: list[str]) -> tuple[bool, Path | None]:
    """(--json given, --junit FILE) from a command line argparse could not parse."""
    junit: Path | None = None
    for i, arg in enumerate(argv):
        if arg == "--junit" and i + 1 < len(argv):
            junit = Path(argv[i + 1])
        elif arg.startswith("--junit="):
            junit = Path(arg.removeprefix("--junit="))
    return "--json" in argv, junit


def write_error_reports(command: str, line: str, *, json_out: bool, junit: Path | None) -> None:
    """On exit 2, the reports asked for still appear, carrying the error, so that CI shows why.

    ``--json``: ``{"error": LINE, "ok": false, "ready": false}`` on stdout. ``--junit FILE``: one failed
    testcase ``input`` holding the line, unless FILE itself is the trouble (the line then says so).
    """
    if json_out:
        print(json.dumps({"error": line, "ok": False, "ready": False}, indent=2))
    if junit is None:
        return

    try:
        check_output_file(junit, "--junit")
        write_junit(junit, f"mtls-harness {command}", [Case("input", f"mtls-harness.{command}", failure=line)])
    except (HarnessError, OSError):
        pass
