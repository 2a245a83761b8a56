"""A scenario's stores and server, made ready while the one before it is probed.

A catalogue run does, per scenario: build the PKI and stores, start the local
server, read the stores back (the diagnosis's evidence), then probe with each
engine. The probe mostly waits: on the JVM (the jsse engine), or on OpenSSL
in the handshake; the building is Python and Rust work on the other core.
``Ahead`` prepares the *next* scenario in one background thread while the
current one is probed by a JVM, so on two cores the two overlap (issue 15:
the catalogue's marginal cost per scenario). Beside a python probe it is not
used: both sides of that handshake are this process's Python too, and the
two threads would only take turns at the GIL. At most one scenario is prepared
ahead; whatever was prepared and not used (``-x``, an interrupted run) is
stopped and removed when the session ends.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import StoreError

if TYPE_CHECKING:
    from harness.build import Built
    from harness.scenario import Scenario
    from harness.server import LocalServer
    from harness.stores import StoreContents

__all__ = ["Ahead", "Prepared", "discard", "prepare"]


@dataclass
class Prepared:
    built: Built
    server: LocalServer
    keystore: StoreContents | None
    truststore: StoreContents | None
    folder: Path
    keep: bool


def prepare(scenario: Scenario, keep: str | None) -> Prepared:
    """Build ``scenario``'s files, start its server and read its stores back (with their real passwords)."""
    from harness.build import write_scenario_files
    from harness.files import scratch_dir
    from harness.server import LocalServer

    if keep:
        folder = Path(keep) / scenario.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix=f"mtls-{scenario.name}-", dir=scratch_dir()))
    try:
        # A throwaway folder needs no fsync (7 ms a scenario on a busy disk); a kept one does.
        built = write_scenario_files(scenario, folder, durable=bool(keep))
        server = LocalServer(built.server)
        server.start()
    except BaseException:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return Prepared(
        built,
        server,
        _contents(built.keystore, scenario.keystore.password, "keystore"),
        _contents(built.truststore, scenario.truststore.password, "truststore"),
        folder,
        bool(keep),
    )


def discard(prepared: Prepared) -> None:
    prepared.server.stop()
    if not prepared.keep:
        # The folder holds key material: never left behind.
        shutil.rmtree(prepared.folder, ignore_errors=True)


def _contents(path: Path, password: object, role: object) -> StoreContents | None:
    """The store as it really is (opened with its real password), for the diagnosis."""
    from harness.stores import read_store

    try:
        return read_store(path, password, role)  # type: ignore[arg-type]
    except StoreError:
        return None


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
