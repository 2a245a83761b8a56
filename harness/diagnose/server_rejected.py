"""The server refused the client: from its record of the handshake (our own server), or from its alert.

The server names a failure, the material tells which: its record's verify
code or JSSE error, a real server's alert, a connection it broke right after
the client's certificate. When nothing tells the reason, the candidates are
listed, most likely first.
"""

from __future__ import annotations

import re

from cryptography import x509

from harness.diagnose.certificates import is_self_signed, name_of, reaches_ca_names, san_names, top_ca
from harness.diagnose.client_certificate import client_cert_verdict, untrusted
from harness.diagnose.client_rejected import client_rejected
from harness.diagnose.evidence import (
    Evidence,
    Verdict,
    asked_and_sent,
    chain_problem,
    connection_broke,
    needed_depth,
    sent_no_certificate,
    sent_none_when_asked,
)
from harness.diagnose.raw_errors import (
    ALERT_CODES,
    JSSE_SERVER_PATTERNS,
    UNTRUSTED_VERIFY_CODES,
    VERIFY_CLIENT,
)
from harness.engines import Outcome
from harness.knowledge.alerts import alert_name
from harness.knowledge.tls import no_version_in_common
from harness.server.records import HandshakeRecord
from harness.stores import KeyEntry

__all__ = [
    "candidates",
    "chain_too_long",
    "depth_fix",
    "from_alert",
    "jsse_refusal",
    "protocol_mismatch",
    "rejected_after_certificate",
    "server_rejected",
    "why_rejected",
]


def server_rejected(record: HandshakeRecord, outcome: Outcome, evidence: Evidence) -> Verdict:
    said = f"the server rejected the handshake ({record.reason}"
    said += f", verify error {record.verify_code}: {record.verify_message})" if record.verify_code is not None else ")"
    if record.reason == "JSSE":
        return _jsse_server_rejected(record, outcome, evidence)
    if any("chain too long" in e for e in record.verify_errors):
        # The apache persona's SSLVerifyDepth refusal (harness.server.personas).
        return chain_too_long(outcome, evidence, f"{said}; {record.verify_errors[0]}")
    if record.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return client_cert_verdict("client-cert-missing", evidence, said)
    if no_version_in_common(record.reason) or (record.reason or "").startswith("VERSION_TOO"):
        return protocol_mismatch(evidence, said)
    if record.reason == "NO_SHARED_CIPHER":
        return Verdict(
            "cipher-mismatch",
            "server",
            f"{said}: the server supports none of the cipher suites the client offered",
            evidence.fix("cipher-mismatch"),
        )
    if record.verify_code in VERIFY_CLIENT:
        return client_cert_verdict(VERIFY_CLIENT[record.verify_code], evidence, said)
    if record.verify_code in UNTRUSTED_VERIFY_CODES:
        return client_cert_verdict("client-cert-untrusted", evidence, said)
    if record.verify_code is None and (client_side := client_rejected(outcome, evidence)) is not None:
        # The client aborted first (it rejected the server); the server only saw the alert.
        return client_side
    return Verdict(
        "handshake-failed",
        "server",
        f"{said}; the client saw: {outcome.error}",
        evidence.fix("handshake-failed"),
    )


def _jsse_server_rejected(record: HandshakeRecord, outcome: Outcome, evidence: Evidence) -> Verdict:
    error = record.error or ""
    said = f"the server (JSSE) rejected the handshake: {error.split(' <- ')[-1]}"
    code = next((c for pattern, c in JSSE_SERVER_PATTERNS if re.search(pattern, error)), None)
    if code == "client-cert-name-mismatch":
        entry = evidence.key_entry
        names = san_names(entry.chain[0]) if entry is not None and entry.chain else []
        return Verdict(
            code,
            "server",
            f"{said}: the server checks the client certificate's subject alternative names against the address "
            f"the client connects from ({evidence.host} here), and your certificate names "
            f"{', '.join(names) or 'none'}",
            evidence.fix(code),
        )
    if code == "protocol-mismatch":
        return protocol_mismatch(evidence, said)
    if code is not None:
        return client_cert_verdict(code, evidence, said)
    if (client_side := client_rejected(outcome, evidence)) is not None:
        return client_side
    return Verdict(
        "handshake-failed", "server", f"{said}; the client saw: {outcome.error}", evidence.fix("handshake-failed")
    )


