"""The HTML report of ``check``: one destination in full, or a fleet as a sortable table and an expiry timeline.

Nothing is judged here: the verdict, the findings and the facts are the
report's (``harness.check``); this module only arranges them for the
templates. A fleet's timeline places each destination at the days from now
until its first certificate expiry (either side), the go-live date (``--at``)
marked on the same axis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.check.fleet import Row
from harness.check.render import judged_for
from harness.check.report import Finding, Report
from harness.html.chains import cert_boxes, client_chains
from harness.html.templating import render, write_html
from harness.html.timeline import timeline
from harness.text import shown

__all__ = ["EngineRow", "check_html", "check_report_writer", "engine_rows", "fleet_html"]

# The facts that belong to one engine's live probe (the judge's keys: harness/check/judge/handshake.py).
_SENT, _BACK = "request ", "handshake "


@dataclass(frozen=True)
class EngineRow:
    """What one engine (one per JDK for jsse) sent and what came back."""

    engine: str
    sent: str
    back: str
    raw_error: str


def engine_rows(report: Report) -> list[EngineRow]:
    """Per engine (per JDK): the request sent and the handshake's answer, in the order the facts were found."""
    engines = [key.removeprefix(_BACK) for key in report.facts if key.startswith(_BACK)]
    engines += [e for e in report.raw_errors if e not in engines]
    return [
        EngineRow(
            engine=shown(engine),
            sent=shown(report.facts.get(_SENT + engine, "-")),
            back=shown(report.facts.get(_BACK + engine, "no handshake")),
            raw_error=shown(report.raw_errors.get(engine, "")),
        )
        for engine in engines
    ]


def _jdk_facts(report: Report) -> list[tuple[str, str]]:
    return [(shown(k), shown(v)) for k, v in report.facts.items() if " on Java " in k or k.startswith("stores judged")]


def _other_facts(report: Report) -> list[tuple[str, str]]:
    per_engine = (_SENT, _BACK)
    return [
        (shown(k), shown(v))
        for k, v in report.facts.items()
        if not k.startswith(per_engine) and " on Java " not in k and not k.startswith("stores judged")
    ]


def _severity_counts(findings: Sequence[Finding]) -> dict[str, int]:
    return {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}


def _destination_context(report: Report, expiring_days: int) -> dict[str, object]:
    dest = report.destination
    return {
        "source": shown(dest.source or "-"),
        "url": shown(dest.url) if dest.url else None,
        "ready": report.ready,
        "verdict": shown(report.verdict()),
        "judged_for": judged_for(report),
        "findings": report.findings,  # subject, message and fix are shown() by Report.add
        "counts": _severity_counts(report.findings),
        "client_chains": client_chains(report.client_chains, report.ca_names, report.at, expiring_days),
        "server_chain": cert_boxes(report.server_chain, report.at, expiring_days),
        "ca_names_asked": report.ca_names is not None,
        "ca_names": [shown(n.rfc4514_string() or "(empty name)") for n in report.ca_names or ()],
        "engines": engine_rows(report),
        "jdk_facts": _jdk_facts(report),
        "facts": _other_facts(report),
        "first_expiry": report.first_expiry,
    }


def check_html(report: Report, expiring_days: int = 30) -> str:
    """The page of one destination's check."""
    return render("check.html.j2", title="mtls-harness check", d=_destination_context(report, expiring_days))


def fleet_html(rows: Sequence[Row], now: dt.datetime, at: dt.datetime | None, expiring_days: int = 30) -> str:
    """The page of a fleet: verdict, sortable table, expiry timeline, then each destination's findings."""
    table = []
    for row in rows:
        report = row.report
        table.append(
            {
                "name": shown(row.path.name),
                "url": row.url,
                "ready": row.ready,
                "state": "ready" if row.ready else ("error" if report is None else "not-ready"),
                "days": report.first_expiry[0] if report and report.first_expiry else None,
                "first_finding": row.first_finding(),
                "counts": _severity_counts(report.findings if report else ()),
                "seconds": round(row.seconds, 2),
                "findings": report.findings if report else [],
                "error": shown(row.error) if row.error else None,
            }
        )
    ready = sum(r.ready for r in rows)
    go_live = (at - now).days if at is not None else None
    return render(
        "fleet.html.j2",
        title="mtls-harness check: fleet",
        rows=table,
        ready=ready,
        total=len(rows),
        timeline=timeline(rows, now, go_live, expiring_days),
        go_live=go_live,
        at=f"{at:%Y-%m-%d %H:%M} UTC" if at else None,
        now=f"{now:%Y-%m-%d %H:%M} UTC",
        expiring_days=expiring_days,
    )


def check_report_writer(
    path: Path, now: dt.datetime, at: dt.datetime | None, expiring_days: int
) -> Callable[[Sequence[Row], bool], None]:
    """``check --html FILE``: what writes one destination's page, or a fleet's, to ``path``."""

    def write(rows: Sequence[Row], fleet: bool) -> None:
        if fleet:
            page = fleet_html(rows, now, at, expiring_days)
        else:
            assert rows[0].report is not None
            page = check_html(rows[0].report, expiring_days)
        write_html(path, page)

    return write
