"""What the TLS stacks say, as this project has seen them: verify codes, alerts, exception texts, HTTP pages.

Each table maps a stack's raw words to what they mean; the diagnosis
(``harness.diagnose.verdict`` and its sides) reads them, nothing else.
"""

from __future__ import annotations

import re

from harness.knowledge.tls import verify_number

__all__ = [
    "ALERT_CODES",
    "BROKEN",
    "HTTP_REJECTIONS",
    "JSSE_PATTERNS",
    "JSSE_SERVER_PATTERNS",
    "TAG",
    "TRUST_ANCHORS_EMPTY",
    "UNTRUSTED_VERIFY_CODES",
    "VERIFY_CLIENT",
    "VERIFY_SERVER",
]

# OpenSSL verify codes (X509_V_ERR_*, harness.knowledge.tls.VERIFY_CODES) as the server
# reports them about the client certificate, and as the Python client reports
# them about the server certificate.
UNTRUSTED_VERIFY_CODES = {
    verify_number(name)
    for name in (  # issuer unknown / self-signed / cannot verify leaf
        "UNABLE_TO_GET_ISSUER_CERT",
        "DEPTH_ZERO_SELF_SIGNED_CERT",
        "SELF_SIGNED_CERT_IN_CHAIN",
        "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    )
}
VERIFY_CLIENT = {
    verify_number("CERT_NOT_YET_VALID"): "client-cert-not-yet-valid",
    verify_number("CERT_HAS_EXPIRED"): "client-cert-expired",
    verify_number("INVALID_PURPOSE"): "client-cert-wrong-usage",  # no clientAuth EKU / KU
    verify_number("EE_KEY_TOO_SMALL"): "weak-key",  # at the server's security level
    verify_number("CA_KEY_TOO_SMALL"): "weak-key",
    verify_number("CA_MD_TOO_WEAK"): "weak-signature",  # SHA-1 / MD5 signature at security level >= 1
}
VERIFY_SERVER = {
    # not yet valid: same remedy, renew/fix the server certificate
    verify_number("CERT_NOT_YET_VALID"): "server-cert-expired",
    verify_number("CERT_HAS_EXPIRED"): "server-cert-expired",
    verify_number("HOSTNAME_MISMATCH"): "server-name-mismatch",
    verify_number("IP_ADDRESS_MISMATCH"): "server-name-mismatch",
    verify_number("EE_KEY_TOO_SMALL"): "weak-key",
    verify_number("CA_KEY_TOO_SMALL"): "weak-key",
    verify_number("CA_MD_TOO_WEAK"): "weak-signature",
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
