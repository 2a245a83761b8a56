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
from dataclasses import replace

from harness.check.probes import EngineResult
from harness.check.report import SEVERITY_ORDER, Finding, Report, Request, Severity, is_jsse
from harness.diagnose import Evidence, Verdict, diagnose
from harness.engines import Outcome
from harness.knowledge import codes
from harness.knowledge.tls import refusal_statuses

__all__ = ["condense_error", "judge_handshakes"]


def judge_handshakes(report: Report, results: Sequence[EngineResult], evidence: Evidence) -> None:
    """Every engine's live probe, diagnosed with the outcome codes; one finding per cause."""
    live: list[tuple[str, Severity, str, str, str]] = []  # (engine, severity, code, message, fix)
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
        live.append((result.engine, severity, code, message, fix))
    _merge_live(report, live)


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


def _merge_live(report: Report, live: Sequence[tuple[str, Severity, str, str, str]]) -> None:
    """One finding per cause: engines that agree share one; a static finding with the same code absorbs them."""
    by_code: dict[str, list[tuple[str, Severity, str, str, str]]] = {}
    for item in live:
        by_code.setdefault(item[2], []).append(item)
    for code, items in by_code.items():
        names = tuple(sorted(item[0] for item in items))
        agreed = f" ({' and '.join(names)} agreed)" if len(names) > 1 else ""
        # The platform's engine speaks first.
        _, severity, _, message, fix = next((i for i in items if i[0].startswith("jsse")), items[0])
        static = next(
            (i for i, f in enumerate(report.findings) if f.code == code and not f.engines and "Java " not in f.subject),
            None,
        )  # a finding of one Java version (``Java 8u292``, ``… on Java 21.0.8``) is not a live engine's
        if static is not None and code != "ok":
            found = report.findings[static]
            report.findings[static] = replace(
                found,
                severity=min(found.severity, severity, key=SEVERITY_ORDER.index),
                engines=names,
                message=f"{found.message}; live, the {' and '.join(names)} engine(s) found the same",
            )
            continue
        subject = " and ".join(names) + (" engines" if len(names) > 1 else " engine")
        report.findings.append(Finding(code, severity, "handshake", subject, message + agreed, fix, names))
