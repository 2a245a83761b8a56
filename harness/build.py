"""A scenario made concrete on disk: stores, destination.json and the server's files.

Layout of a built folder (what ``mtls-harness build SCENARIO --out DIR`` writes)::

    DIR/keystore.jks | keystore.p12    the platform's keystoreFile (0600)
    DIR/truststore.jks | truststore.p12  the platform's truststoreFile (0600)
    DIR/destination.json               url, keystoreFile, keystorePass, truststoreFile, truststorePass (0600)
    DIR/server/chain.pem               the server certificate chain as it is sent
    DIR/server/key.pem                 the server's private key (0600)
    DIR/server/client-cas.pem          the CAs the server trusts for client certificates
    DIR/server/server.json             the server's policy

The folder is assembled beside its destination and renamed into place, so it
appears complete or not at all (``harness.files.claimed_folder``: one writer at
a time; a staging folder a SIGKILL left is removed by the next build into DIR).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from harness.destination import Destination
from harness.engines import Probe
from harness.files import claimed_folder, write_atomic
from harness.pki import Material, build_material
from harness.scenario import Scenario, StoreSpec
from harness.server import POLICY_FILE, ServerFiles, ServerPolicy
from harness.stores import Role, WrittenStore, scenario_store_bytes, written_contents

__all__ = ["Built", "build_scenario", "probe_for", "write_scenario_files"]

DEFAULT_PORT = 8443


@dataclass(frozen=True)
class Built:
    folder: Path
    keystore: Path
    truststore: Path
    destination: Path
    server: ServerFiles
    material: Material = field(repr=False)
    # What reading each store back gives, kept from the writing (issue 26): None for a store not written
    # plainly (damaged on purpose, the user's own file, a key password or destination password that differs),
    # and for a folder handed to the user (build_scenario), which is read from disk as any user's store.
    keystore_written: WrittenStore | None = field(default=None, repr=False)
    truststore_written: WrittenStore | None = field(default=None, repr=False)


def write_scenario_files(
    scenario: Scenario,
    folder: Path,
    *,
    port: int = DEFAULT_PORT,
    material: Material | None = None,
    durable: bool = True,
) -> Built:
    """Write every file of a built scenario into ``folder`` (which must exist).

    ``durable=False`` for a throwaway folder (a catalogue run's): no fsync per file.
    """

    def put(path: Path, data: bytes, *, private: bool) -> None:
        write_atomic(path, data, private=private, durable=durable)

    material = material or build_material(scenario)

    def put_store(spec: StoreSpec, role: Role) -> tuple[Path, WrittenStore | None]:
        path = folder / f"{role}{spec.extension}"
        data = scenario_store_bytes(spec, material, role)
        put(path, data, private=True)
        contents = written_contents(spec, material, path)
        return path, None if contents is None else WrittenStore.of(path, data, spec.password, contents)

    keystore, keystore_written = put_store(scenario.keystore, "keystore")
    truststore, truststore_written = put_store(scenario.truststore, "truststore")
    url = f"https://127.0.0.1:{port}{scenario.server.path}"
    destination = folder / "destination.json"
    Destination(
        keystore, scenario.keystore.destination_password, truststore, scenario.truststore.destination_password, url
    ).write(destination, relative=True, durable=durable)
    server_dir = folder / "server"
    server_dir.mkdir(exist_ok=True)
    pem = serialization.Encoding.PEM
    put(server_dir / "chain.pem", b"".join(c.public_bytes(pem) for c in material.server_chain), private=False)
    key_pem = material.server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    put(server_dir / "key.pem", key_pem, private=True)
    client_cas = None
    if material.client_cas:
        client_cas = server_dir / "client-cas.pem"
        put(client_cas, b"".join(c.public_bytes(pem) for c in material.client_cas), private=False)
    spec = scenario.server
    policy = ServerPolicy(
        spec.client_auth,
        spec.ca_names,
        spec.tls_versions,
        spec.path,
        spec.status,
        persona=spec.persona,
        rejection=spec.rejection,
        client_cert_request=spec.client_cert_request,
        verify_depth=spec.verify_depth,
        check_client_names=spec.check_client_names,
    )
    files = ServerFiles(server_dir / "chain.pem", server_dir / "key.pem", client_cas, policy)
    put(server_dir / POLICY_FILE, files.policy_json().encode(), private=False)
    return Built(folder, keystore, truststore, destination, files, material, keystore_written, truststore_written)


def build_scenario(scenario: Scenario, out: Path, *, port: int = DEFAULT_PORT, force: bool = False) -> Built:
    """Build into ``out``: refused if it holds anything, unless ``force``; never half-written.

    Claimed, staged and committed by ``harness.files.claimed_folder``: a second
    build into the same ``out`` at the same time is refused, and ``--force``
    never deletes the scenario's own inputs (its file, the stores it names).
    """
    inputs = [scenario.path, *(s.file for s in (scenario.keystore, scenario.truststore) if s.file is not None)]
    out = Path(os.path.abspath(out))
    with claimed_folder(out, option="--out", force=force, inputs=inputs) as staging:
        built = write_scenario_files(scenario, staging, port=port)
    return Built(
        out,
        out / built.keystore.name,
        out / built.truststore.name,
        out / built.destination.name,
        ServerFiles.from_dir(out / "server"),
        built.material,
    )


def probe_for(scenario: Scenario, built: Built, url: str) -> Probe:
    """The probe the platform would send for this built scenario (with destination.json's passwords).

    It carries the stores as written (``Built.keystore_written``): the python engine takes their contents
    from memory while the files are unchanged and the passwords are the ones written with.
    """
    return Probe(
        url=url,
        keystore=built.keystore,
        keystore_password=scenario.keystore.destination_password,
        truststore=built.truststore,
        truststore_password=scenario.truststore.destination_password,
        message=scenario.client.message.encode(),
        content_type=scenario.client.content_type,
        tls_versions=scenario.client.tls_versions,
        ciphers=scenario.client.ciphers,
        keystore_written=built.keystore_written,
        truststore_written=built.truststore_written,
    )
