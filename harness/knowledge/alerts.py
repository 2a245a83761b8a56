"""TLS alerts and record-layer numbers as data: every alert's number, IANA name and each tool's spelling.

Each row says why it exists (the RFC section, the library source). No logic
beyond finding a row: what an alert means for an outcome is harness.diagnose's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ALERTS",
    "ALERT_NAMES",
    "ALERT_NUMBERS",
    "BORINGSSL_ALERT_CODES",
    "CERTIFICATE",
    "CERTIFICATE_AUTHORITIES",
    "CERTIFICATE_REQUEST",
    "GO_ALERT_TEXTS",
    "NSS_ALERT_CODES",
    "NSS_ALERT_TEXTS",
    "RECORD_ALERT",
    "RECORD_HANDSHAKE",
    "SERVER_HELLO",
    "SIGNATURE_ALGORITHMS",
    "Alert",
    "alert_from_reason",
    "alert_name",
]


# -- the record layer ---------------------------------------------------------------------------

# As OpenSSL's message callback passes them (CPython's SSLContext._msg_callback): the record's
# content type (RFC 8446 5.1), then the handshake message's type in its first byte (RFC 8446 4).
RECORD_ALERT = 21
RECORD_HANDSHAKE = 22
SERVER_HELLO = 2
CERTIFICATE = 11
CERTIFICATE_REQUEST = 13
# The extension a TLS 1.3 CertificateRequest names the acceptable CAs in (RFC 8446 4.2.4).
CERTIFICATE_AUTHORITIES = 47
# The extension a TLS 1.3 CertificateRequest lists its signature schemes in (RFC 8446 4.2.3).
SIGNATURE_ALGORITHMS = 13


# -- alerts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    number: int
    name: str  # the IANA "TLS Alerts" registry's description, as JSSE prints it
    openssl_reason: str | None  # OpenSSL's reason code for receiving it (ssl/ssl_err.c); None: not an error
    why: str = ""

    @property
    def openssl_text(self) -> str | None:
        """OpenSSL's error string: the reason code in lower case with spaces (``tlsv1 alert unknown ca``)."""
        return self.openssl_reason.lower().replace("_", " ") if self.openssl_reason else None


