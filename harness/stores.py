"""Keystores and truststores: read and write them as the JDK does.

Writing: JKS through pyjks, PKCS#12 through ``cryptography`` (both read back
by the real ``keytool`` in the tests). Reading: JKS and JCEKS through pyjks,
PKCS#12 and PEM through ``cryptography``. A store's type is found from its
content, never from its file name: a PKCS#12 file named ``.jks`` is common,
and the JDK opens it anyway.

Only this module imports pyjks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jks
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from harness.errors import StoreError
from harness.limits import JDK_PBE_ITERATIONS, STORE_BYTES, STORE_ENTRIES, NotARegularFile, TooLarge, read_bounded
from harness.pki import Material, PrivateKey
from harness.scenario import StoreSpec
from harness.secret import Secret

__all__ = [
    "CertEntry",
    "KeyEntry",
    "Role",
    "StoreContents",
    "StoreType",
    "alias_for",
    "detect_type",
    "jks_bytes",
    "keystore_bytes",
    "load_key_pair",
    "pkcs12_bytes",
    "pkcs12_iteration_counts",
    "read_store",
    "scenario_store_bytes",
    "truststore_bytes",
]

StoreType = Literal["jks", "jceks", "pkcs12", "pem", "unknown"]
Role = Literal["keystore", "truststore"]

_JKS_MAGIC = b"\xfe\xed\xfe\xed"
# cryptography's RSA key consistency check costs ~30 ms a key (measured: 1.5 s
# of a 3.6 s catalogue run). A store's key is only handed on to OpenSSL, which
# checks it against its certificate (SSL_CTX_check_private_key) before any
# handshake; nothing here computes with it. So the check is skipped.
_SKIP_RSA_CHECK = True
_JCEKS_MAGIC = b"\xce\xce\xce\xce"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class KeyEntry:
    """A private-key entry. ``key`` is None when the store password does not open it."""

    alias: str
    chain: tuple[x509.Certificate, ...]
    key: PrivateKey | None = field(default=None, repr=False)

    @property
    def locked(self) -> bool:
        return self.key is None


@dataclass(frozen=True)
class CertEntry:
    alias: str
    cert: x509.Certificate


@dataclass(frozen=True)
class StoreContents:
    path: Path
    type: StoreType
    key_entries: tuple[KeyEntry, ...] = ()
    cert_entries: tuple[CertEntry, ...] = ()

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Trusted certificates, as a truststore: every trusted-certificate entry."""
        return tuple(e.cert for e in self.cert_entries)


# -- type by content ------------------------------------------------------------


def detect_type(data: bytes) -> StoreType:
    """What a store file really is, from its first bytes."""
    if data.startswith(_JKS_MAGIC):
        return "jks"
    if data.startswith(_JCEKS_MAGIC):
        return "jceks"
    # PEM, possibly after text: `openssl pkcs12 -nodes` writes "Bag Attributes"
    # lines before each block, and customers convert their .p12 that way.
    head = data[:4096]
    if b"-----BEGIN " in head and head.isascii():
        return "pem"
    if _pfx_length(data) is not None:
        return "pkcs12"
    return "unknown"


def _pfx_length(data: bytes) -> int | None:
    """The length a PKCS#12 file declares for itself, if it starts like one.

    A PFX (RFC 7292) is a DER SEQUENCE whose first member is INTEGER 3.
    Comparing the declared length with the file's size tells a truncated file
    (unreadable) from a wrong password, which ``cryptography`` reports alike.
    """
    if len(data) < 8 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        length, header = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            return None
        length, header = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    if data[header : header + 3] != b"\x02\x01\x03":
        return None
    return header + length


_OCTET_STRING, _INTEGER, _SEQUENCE = 0x04, 0x02, 0x30
_DER_DEPTH = 64


def pkcs12_iteration_counts(data: bytes) -> list[int]:
    """Every PBKDF2 / PKCS#12 PBE / MAC iteration count a PFX declares, read from its DER before any is run.

    Each of those parameter blocks (PBKDF2-params, pkcs-12PbeParams, MacData;
    RFC 8018 A.2, RFC 7292 4 and C) is a SEQUENCE in which the count is the
    INTEGER right after the salt OCTET STRING. Encapsulated content (the
    authSafe, its SafeContents, bag values) sits in OCTET STRINGs and is walked
    too when it parses as BER. ValueError when the outer structure does not parse.
    """
    counts: list[int] = []
    _walk(memoryview(data), counts, 0, strict=True)
    return counts


