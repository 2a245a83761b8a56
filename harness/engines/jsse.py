"""The ``jsse`` engine: the JDK's own TLS stack, driven the way the platform drives it.

``java/MtlsProbe.java`` does the work (KeyStore, default KeyManagerFactory and
TrustManagerFactory, ``SSLContext("TLS")``, ``HttpsURLConnection``). Starting a
JVM costs far more than a handshake, so one long-lived JVM answers many probes
over a line protocol on stdin/stdout: one JSON object per line each way. The
passwords travel on that pipe only, never on a command line. Finding the JDK
and the command that runs the probe are ``harness.java.launch``'s.

The JVM's answers become typed facts (:class:`~harness.engines.Outcome`,
:class:`StoreReading`); what they mean is ``harness.diagnose``'s to say.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

from harness.engines import Outcome, Probe, Stage, StoreFailure, StoreProblem, redirect_location, server_seen
from harness.engines.jsse_stores import (
    JavaCert,
    JavaEntry,
    JavaStore,
    StageFailure,
    StoreReading,
    StoreRefused,
    read_store_bytes,
    reading_of,
)
from harness.engines.key_manager import (
    AliasAsk,
    AliasChoices,
    Converted,
    choices,
    choose_request,
    convert_request,
    converted,
    reply_error,
)
from harness.errors import EngineUnavailable
from harness.java.launch import NO_JDK, Jdk, Jvm, JvmFailure, JvmTimeout, find_jdk, launch_command
from harness.knowledge.java import Pkcs12Algorithms, pkcs12_algorithms
from harness.knowledge.tls import tls_version
from harness.secret import Secret

__all__ = [
    "JavaCert",
    "JavaEntry",
    "JavaStore",
    "JsseEngine",
    "StageFailure",
    "StoreReading",
    "StoreRefused",
    "encode_request",
    "read_store_bytes",
]

START_TIMEOUT = 60.0  # the source launcher compiles first; xdist workers start many JVMs at once
# The JVM applies probe.timeout to connect and again to each read; add room for
# loading stores and a busy machine before declaring the JVM hung.
MARGIN = 15.0
_STAGES: frozenset[str] = frozenset(get_args(Stage))
# What MtlsProbe.java's ``storeProblem`` can say about a store that would not open (its exception alone tells).
_JVM_STORE_PROBLEMS = frozenset({"password", "unreadable", "key-password"})
_JKS_MAGIC = (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce")  # JKS, JCEKS


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
        self._jvm: Jvm | None = None
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

    def _start(self) -> Jvm:
        env = os.environ if self._env is None else self._env
        jdk = self.jdk
        if jdk is None:
            raise EngineUnavailable(where="jsse", what=NO_JDK)
        argv = launch_command(jdk, env=env)
        try:
            jvm = Jvm(argv)
        except OSError as e:
            raise EngineUnavailable(where=str(jdk.java), what=f"cannot start: {e}") from None
        try:
            ready = jvm.read(lambda obj: obj.get("ready") is True, START_TIMEOUT)
        except BaseException as e:
            jvm.stop(kill=True)
            if not isinstance(e, JvmFailure):
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

    def _discard(self, jvm: Jvm | None, *, kill: bool) -> None:
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

    def _running(self) -> Jvm:
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
            try:
                stores = read_store_bytes(probe.keystore, "keystore"), read_store_bytes(probe.truststore, "truststore")
            except StoreRefused as refused:
                # The platform would not get past loading this store either; the JVM never sees it.
                return Outcome(
                    engine=self.name,
                    stage=refused.store,
                    error=str(refused),
                    error_type="StoreRefused",
                    store_failure=StoreFailure(refused.store, "unreadable"),
                    java_version=jvm.java_version,
                )
            self._next_id += 1
            request = encode_request(probe, self._next_id, stores)
            started = time.monotonic()
            deadline = probe.timeout * 2 + MARGIN
            try:
                reply = jvm.ask(request, deadline)
            except JvmTimeout:
                self._discard(jvm, kill=True)  # the next probe starts a fresh JVM
                return _too_slow(self.name, deadline, time.monotonic() - started, jvm.java_version)
            except JvmFailure as e:
                self._discard(jvm, kill=True)  # the next probe starts a fresh JVM
                # Not a TLS result: error_type says so. "connect" because nothing
                # is known to have got any further.
                return Outcome(
                    engine=self.name,
                    stage="connect",
                    error=f"jsse engine failure: {e}",
                    error_type="EngineFailure",
                    elapsed_ms=(time.monotonic() - started) * 1000,
                    java_version=jvm.java_version,
                )
            except BaseException:
                self._discard(jvm, kill=True)  # Ctrl-C: never leave an orphaned JVM
                raise
        outcome = _outcome(reply, stores, jvm.java_version)
        if outcome.stage == "http" and outcome.handshake_completed and outcome.error_type == "SocketTimeoutException":
            # The handshake completed, then the read ran out of the probe's timeout: a silent application.
            outcome = replace(outcome, timeout_s=probe.timeout)
        return outcome

    def load_stores(self, probe: Probe) -> StoreReading:
        """How this JDK reads the probe's keystore and truststore, opened as the platform opens them
        (``KeyStore.getInstance("JKS")``, ``getKey`` per key entry, SunX509 and PKIX managers), without
        connecting anywhere: ``check``'s judge of the stores. A store Python refuses is not sent."""
        data: dict[str, bytes] = {}
        refused: dict[str, JavaStore] = {}
        for role, path in (("keystore", probe.keystore), ("truststore", probe.truststore)):
            try:
                data[role] = read_store_bytes(path, role)  # type: ignore[arg-type]
            except StoreRefused as exc:
                refused[role] = JavaStore(exc.store, "unknown", refused=exc.reason)
                data[role] = b""
        with self._lock:
            jvm = self._running()
            self._next_id += 1
            stores = (data["keystore"], data["truststore"])
            request = {**encode_request(probe, self._next_id, stores), "loadOnly": True}
            try:
                reply = jvm.ask(request, probe.timeout + MARGIN)
            except JvmFailure as e:
                self._discard(jvm, kill=True)
                raise EngineUnavailable(where="jsse", what=f"jsse engine failure: {e}") from None
        return reading_of(reply, jvm.java_version, data, refused)

    def close(self) -> None:
        """End the JVM (stdin EOF, then kill after a grace period); probing again restarts it."""
        self._discard(None, kill=False)

    def __enter__(self) -> JsseEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def choose_alias(
        self, keystore: Path, password: Secret, asks: Sequence[AliasAsk], timeout: float = 30.0
    ) -> AliasChoices:
        """The alias this JDK's key manager (SunX509) chooses per ask (key types, CA names), and the aliases it
        could have chosen; no choices and the JDK's error when it cannot load the keystore. No network.
        The JVM gets the keystore's bytes, read within Python's bounds (StoreRefused otherwise), never its path."""
        data = read_store_bytes(keystore, "keystore")
        reply, version = self._ask_op(lambda n: choose_request(data, password, asks, n), timeout)
        found = choices(reply)
        return AliasChoices(version, found, None if found is not None else reply_error(reply))

    def convert_pkcs12(self, data: bytes, password: Secret, timeout: float = 30.0) -> tuple[Converted | None, str, str]:
        """The PKCS#12 ``data`` as this JDK reads it, written as JKS (``keytool -importkeystore``), why not
        (``storeProblem`` "password" or "unreadable", then the JDK's error; "" when converted), and the
        JDK's version."""
        reply, version = self._ask_op(lambda n: convert_request(data, password, n), timeout)
        found = converted(reply)
        problem = str(reply.get("storeProblem") or "unreadable")
        return found, "" if found is not None else f"{problem}: {reply_error(reply)}", version

    def _ask_op(self, request: Callable[[int], dict[str, Any]], timeout: float) -> tuple[dict[str, Any], str]:
        with self._lock:
            jvm = self._running()
            self._next_id += 1
            try:
                return jvm.ask(request(self._next_id), timeout + MARGIN), jvm.java_version
            except JvmFailure as e:
                self._discard(jvm, kill=True)
                raise EngineUnavailable(where="jsse", what=f"jsse engine failure: {e}") from None


