"""The platform's side refused the server: its certificate, its name, or the protocol."""

from __future__ import annotations

import re

from harness.diagnose.certificates import is_self_signed, name_of, san_names
from harness.diagnose.evidence import Evidence, Verdict
from harness.diagnose.raw_errors import JSSE_PATTERNS, UNTRUSTED_VERIFY_CODES, VERIFY_SERVER
from harness.engines import Outcome
from harness.knowledge.tls import no_version_in_common

__all__ = ["client_rejected"]


def client_rejected(outcome: Outcome, evidence: Evidence) -> Verdict | None:
    """The platform's side refused the server (its certificate, name or protocol), if it did."""
    code = None
    if outcome.verify_code is not None:
        code = VERIFY_SERVER.get(outcome.verify_code)
        if code is None and outcome.verify_code in UNTRUSTED_VERIFY_CODES:
            code = "server-cert-untrusted"
    if code is None and outcome.error:
        code = next((c for pattern, c in JSSE_PATTERNS if re.search(pattern, outcome.error)), None)
    if code is None and no_version_in_common(outcome.openssl_reason):
        code = "protocol-mismatch"
    if code is None:
        return None
    if code == "protocol-mismatch":
        return Verdict(
            code,
            "client",
            f"client and server share no TLS version: {outcome.error}",
            evidence.fix(code),
        )
    if code in ("weak-key", "weak-signature"):
        return Verdict(
            code,
            "client",
            f"the platform refused the server certificate: {outcome.error}",
            evidence.fix(code),
        )
    return _server_cert_verdict(code, evidence, outcome)


def _server_cert_verdict(code: str, evidence: Evidence, outcome: Outcome) -> Verdict:
    chain = evidence.server_chain or ()
    anchors = evidence.truststore.certificates if evidence.truststore else ()
    said = f"the platform rejected the server's certificate ({outcome.error})"
    if not chain:
        return Verdict(code, "client", said, evidence.fix(code))
    leaf = chain[0]
    if code == "server-name-mismatch":
        names = san_names(leaf)
        return Verdict(
            code,
            "client",
            f"the server certificate {name_of(leaf)} names {', '.join(names) or 'no host'} "
            f"but the URL's host is {evidence.host}",
            evidence.fix(code),
        )
    expired = [c for c in chain if c.not_valid_after_utc < evidence.now]
    if code == "server-cert-expired" or expired:
        cert = expired[0] if expired else leaf
        return Verdict(
            "server-cert-expired",
            "client",
            f"the server certificate {name_of(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
            evidence.fix("server-cert-expired"),
        )
    trusted = ", ".join(name_of(c) for c in anchors) or "nothing"
    top = chain[-1]
    if not is_self_signed(top) and not any(c.subject == top.issuer for c in anchors):
        missing = name_of(top.issuer)
        sent = "only its certificate" if len(chain) == 1 else f"{len(chain)} certificates"
        return Verdict(
            code,
            "client",
            f"the server sends {sent} (up to {name_of(top)}, issued by {missing}); the truststore trusts {trusted}, "
            f"which does not include {missing}",
            evidence.fix(code, issuer=missing),
        )
    return Verdict(
        code,
        "client",
        f"the server's chain ends at {name_of(top)}, which the truststore does not hold (it trusts {trusted})",
        evidence.fix(code, issuer=name_of(top)),
    )
