"""PEM files given as a store: certificates, and at most one private key (encrypted or not)."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from harness.errors import StoreError
from harness.limits import STORE_ENTRIES
from harness.secret import Secret
from harness.stores.entries import (
    SKIP_RSA_CHECK,
    CertEntry,
    KeyEntry,
    Role,
    StoreContents,
    chain_from,
    parsed,
    usable_key,
)
from harness.stores.refusals import too_many_entries

__all__ = ["read_pem"]

# One BEGIN or END line's marker: bounded work at each position (a label is at most 64 characters), so one
# pass over the file is linear, however many BEGIN lines lack their END (a lazy `BEGIN.*?END` pattern
# scanned the rest of the file for each of them: quadratic).
_MARKER = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 ]{1,64})-----")


def _blocks(data: bytes, where: str, role: Role) -> list[bytes]:
    """Each ``-----BEGIN X-----`` ... ``-----END X-----`` block, in one pass; a BEGIN without its END is damage."""
    blocks: list[bytes] = []
    opened: tuple[int, bytes] | None = None
    for marker in _MARKER.finditer(data):
        kind, label = marker.group(1), marker.group(2)
        if kind == b"BEGIN" and opened is None:
            opened = (marker.start(), label)
        elif kind == b"END" and opened is not None and label == opened[1]:
            blocks.append(data[opened[0] : marker.end()])
            opened = None
        elif opened is not None:
            break  # a BEGIN inside an open block, or the END of another one
    if opened is not None:
        line = data.count(b"\n", 0, opened[0]) + 1
        label = opened[1].decode("ascii")
        raise StoreError(
            where,
            f"damaged PEM (line {line}: BEGIN {label} without its END line)",
            f"re-export the {role}",
            code="store-unreadable",
        )
    return blocks


def read_pem(path: Path, data: bytes, password: Secret, role: Role, where: str) -> StoreContents:
    declared = data.count(b"-----BEGIN ")
    if declared > STORE_ENTRIES.value:
        raise too_many_entries(where, role, declared)
    blocks = _blocks(data, where, role)
    try:
        certs = [
            parsed(x509.load_pem_x509_certificate(b)) for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE-----")
        ]
    except ValueError:
        raise StoreError(where, "damaged PEM certificate", f"re-export the {role}", code="store-unreadable") from None
    key_blocks = [b for b in blocks if b"PRIVATE KEY-----" in b.split(b"\n", 1)[0]]
    if not key_blocks:
        return StoreContents(path, "pem", (), tuple(CertEntry(f"cert-{i}", c) for i, c in enumerate(certs)))
    # An unencrypted key refuses a password: offer one only to an encrypted block.
    encrypted = b"ENCRYPTED" in key_blocks[0]
    try:
        key = usable_key(
            serialization.load_pem_private_key(
                key_blocks[0],
                password=password.reveal().encode() if encrypted else None,
                unsafe_skip_rsa_key_validation=SKIP_RSA_CHECK,
            )
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None  # encrypted with another password, damaged, or of an unknown type: locked, like a JKS key entry
    chain = chain_from(certs[0], certs[1:]) if certs else ()
    return StoreContents(path, "pem", (KeyEntry("pem", chain, key),), ())
