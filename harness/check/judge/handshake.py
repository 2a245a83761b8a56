"""The judge of the live handshakes: each engine's outcome, read for what was sent, one finding per cause.

``harness.diagnose`` decides each outcome's code; here the HTTP answer is read
for the request that was sent (a 404 to a HEAD is the application's business,
a 400 may be the certificate refused), the stacks' raw error texts condensed to
one line, and the engines that agree share one finding (a static finding with
the same code absorbs them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.check.probes import EngineResult
from harness.check.report import Finding, Report, Request, Seen, Severity, is_jsse
from harness.diagnose import Evidence, Verdict, diagnose, name_of
from harness.engines import Outcome
from harness.knowledge import codes
from harness.knowledge.tls import refusal_statuses
from harness.text import shown

__all__ = ["condense_error", "judge_handshakes", "saw"]


def judge_handshakes(report: Report, results: Sequence[EngineResult], evidence: Evidence) -> None:
    """Every engine's live probe, diagnosed with the outcome codes; the engines that agree share one finding.

    Each finding keeps what each of its engines saw (``Finding.seen``); ``harness.check.judge.causes``
    folds them into the stores' findings and across codes, one finding per cause, once every stage judged.
    """
    live: list[tuple[Seen, Severity, str, str]] = []  # (what the engine saw, severity, message, fix)
    url = report.destination.url
    assert url is not None
    for result in results:
        reason = result.unavailable
        if reason is not None:
            platform = is_jsse(result.engine)
            report.add(
                "engine-unavailable",
                "handshake",
                f"{result.engine} engine",
                reason + (": the platform's own TLS stack (JSSE) was not tried, so check cannot say ready" * platform),
                severity="error" if platform else "warning",
            )
            continue
        sent, outcome = result.sent, result.outcome
        assert sent is not None
        assert outcome is not None
        report.facts[f"request {result.engine}"] = sent.describe(url)
        verdict = diagnose(outcome, evidence)
        code, severity, message, fix = _interpret(verdict, outcome, sent)
        java = outcome.java_version
        report.facts[f"handshake {result.engine}"] = (
            f"{code}: {outcome.protocol or '-'} {outcome.cipher or ''} HTTP {outcome.http_status or '-'}"
            + (f" (Java {java})" if java else "")
        )
        if code == "ok" or (code == "http-error" and severity == "warning"):
            report.verified_with.append(result.engine)
        seen = Seen(result.engine, code, shown(saw(outcome, evidence, message)), java or "")
        live.append((seen, severity, message, fix))
    _group_live(report, live)


def _interpret(verdict: Verdict, outcome: Outcome, sent: Request) -> tuple[str, Severity, str, str]:
    """(code, severity, message, fix) of one engine's probe: the HTTP answer read for what was sent."""
    status = outcome.http_status or 0
    what = f"{sent.method} answered HTTP {status}"
    if verdict.code == "ok":
        return (
            "ok",
            codes.code("ok").severity,
            f"handshake ({outcome.protocol}, {outcome.cipher}) and {what}",
            "",
        )
    if verdict.code == "http-redirect":
        # Never ready on a redirect (issue 22): no engine followed it, so the answer that counts was not seen.
        return "http-redirect", "error", f"{sent.method}: {verdict.explanation}", verdict.fix
    if verdict.code == "http-error" and status in (404, 405) and sent.body is None:
        return (
            "ok",
            codes.code("ok").severity,
            f"handshake ({outcome.protocol}, {outcome.cipher}) done, TLS and the client certificate accepted; "
            f"{what}: the path or method is the application's business, not MTLS's",
            "",
        )
    if verdict.code == "http-error" and status in refusal_statuses():
        # nginx answers a missing or rejected certificate with 400, Apache's per-path checks with 403: the
        # certificate may well be what was refused, so this verifies nothing.
        return (
            "http-error",
            "error",
            f"the handshake succeeded ({outcome.protocol}) but the server refused the {sent.method} with HTTP "
            f"{status}: servers answer a client certificate they reject at the HTTP level this way, so the "
            "certificate is not shown to be accepted",
            verdict.fix,
        )
    if verdict.code == "http-error":
        return "http-error", "warning", verdict.explanation + f" to {sent.method}", verdict.fix
    raw = condense_error(outcome.error)
    # The stacks' raw text inside an explanation (e.g. "no connection: ...") is condensed too: one line.
    explanation = verdict.explanation.replace(outcome.error, raw) if outcome.error else verdict.explanation
    explanation = " ".join(explanation.split())
    detail = f" [{outcome.engine}: {raw}]" if raw and raw not in explanation else ""
    return verdict.code, _refused(verdict.code), explanation + detail, verdict.fix


