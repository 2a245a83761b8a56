"""Run one scenario: build its files, start its local server, probe it with an engine, read the stores back, diagnose.

:func:`run_scenario` is the whole of it, for one scenario and one engine (the
test suite's ``run_scenario`` fixture, ``reproduce``). The catalogue (the
pytest plugin) does the same in two steps, because one scenario's server
answers each of its engines: :func:`prepare` builds the files, starts the
server and reads the stores back once, :func:`probe_prepared` probes it with
one engine and diagnoses, :func:`discard` stops and removes it.

A catalogue run's probe mostly waits: on the JVM (the jsse engine), or on
OpenSSL in the handshake; the building is Python and Rust work on the other
core. ``Ahead`` prepares the *next* scenario in one background thread while
the current one is probed by a JVM, so on two cores the two overlap (issue 15:
the catalogue's marginal cost per scenario). Beside a python probe it is not
used: both sides of that handshake are this process's Python too, and the
two threads would only take turns at the GIL. At most one scenario is prepared
ahead; whatever was prepared and not used (``-x``, an interrupted run) is
stopped and removed when the session ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.build import Built, probe_for, write_scenario_files
from harness.diagnose import Verdict, diagnose, reaches_ca_names, scenario_evidence
from harness.engines import Engine, Outcome
from harness.errors import StoreError
from harness.files import scratch_dir
from harness.pki import shared_material
from harness.scenario import Scenario, load_scenario
from harness.secret import Secret
from harness.server import HandshakeRecord, LocalServer, RequestRecord
from harness.server.ca_names import unavailable_reason
from harness.stores import Role, StoreContents, WrittenStore, read_store_as_written

__all__ = [
    "Ahead",
    "Prepared",
    "ScenarioRun",
    "ca_names_off",
    "discard",
    "prepare",
    "probe_prepared",
    "read_back",
    "run_scenario",
]

# How long to wait for the server's record of a handshake the client saw end: the catalogue's items waited 3 s, a
# scenario run on its own (the test suite, reproduce) 5 s. The server files its record as the handshake ends; the
# client can return a moment earlier.
_RECORD_WAIT = 3.0
_RECORD_WAIT_ALONE = 5.0


@dataclass
class Prepared:
    built: Built
    server: LocalServer
    keystore: StoreContents | None
    truststore: StoreContents | None
    folder: Path
    keep: bool


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario probed by one engine: what the engine saw, what the server recorded, the diagnosis."""

    scenario: Scenario
    built: Built
    outcome: Outcome
    record: HandshakeRecord | None
    verdict: Verdict
    # The requests the server answered; filled once the server has stopped (run_scenario), else empty.
    requests: tuple[RequestRecord, ...] = ()

    @property
    def java_version(self) -> str | None:
        """The JDK that made a jsse probe ("21.0.8"); None for the python engine."""
        return self.outcome.java_version if self.outcome.engine == "jsse" else None

    @property
    def expected(self) -> str:
        """The outcome code the scenario's ``[expect]`` gives for this engine (and JDK)."""
        return self.scenario.expect.for_engine(self.outcome.engine, self.java_version)


def prepare(scenario: Scenario, keep: str | None) -> Prepared:
    """Build ``scenario``'s files, start its server and read its stores back (with their real passwords).

    ``keep``: a folder to keep the files in, under the scenario's name; None: a scratch folder ``discard`` removes.
    """
    if keep:
        folder = Path(keep) / scenario.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix=f"mtls-{scenario.name}-", dir=scratch_dir()))
    return _prepare_in(scenario, folder, keep=bool(keep))


def _prepare_in(scenario: Scenario, folder: Path, *, keep: bool) -> Prepared:
    try:
        # A throwaway folder needs no fsync (7 ms a scenario on a busy disk); a kept one does.
        # Issue once per run: a [pki] table already issued in this run is reused (harness.pki.shared).
        built = write_scenario_files(scenario, folder, durable=keep, material=shared_material(scenario))
        server = LocalServer(built.server)
        server.start()
    except BaseException:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return Prepared(
        built,
        server,
        read_back(built.keystore, scenario.keystore.password, "keystore", built.keystore_written),
        read_back(built.truststore, scenario.truststore.password, "truststore", built.truststore_written),
        folder,
        keep,
    )


def discard(prepared: Prepared) -> None:
    prepared.server.stop()
    if not prepared.keep:
        # The folder holds key material: never left behind.
        shutil.rmtree(prepared.folder, ignore_errors=True)


