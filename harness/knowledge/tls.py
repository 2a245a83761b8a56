"""TLS facts as data, with their look-ups: verify codes, JSSE phrases, refusal statuses, versions, OpenSSL's words.

Alerts and record-layer numbers are in harness.knowledge.alerts.

Each table says why each row exists (the RFC section, the library source, the
server behaviour measured). No logic beyond finding a row: what a fact means
for an outcome is harness.diagnose's business.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from harness.knowledge.alerts import ALERTS

__all__ = [
    "CERTIFICATE_TYPE_KEY_TYPES",
    "DEFAULT_CLIENT_KEY_TYPES",
    "EKU_BY_NAME",
    "EKU_NAMES",
    "JSSE_PHRASES",
    "NOT_TLS_REASONS",
    "REFUSAL_STATUSES",
    "SIGNATURE_SCHEME_KEY_TYPES",
    "TLS_VERSIONS",
    "TLS_VERSION_NAMES",
    "VERIFY_CODES",
    "VERSION_REFUSED_REASONS",
    "JssePhrase",
    "TlsVersion",
    "VerifyCode",
    "jsse_phrases_in",
    "no_version_in_common",
    "not_tls",
    "refusal_statuses",
    "tls_version",
    "verify_code",
    "verify_number",
    "version_refused",
]


# -- OpenSSL verify codes ------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyCode:
    number: int
    name: str  # X509_V_ERR_<name> (include/openssl/x509_vfy.h)
    meaning: str  # X509_verify_cert_error_string(number), read from this machine's libcrypto.so.3


# The codes a server reports about a client certificate (and the Python client about the
# server's), those the diagnosis reads; numbers are stable across OpenSSL 1.1 and 3.
VERIFY_CODES: tuple[VerifyCode, ...] = (
    VerifyCode(2, "UNABLE_TO_GET_ISSUER_CERT", "unable to get issuer certificate"),
    VerifyCode(3, "UNABLE_TO_GET_CRL", "unable to get certificate CRL"),
    VerifyCode(7, "CERT_SIGNATURE_FAILURE", "certificate signature failure"),
    VerifyCode(9, "CERT_NOT_YET_VALID", "certificate is not yet valid"),
    VerifyCode(10, "CERT_HAS_EXPIRED", "certificate has expired"),
    VerifyCode(18, "DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"),
    VerifyCode(19, "SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
    VerifyCode(20, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "unable to get local issuer certificate"),
    VerifyCode(21, "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
    # nginx ssl_verify_depth / Apache SSLVerifyDepth below the chain's CA levels.
    VerifyCode(22, "CERT_CHAIN_TOO_LONG", "certificate chain too long"),
    VerifyCode(23, "CERT_REVOKED", "certificate revoked"),
    VerifyCode(25, "PATH_LENGTH_EXCEEDED", "path length constraint exceeded"),
    # No clientAuth in the extended key usage (or serverAuth, for a server).
    VerifyCode(26, "INVALID_PURPOSE", "unsuitable certificate purpose"),
    VerifyCode(27, "CERT_UNTRUSTED", "certificate not trusted"),
    VerifyCode(28, "CERT_REJECTED", "certificate rejected"),
    VerifyCode(32, "KEYUSAGE_NO_CERTSIGN", "key usage does not include certificate signing"),
    VerifyCode(62, "HOSTNAME_MISMATCH", "hostname mismatch"),
    VerifyCode(63, "EMAIL_MISMATCH", "email address mismatch"),
    VerifyCode(64, "IP_ADDRESS_MISMATCH", "IP address mismatch"),
    # Below the security level's minimum (RSA < 2048 at level 2, OpenSSL 3's default in Debian).
    VerifyCode(66, "EE_KEY_TOO_SMALL", "EE certificate key too weak"),
    VerifyCode(67, "CA_KEY_TOO_SMALL", "CA certificate key too weak"),
    VerifyCode(68, "CA_MD_TOO_WEAK", "CA signature digest algorithm too weak"),
)
_VERIFY = {v.number: v for v in VERIFY_CODES}


_VERIFY_NUMBERS = {v.name: v.number for v in VERIFY_CODES}


def verify_code(number: int) -> VerifyCode | None:
    return _VERIFY.get(number)


def verify_number(name: str) -> int:
    """The number of ``X509_V_ERR_<name>``; KeyError when the table lacks it."""
    return _VERIFY_NUMBERS[name.removeprefix("X509_V_ERR_")]


# -- JSSE phrases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JssePhrase:
    phrase: str  # as the JDK writes it (JDK 11-25), matched case-sensitively
    source: str  # the JDK class that writes it
    meaning: str


JSSE_PHRASES: tuple[JssePhrase, ...] = (
    JssePhrase("PKIX path building failed", "sun.security.validator.PKIXValidator", "no path to a trusted anchor"),
    JssePhrase(
        "unable to find valid certification path to requested target",
        "sun.security.provider.certpath.SunCertPathBuilder",
        "no path to a trusted anchor",
    ),
    JssePhrase(
        "trustAnchors parameter must be non-empty",
        "java.security.cert.PKIXParameters",
        "the truststore holds no trusted certificate (a PKCS#12 made by OpenSSL has no trusted-key-usage attribute)",
    ),
    JssePhrase(
        "Cannot recover key", "sun.security.provider.KeyProtector", "the key password differs from keystorePass"
    ),
    JssePhrase(
        "keystore password was incorrect",
        "sun.security.pkcs12.PKCS12KeyStore",
        "the store password is wrong, or the PKCS#12 uses algorithms this JDK lacks (before 8u301 / 11.0.12)",
    ),
    JssePhrase(
        "Keystore was tampered with, or password was incorrect",
        "sun.security.provider.JavaKeyStore",
        "the JKS store password is wrong",
    ),
    JssePhrase("Integrity check failed", "sun.security.pkcs12.PKCS12KeyStore", "the PKCS#12 MAC does not verify"),
    JssePhrase("Invalid keystore format", "sun.security.provider.JavaKeyStore", "the file is not a JKS store"),
    JssePhrase(
        "Algorithm HmacPBESHA256 not available",
        "javax.crypto.Mac",
        "an OpenSSL 3 PKCS#12 MAC this JDK cannot compute (before 8u301 / 11.0.12)",
    ),
    JssePhrase(
        "No subject alternative DNS name matching",
        "sun.security.util.HostnameChecker",
        "the certificate does not name the host",
    ),
    JssePhrase(
        "No subject alternative names present",
        "sun.security.util.HostnameChecker",
        "the certificate has no subject alternative names",
    ),
    JssePhrase("No name matching", "sun.security.util.HostnameChecker", "the certificate does not name the host"),
    JssePhrase(
        "Empty client certificate chain",
        "sun.security.ssl.CertificateMessage",
        "a JSSE server got no client certificate",
    ),
    JssePhrase(
        "Empty server certificate chain", "sun.security.ssl.CertificateMessage", "the server sent no certificate"
    ),
    JssePhrase(
        "No appropriate protocol",
        "sun.security.ssl.HandshakeContext",
        "no TLS version (or no cipher suite for it) is enabled on this side",
    ),
    JssePhrase(
        "Algorithm constraints check failed on keysize",
        "sun.security.util.DisabledAlgorithmConstraints",
        "a key below jdk.certpath.disabledAlgorithms",
    ),
    JssePhrase(
        "Algorithm constraints check failed on signature",
        "sun.security.util.DisabledAlgorithmConstraints",
        "a signature algorithm in jdk.certpath.disabledAlgorithms",
    ),
    JssePhrase("Received fatal alert", "sun.security.ssl.Alert", "the other side refused (its alert name follows)"),
    JssePhrase(
        "Remote host terminated the handshake",
        "sun.security.ssl.SSLSocketImpl",
        "the server closed the connection during the handshake without an alert the JDK read",
    ),
)


def jsse_phrases_in(text: str) -> tuple[JssePhrase, ...]:
    """The JSSE phrases ``text`` contains, in table order."""
    return tuple(p for p in JSSE_PHRASES if p.phrase in text)


# -- HTTP statuses that mean a refused client certificate ------------------------------------------

# Per server product: a status that, with a completed handshake, may well mean the
# client certificate itself was refused (so an answer with it verifies nothing).
REFUSAL_STATUSES: dict[str, frozenset[int]] = {
    # nginx 1.22: its own 400 pages "No required SSL certificate was sent" / "The SSL
    # certificate error" (ngx_http_special_response.c); 495 (NGX_HTTPS_CERT_ERROR) and 496
    # (NGX_HTTPS_NO_CERT) show through when a site's error_page maps them.
    "nginx": frozenset({400, 495, 496}),
    # Apache httpd: 403 from SSLRequire / Require and "Cannot perform Post-Handshake
    # Authentication" (AH10158, measured in docs/servers.md); 421 Misdirected Request when
    # the SNI host's virtual host has another client-certificate set-up than Host's (AH02032).
    "apache": frozenset({403, 421}),
    # HAProxy `verify optional` with `http-request deny` on ssl_c_verify: deny's default 403.
    "haproxy": frozenset({403}),
    # API gateways' per-route certificate checks (e.g. Kong's mtls-auth answers 401).
    "gateway": frozenset({401, 403}),
}


def refusal_statuses(product: str | None = None) -> frozenset[int]:
    """The statuses ``product`` uses to refuse a client certificate; the union when the product is unknown."""
    if product is not None:
        return REFUSAL_STATUSES[product]
    return frozenset().union(*REFUSAL_STATUSES.values())


# -- TLS versions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsVersion:
    name: str  # as the JDK (jdk.tls.client.protocols) and Python's SSLSocket.version() write it
    short: str  # as people and --client-tls write it
    version: ssl.TLSVersion
    rfc: str


TLS_VERSIONS: tuple[TlsVersion, ...] = (
    TlsVersion("TLSv1", "1.0", ssl.TLSVersion.TLSv1, "RFC 2246"),
    TlsVersion("TLSv1.1", "1.1", ssl.TLSVersion.TLSv1_1, "RFC 4346"),
    TlsVersion("TLSv1.2", "1.2", ssl.TLSVersion.TLSv1_2, "RFC 5246"),
    TlsVersion("TLSv1.3", "1.3", ssl.TLSVersion.TLSv1_3, "RFC 8446"),
)
TLS_VERSION_NAMES: tuple[str, ...] = tuple(v.name for v in TLS_VERSIONS)  # oldest first
_VERSION_SPELLINGS: dict[str, TlsVersion] = {
    **{v.name: v for v in TLS_VERSIONS},
    **{v.short: v for v in TLS_VERSIONS},
    "1": TLS_VERSIONS[0],  # the JDK's and --client-tls's "1" is TLS 1.0
    "TLSv1.0": TLS_VERSIONS[0],
}


def tls_version(value: str | ssl.TLSVersion) -> TlsVersion | None:
    """The version ``value`` names: ``"TLSv1.2"``, ``"1.2"``, ``"1"``, ``ssl.TLSVersion.TLSv1_2``; else None."""
    if isinstance(value, ssl.TLSVersion):
        return next((v for v in TLS_VERSIONS if v.version == value), None)
    return _VERSION_SPELLINGS.get(value.strip())


# -- OpenSSL's words ---------------------------------------------------------------------------------

# Reasons meaning "the other side (or this one) does not do this TLS version", as opposed
# to a refusal later in the handshake: capture and check ask a server version by version.
VERSION_REFUSED_REASONS: dict[str, str] = {
    "UNSUPPORTED_PROTOCOL": "the version is disabled on this side (SSL_R_UNSUPPORTED_PROTOCOL)",
    "NO_PROTOCOLS_AVAILABLE": "this OpenSSL cannot offer the version at all (its build or security level)",
    "WRONG_SSL_VERSION": "the record's version is not the one agreed",
    "PROTOCOL_VERSION": "the other side's protocol_version alert (RFC 8446 6.2), TLSV1_ALERT_PROTOCOL_VERSION",
    "VERSION_TOO_LOW": "the server's version is below this side's minimum",
    "VERSION_TOO_HIGH": "the server's version is above this side's maximum",
    "WRONG_VERSION_NUMBER": "a record of another version; also what a non-TLS answer gives (NOT_TLS_REASONS)",
    "NO_SUITABLE": "capture: an old version with no signature algorithm or group in common (NO_SUITABLE_*)",
}
# Reasons meaning "the answer is not TLS at all" (a plain-HTTP port, check's `answers in plain HTTP`).
NOT_TLS_REASONS: dict[str, str] = {
    "WRONG_VERSION_NUMBER": "the first bytes are not a TLS record header (an HTTP response: 'HTTP/1.1 ...')",
    "RECORD_LAYER_FAILURE": "OpenSSL 3's wrapper of a record it could not read",
    "PACKET_LENGTH_TOO_LONG": "the 'length' read from non-TLS bytes is absurd",
    "HTTP_REQUEST": "an OpenSSL server got an HTTP request on its TLS port",
}


def _words(reasons: dict[str, str]) -> re.Pattern[str]:
    # A reason code (UNSUPPORTED_PROTOCOL) or its error string (unsupported protocol).
    return re.compile("|".join(r.replace("_", "[ _]") for r in reasons), re.IGNORECASE)


_VERSION_REFUSED = _words(VERSION_REFUSED_REASONS)
_NOT_TLS = _words(NOT_TLS_REASONS)


def version_refused(text: str) -> bool:
    """Whether OpenSSL's ``text`` (reason code or error string) says a TLS version was refused."""
    return _VERSION_REFUSED.search(text) is not None


