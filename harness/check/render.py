"""``check``'s report as text, JSON or JUnit: what was seen, every finding with its fix, the result.

JSON is ``Report.to_json``; text and JUnit are here. Nothing is decided here,
only shown.
"""

from __future__ import annotations

from pathlib import Path

from harness.check.report import CHECKS, LIVE_CHECKS, Report
from harness.junit import Case, write_junit
from harness.terminal import paint
from harness.text import shown

__all__ = ["judged_for", "render_text", "unused_keys_line", "write_report_junit"]

_MARK = {"error": "ERROR  ", "warning": "WARNING", "info": "info   "}


def render_text(report: Report, *, verbose: bool = False, colour: bool = False) -> str:
    """The readable summary: what was seen, then every finding with its fix, then the result.

    ``verbose``: also the destination JSON's keys that the check does not use, and the exception each
    engine's live probe raised (the line the platform would log), condensed and shown inert.
    """
    dest = report.destination
    # Every value from a file, a server or the URL is shown inert, its password masked (harness.text).
    lines = [f"check {shown(dest.source)}" + (f" against {shown(dest.url)}" if dest.url else "")]
    lines += [f"  {shown(key)}: {shown(value)}" for key, value in report.facts.items()]
    if verbose:
        lines.append(f"  {unused_keys_line(report)}")
        lines += [f"  raw error {shown(engine)}: {shown(line)}" for engine, line in report.raw_errors.items()]
    for finding in report.findings:
        mark = paint(_MARK[finding.severity], finding.severity, colour)
        lines.append(f"{mark} {finding.code}: {finding.subject}: {finding.message}")
        if finding.fix:
            lines.append(f"        fix: {finding.fix}")
        if finding.command:
            # Runnable as printed: its own line, nothing around it (passwords from KS_PASS / TS_PASS).
            lines.append(f"        run: {finding.command}")
    if any(f.command for f in report.findings):
        lines.append(_PASSWORDS_NOTE)
    errors = len(report.errors)
    warnings = sum(1 for f in report.findings if f.severity == "warning")
    verdict = paint(report.verdict(), "ready" if report.ready else ("not-ready" if report.exit_code else ""), colour)
    lines.append(f"result: {errors} error(s), {warnings} warning(s): {verdict}; {judged_for(report)}")
    return "\n".join(lines)


_PASSWORDS_NOTE = (
    "the run: lines read passwords from the environment: export KS_PASS (keystorePass) and TS_PASS "
    "(truststorePass) first"
)


def unused_keys_line(report: Report) -> str:
    """The destination JSON's keys that the check does not use (a platform export carries name, type ...)."""
    unused = report.destination.unused_keys
    if not unused:
        return "keys not used by the check: none"
    names = [text if len(text := repr(key)) <= 60 else text[:59] + "…" for key in unused[:_KEYS_SHOWN]]
    more = f" and {len(unused) - _KEYS_SHOWN} more" if len(unused) > _KEYS_SHOWN else ""
    return f"keys not used by the check: {', '.join(names)}{more}"


_KEYS_SHOWN = 30


def judged_for(report: Report) -> str:
    """Which moment the certificates were judged for (the live handshake itself always runs now)."""
    when = f"{report.at:%Y-%m-%d %H:%M} UTC"
    return f"validity judged for {when} (--at)" if report.at_given else f"validity judged for now, {when}"


def write_report_junit(report: Report, path: Path) -> None:
    """One testcase per check; a check fails when it has an error finding."""
    cases = []
    for check in CHECKS:
        # A static finding the live handshake confirmed (one finding per cause) fails the handshake case too.
        found = [f for f in report.findings if f.check == check or (check == "handshake" and f.engines)]
        errors = [f for f in found if f.severity == "error"]
        text = "\n".join(
            f"{f.severity} {f.code}: {f.subject}: {f.message}"
            + (f" (fix: {f.fix})" if f.fix else "")
            + (f"\n  run: {f.command}" if f.command else "")
            for f in found
        )
        skipped = None
        if check in LIVE_CHECKS and report.destination.url is None and not found:
            skipped = "no URL given: the live checks did not run (pass --url)"
        cases.append(
            Case(
                name=check,
                classname="mtls-harness.check",
                failure=text if errors else None,
                output="" if errors else text,
                skipped=skipped,
            )
        )
    facts = {
        "destination": shown(report.destination.source),
        **({"url": shown(report.destination.url)} if report.destination.url else {}),
        **{shown(key): shown(value) for key, value in report.facts.items()},
    }
    write_junit(path, "mtls-harness check", cases, facts)