def read_back(path: Path, password: Secret, role: Role, written: WrittenStore | None = None) -> StoreContents | None:
    """The store as it really is (opened with its real password), for the diagnosis; None when it does not open.

    ``written``: the store as this process wrote it (``Built.keystore_written``): its contents are taken from
    memory, not parsed again, while the file holds the bytes written (issue 26).
    """
    try:
        return read_store_as_written(path, password, role, written)
    except StoreError:
        return None


def probe_prepared(
    scenario: Scenario, prepared: Prepared, engine: Engine, *, record_wait: float = _RECORD_WAIT
) -> ScenarioRun:
    """Probe the prepared scenario's server with ``engine`` and diagnose the outcome.

    The server's failure (the java persona's JVM gone) is raised: the server, not the destination, gave way, and
    there is no verdict to give.
    """
    server = prepared.server
    mark = len(server.handshakes)  # the server answers each of the scenario's engines in turn
    outcome = engine.probe(probe_for(scenario, prepared.built, server.url))
    if (failed := server.failure) is not None:
        raise failed
    record = None
    if outcome.stage in ("handshake", "http", "done"):
        # The server files its record as the handshake ends; the client can return a moment earlier. Bounded wait.
        records = server.wait_for_handshakes(mark + 1, timeout=record_wait)
        record = records[mark] if len(records) > mark else None
    evidence = scenario_evidence(
        scenario,
        prepared.built.material,
        keystore=prepared.keystore,
        truststore=prepared.truststore,
        handshake=record,
    )
    return ScenarioRun(scenario, prepared.built, outcome, record, diagnose(outcome, evidence))


def run_scenario(scenario: Scenario | Path, engine: Engine, *, folder: Path | None = None) -> ScenarioRun:
    """Build, serve, probe with ``engine``, read back and diagnose one scenario (a file or a loaded one).

    ``folder``: where the built files go, and stay (a test's own folder); by default a scratch folder, removed.
    The server is stopped before this returns, so its ``requests`` are all there.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if folder is None:
        prepared = prepare(scenario, None)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        prepared = _prepare_in(scenario, folder, keep=True)
    try:
        result = probe_prepared(scenario, prepared, engine, record_wait=_RECORD_WAIT_ALONE)
    finally:
        discard(prepared)
    # The app files a request after answering it; stopping the server (joining its thread) settles the list.
    return dataclasses.replace(result, requests=tuple(prepared.server.requests))


def ca_names_off(scenario: Scenario, prepared: Prepared, engine: str) -> str | None:
    """Why the server cannot advertise CA names, when this engine's outcome depends on them."""
    server = scenario.server
    if not server.ca_names or server.client_auth == "none" or (off := unavailable_reason()) is None:
        return None
    # Only the JDK chooses its certificate by the names (X509KeyManager), and
    # only a keystore with a choice to make, or a chain the names do not reach,
    # behaves differently without them: then JSSE would send any key entry.
    keystore = prepared.keystore
    if engine != "jsse" or keystore is None or not keystore.key_entries:
        return None
    names = [cert.subject for cert in prepared.built.material.client_cas]
    entries = keystore.key_entries
    if len(entries) > 1 or not all(reaches_ca_names(entry.chain, names) for entry in entries):
        return off
    return None


# -- scenarios prepared ahead ---------------------------------------------------------------

# While a scenario is prepared beside a probe, the server thread must still answer the JVM's handshake at once:
# Python hands the GIL over every 5 ms by default, and each of the server's turns in a handshake waited for it.
_SWITCH_BESIDE = 0.0005


def _prepare_beside(scenario: Scenario, keep: str | None) -> Prepared:
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, _SWITCH_BESIDE))
    try:
        return prepare(scenario, keep)
    finally:
        sys.setswitchinterval(before)


class Ahead:
    """Scenarios prepared in the background, by key (a scenario file's path), taken once."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._futures: dict[object, Future[Prepared]] = {}
        self._lock = threading.Lock()

    def start(self, key: object, scenario: Scenario, keep: str | None) -> None:
        with self._lock:
            if key in self._futures:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtls-ahead")
            self._futures[key] = self._executor.submit(_prepare_beside, scenario, keep)

    def take(self, key: object) -> Prepared | None:
        """The prepared scenario (waiting for it if still in the making), or None if none was started.

        An error in preparing it is raised here, in the scenario's own set-up.
        """
        with self._lock:
            future = self._futures.pop(key, None)
        return None if future is None else future.result()

    def close(self) -> None:
        with self._lock:
            futures, self._futures = list(self._futures.values()), {}
            executor, self._executor = self._executor, None
        for future in futures:
            # An unused preparation that failed has nothing to discard.
            with contextlib.suppress(Exception):
                discard(future.result())
        if executor is not None:
            executor.shutdown(wait=True)
