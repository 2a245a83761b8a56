"""What the TLS stacks say, as this project has seen them: verify codes, alerts, exception texts, HTTP pages.

Each table maps a stack's raw words to what they mean; the diagnosis
(``harness.diagnose.verdict`` and its sides) reads them, nothing else.
"""

from __future__ import annotations

import re

__all__ = [
    "ALERT_CODES",
    "ALERT_TEXT",
    "BROKEN",
    "HTTP_REJECTIONS",
    "JSSE_PATTERNS",
    "JSSE_SERVER_PATTERNS",
    "PROTOCOL_REASONS",
    "TAG",
    "TRUST_ANCHORS_EMPTY",
    "UNTRUSTED_VERIFY_CODES",
    "VERIFY_CLIENT",
    "VERIFY_SERVER",
]

# OpenSSL verify codes (X509_V_ERR_*, include/openssl/x509_vfy.h) as the server
# reports them about the client certificate, and as the Python client reports
# them about the server certificate.
UNTRUSTED_VERIFY_CODES = {2, 18, 19, 20, 21}  # issuer unknown / self-signed / cannot verify leaf
VERIFY_CLIENT = {
    9: "client-cert-not-yet-valid",  # CERT_NOT_YET_VALID
    10: "client-cert-expired",  # CERT_HAS_EXPIRED
    26: "client-cert-wrong-usage",  # INVALID_PURPOSE: no clientAuth EKU / KU
    66: "weak-key",  # EE_KEY_TOO_SMALL at the server's security level
    67: "weak-key",  # CA_KEY_TOO_SMALL
    68: "weak-signature",  # CA_MD_TOO_WEAK: SHA-1 / MD5 signature at security level >= 1
}
VERIFY_SERVER = {
    9: "server-cert-expired",  # not yet valid: same remedy, renew/fix the server certificate
    10: "server-cert-expired",
    62: "server-name-mismatch",  # HOSTNAME_MISMATCH
    64: "server-name-mismatch",  # IP_ADDRESS_MISMATCH
    66: "weak-key",
    67: "weak-key",
    68: "weak-signature",
}
# Alerts a rejecting server sends (OpenSSL's ssl_x509err2alert, JSSE's
# CertificateMessage / X509TrustManagerImpl), as received by the client.
ALERT_CODES = {
    "unknown_ca": "client-cert-untrusted",
    "bad_certificate": "client-cert-untrusted",
    "certificate_unknown": "client-cert-untrusted",
    "certificate_expired": "client-cert-expired",
    "unsupported_certificate": "client-cert-wrong-usage",
    "certificate_required": "client-cert-missing",
    "protocol_version": "protocol-mismatch",
}
# JSSE exception texts (JDK 17) for the platform rejecting the server, in the
# order to test them: the most specific first. Each row was seen in this
# project's tests (tests/test_jsse.py, the catalogue).
JSSE_PATTERNS: tuple[tuple[str, str], ...] = (
    # sun.security.util.HostnameChecker
    (r"No subject alternative (DNS )?names? matching|No name matching", "server-name-mismatch"),
    # sun.security.provider.certpath: validity is checked after the path is built
    (r"CertificateExpiredException|validity check failed", "server-cert-expired"),
    # sun.security.validator.PKIXValidator: no path to a truststore anchor;
    # "trustAnchors parameter must be non-empty": the truststore has no certificate
    (
        r"PKIX path building failed|unable to find valid certification path|trustAnchors parameter must be non-empty",
        "server-cert-untrusted",
    ),
    # sun.security.validator: a CA whose keyUsage lacks keyCertSign (tests/test_jdk_check.py)
    (r"does not have keyCertSign bit set|KeyUsage does not allow", "server-cert-untrusted"),
    # jdk.tls.disabledAlgorithms / jdk.certpath.disabledAlgorithms
    (r"Algorithm constraints check failed on keysize|key size", "weak-key"),
    (r"Algorithm constraints check failed on signature|disabled algorithm", "weak-signature"),
    # SSLContext / SSLSocket with no protocol in common
    (r"No appropriate protocol|protocol is disabled|Unsupported protocol", "protocol-mismatch"),
)
# OpenSSL reasons meaning "no TLS version in common".
PROTOCOL_REASONS = {
    "UNSUPPORTED_PROTOCOL",
    "NO_PROTOCOLS_AVAILABLE",
    "WRONG_SSL_VERSION",
    "TLSV1_ALERT_PROTOCOL_VERSION",
    "VERSION_TOO_LOW",
    "VERSION_TOO_HIGH",
}
ALERT_TEXT = re.compile(r"Received fatal alert: (\w+)")


# nginx 1.22 completes the handshake and answers HTTP 400 with one of its own
# pages (ngx_http_special_response.c: "No required SSL certificate was sent",
# "The SSL certificate error"); its internal statuses 495/496 show when a site
# turns those pages off or maps them. Apache httpd answers 403 with "Cannot
# perform Post-Handshake Authentication" when a <Location> asks for the
# certificate after a TLS 1.3 handshake the client allowed no PHA in (AH10158).
# Gateways write similar texts. Each row: (pattern on status line + body, kind).
HTTP_REJECTIONS: tuple[tuple[str, str], ...] = (
    (r"Post-Handshake Auth", "post-handshake"),
    (r"^HTTP 496\b|No required SSL certificate|(client )?certificate (is )?required", "missing"),
    (
        r"^HTTP 495\b|SSL certificate error|certificate (was )?(rejected|invalid)|invalid (client )?certificate",
        "rejected",
    ),
)
TAG = re.compile(r"<[^>]*>")
# What a Java or OpenSSL client reports when the server closed (with an alert it
# never read) while the client was still writing: measured against nginx,
# Apache and HAProxy (docs/servers.md).
BROKEN = re.compile(
    r"Broken pipe|Connection reset|Error writing to server|EOF occurred in violation of protocol|"
    r"Remote host terminated|SSLEOFError|Connection or outbound has closed|Unexpected end of file"
)


# What a JSSE server (the java persona) reports when it refuses the client, JDK 17:
# sun.security.util.HostnameChecker, PKIXValidator, CertificateMessage; most specific first.
JSSE_SERVER_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"No subject alternative (DNS |IP )?names? (matching|present)|No name matching", "client-cert-name-mismatch"),
    (r"Empty client certificate chain|Empty server certificate chain", "client-cert-missing"),
    (r"CertificateExpiredException|validity check failed", "client-cert-expired"),
    (r"CertificateNotYetValidException", "client-cert-not-yet-valid"),
    (r"KeyUsage|ExtendedKeyUsage|Extended key usage", "client-cert-wrong-usage"),
    (r"PKIX path building failed|unable to find valid certification path", "client-cert-untrusted"),
    (r"No appropriate protocol|protocol is disabled|Unsupported protocol", "protocol-mismatch"),
)
# A truststore with no trusted-certificate entry (a PKCS#12 made by OpenSSL: Java needs its
# trusted-key-usage attribute) fails the JDK's first certificate check, not the load.
TRUST_ANCHORS_EMPTY = "trustAnchors parameter must be non-empty"
