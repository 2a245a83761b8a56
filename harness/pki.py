"""Keys and certificates for a scenario.

The client PKI (including every deviant certificate: expired, wrong usage,
SHA-1, RSA-1024, self-signed) is built with ``cryptography``; the local
server's identity is issued by ``trustme``, the library made for exactly that.

Key generation dominates the cost of a scenario (RSA-2048 ~30 ms, RSA-4096
~0.5 s), so keys come from an in-process pool: distinct within a scenario,
reused across scenarios. A certificate is always freshly issued.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness.files import write_atomic
from harness.scenario import Scenario, ServerIdentitySpec, general_name, resolve_time

__all__ = [
    "KEY_CACHE_ENV",
    "Issued",
    "Material",
    "PrivateKey",
    "build_material",
    "generate_key",
    "key_description",
    "key_slots",
    "prefetch_keys",
    "sha256_fingerprint",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_EKU = {
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_KU_FIELDS = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
}


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key. The key never appears in ``repr``."""

    name: str
    cert: x509.Certificate
    key: PrivateKey = field(repr=False)


@dataclass(frozen=True)
class Material:
    """Everything a scenario's stores and server are made of."""

    now: dt.datetime
    # Client PKI by [pki] name, plus "server.root", "server.intermediate"
    # (when the identity has one) and "server.leaf".
    issued: Mapping[str, Issued]
    # What the server sends: its leaf, then the intermediate unless send_chain is off.
    server_chain: tuple[x509.Certificate, ...]
    # CAs the server trusts for client certificates.
    client_cas: tuple[x509.Certificate, ...]

    def cert(self, name: str) -> x509.Certificate:
        return self.issued[name].cert

    @property
    def server_key(self) -> PrivateKey:
        return self.issued["server.leaf"].key


# -- keys -------------------------------------------------------------------

_pool: dict[tuple[str, int], PrivateKey] = {}
_pending: dict[tuple[str, int], Future[PrivateKey]] = {}
_pool_lock = threading.Lock()
_prefetcher: ThreadPoolExecutor | None = None


def generate_key(key_type: str) -> PrivateKey:
    family, _, size = key_type.partition("-")
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=int(size))
    curves: dict[str, ec.EllipticCurve] = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}
    return ec.generate_private_key(curves[size])


# Opt-in on-disk cache for the slow key types (RSA-4096 ~0.5 s, RSA-3072
# ~0.2 s each): MTLS_HARNESS_KEY_CACHE=DIR, or --key-cache DIR on `run` /
# --mtls-key-cache DIR on pytest. Test keys only, but still private keys:
# the folder is 0700, each file 0600, and nothing is cached unless asked.
KEY_CACHE_ENV = "MTLS_HARNESS_KEY_CACHE"
_DISK_CACHED = ("rsa-3072", "rsa-4096")


def _pooled_key(key_type: str, index: int) -> PrivateKey:
    """The ``index``-th pooled key of ``key_type``: same index, same key, any scenario.

    A key being made (by the prefetcher, or another thread) is waited for, never made twice.
    """
    slot = (key_type, index)
    with _pool_lock:
        key = _pool.get(slot)
        if key is not None:
            return key
        future = _pending.get(slot)
        mine = future is None
        if future is None:
            future = _pending[slot] = Future()
    if not mine:
        return future.result()
    try:
        key = _cached_key(key_type, index) if key_type in _DISK_CACHED else generate_key(key_type)
    except BaseException as exc:
        with _pool_lock:
            _pending.pop(slot, None)
        future.set_exception(exc)
        raise
    with _pool_lock:
        key = _pool.setdefault(slot, key)
        _pending.pop(slot, None)
    future.set_result(key)
    return key


def key_slots(scenario: Scenario) -> list[tuple[str, int]]:
    """The pooled keys a scenario uses, (type, index) per certificate, issuers first."""
    used: dict[str, int] = {}
    slots = []
    for name in _issuers_first(scenario):
        key_type = scenario.pki[name].key
        slots.append((key_type, used.get(key_type, 0)))
        used[key_type] = used.get(key_type, 0) + 1
    return slots