# RFC 8446 section 6 (TLS 1.3) and RFC 5246 section 7.2 (TLS 1.2), numbers and names as in
# the IANA registry (and in CPython's ssl._TLSAlertType, its copy of it). The OpenSSL reason
# codes were read from this machine's libssl.so.3 and _ssl (reason = SSL_AD_REASON_OFFSET +
# the alert's number: "SSL alert number 48").
ALERTS: tuple[Alert, ...] = (
    Alert(0, "close_notify", None, "the orderly end of a connection, not an error (RFC 8446 6.1)"),
    Alert(10, "unexpected_message", "SSLV3_ALERT_UNEXPECTED_MESSAGE"),
    Alert(20, "bad_record_mac", "SSLV3_ALERT_BAD_RECORD_MAC"),
    Alert(21, "decryption_failed", "TLSV1_ALERT_DECRYPTION_FAILED", "reserved since TLS 1.2 (RFC 5246 7.2.2)"),
    Alert(22, "record_overflow", "TLSV1_ALERT_RECORD_OVERFLOW"),
    Alert(30, "decompression_failure", "SSLV3_ALERT_DECOMPRESSION_FAILURE", "TLS 1.2 and before"),
    Alert(40, "handshake_failure", "SSLV3_ALERT_HANDSHAKE_FAILURE", "TLS 1.2 servers' answer to a missing certificate"),
    Alert(41, "no_certificate", "SSLV3_ALERT_NO_CERTIFICATE", "SSL 3.0 only; reserved (RFC 5246 7.2.2)"),
    Alert(42, "bad_certificate", "SSLV3_ALERT_BAD_CERTIFICATE", "OpenSSL's ssl_x509err2alert default; JSSE servers"),
    Alert(43, "unsupported_certificate", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "OpenSSL: INVALID_PURPOSE"),
    Alert(44, "certificate_revoked", "SSLV3_ALERT_CERTIFICATE_REVOKED"),
    Alert(45, "certificate_expired", "SSLV3_ALERT_CERTIFICATE_EXPIRED", "OpenSSL: CERT_HAS_EXPIRED, NOT_YET_VALID"),
    Alert(46, "certificate_unknown", "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "JSSE: any CertificateException"),
    Alert(47, "illegal_parameter", "SSLV3_ALERT_ILLEGAL_PARAMETER"),
    Alert(48, "unknown_ca", "TLSV1_ALERT_UNKNOWN_CA", "OpenSSL: no path to a trusted CA"),
    Alert(49, "access_denied", "TLSV1_ALERT_ACCESS_DENIED"),
    Alert(50, "decode_error", "TLSV1_ALERT_DECODE_ERROR"),
    Alert(51, "decrypt_error", "TLSV1_ALERT_DECRYPT_ERROR", "a handshake signature that does not verify"),
    Alert(60, "export_restriction", "TLSV1_ALERT_EXPORT_RESTRICTION", "TLS 1.0 only; reserved"),
    Alert(70, "protocol_version", "TLSV1_ALERT_PROTOCOL_VERSION", "no TLS version in common"),
    Alert(71, "insufficient_security", "TLSV1_ALERT_INSUFFICIENT_SECURITY"),
    Alert(80, "internal_error", "TLSV1_ALERT_INTERNAL_ERROR", "Apache httpd: a client chain past SSLVerifyDepth"),
    Alert(86, "inappropriate_fallback", "TLSV1_ALERT_INAPPROPRIATE_FALLBACK", "RFC 7507"),
    Alert(90, "user_canceled", "TLSV1_ALERT_USER_CANCELLED", "OpenSSL spells it cancelled"),
    Alert(100, "no_renegotiation", "TLSV1_ALERT_NO_RENEGOTIATION", "TLS 1.2 and before"),
    Alert(109, "missing_extension", "TLSV13_ALERT_MISSING_EXTENSION", "TLS 1.3 (RFC 8446 6.2)"),
    Alert(110, "unsupported_extension", "TLSV1_UNSUPPORTED_EXTENSION"),
    Alert(111, "certificate_unobtainable", "TLSV1_CERTIFICATE_UNOBTAINABLE", "RFC 6066; reserved in TLS 1.3"),
    Alert(112, "unrecognized_name", "TLSV1_UNRECOGNIZED_NAME", "a server that does not know the SNI host name"),
    Alert(113, "bad_certificate_status_response", "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE", "OCSP stapling"),
    Alert(114, "bad_certificate_hash_value", "TLSV1_BAD_CERTIFICATE_HASH_VALUE", "RFC 6066; reserved in TLS 1.3"),
    Alert(115, "unknown_psk_identity", "TLSV1_ALERT_UNKNOWN_PSK_IDENTITY"),
    Alert(116, "certificate_required", "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLS 1.3: the client sent no certificate"),
    Alert(120, "no_application_protocol", "TLSV1_ALERT_NO_APPLICATION_PROTOCOL", "ALPN (RFC 7301)"),
)
ALERT_NUMBERS: dict[int, str] = {a.number: a.name for a in ALERTS}
ALERT_NAMES: frozenset[str] = frozenset(ALERT_NUMBERS.values())
_BY_NAME = {a.name: a for a in ALERTS}
_BY_REASON = {a.openssl_reason: a.name for a in ALERTS if a.openssl_reason}
# Go's crypto/tls prints a received alert as "remote error: tls: <text>" and its own as
# "local error: tls: <text>", with these texts (crypto/tls/alert.go, alertText).
GO_ALERT_TEXTS: dict[str, str] = {
    "close notify": "close_notify",
    "unexpected message": "unexpected_message",
    "bad record MAC": "bad_record_mac",
    "decryption failed": "decryption_failed",
    "record overflow": "record_overflow",
    "decompression failure": "decompression_failure",
    "handshake failure": "handshake_failure",
    "bad certificate": "bad_certificate",
    "unsupported certificate": "unsupported_certificate",
    "revoked certificate": "certificate_revoked",
    "expired certificate": "certificate_expired",
    "unknown certificate": "certificate_unknown",
    "illegal parameter": "illegal_parameter",
    "unknown certificate authority": "unknown_ca",
    "access denied": "access_denied",
    "error decoding message": "decode_error",
    "error decrypting message": "decrypt_error",
    "protocol version not supported": "protocol_version",
    "insufficient security level": "insufficient_security",
    "internal error": "internal_error",
    "inappropriate fallback": "inappropriate_fallback",
    "user canceled": "user_canceled",
    "no renegotiation": "no_renegotiation",
    "missing extension": "missing_extension",
    "unsupported extension": "unsupported_extension",
    "certificate unobtainable": "certificate_unobtainable",
    "unrecognized name": "unrecognized_name",
    "bad certificate status response": "bad_certificate_status_response",
    "bad certificate hash value": "bad_certificate_hash_value",
    "unknown PSK identity": "unknown_psk_identity",
    "certificate required": "certificate_required",
    "no application protocol": "no_application_protocol",
}
# BoringSSL (Envoy, Istio, Chrome, curl built with BoringSSL) keeps old reason names for a few received
# alerts, without "_ALERT_": "OPENSSL_internal:TLSV1_CERTIFICATE_REQUIRED" is alert 116.
BORINGSSL_ALERT_CODES: dict[str, str] = {
    "TLSV1_CERTIFICATE_REQUIRED": "certificate_required",
    "TLSV1_UNSUPPORTED_EXTENSION": "unsupported_extension",
    "TLSV1_UNRECOGNIZED_NAME": "unrecognized_name",
    "TLSV1_CERTIFICATE_UNOBTAINABLE": "certificate_unobtainable",
    "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE": "bad_certificate_status_response",
}
# NSS (Firefox, curl built with NSS, Java's SunPKCS11 users) names a received alert by an error code
# (lib/ssl/sslerr.h): "SSL_ERROR_UNKNOWN_CA_ALERT", "Peer does not recognize and trust the CA ...".
NSS_ALERT_CODES: dict[str, str] = {
    "SSL_ERROR_HANDSHAKE_FAILURE_ALERT": "handshake_failure",
    "SSL_ERROR_BAD_CERT_ALERT": "bad_certificate",
    "SSL_ERROR_UNSUPPORTED_CERT_ALERT": "unsupported_certificate",
    "SSL_ERROR_REVOKED_CERT_ALERT": "certificate_revoked",
    "SSL_ERROR_EXPIRED_CERT_ALERT": "certificate_expired",
    "SSL_ERROR_CERTIFICATE_UNKNOWN_ALERT": "certificate_unknown",
    "SSL_ERROR_UNKNOWN_CA_ALERT": "unknown_ca",
    "SSL_ERROR_ACCESS_DENIED_ALERT": "access_denied",
    "SSL_ERROR_DECRYPT_ERROR_ALERT": "decrypt_error",
    "SSL_ERROR_PROTOCOL_VERSION_ALERT": "protocol_version",
    "SSL_ERROR_INSUFFICIENT_SECURITY_ALERT": "insufficient_security",
    "SSL_ERROR_INTERNAL_ERROR_ALERT": "internal_error",
    "SSL_ERROR_UNRECOGNIZED_NAME_ALERT": "unrecognized_name",
    "SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT": "certificate_required",
}
# NSS's own sentence for each received alert (lib/ssl/SSLerrs.h), which curl built with NSS and
# Firefox print without the code: "curl: (35) Peer does not recognize and trust the CA that issued ...".
NSS_ALERT_TEXTS: dict[str, str] = {
    "SSL peer was unable to negotiate an acceptable set of security parameters": "handshake_failure",
    "SSL peer cannot verify your certificate": "bad_certificate",
    "SSL peer does not support certificates of the type it received": "unsupported_certificate",
    "SSL peer rejected your certificate as revoked": "certificate_revoked",
    "SSL peer rejected your certificate as expired": "certificate_expired",
    "SSL peer had some unspecified issue with the certificate it received": "certificate_unknown",
    "Peer does not recognize and trust the CA that issued your certificate": "unknown_ca",
    "Peer received a valid certificate, but access was denied": "access_denied",
    "Peer reports incompatible or unsupported protocol version": "protocol_version",
    "Server requires ciphers more secure than those supported by client": "insufficient_security",
    "SSL peer has no certificate for the requested DNS name": "unrecognized_name",
}
# Spellings other than the IANA name and OpenSSL's: its text says "user cancelled".
_OTHER_WORDS = {"user_cancelled": "user_canceled"}

# Where each tool names an alert, most specific first; each pattern's group 1 is the alert.
_SPELLINGS: tuple[re.Pattern[str], ...] = (
    # OpenSSL reason codes (Python's SSLError.reason, Node, Go's cgo): TLSV1_ALERT_UNKNOWN_CA.
    re.compile(r"\b((?:SSLV3|TLSV1|TLSV13)_[A-Z_]+)"),
    # OpenSSL error strings: "tlsv1 alert unknown ca", "sslv3 alert bad certificate".
    re.compile(r"\b((?:sslv3|tlsv1|tlsv13) (?:alert )?[a-z]+(?: [a-z]+)*)", re.IGNORECASE),
    # JSSE: "Received fatal alert: unknown_ca"; before 11: "RECV TLSv1.2 ALERT:  fatal, description = unknown_ca".
    re.compile(r"Received (?:fatal|warning) alert: (\w+)"),
    re.compile(r"ALERT:\s+(?:fatal|warning),\s+(?:description = )?(\w+)"),
    re.compile(r"handshake alert:\s+(\w+)"),
    # Bouncy Castle: "TlsFatalAlertReceived: unknown_ca(48)"; "Certificate Unknown (46)" style.
    re.compile(r"TlsFatalAlert(?:Received)?: (\w+)\(\d+\)"),
    re.compile(r"\b([A-Za-z]+(?:[ _][A-Za-z]+)*) \((\d+)\)"),
    # A number: OpenSSL's "SSL alert number 48", "alert 48".
    re.compile(r"\b(?:SSL )?alert (?:number )?(\d+)\b", re.IGNORECASE),
)


def _known(words: str) -> str | None:
    """An alert name from words in any case and spacing: ``Unknown CA`` -> ``unknown_ca``."""
    name = re.sub(r"[\s-]+", "_", words.strip()).lower()
    name = _OTHER_WORDS.get(name, name)
    return name if name in _BY_NAME else None


def _from_openssl(spelling: str) -> str | None:
    reason = spelling.strip().upper().replace(" ", "_")
    if reason in _BY_REASON:
        return _BY_REASON[reason]
    # Error strings run on into the next words ("... unknown ca (_ssl.c:1000)"): the longest known prefix.
    for known in sorted(_BY_REASON, key=len, reverse=True):
        if reason.startswith(known + "_"):
            return _BY_REASON[known]
    return None


def alert_from_reason(reason: str | None) -> str | None:
    """The alert OpenSSL's reason *code* says was received (``TLSV1_ALERT_UNKNOWN_CA``); None for any other code.

    Exact, unlike :func:`alert_name`: OpenSSL has local reasons spelled as alerts
    (``UNEXPECTED_MESSAGE``, ``INAPPROPRIATE_FALLBACK``, ``NO_RENEGOTIATION``: its own
    finding, no alert received), which only the received-alert codes of the table tell apart.
    """
    return _BY_REASON.get(reason or "")


def alert_name(value: str | int) -> str | None:
    """The IANA name of the alert ``value`` names, in any tool's spelling; None when it names none.

    ``48``, ``"unknown_ca"``, ``"TLSV1_ALERT_UNKNOWN_CA"``, ``"tlsv1 alert unknown ca"``,
    ``"Received fatal alert: unknown_ca"``, ``"Unknown CA (48)"``, ``"SSL alert number 48"``
    are all ``"unknown_ca"``. In a longer text, the first spelling found, most specific first.
    """
    if isinstance(value, int):
        return ALERT_NUMBERS.get(value)
    text = value.strip()
    if text.isdigit():
        return ALERT_NUMBERS.get(int(text))
    if (plain := _known(text)) is not None:
        return plain
    openssl_code, openssl_text, *jsse, titled, number = _SPELLINGS
    for pattern in (openssl_code, openssl_text):
        for match in pattern.finditer(text):
            if (name := _from_openssl(match[1])) is not None:
                return name
    for pattern in jsse:
        for match in pattern.finditer(text):
            if (name := _known(match[1])) is not None:
                return name
    for match in titled.finditer(text):
        # "Certificate Unknown (46)": the last words decide; curl writes 512 + the number after them.
        words = match[1].replace("_", " ").split()
        for start in range(len(words)):
            if (name := _known(" ".join(words[start:]))) is not None:
                return name
    for match in number.finditer(text):
        if (name := ALERT_NUMBERS.get(int(match[1]))) is not None:
            return name
    return None
