"""Writing output files: atomically, and private material 0600.

A file appears complete or not at all (temporary file in the same folder,
then ``os.replace``), so an error, Ctrl-C or even SIGKILL never leaves a
half-written keystore where the platform would pick it up.

A symbolic link at the target is replaced, never written through: rename(2)
replaces the link itself, so the file it pointed to is untouched. A SIGKILL
can leave the hidden temporary file (0600) behind; the next write of the same
target removes temporaries older than STALE_SECONDS.

A folder output (``build --out``, ``reproduce --out``) is written through
``claimed_folder``: claim, stage, commit.

* claim: ``.OUT.lock`` beside OUT, held with flock(2) while the command
  writes. A second writer into the same OUT gets a clear error at once, never
  a silent replacement; the kernel drops the lock when its holder dies, even
  by SIGKILL. Under the lock OUT is checked again (not a symbolic link, empty
  unless ``force``, holding none of the command's own inputs).
* stage: the files go into ``.OUT.XXXXXXXX.staging`` (mkdtemp, 0700) beside OUT.
* commit: the staging folder is renamed into place; with ``force`` the old OUT
  is first moved into ``.OUT.XXXXXXXX.old`` and removed after.

A staging or old folder left by a killed writer is removed by the next writer
into OUT: holding the lock, it knows no live writer owns one. SIGTERM and
SIGHUP during the write end it like Ctrl-C (the staging folder removed).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType

from harness.errors import UsageError

__all__ = [
    "STALE_SECONDS",
    "claimed_folder",
    "refuse_symlink",
    "remove_leftover_staging",
    "remove_stale_temporaries",
    "scratch_dir",
    "write_atomic",
]

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


# -- folder outputs: claim, stage, commit -------------------------------------------------

# mkdtemp's names: the prefix, 8 characters of its alphabet (tempfile._RandomNameSequence), the suffix.
_MKDTEMP_TAIL = "[a-z0-9_]{8}"
_STAGING_SUFFIX = ".staging"
_OLD_SUFFIX = ".old"


def _staging_names(out: Path) -> re.Pattern[str]:
    """The names ``claimed_folder`` gives its folders beside ``out``, and no other (the tail holds no dot)."""
    suffixes = f"(?:{re.escape(_STAGING_SUFFIX)}|{re.escape(_OLD_SUFFIX)})"
    return re.compile(f"{re.escape(f'.{out.name}.')}{_MKDTEMP_TAIL}{suffixes}")


def remove_leftover_staging(out: Path) -> list[Path]:
    """Remove the staging and old folders a killed writer into ``out`` left beside it; the paths removed.

    Call it holding ``out``'s lock (``claimed_folder`` does): then no live
    writer owns one. Only folders, not symbolic links, owned by this user and
    named exactly as ``claimed_folder`` names them; rmtree never follows a
    link inside one.
    """
    names = _staging_names(out)
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(out.parent):
            if not names.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid == os.getuid():
                    shutil.rmtree(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _lock(out: Path, option: str) -> int:
    """flock ``.OUT.lock`` beside ``out`` (created 0600, never followed); the descriptor. Busy: UsageError."""
    path = out.parent / f".{out.name}.lock"
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise UsageError(
                str(out), f"cannot be written: {exc.strerror} ({path.name})", f"choose another {option}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                str(out),
                "is being written by another mtls-harness command right now",
                f"wait for it to finish, or choose another {option}",
            ) from None
        # The holder before us unlinks the file before it lets go: ours must still be the one at the path.
        try:
            now = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        held = os.fstat(fd)
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)
    raise UsageError(str(out), "cannot be locked for writing", f"try again, or choose another {option}")


def _unlock(out: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(out.parent / f".{out.name}.lock")
    os.close(fd)


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
    except ValueError:
        return False
    return True


def refuse_symlink(path: Path, option: str) -> None:
    """UsageError when ``path`` is a symbolic link (dangling or not): an output is never written through one."""
    if path.is_symlink():
        # Written through, the link's destination would be filled (or, with --force, replaced).
        raise UsageError(
            str(path), "is a symbolic link; nothing is written through it", f"give a real path as {option}"
        )


def _check_out(out: Path, option: str, *, force: bool, inputs: Iterable[Path]) -> None:
    refuse_symlink(out, option)
    if out.exists() and not out.is_dir():
        raise UsageError(str(out), "exists and is not a folder", f"choose another {option}")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not force:
        raise UsageError(str(out), "is not empty", f"choose another {option}, or pass --force to replace it")
    for given in inputs:
        if _inside(given, out):
            raise UsageError(
                str(out),
                f"holds this command's own input {given}; --force would delete it",
                f"choose another {option}, or move the input out of it first",
            )


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the write like Ctrl-C (cleanup runs), where they would kill the process outright."""
    previous: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _interrupt)
                previous.append(sig)
    try:
        yield
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_DFL)


@contextlib.contextmanager
def claimed_folder(
    out: Path, *, option: str = "--out", force: bool = False, inputs: Iterable[Path] = ()
) -> Iterator[Path]:
    """Claim ``out``, yield an empty private staging folder beside it; a clean exit commits it as ``out``.

    UsageError (one line, exit 2): ``out`` is a symbolic link, a file, not
    empty (without ``force``), holds one of ``inputs`` (with ``force``: it
    would be deleted), or another writer holds it now. An exception inside
    the block leaves ``out`` as it was and removes the staging folder.
    """
    out = Path(os.path.abspath(out))  # "." and "x/.." named as the folder they are
    _check_out(out, option, force=force, inputs=inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = _lock(out, option)
    try:
        with _signals_interrupt():
            remove_leftover_staging(out)
            _check_out(out, option, force=force, inputs=inputs)  # again, now that no other writer can change it
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=_STAGING_SUFFIX, dir=out.parent))
            try:
                yield staging
                _commit(staging, out)
            finally:
                # Gone after the rename; removed with what it holds otherwise.
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        _unlock(out, fd)


def _commit(staging: Path, out: Path) -> None:
    try:
        info = os.stat(out, follow_symlinks=False)
    except FileNotFoundError:
        info = None
    if info is None or (stat.S_ISDIR(info.st_mode) and not any(out.iterdir())):
        # rename(2) replaces an empty folder atomically.
        os.replace(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=_OLD_SUFFIX, dir=out.parent))
    try:
        os.replace(out, old / "previous")
        try:
            os.replace(staging, out)
        except BaseException:
            os.replace(old / "previous", out)  # the previous folder back: never neither
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