def prefetch_keys(scenario: Scenario) -> None:
    """Make a scenario's keys in the background, ahead of ``build_material``.

    Key generation releases the GIL (cryptography's RSA keygen runs in Rust/
    OpenSSL outside it, measured), so it runs on another core while pytest
    collects and sets up. One thread: the pool is small and bounded by the
    largest scenario, so nothing long is left queued at exit.
    """
    global _prefetcher
    with _pool_lock:
        missing = [slot for slot in key_slots(scenario) if slot not in _pool and slot not in _pending]
        if not missing:
            return
        if _prefetcher is None:
            _prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtls-keys")
    for key_type, index in missing:
        _prefetcher.submit(_pooled_key, key_type, index)


def _cached_key(key_type: str, index: int) -> PrivateKey:
    folder = os.environ.get(KEY_CACHE_ENV)
    if not folder:
        return generate_key(key_type)
    path = Path(folder) / f"{key_type}-{index}.pem"
    cached = _load_cached(path, key_type)
    if cached is not None:
        return cached
    key = generate_key(key_type)
    Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        # A damaged file is replaced; an absent one is created only if no
        # other process (an xdist worker) got there first.
        write_atomic(path, pem, private=True, overwrite=path.exists())
    except FileExistsError:
        # Use the other process's key, so that every process agrees on the
        # index-th key of this type.
        return _load_cached(path, key_type) or key
    return key


