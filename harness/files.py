"""Writing output files: atomically, and private material 0600.

A file appears complete or not at all (temporary file in the same folder,
then ``os.replace``), so an error, Ctrl-C or even SIGKILL never leaves a
half-written keystore where the platform would pick it up.

A symbolic link at the target is replaced, never written through: rename(2)
replaces the link itself, so the file it pointed to is untouched. A SIGKILL
can leave the hidden temporary file (0600) behind; the next write of the same
target removes temporaries older than STALE_SECONDS. The staging folders of
``build`` (``.OUT.XXXXXXXX``, 0700) a SIGKILL leaves are removed the same way by
the next build into OUT (``harness.build.remove_stale_staging``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

__all__ = ["STALE_SECONDS", "remove_stale_temporaries", "scratch_dir", "write_atomic"]

# A temporary older than this is not another writer's work in progress (a write takes milliseconds).
STALE_SECONDS = 600.0


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def write_atomic(path: Path, data: bytes, *, private: bool, overwrite: bool = True, durable: bool = True) -> None:
    """Write ``data`` to ``path``; mode 0600 when ``private`` (keys, stores, passwords), else 0644.

    With ``overwrite=False`` an existing file (or symbolic link, even dangling)
    is left alone and FileExistsError raised. ``durable=False`` skips the
    fsync: for throwaway files (a catalogue run's temporary scenario folders)
    whose loss in a power cut costs nothing; the write is atomic either way.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    # mkstemp creates the file 0600 already, so private bytes are never
    # readable by others, not even for an instant, whatever the umask.
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        # An explicit mode: the umask does not decide what is private.
        os.chmod(tmp, 0o600 if private else 0o644)
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the target exists (a dangling symlink included):
            # no window in which another writer's file could be replaced.
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(path: Path) -> None:
    """Remove ``write_atomic``'s temporaries for ``path`` left by a killed writer (older than STALE_SECONDS)."""
    prefix = _temporary_prefix(path)
    cutoff = time.time() - STALE_SECONDS
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)


_SHM = Path("/dev/shm")  # noqa: S108 - a private mkdtemp folder inside it, never a fixed name
_DEFAULT_TEMPDIRS = ("/tmp", "/var/tmp", "/usr/tmp")  # noqa: S108 - tempfile's own defaults, compared only


def scratch_dir() -> str | None:
    """Where throwaway folders with key material go: RAM (``/dev/shm``) when there is one, else the default.

    A catalogue run writes and removes a folder of stores per scenario; on a
    busy disk each unlink and fsync costs milliseconds (measured: 25 ms a
    scenario of a 60 ms total on the shared 2-core machine), in RAM
    microseconds. Key material in RAM never reaches a disk either. The
    folders themselves are mkdtemp's (0700). ``MTLS_SCRATCH`` names another
    place; a temporary folder chosen explicitly (``TMPDIR``, or
    ``tempfile.tempdir`` set by the caller) is respected (None: the default).
    """
    chosen = os.environ.get("MTLS_SCRATCH")
    if chosen:
        return chosen
    # tempfile caches its default in tempfile.tempdir on first use: only another value is a choice.
    if tempfile.tempdir not in (None, *_DEFAULT_TEMPDIRS) or any(os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP")):
        return None
    if _SHM.is_dir() and os.access(_SHM, os.W_OK | os.X_OK):
        return str(_SHM)
    return None
