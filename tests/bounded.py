"""``mtls-harness`` run as an attacker's input would run it, but bounded: a missed bound fails, never hangs.

Each run is a subprocess with a deadline (killed at it, then the test fails) and,
for commands that start no JVM, an address-space limit (a runaway allocation
ends in MemoryError, which the test sees as a traceback). The exit code, the
wall time and the peak resident memory (``wait4``) are kept for the attack table
(tests/test_attacks_*.py print it with ``-s``).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Bounded", "run_bounded"]

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bounded:
    name: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: int

    def row(self) -> str:
        return f"| {self.name} | {self.returncode} | {self.seconds:.2f} s | {self.peak_mb} MB |"


def run_bounded(
    name: str,
    *args: str,
    stdin: bytes | None = None,
    timeout: float = 60.0,
    memory_mb: int | None = 1024,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
) -> Bounded:
    """``mtls-harness ARGS``; ``memory_mb`` None for commands that start a JVM (it reserves more address space)."""

    def limit() -> None:
        if memory_mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=limit,
    )
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    out: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda n=n, f=f: out.__setitem__(n, f.read()), daemon=True)
        for n, f in (("out", proc.stdout), ("err", proc.stderr))
        if f is not None
    ]
    for reader in readers:
        reader.start()
    try:
        if stdin is not None and proc.stdin is not None:
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:  # the command refused the input before reading all of it
                pass
        for reader in readers:
            reader.join()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    seconds = time.monotonic() - started
    if killed.is_set():
        pytest.fail(f"{name}: still running after {timeout:.0f} s: no bound stopped it", pytrace=False)
    return Bounded(
        name,
        proc.returncode,
        out.get("out", b"").decode("utf-8", "replace"),
        out.get("err", b"").decode("utf-8", "replace"),
        seconds,
        usage.ru_maxrss // 1024,
    )
