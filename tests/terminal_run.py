"""``mtls-harness`` with its stdout or stderr a pseudo-terminal (``pty``), as a person at a terminal runs it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path


def run_on_terminal(args: list[str], cwd: Path, *, tty: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``mtls-harness ARGS``, ``tty`` ("stdout", "stderr" or "") a terminal."""
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | (env or {})
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli.main", *args],
            cwd=cwd, env=environment, stdin=subprocess.DEVNULL,
            stdout=follower if tty == "stdout" else subprocess.PIPE,
            stderr=follower if tty == "stderr" else subprocess.PIPE,
            timeout=300, check=False,
        )  # fmt: skip
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        seen = b"".join(chunks).decode("utf-8", "replace")
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    out = seen if tty == "stdout" else done.stdout.decode("utf-8", "replace")
    err = seen if tty == "stderr" else done.stderr.decode("utf-8", "replace")
    return done.returncode, out, err
