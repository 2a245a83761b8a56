"""Outcome codes: the stable, documented names of what happened.

A scenario's ``[expect] outcome`` is one of these; ``check`` reports findings
with these codes (plus its own warnings); JUnit and ``--json`` carry them.
Extend with care: users pin them in scenario files and CI dashboards.
"""

from __future__ import annotations

__all__ = ["OUTCOME_CODES", "SUMMARIES"]

# code -> one-line meaning, in the platform's terms.
SUMMARIES: dict[str, str] = {
    "ok": "handshake and POST succeeded",
    "client-cert-untrusted": "the server does not trust the issuer of the client certificate",
    "client-cert-missing": "the client sent no certificate",
    "client-cert-expired": "the client certificate has expired",
    "client-cert-not-yet-valid": "the client certificate is not valid yet",
    "client-cert-wrong-usage": "the client certificate is not allowed for client authentication",
    "client-chain-incomplete": "the key entry's chain lacks an intermediate the server needs",
    "server-cert-untrusted": "the truststore does not trust the server's certificate chain",
    "server-cert-expired": "the server certificate has expired",
    "server-name-mismatch": "the server certificate does not name the host in the URL",
    "protocol-mismatch": "client and server share no TLS version",
    "key-password-mismatch": "the key entry's password differs from keystorePass",
    "keystore-password-wrong": "keystorePass does not open the keystore",
    "truststore-password-wrong": "truststorePass does not open the truststore",
    "store-unreadable": "a store file is damaged or not a keystore at all",
    "keystore-ambiguous": "the keystore holds more than one key entry",
    "weak-key": "a certificate's key is too small for the other side",
    "weak-signature": "a certificate is signed with a hash the other side refuses (SHA-1, MD5)",
    "http-error": "the handshake succeeded but the server answered with an HTTP error",
    "connection-failed": "no TCP connection (refused, unreachable, timed out)",
    # Not in the original list: a TLS failure the harness cannot attribute.
    # Better an honest "don't know" with the raw error than a wrong guess.
    "handshake-failed": "the TLS handshake failed for a reason the harness cannot tell",
    # Added with real servers, the JDK matrix and support cases (issues 10-12).
    "client-cert-rejected": "the server rejected the client certificate without saying which check failed",
    "client-cert-name-mismatch": "the server checks the client certificate's names against the client's address",
    "renegotiation-failed": (
        "the server asks for the client certificate after the handshake and the client could not answer"
    ),
    "keystore-format-unsupported": "this JDK cannot read the store's encryption or MAC algorithms",
    "truststore-empty": "the truststore holds no trust anchors the JDK can use",
    "keystore-no-key-entry": "the keystore holds no private key entry",
    "key-cert-mismatch": "the key entry's private key does not match its certificate",
    "cipher-mismatch": "client and server share no cipher suite",
    "server-name-unrecognized": "the server does not recognise the host name sent in SNI",
    "server-chain-incomplete": "the server does not send the intermediate certificates Java needs",
    "revocation-check-failed": "a certificate is revoked or its revocation status could not be checked",
}

OUTCOME_CODES: tuple[str, ...] = tuple(SUMMARIES)