def encode_request(probe: Probe, request_id: int, stores: tuple[bytes, bytes] | None = None) -> dict[str, Any]:
    """The JSON request line for ``probe`` (it holds the passwords and the stores: never log it).

    The stores go as their bytes (``stores``, else read here with :func:`read_store_bytes`, which
    raises :class:`StoreRefused`): the JVM never opens a path Python has not checked.
    """
    if stores is None:
        stores = read_store_bytes(probe.keystore, "keystore"), read_store_bytes(probe.truststore, "truststore")
    versions = probe.tls_versions
    return {
        "id": request_id,
        "url": probe.url,
        "keystoreB64": base64.b64encode(stores[0]).decode("ascii"),
        "keystorePass": probe.keystore_password.reveal(),
        "truststoreB64": base64.b64encode(stores[1]).decode("ascii"),
        "truststorePass": probe.truststore_password.reveal(),
        "method": probe.method,
        "once": probe.once,
        "contentType": probe.content_type,
        "bodyB64": base64.b64encode(probe.message if probe.method == "POST" else b"").decode("ascii"),
        "protocols": None if versions is None else [_java_name(v) for v in versions],
        "ciphers": None if probe.ciphers is None else list(probe.ciphers),
        "timeoutMs": max(1, int(probe.timeout * 1000)),
    }


