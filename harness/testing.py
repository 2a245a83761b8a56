"""For your own tests: a scenario's stores, PEM files and running MTLS server, as values.

The pytest fixtures ``mtls_server`` and ``mtls_stores`` (``harness.fixtures``,
registered by the plugin) are thin over this module; without pytest::

    from harness.testing import build_stores, serve_scenario

    with serve_scenario("scenarios/partner.toml") as srv:
        my_client.post(srv.url, srv.destination.keystoreFile, srv.destination.keystorePass, ...)
        assert srv.records[0].accepted

Everything is built into a fresh temporary folder (key files 0600) that is
removed when the server stops or the stores are closed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from harness.build import Built, write_scenario_files
from harness.destination import Destination
from harness.files import write_atomic
from harness.run import read_back
from harness.scenario import Scenario, load_scenario
from harness.server import HandshakeRecord, LocalServer, RequestRecord

__all__ = ["Destination", "MtlsServer", "PemFiles", "Stores", "build_stores", "serve_scenario"]

_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class PemFiles:
    """The same identity for clients that read PEM, not JKS/PKCS#12.

    ``client_chain`` (leaf first, then its intermediates) and ``client_key``
    (PKCS#8, unencrypted, 0600) are the keystore's key entry, ``None`` when it
    has no key entry the keystore password opens, or more than one (which one
    a non-Java client would use is the question the scenario asks).
    ``server_ca`` holds the truststore's certificates (what the client should
    trust), ``None`` when the truststore does not open.
    """

    client_chain: Path | None
    client_key: Path | None
    server_ca: Path | None


@dataclass(frozen=True)
class Stores:
    """A scenario built into ``folder``: the stores, ``destination.json`` and the PEM files."""

    scenario: Scenario
    folder: Path
    destination: Destination
    destination_file: Path
    pem: PemFiles
    built: Built = field(repr=False)


@dataclass(frozen=True)
class MtlsServer(Stores):
    """A running scenario server; ``destination`` and ``destination_file`` carry its live URL."""

    server: LocalServer = field(repr=False, kw_only=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def records(self) -> list[HandshakeRecord]:
        """The server's handshake records so far, oldest first, each with ``accepted``."""
        return list(self.server.handshakes)

    @property
    def requests(self) -> list[RequestRecord]:
        """The HTTP requests the server answered so far."""
        return list(self.server.requests)

    def wait_for_records(self, count: int, timeout: float = 5.0) -> list[HandshakeRecord]:
        """The records once there are ``count`` (or what there is when ``timeout`` seconds have passed).

        A client can return a moment before the server files its record.
        """
        return self.server.wait_for_handshakes(count, timeout=timeout)


def _scenario(source: str | Path | Scenario, base: Path | None) -> Scenario:
    if isinstance(source, Scenario):
        return source
    path = Path(source)
    if not path.is_absolute() and base is not None and not path.exists():
        path = base / path
    return load_scenario(path)


def _pem_files(scenario: Scenario, built: Built, folder: Path) -> PemFiles:
    chain = key = server_ca = None
    keystore = read_back(built.keystore, scenario.keystore.password, "keystore")
    entries = keystore.key_entries if keystore is not None else ()
    if len(entries) == 1 and (private := entries[0].key) is not None:
        chain = folder / "client-chain.pem"
        write_atomic(chain, b"".join(c.public_bytes(_PEM) for c in entries[0].chain), private=False)
        key = folder / "client-key.pem"
        plain = serialization.NoEncryption()
        write_atomic(key, private.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, plain), private=True)
    truststore = read_back(built.truststore, scenario.truststore.password, "truststore")
    if truststore is not None and truststore.certificates:
        server_ca = folder / "server-ca.pem"
        write_atomic(server_ca, b"".join(c.public_bytes(_PEM) for c in truststore.certificates), private=False)
    return PemFiles(chain, key, server_ca)


def _destination(scenario: Scenario, built: Built, url: str) -> Destination:
    return Destination(
        built.keystore.resolve(),
        scenario.keystore.destination_password,
        built.truststore.resolve(),
        scenario.truststore.destination_password,
        url,
    )


def _build(scenario: Scenario, folder: Path) -> tuple[Built, PemFiles]:
    built = write_scenario_files(scenario, folder)
    pem_folder = folder / "pem"
    pem_folder.mkdir()
    return built, _pem_files(scenario, built, pem_folder)


@contextlib.contextmanager
def _folder(scenario: Scenario) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=f"mtls-{scenario.name}-"))
    try:
        yield folder
    finally:
        # Key material: never left behind.
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def build_stores(source: str | Path | Scenario, *, base: Path | None = None) -> Iterator[Stores]:
    """The scenario's stores, destination and PEM files, without a server (removed on exit).

    ``source`` is a scenario file (relative paths are tried in the current
    folder, then under ``base``) or a loaded :class:`~harness.scenario.Scenario`.
    ``destination.url`` is the one ``build`` writes (port 8443): nothing listens there.
    """
    scenario = _scenario(source, base)
    with _folder(scenario) as folder:
        built, pem = _build(scenario, folder)
        url = json.loads(built.destination.read_text("utf-8"))["url"]
        destination = _destination(scenario, built, url)
        destination.write(built.destination)
        yield Stores(scenario, folder, destination, built.destination, pem, built)


@contextlib.contextmanager
def serve_scenario(
    source: str | Path | Scenario,
    *,
    base: Path | None = None,
    handshake_timeout: float = 5.0,
    stop_timeout: float = 5.0,
) -> Iterator[MtlsServer]:
    """Build the scenario and run its server on 127.0.0.1 (an ephemeral port) until the block ends.

    Start-up is bounded by the server (10 s), stopping by ``stop_timeout``.
    """
    scenario = _scenario(source, base)
    with _folder(scenario) as folder:
        built, pem = _build(scenario, folder)
        server = LocalServer(built.server, handshake_timeout=handshake_timeout)
        server.start()
        try:
            destination = _destination(scenario, built, server.url)
            destination.write(built.destination)
            yield MtlsServer(scenario, folder, destination, built.destination, pem, built, server=server)
        finally:
            server.stop(timeout=stop_timeout)
