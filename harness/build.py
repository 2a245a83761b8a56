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
appears complete or not at all. A SIGKILL mid-build can leave that hidden
staging folder (``.DIR.XXXXXXXX``, or ``.DIR.old.XXXXXXXX`` while ``--force``
swaps, 0700, with key material) behind; the next build into DIR removes such
folders older than ``harness.files.STALE_SECONDS`` (``remove_stale_staging``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

import harness.files
from harness.destination import Destination
from harness.engines import Probe
from harness.errors import UsageError
from harness.files import write_atomic
from harness.pki import Material, build_material
from harness.scenario import Scenario
from harness.server import POLICY_FILE, ServerFiles, ServerPolicy
from harness.stores import scenario_store_bytes

__all__ = ["Built", "build_scenario", "probe_for", "remove_stale_staging", "write_scenario_files"]

DEFAULT_PORT = 8443


@dataclass(frozen=True)
class Built:
    folder: Path
    keystore: Path
    truststore: Path
    destination: Path
    server: ServerFiles
    material: Material = field(repr=False)


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
    keystore = folder / f"keystore{scenario.keystore.extension}"
    truststore = folder / f"truststore{scenario.truststore.extension}"
    put(keystore, scenario_store_bytes(scenario.keystore, material, "keystore"), private=True)
    put(truststore, scenario_store_bytes(scenario.truststore, material, "truststore"), private=True)
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
    return Built(folder, keystore, truststore, destination, files, material)


def build_scenario(scenario: Scenario, out: Path, *, port: int = DEFAULT_PORT, force: bool = False) -> Built:
    """Build into ``out``: refused if it holds anything, unless ``force``; never half-written."""
    if out.is_symlink():
        # Written through, the link's destination would be filled (or, with --force, replaced).
        raise UsageError(str(out), "is a symbolic link; nothing is written through it", "give the real folder as --out")
    if out.exists() and not out.is_dir():
        raise UsageError(str(out), "exists and is not a folder", "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(str(out), "is not empty", "choose another --out, or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _staging(out) as staging:
        built = write_scenario_files(scenario, staging, port=port)
        _swap_into_place(staging, out)
    return Built(
        out,
        out / built.keystore.name,
        out / built.truststore.name,
        out / built.destination.name,
        ServerFiles.from_dir(out / "server"),
        built.material,
    )


# mkdtemp's names: the prefix, then 8 characters of its alphabet (tempfile._RandomNameSequence).
_MKDTEMP_TAIL = "[a-z0-9_]{8}"


def _staging_names(out: Path) -> re.Pattern[str]:
    """The names ``_staging`` and ``_swap_into_place`` give their folders beside ``out``, and no other."""
    prefix = re.escape(f".{out.name}.")
    return re.compile(f"{prefix}(?:old\\.)?{_MKDTEMP_TAIL}")


def remove_stale_staging(out: Path) -> list[Path]:
    """Remove the staging folders a killed ``build`` into ``out`` left beside it; the paths removed.

    Only folders older than STALE_SECONDS (not another build's work in
    progress), not symbolic links, owned by this user, and named exactly as
    ``_staging`` / ``_swap_into_place`` name them (``.OUT.XXXXXXXX``,
    ``.OUT.old.XXXXXXXX``): anything else beside ``out`` is left alone.
    shutil.rmtree never follows a link inside the folder.
    """
    names = _staging_names(out)
    cutoff = time.time() - harness.files.STALE_SECONDS
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(out.parent):
            if not names.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if info.st_uid == os.getuid() and info.st_mtime < cutoff:
                    shutil.rmtree(entry.path)
                    removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    # A SIGKILL mid-build leaves the staging folder (with key material) behind: the next build clears it.
    remove_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield staging
    finally:
        # Gone after a successful rename; removed with its key material otherwise.
        shutil.rmtree(staging, ignore_errors=True)


def _swap_into_place(staging: Path, out: Path) -> None:
    if not out.exists() or not any(out.iterdir()):
        # rename(2) replaces an empty folder atomically.
        os.replace(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    os.replace(out, old / "previous")
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def probe_for(scenario: Scenario, built: Built, url: str) -> Probe:
    """The probe the platform would send for this built scenario (with destination.json's passwords)."""
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
    )
