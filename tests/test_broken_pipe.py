"""A reader that leaves early (`mtls-harness explain ... | head`): a quiet exit 141, never a BrokenPipeError."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMAND = [sys.executable, "-m", "harness.cli.main"]
TEXT = "javax.net.ssl.SSLHandshakeException: Received fatal alert: unknown_ca"


@pytest.mark.parametrize("args", [["explain", TEXT], ["explain", "--json", TEXT]])
def test_a_closed_stdout_is_a_quiet_exit_141(args: list[str]) -> None:
    # The read end is closed before the interpreter has even started: every write meets EPIPE.
    proc = subprocess.Popen([*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode("utf-8", "replace")
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert err == ""


def test_an_open_stdout_twin_gets_the_whole_answer() -> None:
    done = subprocess.run([*COMMAND, "explain", TEXT], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "client-cert-untrusted" in done.stdout
    assert done.stderr == ""
