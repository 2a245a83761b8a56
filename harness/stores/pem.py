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

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


def read_pem(path: Path, data: bytes, password: Secret, role: Role, where: str) -> StoreContents:
    declared = data.count(b"-----BEGIN ")
    if declared > STORE_ENTRIES.value:
        raise too_many_entries(where, role, declared)
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
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
