"""Certificates for a scenario: the client PKI with ``cryptography``, the server's with trustme.

The client PKI includes every deviant certificate (expired, wrong usage,
SHA-1, RSA-1024, self-signed); the local server's identity is issued by
``trustme``, the library made for exactly that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from harness.knowledge.tls import EKU_BY_NAME
from harness.pki.keys import PrivateKey, issuers_first, key_slots, pooled_key
from harness.scenario import Scenario, ServerIdentitySpec, general_name, resolve_time

__all__ = ["Issued", "Material", "build_material", "issue_client_pki", "sha256_fingerprint"]

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


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint as keytool prints it: "AB:CD:...", upper case."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def build_material(
    scenario: Scenario, now: dt.datetime | None = None, *, client_pki: Mapping[str, Issued] | None = None
) -> Material:
    """The scenario's certificates, issued at ``now`` (default: this moment).

    ``client_pki``: its ``[pki]`` certificates already issued (``issue_client_pki``, at this ``now``), reused as they
    are; the server's identity is always issued here.
    """
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    issued = dict(client_pki) if client_pki is not None else dict(issue_client_pki(scenario, now))
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


def issue_client_pki(scenario: Scenario, now: dt.datetime) -> dict[str, Issued]:
    """The scenario's ``[pki]`` certificates, by name, with their pooled keys."""
    issued: dict[str, Issued] = {}
    # Issuers first: [pki] may list a leaf before its CA.
    for name, (key_type, index) in zip(issuers_first(scenario), key_slots(scenario), strict=True):
        spec = scenario.pki[name]
        key = pooled_key(key_type, index)
        signer = issued[spec.issuer] if spec.issuer else None
        issued[name] = Issued(name, _issue(spec_name=name, scenario=scenario, key=key, signer=signer, now=now), key)
    return issued


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
        builder = builder.add_extension(x509.ExtendedKeyUsage([EKU_BY_NAME[e] for e in spec.eku]), critical=False)
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
