"""The fix texts of the outcome codes whose fix needs no particulars, in one place.

Fixes that name the certificate, CA or depth at fault are written where the
diagnosis finds them (``harness.diagnose``'s sides).
"""

from __future__ import annotations

__all__ = ["CLIENT_FIXES", "JDK_FIXES", "SERVER_FIXES", "STORE_FIXES"]

JDK_FIXES = {
    "keystore-format-unsupported": "re-export the store in the legacy PKCS#12 format "
    "(`openssl pkcs12 -export -legacy`, or `keytool -importkeystore -deststoretype JKS`), "
    "or run the platform on Java 8u301 / 11.0.12 / 17+",
    "truststore-empty": "create the truststore with keytool (`keytool -importcert -trustcacerts`), which marks "
    "certificates as trusted; a PKCS#12 made by OpenSSL has no trusted entries for Java",
    "keystore-no-key-entry": "import the private key with its certificate chain (`keytool -importkeystore` from "
    "the PKCS#12 key pair), not only the certificate",
    "key-cert-mismatch": "import the private key together with the certificate issued for it (the CSR's key)",
}


SERVER_FIXES = {
    "server-name-mismatch": "use a URL whose host the server certificate names",
    "server-cert-expired": "the server's operator must renew its certificate",
    "server-cert-untrusted": "add the server's CA certificates to the truststore (`mtls-harness truststore URL`)",
}


CLIENT_FIXES = {
    "client-cert-untrusted": "use a certificate issued by a CA the server trusts, "
    "or send the server's operator your CA certificate",
    "client-cert-expired": "get a renewed certificate and rebuild the keystore",
    "client-cert-wrong-usage": "get a certificate with extended key usage clientAuth",
}

# A store the platform cannot use: the codes harness.diagnose.store_failures decides.
STORE_FIXES = {
    "keystore-password-wrong": "set keystorePass to the password the keystore was saved with",
    "truststore-password-wrong": "set truststorePass to the password the truststore was saved with",
    "store-unreadable": "re-create the store (see README, Before go-live) and check keystoreFile/truststoreFile",
    "key-password-mismatch": "set the key password equal to keystorePass (the platform assumes they match)",
    "keystore-ambiguous": "keep exactly one key entry in the keystore (delete the others with keytool -delete)",
    # The JDK-matrix codes (issue 11): jdk_rules.py and harness/check/jdk.py find them.
    **JDK_FIXES,
}