def _tlv(data: memoryview, pos: int) -> tuple[int, int, int, int]:
    """(tag, start of contents, end of contents, end of the element) at ``pos``; BER indefinite lengths allowed."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers do not occur in PKCS#12")
    start = pos + 2
    if first == 0x80:  # indefinite: constructed contents up to an end-of-contents 00 00
        if not tag & 0x20:
            raise ValueError("indefinite length on a primitive")
        cursor = start
        while True:
            if cursor + 2 > len(data):
                raise ValueError("no end-of-contents")
            if data[cursor] == 0 and data[cursor + 1] == 0:
                return tag, start, cursor, cursor + 2
            cursor = _tlv(data, cursor)[3]
    if first & 0x80:
        count = first & 0x7F
        if count > 4 or start + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    else:
        length = first
    if start + length > len(data):
        raise ValueError("overruns")
    return tag, start, start + length, start + length


def _walk(data: memoryview, counts: list[int], depth: int, *, strict: bool) -> bool:
    """Collect counts from the elements filling ``data``; False (nothing collected) if it is not BER, unless strict."""
    if depth > _DER_DEPTH:
        if strict:
            raise ValueError("nested too deeply")
        return False
    found: list[int] = []
    elements: list[tuple[int, int, int]] = []
    pos = 0
    try:
        while pos < len(data):
            tag, start, end, pos = _tlv(data, pos)
            elements.append((tag, start, end))
    except ValueError:
        if strict:
            raise
        return False
    previous = -1
    for tag, start, end in elements:
        content = data[start:end]
        if tag == _INTEGER and previous == _OCTET_STRING:
            # A count wider than 8 bytes is past any limit; its exact value does not matter.
            found.append(int.from_bytes(content, "big") if len(content) <= 8 else 1 << 64)
        if tag & 0x20:  # constructed: SEQUENCE, SET, [n] EXPLICIT, BER constructed OCTET STRING
            _walk(content, found, depth + 1, strict=strict and tag in (_SEQUENCE, 0x31, 0xA0))
        elif tag == _OCTET_STRING and len(content) >= 2 and content[0] == _SEQUENCE:
            _walk(content, found, depth + 1, strict=False)  # encapsulated BER, or opaque bytes
        previous = tag if tag != 0x24 else _OCTET_STRING
    counts.extend(found)
    return True


# -- writing ----------------------------------------------------------------------


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


def scenario_store_bytes(spec: StoreSpec, material: Material, role: Role) -> bytes:
    """The bytes of a scenario's keystore or truststore, damaged if the scenario says so."""
    if spec.file is not None:
        return _store_file_bytes(spec.file, str(spec.file), role)
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


# -- reading ----------------------------------------------------------------------


def read_store(path: Path, password: Secret, role: Role, *, label: str | None = None) -> StoreContents:
    """Open a store as the platform would, with its store password.

    Raises StoreError with code ``store-unreadable`` or ``<role>-password-wrong``.
    A key entry the store password cannot open is returned locked (``key`` None):
    whether that is fatal is the caller's decision.
    """
    where = label or str(path)
    data = _store_file_bytes(path, where, role)
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
    kind = detect_type(data)
    if kind in ("jks", "jceks"):
        return _read_jks(path, data, kind, password, role, where)
    if kind == "pkcs12":
        return _read_pkcs12(path, data, password, role, where)
    if kind == "pem":
        return _read_pem(path, data, password, role, where)
    raise StoreError(
        where,
        f"not a keystore (neither JKS, JCEKS, PKCS#12 nor PEM; {len(data)} bytes)",
        f"re-create the {role} or point {role}File at the right file",
        code="store-unreadable",
    )


def _store_file_bytes(path: Path, where: str, role: Role) -> bytes:
    """A store file's bytes, bounded: never a FIFO, device or directory, never above STORE_BYTES."""
    try:
        return read_bounded(path, STORE_BYTES)
    except FileNotFoundError:
        raise StoreError(where, "no such file", f"check {role}File", code="store-unreadable") from None
    except NotARegularFile as exc:
        raise StoreError(where, str(exc), f"point {role}File at the store file", code="store-unreadable") from None
    except TooLarge as exc:
        fix = f"point {role}File at the store file"
        raise StoreError(where, f"not read: {exc}", fix, code="store-unreadable") from None
    except OSError as exc:
        raise StoreError(
            where, f"cannot read: {exc.strerror}", "check the file's permissions", code="store-unreadable"
        ) from None


def _too_many_entries(where: str, role: Role, count: int) -> StoreError:
    return StoreError(where, f"not read: {STORE_ENTRIES.refusal(count)}", f"check {role}File", code="store-unreadable")


def _wrong_password(where: str, role: Role) -> StoreError:
    return StoreError(
        where,
        f"{role}Pass does not open this {role} (integrity check failed)",
        f"set {role}Pass to the password the {role} was saved with",
        code=f"{role}-password-wrong",
    )


