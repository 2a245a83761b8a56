"""Writing output files: atomically, and private material 0600.

A file appears complete or not at all (temporary file in the same folder,
then ``os.replace``), so an error or Ctrl-C never leaves a half-written
keystore where the platform would pick it up.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: bytes, *, private: bool, overwrite: bool = True) -> None:
    """Write ``data`` to ``path``; mode 0600 when ``private`` (keys, stores, passwords), else 0644.

    With ``overwrite=False`` an existing file is left alone and FileExistsError raised.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600 already, so private bytes are never
    # readable by others, not even for an instant.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600 if private else 0o644)
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the target exists: no window in which another
            # writer's file could be replaced.
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
