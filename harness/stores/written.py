"""Stores the harness wrote itself, in this process: what reading each one back gives, kept in memory.

Issue 26, "trust what the harness itself wrote" (docs/speed.md). When a
scenario's store is written plainly (generated from its ``[pki]``, with no
deliberate damage), the key and the chain it holds are the material just
written: reading the file back with the store's password gives exactly
:func:`written_contents` (tests/test_written_stores.py proves it for every
catalogue scenario in both formats, and the keytool of each JDK reads the
files). A :class:`WrittenStore` hands those contents out only while the file
still holds the bytes written and only for the password it was written with;
anything else reads the disk, as for a store the user gave.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from harness.errors import StoreError
from harness.pki import Material, PrivateKey
from harness.scenario import KeyEntrySpec, StoreSpec
from harness.secret import Secret
from harness.stores.entries import CertEntry, KeyEntry, Role, StoreContents, chain_from, parsed, usable_key
from harness.stores.read import read_store, store_file_bytes

__all__ = ["WrittenStore", "read_store_as_written", "why_read_from_disk", "written_contents"]


@dataclass(frozen=True)
class WrittenStore:
    """A store file this process wrote plainly: the digest of its bytes, its password, what reading it back gives."""

    path: Path
    sha256: bytes = field(repr=False)
    password: Secret = field(repr=False)
    contents: StoreContents = field(repr=False)

    @classmethod
    def of(cls, path: Path, data: bytes, password: Secret, contents: StoreContents) -> WrittenStore:
        return cls(path, hashlib.sha256(data).digest(), password, contents)

    def contents_for(self, path: Path, password: Secret) -> StoreContents | None:
        """The contents kept, when ``path`` still holds the bytes written and ``password`` is the one written with.

        None otherwise (another file, another password, a file changed or gone since): read the disk.
        """
        if path != self.path or password != self.password:
            return None
        try:
            data = store_file_bytes(path, str(path), "keystore")
        except StoreError:
            return None
        return self.contents if hashlib.sha256(data).digest() == self.sha256 else None


def read_store_as_written(path: Path, password: Secret, role: Role, written: WrittenStore | None) -> StoreContents:
    """``read_store``, unless ``written`` still vouches for the file and the password: then its contents."""
    if written is not None and (contents := written.contents_for(path, password)) is not None:
        return contents
    return read_store(path, password, role)


def why_read_from_disk(spec: StoreSpec) -> str | None:
    """Why this scenario store is not written plainly, so its contents are read from disk; None when it is plain."""
    if spec.file is not None:
        return "an existing store file (the user's)"
    if spec.corrupt is not None:
        return f"damaged on purpose (corrupt = {spec.corrupt!r})"
    if spec.key_password != spec.password:
        return "its key password differs from the store password"
    if spec.destination_password != spec.password:
        return "destination.json gives another password"
    if spec.format == "pkcs12" and not spec.java_trusted:
        return "written as OpenSSL writes it, without Java's trusted-certificate attribute"
    aliases = [e.alias for e in spec.key_entries] + [e.alias for e in spec.cert_entries]
    if spec.format == "jks" and any(alias != alias.lower() for alias in aliases):
        return "a JKS alias in upper case"
    return None


def written_contents(spec: StoreSpec, material: Material, path: Path) -> StoreContents | None:
    """What ``read_store(path, spec.password)`` gives for the store ``scenario_store_bytes`` wrote; None if not plain.

    Mirrors the readers (harness.stores.jks, .pkcs12) for what the writers put in: JKS keeps every entry as
    written, key entries first; PKCS#12 holds one key entry whose chain is rebuilt by issuer names, or trusted
    certificates. Anything the readers would rebuild differently (a chain out of issuer order, an empty alias)
    is left to the disk.
    """
    if why_read_from_disk(spec) is not None:
        return None
    aliases = [e.alias for e in spec.key_entries] + [e.alias for e in spec.cert_entries]
    keys = [
        KeyEntry(e.alias, tuple(material.cert(n) for n in e.chain), usable_key(_stored_key(material, e)))
        for e in spec.key_entries
    ]
    certs = [CertEntry(e.alias, material.cert(e.cert)) for e in spec.cert_entries]
    if not all(aliases) or any(k.key is None or not k.chain for k in keys):
        return None
    if spec.format == "pkcs12":
        if len(keys) > 1 or (keys and certs):
            return None  # refused by the writer
        if keys and chain_from(keys[0].chain[0], keys[0].chain[1:]) != keys[0].chain:
            return None
        if keys and len({c.fingerprint(hashes.SHA256()) for c in keys[0].chain}) != len(keys[0].chain):
            return None
    try:
        # What every reader checks once: each certificate parses, each leaf's key loads.
        for cert in (*(c for k in keys for c in k.chain), *(c.cert for c in certs)):
            parsed(cert)
        for key in keys:
            key.chain[0].public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    return StoreContents(path, spec.format, tuple(keys), tuple(certs))


def _stored_key(material: Material, entry: KeyEntrySpec) -> PrivateKey:
    """The private key a key entry stores: its own, or another [pki] name's (``private_key``, key-cert-mismatch)."""
    return material.issued[entry.private_key or entry.key].key
