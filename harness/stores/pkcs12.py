"""PKCS#12 stores, through ``cryptography``: written as keytool / OpenSSL write them, read with the JDK's limits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from harness.errors import StoreError
from harness.limits import JDK_PBE_ITERATIONS, PKCS12_WORK, STORE_ENTRIES, TooLarge
from harness.pki import PrivateKey
from harness.secret import Secret
from harness.stores.detect import pfx_length, pkcs12_iteration_counts
from harness.stores.entries import CertEntry, KeyEntry, Role, StoreContents, chain_from, parsed, usable_key
from harness.stores.pkcs12_safes import NotDecrypted, UnknownEncryption, hidden_iteration_counts
from harness.stores.refusals import damaged_entry, too_many_entries, unsupported, wrong_password

__all__ = ["pkcs12_bytes", "read_pkcs12"]


def _pkcs12_encryption(
    password: Secret, algorithm: Literal["aes", "legacy"]
) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(10000)
    if algorithm == "legacy":
        # 3DES / SHA-1: what OpenSSL 1.x and older JDKs wrote; still read everywhere.
        legacy = pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC
        builder = builder.key_cert_algorithm(legacy).hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy format is SHA-1
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return builder.build(password.reveal().encode("utf-8"))


def pkcs12_bytes(
    key_entry: tuple[str, PrivateKey, Sequence[x509.Certificate]] | None,
    cert_entries: Sequence[tuple[str, x509.Certificate]],
    password: Secret,
    algorithm: Literal["aes", "legacy"] = "aes",
    *,
    java_trusted: bool = True,
) -> bytes:
    """A PKCS#12 store: one key entry with its chain, or trusted certificates only.

    Trusted certificates are written with the attribute the JDK requires to
    see them as trusted entries (``serialize_java_truststore``); without it a
    PKCS#12 truststore reads as empty in Java.
    """
    encryption = _pkcs12_encryption(password, algorithm)
    if key_entry is None:
        bags = [pkcs12.PKCS12Certificate(cert, alias.encode("utf-8")) for alias, cert in cert_entries]
        if not java_trusted:
            # As `openssl pkcs12 -export -nokeys` writes it: no trusted-key-usage attribute.
            return pkcs12.serialize_key_and_certificates(None, None, None, bags, encryption)
        return pkcs12.serialize_java_truststore(bags, encryption)
    if cert_entries:
        raise ValueError("a PKCS#12 keystore here holds one key entry and no trusted certificates")
    alias, key, chain = key_entry
    return pkcs12.serialize_key_and_certificates(alias.encode("utf-8"), key, chain[0], list(chain[1:]), encryption)


def read_pkcs12(path: Path, data: bytes, password: Secret, role: Role, where: str) -> StoreContents:
    declared = pfx_length(data)
    if declared != len(data):
        raise StoreError(
            where,
            f"damaged PKCS#12 store (truncated or padded: {len(data)} bytes, {declared} declared)",
            f"re-create the {role}",
            code="store-unreadable",
        )
    try:
        counts = pkcs12_iteration_counts(data)
    except TooLarge as exc:
        raise StoreError(
            where, f"not read: {exc}", f"re-create the {role}", code="store-unreadable", bounded=True
        ) from None
    except ValueError:
        raise StoreError(
            where, "damaged PKCS#12 store (its DER does not parse)", f"re-create the {role}", code="store-unreadable"
        ) from None
    if len(counts) > STORE_ENTRIES.value:
        raise too_many_entries(where, role, len(counts))
    _check_counts(counts, where, role)
    if "\x00" in password.reveal():
        # cryptography's PKCS#12 loader panics (a BaseException) on a NUL in the password: refuse it first.
        raise StoreError(
            where,
            f"{role}Pass contains a NUL character, which no PKCS#12 password holds",
            f"set {role}Pass to the password the {role} was saved with",
            code=f"{role}-password-wrong",
        )
    # Key bags inside encrypted SafeContents hide their counts from the walk: decrypted here first (at
    # counts just checked), so every count cryptography will run is checked before it runs.
    try:
        hidden, spent = hidden_iteration_counts(data, password.reveal())
    except NotDecrypted:
        raise wrong_password(where, role) from None
    except TooLarge as exc:
        raise StoreError(
            where, f"not read: {exc}", f"re-create the {role}", code="store-unreadable", bounded=True
        ) from None
    except UnknownEncryption as exc:
        raise StoreError(
            where,
            f"not read: encrypted with {exc}",
            f"re-export the {role} with AES",
            code="store-unreadable",
            bounded=True,
        ) from None
    except (ValueError, IndexError):
        why = "its encrypted contents do not parse"
        raise StoreError(
            where, f"damaged PKCS#12 store ({why})", f"re-create the {role}", code="store-unreadable"
        ) from None
    if len(counts) + len(hidden) > STORE_ENTRIES.value:
        raise too_many_entries(where, role, len(counts) + len(hidden))
    _check_counts([*counts, *hidden, spent], where, role)
    try:
        loaded = pkcs12.load_pkcs12(data, password.reveal().encode("utf-8"))
    except ValueError:
        # The outer structure is intact (length checked above): the password is wrong.
        raise wrong_password(where, role) from None
    except UnsupportedAlgorithm as exc:  # a key on a curve it cannot load (secp112r1): one line, not "damaged"
        raise StoreError(
            where, f"not read: {unsupported(exc)}", f"re-create the {role}", code="store-unreadable", bounded=True
        ) from None
    except Exception as exc:  # noqa: BLE001 - the Rust parser's errors vary by damage
        raise StoreError(
            where, f"damaged PKCS#12 store ({type(exc).__name__})", f"re-create the {role}", code="store-unreadable"
        ) from None
    if len(loaded.additional_certs) > STORE_ENTRIES.value:
        raise too_many_entries(where, role, len(loaded.additional_certs))
    for bag in (loaded.cert, *loaded.additional_certs):
        if bag is None:
            continue
        try:
            parsed(bag.certificate)
        except ValueError:
            alias = (bag.friendly_name or b"").decode("utf-8", "replace")
            raise damaged_entry(where, "pkcs12", role, alias, "its certificate does not parse") from None
    extra = [c.certificate for c in loaded.additional_certs]
    keys: list[KeyEntry] = []
    chain_members: set[bytes] = set()
    if loaded.cert is not None:
        chain = chain_from(loaded.cert.certificate, extra)
        chain_members = {c.fingerprint(hashes.SHA256()) for c in chain}
        alias = (loaded.cert.friendly_name or b"1").decode("utf-8", "replace")
        key = usable_key(loaded.key) if loaded.key is not None else None
        keys.append(KeyEntry(alias, chain, key))
    certs = [
        CertEntry((c.friendly_name or str(i).encode()).decode("utf-8", "replace"), c.certificate)
        for i, c in enumerate(loaded.additional_certs)
        if c.certificate.fingerprint(hashes.SHA256()) not in chain_members
    ]
    return StoreContents(path, "pkcs12", tuple(keys), tuple(certs))


def _check_counts(counts: list[int], where: str, role: Role) -> None:
    """Each count within the JDK's limit, and all of them together within PKCS12_WORK, before any runs."""
    worst = max(counts, default=0)
    if worst > JDK_PBE_ITERATIONS.value:
        # The JDK refuses it too ("MAC iteration count too large"): a store the platform cannot open.
        raise StoreError(
            where,
            f"not read: {JDK_PBE_ITERATIONS.refusal(worst)}, which the JDK refuses too",
            f"re-export the {role} with a lower iteration count (openssl pkcs12 -iter / -maciter 10000)",
            code="store-unreadable",
            bounded=True,
        )
    total = sum(counts)
    if total > PKCS12_WORK.value:
        raise StoreError(
            where,
            f"not read: {PKCS12_WORK.refusal(total)}",
            f"re-export the {role} with a lower iteration count (openssl pkcs12 -iter / -maciter 10000)",
            code="store-unreadable",
            bounded=True,
        )