def protocol_mismatch(evidence: Evidence, said: str) -> Verdict:
    return Verdict(
        "protocol-mismatch",
        "server",
        f"{said}: client and server share no TLS version",
        evidence.fix("protocol-mismatch"),
    )


def rejected_after_certificate(outcome: Outcome, evidence: Evidence) -> Verdict:
    """The connection broke after the server asked for a certificate: the alert was lost, the material tells why."""
    said = (
        f"the server closed the connection right after the client's certificate and the client reported "
        f"{outcome.error!r} (what the platform prints too; the server's alert was lost because it closed at once)"
    )
    if sent_none_when_asked(outcome) or not (evidence.keystore is None or evidence.keystore.key_entries):
        return client_cert_verdict("client-cert-missing", evidence, said)
    return why_rejected(outcome, evidence, said)


def why_rejected(outcome: Outcome, evidence: Evidence, said: str) -> Verdict:
    """A sent certificate rejected without the reason: the material's own fault if it has one, else the candidates."""
    if (found := chain_problem(evidence)) is not None:
        return client_cert_verdict(found, evidence, f"{said}; most likely cause")
    entry = evidence.key_entry
    if entry is not None and entry.chain and evidence.ca_names and not reaches_ca_names(entry.chain, evidence.ca_names):
        return untrusted(evidence, entry, f"{said}; most likely cause")
    if entry is not None and entry.chain and not evidence.ca_names and not is_self_signed(entry.chain[-1]):
        # A right certificate whose CA the server does not name (HAProxy
        # no-ca-names): an untrusted issuer is by far the likeliest refusal.
        return untrusted(evidence, entry, f"{said}; most likely cause (the server names no CAs, so unconfirmed)")
    return candidates(evidence, said)


def chain_too_long(outcome: Outcome, evidence: Evidence, said: str) -> Verdict:
    depth = needed_depth(evidence)
    if depth < 2:
        return candidates(evidence, f"{said} after receiving the client certificate")
    also = chain_problem(evidence)
    return Verdict(
        "client-cert-rejected",
        "server",
        f"{said} after receiving the client certificate, whose chain has {depth} CA level(s) above it: Apache httpd "
        f"does this when the chain is longer than its SSLVerifyDepth (default 1; its log says AH02040: "
        "Certificate Chain too long)"
        + f": {depth_fix(depth)}"
        + (f"; the certificate has a fault of its own as well ({also}), found next" if also else ""),
        evidence.fix("client-cert-rejected"),
    )


def depth_fix(depth: int) -> str:
    # Apache counts the root (the leaf is depth 0); nginx's OpenSSL limit counts intermediates only.
    return (
        f"ask the server's operator to raise SSLVerifyDepth (Apache) to at least {depth}, "
        f"or ssl_verify_depth (nginx) to at least {depth - 1}"
    )


