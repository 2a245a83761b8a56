"""Certificates judged on their own: names, weak keys and signatures, usage, chains validated for a purpose.

Pure predicates on ``cryptography`` certificates, no outcome codes: the
diagnosis (``harness.diagnose.verdict``), ``check`` and ``keypair`` ask them.
Path validation is ``cryptography.x509.verification``'s, never our own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

__all__ = [
    "is_self_signed",
    "key_label",
    "name_of",
    "public_key_of",
    "reaches_ca_names",
    "san_names",
    "top_ca",
    "unsupported_key",
    "usage_problem",
    "verify_client_chain",
    "verify_server_chain",
    "weak_key",
    "weak_signature",
]


def name_of(name: x509.Name | x509.Certificate) -> str:
    """A certificate's subject (or a name) as people write it: ``CN=Acme Root,O=Acme``."""
    if isinstance(name, x509.Certificate):
        name = name.subject
    return name.rfc4514_string() or "(empty name)"


# Curves OpenSSL can sign with but cryptography (and JDK 16+, which removed them) cannot load.
_CURVE_NAMES = {
    "1.3.132.0.6": "secp112r1",
    "1.3.132.0.7": "secp112r2",
    "1.3.132.0.28": "secp128r1",
    "1.3.132.0.29": "secp128r2",
    "1.3.132.0.9": "secp160k1",
    "1.3.132.0.8": "secp160r1",
    "1.3.132.0.30": "secp160r2",
    "1.2.840.10045.3.1.1": "secp192r1",
}
_OID = re.compile(r"\d+(?:\.\d+)+")


def unsupported_key(cert: x509.Certificate) -> str | None:
    """ "EC on secp112r1" when cryptography cannot load the certificate's public key (a curve it does not
    support, an unknown algorithm), else None. Such a certificate parses; only its key does not."""
    try:
        cert.public_key()
    except (UnsupportedAlgorithm, ValueError) as exc:
        found = _OID.search(str(exc))
        oid = found.group() if found else cert.public_key_algorithm_oid.dotted_string
        curve = _CURVE_NAMES.get(oid)
        return f"EC on {curve}" if curve else f"an unsupported key ({oid})"
    return None


def public_key_of(cert: x509.Certificate) -> CertificatePublicKeyTypes | None:
    """The certificate's public key; None when cryptography cannot load it (``unsupported_key`` says why)."""
    try:
        return cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return None


def key_label(cert: x509.Certificate) -> str:
    """ "RSA-2048", "EC-secp256r1", or "EC on secp112r1 (unsupported)" for a key cryptography cannot load."""
    key = public_key_of(cert)
    if key is None:
        return f"{unsupported_key(cert)} (unsupported)"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}"
    return type(key).__name__.removesuffix("PublicKey").lstrip("_") or "unknown"


def weak_key(cert: x509.Certificate) -> str | None:
    """ "RSA-1024" when the key is below what current stacks accept (RSA < 2048, EC < 256); "EC on secp112r1"
    for a key on a curve no current stack supports (cryptography cannot load it; JDK 16+ removed it)."""
    key = public_key_of(cert)
    if key is None:
        return unsupported_key(cert)
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        return f"EC-{key.curve.key_size}"
    return None


def weak_signature(cert: x509.Certificate) -> str | None:
    """ "SHA-1" or "MD5" when the certificate is signed with a broken hash."""
    oid = cert.signature_algorithm_oid.dotted_string
    weak = {
        "1.2.840.113549.1.1.4": "MD5",
        "1.2.840.113549.1.1.5": "SHA-1",
        "1.2.840.10045.4.1": "SHA-1",
        "1.2.840.10040.4.3": "SHA-1",
    }
    return weak.get(oid)


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def _eku_validator(purpose: x509.ObjectIdentifier) -> object:
    def check(_policy: object, _cert: x509.Certificate, ext: x509.ExtendedKeyUsage | None) -> None:
        if ext is not None and purpose not in ext and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ext:
            raise ValueError(f"extended key usage lacks {purpose._name}")

    return check