def _load_cached(path: Path, key_type: str) -> PrivateKey | None:
    try:
        # Our own cached key (0600): no consistency check (~30-100 ms for RSA-3072/4096).
        loaded = serialization.load_pem_private_key(
            path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (OSError, ValueError):
        return None  # absent or damaged
    if isinstance(loaded, rsa.RSAPrivateKey) and f"rsa-{loaded.key_size}" == key_type:
        return loaded
    return None


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint as keytool prints it: "AB:CD:...", upper case."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def key_description(key: object) -> str:
    """ "RSA-2048", "EC P-256": how the platform's tools name a key."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {names.get(key.curve.name, key.curve.name)}"
    return type(key).__name__


# -- certificates -------------------------------------------------------------


def build_material(scenario: Scenario, now: dt.datetime | None = None) -> Material:
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    issued: dict[str, Issued] = {}
    # Issuers first: [pki] may list a leaf before its CA.
    for name, (key_type, index) in zip(_issuers_first(scenario), key_slots(scenario), strict=True):
        spec = scenario.pki[name]
        key = _pooled_key(key_type, index)
        signer = issued[spec.issuer] if spec.issuer else None
        issued[name] = Issued(name, _issue(spec_name=name, scenario=scenario, key=key, signer=signer, now=now), key)
    server = _server_identity(scenario.server.identity, now)
    issued.update(server)
    chain = [server["server.leaf"].cert]
    if scenario.server.send_chain and "server.intermediate" in server:
        chain.append(server["server.intermediate"].cert)
    return Material(
        now=now,
        issued=issued,
        server_chain=tuple(chain),
        client_cas=tuple(issued[name].cert for name in scenario.server.trust),
    )


def _issuers_first(scenario: Scenario) -> list[str]:
    order: list[str] = []
    for name in scenario.pki:
        for member in reversed(scenario.chain_to_root(name)):
            if member not in order:
                order.append(member)
    return order


def _issue(
    *, spec_name: str, scenario: Scenario, key: PrivateKey, signer: Issued | None, now: dt.datetime
) -> x509.Certificate:
    spec = scenario.pki[spec_name]
    subject = x509.Name.from_rfc4514_string(spec.subject)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer.cert.subject if signer else subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(resolve_time(spec.not_before, now))
        .not_valid_after(resolve_time(spec.not_after, now))
        .add_extension(
            x509.BasicConstraints(ca=spec.is_ca, path_length=spec.path_length if spec.is_ca else None), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if signer is not None:
        ski = signer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    if spec.ku:
        flags = {f: False for f in _KU_FIELDS.values()}
        flags.update({_KU_FIELDS[k]: True for k in spec.ku})
        builder = builder.add_extension(x509.KeyUsage(encipher_only=False, decipher_only=False, **flags), critical=True)
    if spec.eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([_EKU[e] for e in spec.eku]), critical=False)
    if spec.san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([general_name(s) for s in spec.san]), critical=False
        )
    signing_key = signer.key if signer else key
    if spec.signature in _WEAK_SIGNATURES:
        return _sign_weak(builder.sign(signing_key, hashes.SHA256()), signing_key, spec.signature)
    return builder.sign(signing_key, _HASHES[spec.signature]())


# cryptography refuses to sign certificates with SHA-1 or MD5 ("not supported
# for signatures"); the weak-signature scenarios need exactly such
# certificates. So: sign with SHA-256, swap the signature AlgorithmIdentifier
# (RFC 5280 4.1.1.2, present in the TBS and around it) and sign the new TBS
# with the weak hash through the plain key API. DER of the parts we touch only.
_WEAK_SIGNATURES: dict[str, tuple[type[hashes.HashAlgorithm], dict[str, bytes]]] = {
    "sha1": (
        hashes.SHA1,  # deliberately weak
        {
            "rsa": bytes.fromhex("300d06092a864886f70d0101050500"),  # sha1WithRSAEncryption, NULL
            "ec": bytes.fromhex("300906072a8648ce3d0401"),  # ecdsa-with-SHA1
        },
    ),
    "md5": (
        hashes.MD5,  # deliberately weak
        {"rsa": bytes.fromhex("300d06092a864886f70d0101040500")},  # md5WithRSAEncryption, NULL
    ),
}


def _sign_weak(cert: x509.Certificate, key: PrivateKey, hash_name: str) -> x509.Certificate:
    from cryptography.hazmat.primitives.asymmetric import padding

    algorithm, identifiers = _WEAK_SIGNATURES[hash_name]
    family = "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ec"
    if family not in identifiers:
        raise ValueError(f"{hash_name} signatures with an EC key do not exist; use an RSA issuer")
    tbs_fields = _der_children(cert.tbs_certificate_bytes)
    # TBSCertificate: [0] version, serialNumber, signature, ... (v3 certificates)
    tbs_fields[2] = identifiers[family]
    tbs = _der(0x30, b"".join(tbs_fields))
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), algorithm())
    else:
        signature = key.sign(tbs, ec.ECDSA(algorithm()))
    body = tbs + identifiers[family] + _der(0x03, b"\x00" + signature)
    return x509.load_der_x509_certificate(_der(0x30, body))


def _der(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


def _der_children(data: bytes) -> list[bytes]:
    """The encoded members of the DER SEQUENCE ``data``."""

    def header(pos: int) -> tuple[int, int]:  # (start of value, length)
        first = data[pos + 1]
        if first < 0x80:
            return pos + 2, first
        count = first & 0x7F
        return pos + 2 + count, int.from_bytes(data[pos + 2 : pos + 2 + count], "big")

    start, length = header(0)
    children, pos = [], start
    while pos < start + length:
        value_start, size = header(pos)
        children.append(data[pos : value_start + size])
        pos = value_start + size
    return children


def _server_identity(spec: ServerIdentitySpec, now: dt.datetime) -> dict[str, Issued]:
    key_type = trustme.KeyType.RSA if spec.key == "rsa-2048" else trustme.KeyType.ECDSA
    # Recognisable names in diagnoses ("the truststore does not trust CN=...").
    root = trustme.CA(
        key_type=key_type, organization_name="mtls-harness", organization_unit_name="Local Server Root CA"
    )
    issuer = root
    if spec.intermediate:
        issuer = trustme.CA(
            parent_cert=root,
            path_length=8,
            key_type=key_type,
            organization_name="mtls-harness",
            organization_unit_name="Local Server Issuing CA",
        )
    leaf = issuer.issue_cert(
        *spec.names,
        common_name=spec.names[0],
        organization_name="mtls-harness",
        organization_unit_name="Local Server",
        not_before=resolve_time(spec.not_before, now) if spec.not_before else None,
        not_after=resolve_time(spec.not_after, now) if spec.not_after else None,
        key_type=key_type,
    )
    result = {"server.root": _from_trustme(root.cert_pem.bytes(), root.private_key_pem.bytes(), "server.root")}
    if spec.intermediate:
        result["server.intermediate"] = _from_trustme(
            issuer.cert_pem.bytes(), issuer.private_key_pem.bytes(), "server.intermediate"
        )
    result["server.leaf"] = _from_trustme(leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes(), "server.leaf")
    return result


def _from_trustme(cert_pem: bytes, key_pem: bytes, name: str) -> Issued:
    # trustme's own key, just made: its consistency check (~30 ms for RSA) proves nothing.
    key = serialization.load_pem_private_key(key_pem, password=None, unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return Issued(name, x509.load_pem_x509_certificate(cert_pem), key)
