"""Real servers that refuse the client certificate after the handshake, in their HTTP answer.

nginx answers a missing or rejected certificate with its own 400 pages, Apache
a certificate asked for after a TLS 1.3 handshake with 403 (see
``raw_errors.HTTP_REJECTIONS``).
"""

from __future__ import annotations

import re

from harness.diagnose.client_certificate import client_cert_verdict
from harness.diagnose.evidence import Evidence, Verdict, asked_and_sent
from harness.diagnose.raw_errors import HTTP_REJECTIONS, TAG
from harness.diagnose.server_rejected import why_rejected
from harness.engines import Outcome

__all__ = ["http_rejection"]


def _first_line(body: str) -> str:
    """The first line of a body that says something: tags stripped, so an HTML page gives its title."""
    for line in TAG.sub("\n", body).splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def http_rejection(outcome: Outcome, evidence: Evidence) -> Verdict | None:
    """A 4xx whose status or body says the client certificate was missing or rejected, as a client-cert verdict."""
    status = outcome.http_status or 0
    reason = outcome.http_reason or ""
    status_line = f"HTTP {status}" + (f" {reason}" if reason else "")
    body = outcome.response_body or ""
    first = _first_line(body)
    text = f"{status_line}\n{TAG.sub(' ', body)}"
    kind = next((k for pattern, k in HTTP_REJECTIONS if re.search(pattern, text, re.IGNORECASE | re.MULTILINE)), None)
    if kind is None:
        return None
    said = f"the handshake succeeded ({outcome.protocol}) but the server answered {status_line}" + (
        f' "{first}"' if first else ""
    )
    if kind == "post-handshake":
        return _post_handshake(outcome, evidence, said)
    if kind == "missing" or not asked_and_sent(outcome):
        return client_cert_verdict("client-cert-missing", evidence, said)
    return why_rejected(outcome, evidence, said)


def _post_handshake(outcome: Outcome, evidence: Evidence, said: str) -> Verdict:
    if outcome.engine == "jsse":
        cannot = "the JDK does not implement TLS 1.3 post-handshake authentication, so the platform cannot answer"
    else:
        cannot = "this client did not offer TLS 1.3 post-handshake authentication (the JDK cannot)"
    return Verdict(
        "renegotiation-failed",
        "server",
        f"{said}: the server asks for the client certificate only for this path, after the handshake; {cannot}",
        evidence.fix("renegotiation-failed"),
    )