def _ca_key_usage(_policy: object, cert: x509.Certificate, ext: x509.KeyUsage | None) -> None:
    # As the JDK's PKIX validator (and OpenSSL): a CA without keyUsage may sign
    # certificates (RFC 5280 4.2.1.3 makes the extension optional); one that has
    # it must allow keyCertSign. The web PKI profile would require it on every CA.
    if ext is not None and not ext.key_cert_sign:
        raise ValueError(f"key usage of {cert.subject.rfc4514_string()} lacks keyCertSign")


def _jsse_ca_policy() -> ExtensionPolicy:
    return ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.KeyUsage,
        Criticality.AGNOSTIC,
        _ca_key_usage,
    )


def verify_client_chain(
    chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate], now: dt.datetime
) -> str | None:
    """None when ``chain`` (leaf first) validates for client authentication to one of ``anchors``.

    The web PKI defaults, except that a client certificate needs no subject
    alternative name (the JDK and OpenSSL servers do not ask for one).
    """
    if not anchors:
        return "no trusted CA"
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(now)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
        .build_client_verifier()
    )
    try:
        verifier.verify(chain[0], list(chain[1:]))
    except VerificationError as exc:
        return _short(exc)
    return None


def verify_server_chain(
    chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate], host: str, now: dt.datetime
) -> str | None:
    """None when the server's ``chain`` validates for ``host`` against the truststore's ``anchors``.

    Criticality of SAN and EKU is not held against the server: many CAs (and
    trustme) mark them critical, and neither the JDK nor OpenSSL object.
    """
    if not anchors:
        return "the truststore holds no certificate"
    try:
        subject: x509.verification.Subject = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = x509.DNSName(host)
    ee = (
        ExtensionPolicy.webpki_defaults_ee()
        .require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _eku_validator(ExtendedKeyUsageOID.SERVER_AUTH))  # type: ignore[arg-type]
    )
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(now)
        .extension_policies(ca_policy=_jsse_ca_policy(), ee_policy=ee)
        .build_server_verifier(subject)
    )
    try:
        verifier.verify(chain[0], list(chain[1:]))
    except VerificationError as exc:
        return _short(exc)
    return None


# cryptography's verifier speaks of its own search ("candidates exhausted: all candidates exhausted with no
# interior errors"); a user is told what it means for their certificates.
_NO_PATH = "no chain of issuers leads from the certificate sent to a certificate trusted here"
_VERIFIER_PREFIXES = ("validation failed: ", "candidates exhausted: ", "fatal error: ")


def _short(exc: VerificationError) -> str:
    """The verifier's reason in plain words: no library wording, no certificate repr."""
    text = str(exc).split(" (encountered processing")[0].strip()
    while text.startswith(_VERIFIER_PREFIXES):
        text = next(text.removeprefix(p) for p in _VERIFIER_PREFIXES if text.startswith(p)).strip()
    if "candidates exhausted" in text or not text:
        return _NO_PATH
    if text.startswith("malformed certificate"):
        return "a certificate in the chain cannot be parsed"
    if text.startswith("invalid extension: "):
        return "a certificate's extension is not acceptable: " + text.removeprefix("invalid extension: ")
    return text


def san_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for n in san]


def usage_problem(cert: x509.Certificate) -> str | None:
    """Why ``cert`` cannot authenticate a TLS client (EKU without clientAuth, KU without digitalSignature)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            names = ", ".join(getattr(u, "_name", u.dotted_string) for u in eku)
            return f"may be used only for {names}, not for client authentication"
    except x509.ExtensionNotFound:
        pass
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            return "has a key usage without digitalSignature, which client authentication needs"
    except x509.ExtensionNotFound:
        pass
    return None


def reaches_ca_names(chain: Sequence[x509.Certificate], names: Iterable[x509.Name]) -> bool:
    """Whether a key entry's chain is issued by (or holds) one of the server's acceptable CA names.

    The JDK's X509KeyManager.chooseClientAlias offers a key entry only then.
    """
    return bool(({c.issuer for c in chain} | {c.subject for c in chain}) & set(names))


def top_ca(chain: Sequence[x509.Certificate]) -> str:
    """The CA at the top of a chain: the root when the chain holds it, else the last issuer named."""
    top = chain[-1]
    return name_of(top if is_self_signed(top) else top.issuer)
