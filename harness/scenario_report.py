"""What a catalogue run prints about a scenario: a few lines per item, and the verdict per JDK.

Each item's lines name the expected and the actual outcome code, the
diagnosis, its fix, the TLS parameters, the raw error and the server's record
of the handshake: on a mismatch they are the failure's whole text (no
traceback), otherwise they are captured into the JUnit testcase's
``<system-out>`` and ``-rA`` output. The plugin (``harness.plugin``) holds the
pytest hooks that print them.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.run import ScenarioRun
from harness.server import describe_handshake
from harness.text import shown

__all__ = ["report_lines", "verdict_record", "verdicts_per_jdk"]


def report_lines(run: ScenarioRun, engine: str) -> list[str]:
    """The item's lines; ``engine`` is the item's (``jsse-21.0.8`` with several JDKs)."""
    scenario, verdict, outcome, expected = run.scenario, run.verdict, run.outcome, run.expected
    verdict_word = "as expected" if verdict.code == expected else "NOT as expected"
    lines = [f"scenario {scenario.name} [{engine}]: expected {expected}, got {verdict.code} ({verdict_word})"]
    if scenario.expect.why and verdict.code != expected:
        lines.append(f"  why expected: {scenario.expect.why}")
    side = {"server": "the server rejected", "client": "the client side failed", "none": ""}[verdict.side]
    lines.append(f"  diagnosis{f' ({side})' if side else ''}: {verdict.explanation}")
    if verdict.fix:
        lines.append(f"  fix: {verdict.fix}")
    if outcome.protocol:
        lines.append(f"  tls: {outcome.protocol} {outcome.cipher or ''}".rstrip())
    if outcome.http_status is not None:
        lines.append(f"  http: {outcome.http_status}")
    if outcome.server_seen:
        seen = outcome.server_seen
        lines.append(
            f"  client identity seen by the server: {seen.get('subject')} (issuer {seen.get('issuer')}, "
            f"serial {seen.get('serial')}, sha256 {seen.get('sha256')})"
        )
    if outcome.error:
        lines.append(f"  raw error ({engine}): {_one_line(outcome.error)}")
    if run.record is not None:
        lines.append(f"  server: {describe_handshake(run.record)}")
    # Subjects, raw errors and the server's record came from certificates and servers: one line each, inert.
    return [shown(line) for line in lines]


def verdict_record(run: ScenarioRun, engine: str) -> dict[str, str]:
    """The item's verdict as plain values (what pytest-xdist carries to the controller with the report)."""
    java = run.java_version
    label = f"jsse-{java}" if java and engine.startswith("jsse") else engine
    return {"scenario": run.scenario.name, "engine": label, "code": run.verdict.code, "expected": run.expected}


def verdicts_per_jdk(records: Iterable[object]) -> list[str]:
    """Which JDK gave which verdict, one line per scenario, from the items' :func:`verdict_record` values."""
    rows: dict[str, dict[str, str]] = {}
    for v in records:
        if isinstance(v, dict):
            mark = "" if v["code"] == v["expected"] else f" (expected {v['expected']})"
            rows.setdefault(v["scenario"], {})[v["engine"]] = f"{v['code']}{mark}"
    lines = []
    for scenario in sorted(rows):
        cells = "; ".join(f"{engine}: {code}" for engine, code in sorted(rows[scenario].items()))
        lines.append(f"{scenario}: {cells}")
    return lines


def _one_line(text: str, limit: int = 600) -> str:
    flat = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