# The JDK (com.sun.crypto.provider.KeyProtector) refuses a JCEKS key protected with more PBE
# iterations than this; pyjks would run them all, in Python: hours for a damaged count.
_JCE_MAX_ITERATIONS = 5_000_000


def _read_jks(path: Path, data: bytes, kind: StoreType, password: Secret, role: Role, where: str) -> StoreContents:
    # The header declares the entry count (magic, version, count: three big-endian ints); refused before
    # pyjks loops over it.
    declared = int.from_bytes(data[8:12], "big")
    if declared > STORE_ENTRIES.value:
        raise _too_many_entries(where, role, declared)
    try:
        # Keys are decrypted here, not by loads(): after the integrity check, with a bounded iteration count.
        store = jks.KeyStore.loads(data, password.reveal(), try_decrypt_keys=False)
        for alias, entry in store.private_keys.items():
            if _jce_iterations(entry) > _JCE_MAX_ITERATIONS:
                raise _damaged_entry(where, kind, role, alias, "its key's PBE iteration count is above the JDK's limit")
            with contextlib.suppress(jks.util.DecryptionFailureException):
                entry.decrypt(password.reveal())  # with another key password, the entry stays locked
    except StoreError:
        raise
    except jks.util.KeystoreSignatureException:
        raise _wrong_password(where, role) from None
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
            chain = tuple(_parsed(x509.load_der_x509_certificate(der)) for _, der in entry.cert_chain)
            key = None
            if entry.is_decrypted():
                loaded = serialization.load_der_private_key(
                    entry.pkey_pkcs8, password=None, unsafe_skip_rsa_key_validation=_SKIP_RSA_CHECK
                )
                key = _usable_key(loaded)
        except (ValueError, UnsupportedAlgorithm):
            raise _damaged_entry(where, kind, role, alias) from None
        keys.append(KeyEntry(alias, chain, key))
    for alias, cert_entry in store.certs.items():
        try:
            certs.append(CertEntry(alias, _parsed(x509.load_der_x509_certificate(cert_entry.cert))))
        except ValueError:
            raise _damaged_entry(where, kind, role, alias) from None
    return StoreContents(path, kind, tuple(keys), tuple(certs))


def _damaged_entry(
    where: str, kind: StoreType, role: Role, alias: str, why: str = "its certificate or key does not parse"
) -> StoreError:
    label = "PKCS#12" if kind == "pkcs12" else kind.upper()
    return StoreError(
        where, f"damaged {label} entry ({why})", f"re-create the {role}", code="store-unreadable", entry=alias
    )


def _parsed(cert: x509.Certificate) -> x509.Certificate:
    """``cert``, once what every reader of a store looks at parses: cryptography parses names, validity and
    extensions lazily (ValueError on first use); the JDK refuses such a certificate when it loads the store."""
    try:
        _ = (cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc, cert.extensions)
    except TypeError as exc:  # a name attribute of type BIT STRING: x509.NameAttribute refuses it with TypeError
        raise ValueError(str(exc)) from None
    return cert


def _jce_iterations(entry: jks.PrivateKeyEntry) -> int:
    """The PBE iteration count protecting a JCEKS key entry; 0 for JKS's own protection (no iterations)."""
    from pyasn1.codec.ber import decoder  # type: ignore[import-untyped]  # pyjks's own ASN.1 library
    from pyasn1_modules import rfc5208  # type: ignore[import-untyped]

    # pyjks 20.0.0 (pinned) keeps the encrypted EncryptedPrivateKeyInfo in ``_encrypted`` until decrypt().
    info = decoder.decode(entry._encrypted, asn1Spec=rfc5208.EncryptedPrivateKeyInfo())[0]
    algorithm = info["encryptionAlgorithm"]
    if algorithm["algorithm"].asTuple() != jks.sun_crypto.SUN_JCE_ALGO_ID:
        return 0
    params = decoder.decode(algorithm["parameters"].asOctets(), asn1Spec=jks.rfc2898.PBEParameter())[0]
    return int(params["iterationCount"])


