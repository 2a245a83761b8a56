"""JKS and JCEKS stores, through pyjks: written as ``keytool`` writes them, read with the JDK's limits.

Only this module imports pyjks (``jks``; installed as purejks, its pure-Python fork).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from pathlib import Path

import jks
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from pyasn1.codec.ber import decoder  # type: ignore[import-untyped]  # pyjks's own ASN.1 library
from pyasn1_modules import rfc5208  # type: ignore[import-untyped]

from harness.errors import StoreError
from harness.limits import STORE_ENTRIES, TooLarge
from harness.pki import PrivateKey
from harness.secret import Secret
from harness.stores.entries import (
    SKIP_RSA_CHECK,
    CertEntry,
    KeyEntry,
    Role,
    StoreContents,
    StoreType,
    parsed,
    usable_key,
)
from harness.stores.java_serial import end_of_object
from harness.stores.refusals import damaged_entry, too_many_entries, unsupported, wrong_password

__all__ = ["jks_bytes", "read_jks"]


def jks_bytes(
    key_entries: Sequence[tuple[str, PrivateKey, Sequence[x509.Certificate]]],
    cert_entries: Sequence[tuple[str, x509.Certificate]],
    password: Secret,
    key_password: Secret | None = None,
) -> bytes:
    """A JKS store as ``keytool`` writes it. Aliases must already be lower case (JKS rule)."""
    entries: list[jks.PrivateKeyEntry | jks.TrustedCertEntry] = []
    for alias, key, chain in key_entries:
        pkcs8 = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        entry = jks.PrivateKeyEntry.new(alias, [c.public_bytes(serialization.Encoding.DER) for c in chain], pkcs8)
        # pyjks encrypts key entries with the store password when saving, unless
        # an entry is already encrypted: that is how a differing key password is
        # written (to reproduce "Cannot recover key").
        entry.encrypt((key_password or password).reveal())
        entries.append(entry)
    for alias, cert in cert_entries:
        entries.append(jks.TrustedCertEntry.new(alias, cert.public_bytes(serialization.Encoding.DER)))
    data: bytes = jks.KeyStore.new("jks", entries).saves(password.reveal())
    return data


# The JDK (com.sun.crypto.provider.KeyProtector) refuses a JCEKS key protected with more PBE
# iterations than this; pyjks would run them all, in Python: hours for a damaged count.
_JCE_MAX_ITERATIONS = 5_000_000


def read_jks(path: Path, data: bytes, kind: StoreType, password: Secret, role: Role, where: str) -> StoreContents:
    # The header declares the entry count (magic, version, count: three big-endian ints); refused before
    # pyjks loops over it.
    declared = int.from_bytes(data[8:12], "big")
    if declared > STORE_ENTRIES.value:
        raise too_many_entries(where, role, declared)
    if kind == "jceks":
        data = _without_secret_keys(data, password, role, where)
    try:
        # Keys are decrypted here, not by loads(): after the integrity check, with a bounded iteration count.
        store = jks.KeyStore.loads(data, password.reveal(), try_decrypt_keys=False)
        for alias, entry in store.private_keys.items():
            if _jce_iterations(entry) > _JCE_MAX_ITERATIONS:
                raise damaged_entry(where, kind, role, alias, "its key's PBE iteration count is above the JDK's limit")
            with contextlib.suppress(jks.util.DecryptionFailureException):
                entry.decrypt(password.reveal())  # with another key password, the entry stays locked
    except StoreError:
        raise
    except jks.util.KeystoreSignatureException:
        raise wrong_password(where, role) from None
    except Exception as exc:  # noqa: BLE001 - pyjks raises struct, pyasn1 and its own errors on damaged input
        raise StoreError(
            where,
            f"damaged {kind.upper()} store ({type(exc).__name__})",
            f"re-create the {role}",
            code="store-unreadable",
        ) from None
    keys: list[KeyEntry] = []
    certs: list[CertEntry] = []
    # pyjks hands over the DER of certificates and keys unparsed: damage shows here, per entry.
    for alias, entry in store.private_keys.items():
        try:
            chain = tuple(parsed(x509.load_der_x509_certificate(der)) for _, der in entry.cert_chain)
            key = None
            if entry.is_decrypted():
                loaded = serialization.load_der_private_key(
                    entry.pkey_pkcs8, password=None, unsafe_skip_rsa_key_validation=SKIP_RSA_CHECK
                )
                key = usable_key(loaded)
        except UnsupportedAlgorithm as exc:
            raise damaged_entry(where, kind, role, alias, unsupported(exc)) from None
        except ValueError:
            raise damaged_entry(where, kind, role, alias) from None
        keys.append(KeyEntry(alias, chain, key))
    for alias, cert_entry in store.certs.items():
        try:
            certs.append(CertEntry(alias, parsed(x509.load_der_x509_certificate(cert_entry.cert))))
        except ValueError:
            raise damaged_entry(where, kind, role, alias) from None
    return StoreContents(path, kind, tuple(keys), tuple(certs))


_WHITENING = b"Mighty Aphrodite"  # sun.security.provider.JavaKeyStore / JceKeyStore's integrity hash


def _without_secret_keys(data: bytes, password: Secret, role: Role, where: str) -> bytes:
    """The JCEKS store without its secret-key entries, re-signed, after its own integrity check passed.

    pyjks deserializes secret-key entries (javaobj), which a few hundred hostile
    bytes make exponential; they play no part in TLS. Each is skipped by
    ``end_of_object`` (one pass, references never followed); the other entries
    are kept byte for byte. A store without secret-key entries is returned as is.
    """
    pos, kept, skipped = 12, [data[:12]], 0
    try:
        for _ in range(int.from_bytes(data[8:12], "big")):
            start = pos
            tag = _u4(data, pos)
            pos = _skip_utf(data, pos + 4) + 8  # alias, timestamp
            if tag == 1:  # private key: encrypted key, then its chain
                pos += 4 + _u4(data, pos)
                chain = _u4(data, pos)
                pos += 4
                for _ in range(chain):
                    pos = _skip_utf(data, pos)
                    pos += 4 + _u4(data, pos)
            elif tag == 2:  # trusted certificate
                pos = _skip_utf(data, pos)
                pos += 4 + _u4(data, pos)
            elif tag == 3:  # secret key: a serialized SealedObject
                try:
                    pos = end_of_object(data, pos)
                except ValueError as exc:
                    if isinstance(exc, TooLarge):
                        raise
                    alias = data[start + 6 : _skip_utf(data, start + 4)].decode("utf-8", "replace")
                    why = "its secret key is not a serialized object as the JDK writes it"
                    raise damaged_entry(where, "jceks", role, alias, why) from None
                skipped += 1
                continue
            else:
                raise ValueError("unknown entry tag")
            if pos > len(data):
                raise ValueError("truncated")
            kept.append(data[start:pos])
    except StoreError:
        raise
    except TooLarge as exc:
        raise StoreError(
            where, f"not read: {exc}", f"re-create the {role}", code="store-unreadable", bounded=True
        ) from None
    except ValueError:
        raise StoreError(
            where, "damaged JCEKS store (an entry does not parse)", f"re-create the {role}", code="store-unreadable"
        ) from None
    if not skipped:
        return data
    secret = password.reveal().encode("utf-16-be") + _WHITENING
    if hashlib.sha1(secret + data[:pos]).digest() != data[pos : pos + 20]:  # noqa: S324 - the format's hash
        raise wrong_password(where, role)
    count = int.from_bytes(data[8:12], "big") - skipped
    body = kept[0][:8] + count.to_bytes(4, "big") + b"".join(kept[1:])
    return body + hashlib.sha1(secret + body).digest()  # noqa: S324


def _u4(data: bytes, pos: int) -> int:
    if pos + 4 > len(data):
        raise ValueError("truncated")
    return int.from_bytes(data[pos : pos + 4], "big")


def _skip_utf(data: bytes, pos: int) -> int:
    if pos + 2 > len(data):
        raise ValueError("truncated")
    return pos + 2 + int.from_bytes(data[pos : pos + 2], "big")


def _jce_iterations(entry: jks.PrivateKeyEntry) -> int:
    """The PBE iteration count protecting a JCEKS key entry; 0 for JKS's own protection (no iterations)."""

    # pyjks 20.0.0 (pinned) keeps the encrypted EncryptedPrivateKeyInfo in ``_encrypted`` until decrypt().
    info = decoder.decode(entry._encrypted, asn1Spec=rfc5208.EncryptedPrivateKeyInfo())[0]
    algorithm = info["encryptionAlgorithm"]
    if algorithm["algorithm"].asTuple() != jks.sun_crypto.SUN_JCE_ALGO_ID:
        return 0
    params = decoder.decode(algorithm["parameters"].asOctets(), asn1Spec=jks.rfc2898.PBEParameter())[0]
    return int(params["iterationCount"])