def _java_name(version: str) -> str:
    """jdk.tls.client.protocols' name of ``version`` ("1.2" -> "TLSv1.2"); a spelling it lacks goes as given."""
    found = tls_version(version)
    return found.name if found is not None else version


def _store_failure(reply: Mapping[str, Any], stores: tuple[bytes, bytes]) -> StoreFailure | None:
    """The store the JDK could not open and why, from the JVM's answer; for a wrong password, the file's
    PKCS#12 algorithms too (a Java that lacks them says "keystore password was incorrect")."""
    problem = cast(StoreProblem, _text(reply, "storeProblem"))
    stage = reply.get("stage")
    if problem not in _JVM_STORE_PROBLEMS or stage not in ("keystore", "truststore"):
        return None
    store = cast(Literal["keystore", "truststore"], stage)
    data = stores[0] if store == "keystore" else stores[1]
    return StoreFailure(store, problem, _pkcs12(data) if problem == "password" else None)


def _pkcs12(data: bytes) -> Pkcs12Algorithms | None:
    """The PKCS#12 algorithms of a store's bytes; None for a JKS or JCEKS."""
    return None if data[:4] in _JKS_MAGIC else pkcs12_algorithms(data)


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
        java_version=java_version,
        deadline_s=deadline,
    )


def _text(reply: Mapping[str, Any], key: str) -> str | None:
    value = reply.get(key)
    return value if isinstance(value, str) else None


def _facts(details: Mapping[str, Any]) -> dict[str, Any]:
    """The JVM's ``details`` (strings, see MtlsProbe.java) as the typed fields of :class:`Outcome`."""

    def number(key: str) -> int | None:
        value = details.get(key)
        return int(value) if isinstance(value, str) and value.isdigit() else None

    def flag(key: str) -> bool | None:
        value = details.get(key)
        return None if value is None else str(value) == "true"

    def names(key: str) -> tuple[str, ...] | None:
        value = details.get(key)
        return None if value is None else tuple(n for n in str(value).split("|") if n)

    def text(key: str) -> str | None:
        value = details.get(key)
        return None if value is None else str(value)

    requested = flag("client_cert_requested")
    chosen = text("chosen_alias")  # present when the server asked; "" when no key entry matched
    return {
        "keystore_type": text("keystore_type"),
        "truststore_type": text("truststore_type"),
        "key_aliases": names("key_aliases"),
        "truststore_certs": number("truststore_certs"),
        "truststore_key_entries": number("truststore_key_entries"),
        "trust_anchors": number("trust_anchors"),
        "handshake_completed": flag("handshake_completed"),
        "connections": number("connections"),
        "client_cert_requested": requested,
        "client_cert_sent": bool(chosen) if requested and chosen is not None else None,
        "chosen_alias": chosen or None,
        "ca_names_seen": names("ca_names_seen"),
        "key_types_asked": names("key_types_asked"),
        "body_error": text("body_error"),
    }


def _outcome(reply: Mapping[str, Any], stores: tuple[bytes, bytes], java_version: str) -> Outcome:
    facts = _facts(reply.get("details") or {})
    internal = reply.get("internalError")
    if internal:
        return Outcome(
            engine="jsse",
            stage="connect",
            error="\n".join(map(str, internal)),
            error_type="EngineFailure",
            java_version=java_version,
            **facts,
        )
    body = base64.b64decode(reply.get("bodyB64") or "")
    seen = server_seen(body)
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
        elapsed_ms=float(reply.get("elapsedMs") or 0.0),
        store_failure=_store_failure(reply, stores),
        response_body=body[:500].decode("utf-8", "replace") if seen is None and body else None,
        location=redirect_location(_text(reply, "location")),
        java_version=java_version,
        **facts,
    )
