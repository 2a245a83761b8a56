"""Opening a store as the platform would: its bytes bounded, its type by content, its password."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm

from harness.errors import StoreError
from harness.limits import STORE_BYTES, NotARegularFile, TooLarge, read_bounded
from harness.secret import Secret
from harness.stores.detect import detect_type
from harness.stores.entries import KeyEntry, Role, StoreContents
from harness.stores.jks import read_jks
from harness.stores.pem import read_pem
from harness.stores.pkcs12 import read_pkcs12
from harness.stores.refusals import damaged_entry, unsupported

__all__ = ["load_key_pair", "read_store", "store_file_bytes"]


def read_store(path: Path, password: Secret, role: Role, *, label: str | None = None) -> StoreContents:
    """Open a store as the platform would, with its store password.

    Raises StoreError with code ``store-unreadable`` or ``<role>-password-wrong``.
    A key entry the store password cannot open is returned locked (``key`` None):
    whether that is fatal is the caller's decision.
    """
    where = label or str(path)
    data = store_file_bytes(path, where, role)
    # The same bytes opened with the same password read the same: a catalogue run opens each store twice
    # (the diagnosis with the real password, the engine with destination.json's), PKCS#12 at ~40 ms a time.
    # Keyed by a digest: no password is kept in clear. Errors are not cached (raised anew each time).
    digest = hashlib.sha256("\0".join((role, where, password.reveal(), "")).encode("utf-8", "surrogatepass"))
    digest.update(data)
    key = digest.digest()
    cached = _READ_CACHE.get(key)
    if cached is not None and cached.path == path:
        return cached
    contents = _read_store_bytes(path, data, password, role, where)
    if len(_READ_CACHE) >= _READ_CACHE_SIZE:
        _READ_CACHE.pop(next(iter(_READ_CACHE)))
    _READ_CACHE[key] = contents
    return contents


_READ_CACHE: dict[bytes, StoreContents] = {}
_READ_CACHE_SIZE = 64


def _read_store_bytes(path: Path, data: bytes, password: Secret, role: Role, where: str) -> StoreContents:
    contents = _contents(path, data, password, role, where)
    for entry in contents.key_entries:
        # Certificates parse lazily and their keys load on first use: a leaf on a curve cryptography cannot
        # load (secp112r1) is named here, once, not raised later by whatever compares or judges its key.
        try:
            if entry.chain:
                entry.chain[0].public_key()
        except (UnsupportedAlgorithm, ValueError) as exc:
            raise damaged_entry(where, contents.type, role, entry.alias, unsupported(exc)) from None
    return contents


def _contents(path: Path, data: bytes, password: Secret, role: Role, where: str) -> StoreContents:
    kind = detect_type(data)
    if kind in ("jks", "jceks"):
        return read_jks(path, data, kind, password, role, where)
    if kind == "pkcs12":
        return read_pkcs12(path, data, password, role, where)
    if kind == "pem":
        return read_pem(path, data, password, role, where)
    raise StoreError(
        where,
        f"not a keystore (neither JKS, JCEKS, PKCS#12 nor PEM; {len(data)} bytes)",
        f"re-create the {role} or point {role}File at the right file",
        code="store-unreadable",
    )


def store_file_bytes(path: Path, where: str, role: Role) -> bytes:
    """A store file's bytes, bounded: never a FIFO, device or directory, never above STORE_BYTES."""
    try:
        return read_bounded(path, STORE_BYTES)
    except FileNotFoundError:
        raise StoreError(where, "no such file", f"check {role}File", code="store-unreadable") from None
    except NotARegularFile as exc:
        raise StoreError(where, str(exc), f"point {role}File at the store file", code="store-unreadable") from None
    except TooLarge as exc:
        fix = f"point {role}File at the store file"
        raise StoreError(where, f"not read: {exc}", fix, code="store-unreadable", bounded=True) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            fix = f"point {role}File at the store file itself"
            raise StoreError(where, "is a symbolic link loop, not a file", fix, code="store-unreadable") from None
        raise StoreError(
            where, f"cannot read: {exc.strerror}", "check the file's permissions", code="store-unreadable"
        ) from None


def load_key_pair(path: Path, password: Secret) -> KeyEntry:
    """The one key entry of a PKCS#12 file (``KeyPair.p12``), with its chain, opened by ``password``."""
    try:
        kind = detect_type(read_bounded(path, STORE_BYTES))
    except (OSError, TooLarge):
        kind = "unknown"  # read_store below says why
    if kind in ("jks", "jceks", "pem"):
        # Named before any password is tried: "wrong password" would mislead.
        what, fix = f"is a {kind.upper()} file, not PKCS#12", "give the KeyPair.p12 your CA issued"
        raise StoreError(str(path), what, fix, code="store-type-mismatch")
    try:
        contents = read_store(path, password, "keystore")
    except StoreError as exc:
        if exc.code == "keystore-password-wrong":
            raise StoreError(
                str(path),
                "the password does not open this PKCS#12 file",
                "give the password it was exported with",
                code=exc.code,
            ) from None
        raise
    if contents.type != "pkcs12":
        raise StoreError(
            str(path),
            f"is a {contents.type.upper()} file, not PKCS#12",
            "give the KeyPair.p12 your CA issued",
            code="store-type-mismatch",
        )
    if len(contents.key_entries) != 1 or contents.key_entries[0].locked:
        raise StoreError(
            str(path),
            f"holds {len(contents.key_entries)} usable key pairs, not one",
            "export the one key pair for this destination",
            code="keystore-ambiguous",
        )
    return contents.key_entries[0]
