"""A silent application is its own finding (issue 24, point 2): ``http-timeout``, never a handshake failure.

A local TLS 1.3 server on 127.0.0.1 (its own thread, an ephemeral port, a client certificate required)
completes the handshake, reads the request and never answers. ``check --timeout 2`` through python and
JSSE (the Debian JDK 17) must say ``http-timeout``, exit 1, and never ``handshake-failed``. Its twins: the
same server answering 200 is ready; a server that drops the connection before any TLS is not http-timeout.

While a probe waits more than 2 s, ``check`` shows a progress line on stderr when stderr is a terminal
(run here under a pty), and nothing when it is not.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.build import Built, write_scenario_files
from harness.scenario import load_scenario
from tests.conftest import REPO, cli
from tests.redirect_servers import Mode, RecordingServer

IO_TIMEOUT = 30.0  # every accept, handshake and read of the server is bounded


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("ok-rsa")
    return write_scenario_files(load_scenario(REPO / "scenarios" / "ok-rsa.toml"), folder)


@contextlib.contextmanager
def serving(built: Built, mode: Mode) -> Iterator[RecordingServer]:
    """TLS 1.3 only, CERT_REQUIRED against the scenario's client CAs; ``mode`` says what it does after."""
    with RecordingServer(built.server, mode=mode, require_certificate=True, io_timeout=IO_TIMEOUT) as server:
        yield server


def check(built: Built, url: str, engine: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    jdk = ("--jdk", "17") if engine == "jsse" else ()
    done = cli(
        "check",
        str(built.destination),
        "--url",
        url,
        "--timeout",
        "2",
        "--engine",
        engine,
        *jdk,
        "--json",
        cwd=built.folder,
    )
    assert "Traceback" not in done.stderr
    return done, json.loads(done.stdout)


ENGINES = [pytest.param("python"), pytest.param("jsse", marks=pytest.mark.jdk)]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_silent_application_is_http_timeout(built: Built, engine: str) -> None:
    with serving(built, "silent") as server:
        done, doc = check(built, server.url, engine)
        assert server.seen.requests  # the handshake completed and the request arrived
    assert done.returncode == 1, done.stdout + done.stderr
    assert doc["ready"] is False
    codes = [f["code"] for f in doc["findings"]]
    assert "handshake-failed" not in codes, codes
    [finding] = [f for f in doc["findings"] if f["code"] == "http-timeout"]
    assert finding["severity"] == "error"
    assert "client certificate were accepted" in finding["message"]
    assert "within 2 s" in finding["message"]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_answering_server_is_ready(built: Built, engine: str) -> None:
    with serving(built, "answer") as server:
        done, doc = check(built, server.url, engine)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "http-timeout" not in [f["code"] for f in doc["findings"]]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_refused_handshake_is_not_http_timeout(built: Built, engine: str) -> None:
    with serving(built, "refuse") as server:
        done, doc = check(built, server.url, engine)
    assert done.returncode == 1, done.stdout + done.stderr
    codes = [f["code"] for f in doc["findings"] if f["severity"] == "error"]
    assert codes, doc
    assert "http-timeout" not in codes, codes


# -- the progress line ------------------------------------------------------------------------------


def check_with_stderr(built: Built, url: str, *, tty: bool) -> tuple[int, str]:
    """``check`` (python engine, --timeout 4) with stderr on a pty or a pipe: exit code and what stderr got."""
    args = [sys.executable, "-m", "harness.cli.main", "check", str(built.destination), "--url", url]
    args += ["--timeout", "4", "--engine", "python"]
    if not tty:
        done = subprocess.run(
            args, cwd=built.folder, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False
        )
        return done.returncode, done.stderr
    parent, child = pty.openpty()
    with subprocess.Popen(
        args, cwd=built.folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child
    ) as process:
        os.close(child)
        got = b""
        ends = time.monotonic() + 120
        while time.monotonic() < ends:
            readable, _, _ = select.select([parent], [], [], 1.0)
            if readable:
                try:
                    chunk = os.read(parent, 4096)
                except OSError:  # EIO: the child closed its end
                    break
                if not chunk:
                    break
                got += chunk
            elif process.poll() is not None:
                break
        os.close(parent)
        code = process.wait(timeout=60)
    return code, got.decode("utf-8", "replace")


def test_a_terminal_sees_the_wait(built: Built) -> None:
    with serving(built, "silent") as server:
        code, stderr = check_with_stderr(built, server.url, tty=True)
    assert code == 1
    assert re.search(rf"waiting for {re.escape(server.url)}: [2-9] s \(python\)", stderr), stderr
    assert "\r\033[K" in stderr[stderr.rindex("waiting for") :], stderr  # erased when done


def test_no_terminal_no_progress_line(built: Built) -> None:
    with serving(built, "silent") as server:
        code, stderr = check_with_stderr(built, server.url, tty=False)
    assert code == 1
    assert "waiting for" not in stderr, stderr
