"""Outcome codes, in one place: from what the client saw, what the server recorded, and the material.

Inputs: an engine's :class:`~harness.engines.Outcome` (typed facts, raw errors
included), the server's :class:`~harness.server.records.HandshakeRecord` of
the same connection when the server is ours, and :class:`Evidence` (the
stores, the server chain, the CAs the server trusts or names). Output: a
:class:`Verdict` with the outcome code, the side that rejected, and an
explanation and fix in the platform's terms (keystoreFile, keystorePass, key
entry, truststore).

This is the top of the tree; its branches are the modules beside it: the
stores (``store_failures``), the HTTP answer (``http_answer``), the server
refusing the client (``server_rejected``, ``client_certificate``) and the
platform refusing the server (``client_rejected``).
"""

from __future__ import annotations

from harness.diagnose.client_certificate import client_cert_verdict
from harness.diagnose.client_rejected import client_rejected
from harness.diagnose.evidence import Evidence, Verdict, sent_none_when_asked
from harness.diagnose.http_answer import http_rejection, is_redirect, redirect_verdict, silent_application
from harness.diagnose.server_rejected import from_alert, server_rejected
from harness.diagnose.store_failures import key_cert_mismatch, store_verdict
from harness.engines import Outcome

__all__ = ["diagnose"]


def diagnose(outcome: Outcome, evidence: Evidence) -> Verdict:
    """The outcome code of one probe, the side that rejected, and what to do."""
    if outcome.completed:
        status = outcome.http_status or 0
        if status >= 400 and (rejected := http_rejection(outcome, evidence)) is not None:
            return rejected
        if is_redirect(status):
            # Never followed (issue 22): the answer is elsewhere, so nothing here is verified.
            return redirect_verdict(outcome, evidence)
        if sent_none_when_asked(outcome):
            # Optional client auth (nginx `ssl_verify_client optional`, JSSE
            # setWantClientAuth): served, but the platform meant to authenticate.
            said = (
                f"the server asked for a client certificate, got none and answered the request anyway "
                f"(HTTP {status}: optional client authentication)"
            )
            return client_cert_verdict("client-cert-missing", evidence, said)
        if status >= 400:
            return Verdict(
                "http-error",
                "server",
                f"the handshake succeeded ({outcome.protocol}) and the server accepted the client certificate, "
                f"but answered HTTP {status}",
                evidence.fix("http-error"),
            )
        return Verdict(
            "ok", "none", f"handshake ({outcome.protocol}, {outcome.cipher}) and request succeeded, HTTP {status}"
        )
    if (stores := store_verdict(outcome, evidence)) is not None:
        return stores
    if (silent := silent_application(outcome, evidence)) is not None:
        # After a completed handshake, never a handshake failure (issue 24).
        return silent
    if outcome.error_type == "ServerTooSlow":
        # The whole-answer deadline (issue 15): the python engine knows it got to
        # the HTTP answer, the jsse engine cannot tell how far the JVM got; the
        # verdict is the same for both, whatever the stage.
        return Verdict(
            "handshake-failed",
            "server",
            f"the server did not finish answering in time: {outcome.error}; the server, or something in front of "
            "it, sends its answer a little at a time or never ends it: see whether it answers a plain request "
            "promptly (curl -v); if it is merely slow, raise `check --timeout`",
            evidence.fix("handshake-failed"),
        )
    if outcome.stage in ("keystore", "handshake", "http") and (mismatch := key_cert_mismatch(evidence)) is not None:
        return mismatch
    if outcome.stage == "connect":
        return Verdict(
            "connection-failed", "none", f"no connection: {outcome.error}", evidence.fix("connection-failed")
        )
    record = evidence.handshake
    if record is not None and not record.accepted:
        return server_rejected(record, outcome, evidence)
    if (client_side := client_rejected(outcome, evidence)) is not None:
        return client_side
    return from_alert(outcome, evidence)