# The reason codes, exactly, by which either side of a handshake says the two share no TLS
# version: the version-refused words less the answer that is not TLS (WRONG_VERSION_NUMBER) and
# capture's per-version finding (NO_SUITABLE_*), with the received protocol_version alert's code.
_NO_VERSION_IN_COMMON = frozenset(
    {r for r in VERSION_REFUSED_REASONS if r not in NOT_TLS_REASONS and r not in ("NO_SUITABLE", "PROTOCOL_VERSION")}
    | {a.openssl_reason for a in ALERTS if a.name == "protocol_version" and a.openssl_reason}
)


def no_version_in_common(reason: str | None) -> bool:
    """Whether OpenSSL's reason code (not a text: codes are matched whole) says no TLS version is shared."""
    return reason in _NO_VERSION_IN_COMMON


def not_tls(text: str) -> bool:
    """Whether OpenSSL's ``text`` says the other side did not answer in TLS at all."""
    return _NOT_TLS.search(text) is not None


# -- the key types JSSE asks its key manager for ---------------------------------------------------

# A CertificateRequest's signature schemes (RFC 8446 4.2.3; TLS 1.2's SignatureAndHashAlgorithm
# pairs read as the same two bytes) -> the key algorithm JSSE's SignatureScheme names for each
# (sun.security.ssl.SignatureScheme, JDK 11-21): the key type it passes to
# X509KeyManager.chooseClientAlias, one per scheme, in the server's order, each once.
SIGNATURE_SCHEME_KEY_TYPES: dict[int, str] = {
    0x0807: "EdDSA",  # ed25519 (JDK 15+)
    0x0808: "EdDSA",  # ed448 (JDK 15+)
    0x0403: "EC",  # ecdsa_secp256r1_sha256
    0x0503: "EC",  # ecdsa_secp384r1_sha384
    0x0603: "EC",  # ecdsa_secp521r1_sha512
    0x0303: "EC",  # ecdsa_sha224
    0x0203: "EC",  # ecdsa_sha1
    0x0804: "RSA",  # rsa_pss_rsae_sha256
    0x0805: "RSA",  # rsa_pss_rsae_sha384
    0x0806: "RSA",  # rsa_pss_rsae_sha512
    0x0809: "RSASSA-PSS",  # rsa_pss_pss_sha256
    0x080A: "RSASSA-PSS",  # rsa_pss_pss_sha384
    0x080B: "RSASSA-PSS",  # rsa_pss_pss_sha512
    0x0401: "RSA",  # rsa_pkcs1_sha256
    0x0501: "RSA",  # rsa_pkcs1_sha384
    0x0601: "RSA",  # rsa_pkcs1_sha512
    0x0301: "RSA",  # rsa_sha224
    0x0201: "RSA",  # rsa_pkcs1_sha1
    0x0402: "DSA",  # dsa_sha256
    0x0302: "DSA",  # dsa_sha224
    0x0202: "DSA",  # dsa_sha1
}

# TLS 1.2's ClientCertificateType (RFC 5246 7.4.4, RFC 8422 5.5) -> the key algorithms JSSE allows
# for it (sun.security.ssl.CertificateRequest.ClientCertificateType): a scheme's key type is asked
# for only when one of the request's certificate types allows it.
CERTIFICATE_TYPE_KEY_TYPES: dict[int, tuple[str, ...]] = {
    1: ("RSA", "RSASSA-PSS"),  # rsa_sign
    2: ("DSA",),  # dss_sign
    64: ("EC",),  # ecdsa_sign
}

# What JSSE asks for when nothing is known of the request (no server, or none looked at): the
# key types of its default client signature schemes, in its order.
DEFAULT_CLIENT_KEY_TYPES: tuple[str, ...] = ("EC", "RSA", "RSASSA-PSS", "EdDSA", "DSA")


# Extended key usages by the names scenarios (``eku = ["clientAuth"]``) and reports use, and back.
EKU_BY_NAME: dict[str, ObjectIdentifier] = {
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING,
}
# anyExtendedKeyUsage is shown by name in reports, never written into a scenario.
EKU_NAMES: dict[ObjectIdentifier, str] = {oid: name for name, oid in EKU_BY_NAME.items()} | {
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage"
}