def _read_pkcs12(path: Path, data: bytes, password: Secret, role: Role, where: str) -> StoreContents:
    declared = _pfx_length(data)
    if declared != len(data):
        raise StoreError(
            where,
            f"damaged PKCS#12 store (truncated or padded: {len(data)} bytes, {declared} declared)",
            f"re-create the {role}",
            code="store-unreadable",
        )
    try:
        counts = pkcs12_iteration_counts(data)
    except ValueError:
        raise StoreError(
            where, "damaged PKCS#12 store (its DER does not parse)", f"re-create the {role}", code="store-unreadable"
        ) from None
    if len(counts) > STORE_ENTRIES.value:
        raise _too_many_entries(where, role, len(counts))
    worst = max(counts, default=0)
    if worst > JDK_PBE_ITERATIONS.value:
        # The JDK refuses it too ("MAC iteration count too large"): a store the platform cannot open.
        raise StoreError(
            where,
            f"not read: {JDK_PBE_ITERATIONS.refusal(worst)}, which the JDK refuses too",
            f"re-export the {role} with a lower iteration count (openssl pkcs12 -iter / -maciter 10000)",
            code="store-unreadable",
        )
    if "\x00" in password.reveal():
        # cryptography's PKCS#12 loader panics (a BaseException) on a NUL in the password: refuse it first.
        raise StoreError(
            where,
            f"{role}Pass contains a NUL character, which no PKCS#12 password holds",
            f"set {role}Pass to the password the {role} was saved with",
            code=f"{role}-password-wrong",
        )
    try:
        loaded = pkcs12.load_pkcs12(data, password.reveal().encode("utf-8"))
    except ValueError:
        # The outer structure is intact (length checked above): the password is wrong.
        raise _wrong_password(where, role) from None
    except Exception as exc:  # noqa: BLE001 - the Rust parser's errors vary by damage
        raise StoreError(
            where, f"damaged PKCS#12 store ({type(exc).__name__})", f"re-create the {role}", code="store-unreadable"
        ) from None
    if len(loaded.additional_certs) > STORE_ENTRIES.value:
        raise _too_many_entries(where, role, len(loaded.additional_certs))
    for bag in (loaded.cert, *loaded.additional_certs):
        if bag is None:
            continue
        try:
            _parsed(bag.certificate)
        except ValueError:
            alias = (bag.friendly_name or b"").decode("utf-8", "replace")
            raise _damaged_entry(where, "pkcs12", role, alias, "its certificate does not parse") from None
    extra = [c.certificate for c in loaded.additional_certs]
    keys: list[KeyEntry] = []
    chain_members: set[bytes] = set()
    if loaded.cert is not None:
        chain = _chain_from(loaded.cert.certificate, extra)
        chain_members = {c.fingerprint(hashes.SHA256()) for c in chain}
        alias = (loaded.cert.friendly_name or b"1").decode("utf-8", "replace")
        key = _usable_key(loaded.key) if loaded.key is not None else None
        keys.append(KeyEntry(alias, chain, key))
    certs = [
        CertEntry((c.friendly_name or str(i).encode()).decode("utf-8", "replace"), c.certificate)
        for i, c in enumerate(loaded.additional_certs)
        if c.certificate.fingerprint(hashes.SHA256()) not in chain_members
    ]
    return StoreContents(path, "pkcs12", tuple(keys), tuple(certs))


def _read_pem(path: Path, data: bytes, password: Secret, role: Role, where: str) -> StoreContents:
    declared = data.count(b"-----BEGIN ")
    if declared > STORE_ENTRIES.value:
        raise _too_many_entries(where, role, declared)
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
    try:
        certs = [
            _parsed(x509.load_pem_x509_certificate(b)) for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE-----")
        ]
    except ValueError:
        raise StoreError(where, "damaged PEM certificate", f"re-export the {role}", code="store-unreadable") from None
    key_blocks = [b for b in blocks if b"PRIVATE KEY-----" in b.split(b"\n", 1)[0]]
    if not key_blocks:
        return StoreContents(path, "pem", (), tuple(CertEntry(f"cert-{i}", c) for i, c in enumerate(certs)))
    # An unencrypted key refuses a password: offer one only to an encrypted block.
    encrypted = b"ENCRYPTED" in key_blocks[0]
    try:
        key = _usable_key(
            serialization.load_pem_private_key(
                key_blocks[0],
                password=password.reveal().encode() if encrypted else None,
                unsafe_skip_rsa_key_validation=_SKIP_RSA_CHECK,
            )
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None  # encrypted with another password, damaged, or of an unknown type: locked, like a JKS key entry
    chain = _chain_from(certs[0], certs[1:]) if certs else ()
    return StoreContents(path, "pem", (KeyEntry("pem", chain, key),), ())


def _usable_key(key: object) -> PrivateKey | None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    return key if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else None


def _chain_from(leaf: x509.Certificate, pool: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """``leaf`` then its issuers found in ``pool``, by subject/issuer name, until none is found.

    Linear in the pool (an index by subject): a bundle of thousands of certificates costs no quadratic scan.
    """
    by_subject: dict[x509.Name, list[x509.Certificate]] = {}
    for cert in pool:
        by_subject.setdefault(cert.subject, []).append(cert)
    chain = [leaf]
    while chain[-1].issuer != chain[-1].subject:
        candidates = by_subject.get(chain[-1].issuer)
        if not candidates:
            break
        chain.append(candidates.pop(0))
    return tuple(chain)


# -- go-live builders ----------------------------------------------------------------------


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
    from cryptography.x509.oid import NameOID

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