def _refused(code: str) -> Severity:
    """A live handshake refused: an error, also for a code that is only a warning from the stores alone."""
    found = codes.code(code)
    return "error" if "error" in found.severities else found.severity


# "sun.security.provider.certpath.SunCertPathBuilderException: " inside a message: the class, once is enough.
_QUALIFIED = re.compile(r"\b(?:[a-z_$][\w$]*\.)+([A-Z][\w$]*(?:Exception|Error))\b")
_EMBEDDED = re.compile(r"(?<=: )(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error): ")


def condense_error(error: str | None) -> str:
    """An engine's raw error as one line: the first line that says something, with its exception class.

    The JDK's text is the exception chain, one ``class: message`` per line (often
    with nested class names inside a message); OpenSSL's is one line already.
    """
    if not error:
        return ""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    meaningful = next((line for line in lines if ": " in line), lines[0] if lines else "")
    meaningful = _EMBEDDED.sub("", meaningful)
    meaningful = _QUALIFIED.sub(lambda m: m[1], meaningful)
    return meaningful[:300]


def _group_live(report: Report, live: Sequence[tuple[Seen, Severity, str, str]]) -> None:
    """One finding per code among the live engines (the platform's engine speaks first), with what each saw."""
    by_code: dict[str, list[tuple[Seen, Severity, str, str]]] = {}
    for item in live:
        by_code.setdefault(item[0].code, []).append(item)
    for code, items in by_code.items():
        items = sorted(items, key=lambda i: i[0].engine)
        names = tuple(item[0].engine for item in items)
        agreed = f" ({' and '.join(names)} agreed)" if len(names) > 1 else ""
        _, severity, message, fix = next((i for i in items if is_jsse(i[0].engine)), items[0])
        subject = " and ".join(names) + (" engines" if len(names) > 1 else " engine")
        seen = tuple(item[0] for item in items)
        report.findings.append(
            Finding(code, severity, "handshake", subject, shown(message + agreed), shown(fix), names, seen)
        )


def saw(outcome: Outcome, evidence: Evidence, message: str) -> str:
    """What one engine did and saw, in one line: the certificate it sent (or none), the server's answer."""
    parts = []
    if outcome.store_failure is not None:
        parts.append(f"could not use the {outcome.store_failure.store}")
    if outcome.client_cert_requested and outcome.client_cert_sent is False:
        reason = ""
        if evidence.ca_names and evidence.keystore is not None and evidence.keystore.key_entries:
            reason = " (no key entry is issued by a CA the server names)"
        elif evidence.keystore is not None and not evidence.keystore.key_entries:
            reason = " (the keystore holds no key entry)"
        parts.append("sent no certificate" + reason)
    elif outcome.client_cert_requested and outcome.client_cert_sent:
        parts.append(f"sent {_sent_certificate(outcome, evidence)}")
    if outcome.alert_received:
        parts.append(f"the server answered {outcome.alert_received}")
    elif outcome.stage == "done" or outcome.http_status:
        parts.append(f"HTTP {outcome.http_status or '-'} ({outcome.protocol or '-'})")
    elif raw := condense_error(outcome.error):
        parts.append(raw)
    return ", ".join(parts) or message


def _sent_certificate(outcome: Outcome, evidence: Evidence) -> str:
    """The certificate an engine sent, by its subject (and the key entry's alias)."""
    entries = evidence.keystore.key_entries if evidence.keystore is not None else ()
    alias = outcome.chosen_alias
    entry = next((e for e in entries if alias is not None and e.alias.lower() == alias.lower()), None)
    if entry is None and alias is None and len(entries) == 1:
        entry = entries[0]
    if entry is not None and entry.chain:
        return f"{name_of(entry.chain[0])} (key entry {entry.alias!r})"
    return f"the key entry {alias!r}" if alias else "a certificate"
