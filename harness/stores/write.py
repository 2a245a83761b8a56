"""The bytes of a store to write: a scenario's keystore or truststore, or the go-live ones built from a key pair."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

from harness.errors import StoreError
from harness.pki import Material
from harness.scenario import StoreSpec
from harness.secret import Secret
from harness.stores.entries import KeyEntry, Role
from harness.stores.jks import jks_bytes
from harness.stores.pkcs12 import pkcs12_bytes
from harness.stores.read import store_file_bytes

__all__ = ["alias_for", "keystore_bytes", "scenario_store_bytes", "truststore_bytes"]


def scenario_store_bytes(spec: StoreSpec, material: Material, role: Role) -> bytes:
    """The bytes of a scenario's keystore or truststore, damaged if the scenario says so."""
    if spec.file is not None:
        return store_file_bytes(spec.file, str(spec.file), role)
    keys = [
        (e.alias, material.issued[e.private_key or e.key].key, [material.cert(n) for n in e.chain])
        for e in spec.key_entries
    ]
    certs = [(e.alias, material.cert(e.cert)) for e in spec.cert_entries]
    if spec.format == "jks":
        data = jks_bytes(keys, certs, spec.password, spec.key_password)
    else:
        if len(keys) > 1 or (keys and certs):
            raise StoreError(
                role,
                "a PKCS#12 keystore is generated with one key entry and no other entries",
                'use format = "jks" for several entries',
                code="store-unreadable",
            )
        data = pkcs12_bytes(
            keys[0] if keys else None, certs, spec.password, spec.pkcs12_encryption, java_trusted=spec.java_trusted
        )
    if spec.corrupt == "truncate":
        return data[: len(data) // 2]
    if spec.corrupt == "garbage":
        # Not a store at all: what an HTML error page saved as ".jks" looks like.
        return b"<html><body>404 Not Found</body></html>\n" + os.urandom(256)
    return data


def keystore_bytes(entry: KeyEntry, alias: str, fmt: Literal["jks", "pkcs12"], password: Secret) -> bytes:
    """One PrivateKeyEntry with its full chain, key password = store password (the platform's rule)."""
    assert entry.key is not None
    if fmt == "jks":
        return jks_bytes([(alias, entry.key, entry.chain)], [], password)
    return pkcs12_bytes((alias, entry.key, entry.chain), [], password)


def truststore_bytes(
    certs: Sequence[tuple[str, x509.Certificate]], fmt: Literal["jks", "pkcs12"], password: Secret
) -> bytes:
    if fmt == "jks":
        return jks_bytes([], certs, password)
    return pkcs12_bytes(None, certs, password)


def alias_for(cert: x509.Certificate, taken: set[str]) -> str:
    """A keytool-style alias from the certificate's CN (or O), lower case, unique among ``taken``."""

    names = (
        cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        or cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        or cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )
    base = re.sub(r"[^a-z0-9]+", "-", str(names[0].value).lower()).strip("-") if names else "cert"
    alias, n = base or "cert", 2
    while alias in taken:
        alias, n = f"{base}-{n}", n + 1
    taken.add(alias)
    return alias