def jsse_refusal(entry: KeyEntry, evidence: Evidence, said: str) -> Verdict:
    """certificate_unknown for a sound certificate under a CA the (JSSE) server names."""
    leaf = entry.chain[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        addresses = san.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        addresses = []
    if addresses:
        return candidates(evidence, said, jsse_server=True)
    names = ", ".join(san_names(leaf)) or "no subject alternative names"
    return Verdict(
        "client-cert-name-mismatch",
        "server",
        f"{said} for your certificate {name_of(leaf)}, which is sound and issued under a CA the server names "
        f"(so trusted by it); most likely the server checks the certificate's names against the client's address "
        f"(endpoint identification of the client, e.g. Jetty), and it has {names}, no IP address. Unconfirmed: "
        "a JSSE server sends this alert for any certificate problem, e.g. also a failed revocation check",
        evidence.fix("client-cert-name-mismatch"),
    )


def candidates(evidence: Evidence, said: str, *, jsse_server: bool = False) -> Verdict:
    depth = needed_depth(evidence)
    causes = []
    entry = evidence.key_entry
    if jsse_server and entry is not None and entry.chain:
        names = ", ".join(san_names(entry.chain[0])) or "no subject alternative names"
        causes.append(
            "the server (a JSSE one, by its certificate_unknown) checks your certificate's names against your "
            f"address, and your certificate has {names} (client-cert-name-mismatch)"
        )
    if entry is not None and entry.chain and not evidence.ca_names:
        # No CA names: nothing here tells which CAs the server trusts.
        causes.append(f"the server does not trust {top_ca(entry.chain)}, the CA your certificate chains to")
    if depth >= 2:
        causes.append(
            f"the server's verify depth is too small for your chain's {depth} CA levels "
            f"(Apache SSLVerifyDepth below {depth}, its default is 1; nginx ssl_verify_depth below {depth - 1})"
        )
    causes += [
        "the server's client-CA file differs from the CA names it advertises",
        "the certificate is revoked (the server checks a CRL or OCSP)",
        "the server restricts which client certificates it accepts (subject, fingerprint)",
    ]
    if not jsse_server:
        causes.append("a JSSE server checks your certificate's names against your address (client-cert-name-mismatch)")
    listed = "; ".join(f"({i}) {c}" for i, c in enumerate(causes, 1))
    return Verdict(
        "client-cert-rejected",
        "server",
        f"{said}: the server rejected the client certificate without saying why, and the certificate itself looks "
        f"right; candidate causes: {listed}"
        + (f"; if it is the verify depth: {depth_fix(depth)}" if depth >= 2 else ""),
        evidence.fix("client-cert-rejected"),
    )


def from_alert(outcome: Outcome, evidence: Evidence) -> Verdict:
    """A server that is not ours rejected the handshake: only its alert and the material tell the story."""
    alert = outcome.alert_received or alert_name(outcome.error or "")
    said = f"the server sent the alert {alert}"
    if alert == "internal_error" and asked_and_sent(outcome):
        return chain_too_long(outcome, evidence, said)
    if alert is None and connection_broke(outcome) and outcome.client_cert_requested:
        return rejected_after_certificate(outcome, evidence)
    if alert in ("bad_certificate", "certificate_unknown", "handshake_failure") and sent_none_when_asked(outcome):
        # JSSE servers (JDK 17 too) answer an empty client chain with bad_certificate.
        return client_cert_verdict("client-cert-missing", evidence, said)
    if alert in ("bad_certificate", "certificate_unknown") and (found := chain_problem(evidence)):
        # OpenSSL and JSSE servers send these for a certificate that is not yet
        # valid, weak or of the wrong use as well as for an unknown issuer
        # (ssl_x509err2alert): the certificate itself tells which.
        return client_cert_verdict(found, evidence, said)
    if alert == "protocol_version":
        return protocol_mismatch(evidence, said)  # not a certificate matter (seen with check --client-tls 1.2)
    entry = evidence.key_entry
    if (
        alert == "certificate_unknown"
        and entry is not None
        and entry.chain
        and evidence.ca_names
        and reaches_ca_names(entry.chain, evidence.ca_names)
    ):
        # A JSSE server's answer to any CertificateException. Its CA names are
        # its truststore's subjects, so a sound certificate under one of them is
        # trusted: untrusted would be a wrong guess with a wrong fix.
        return jsse_refusal(entry, evidence, said)
    if alert in ALERT_CODES:
        return client_cert_verdict(ALERT_CODES[alert], evidence, said)
    if alert == "handshake_failure" and sent_no_certificate(outcome, evidence):
        # TLS 1.2 servers answer a missing client certificate with handshake_failure.
        return client_cert_verdict("client-cert-missing", evidence, said)
    return Verdict(
        "handshake-failed",
        "none",
        f"the handshake failed and the harness cannot tell why: {outcome.error}",
        evidence.fix("handshake-failed"),
    )
