"""The HTML report of a catalogue ``run``, read from the JUnit XML its pytest session wrote.

Each testcase is one scenario probed by one engine (``ok-rsa[jsse-21.0.8]``);
its captured lines (``harness.scenario_report.report_lines``) say what was
expected, what came back (the outcome code, TLS version, HTTP status, the
identity the server saw, the raw error) and the fix. The page shows the
verdict, the items not as expected as findings, and a scenario x engine grid.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET  # the run's own pytest output, not a stranger's file
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from harness.errors import UsageError
from harness.html.chains import cert_boxes, client_chains
from harness.html.run_chains import CLIENT, SERVER, read_chain
from harness.html.templating import render
from harness.text import shown

__all__ = ["RunItem", "read_run", "run_html"]

_FIRST = re.compile(r"scenario (?P<scenario>\S+) \[(?P<engine>[^\]]+)\]: expected (?P<expected>\S+), got (?P<got>\S+)")
_NAME = re.compile(r"(?P<scenario>.+)\[(?P<engine>[^\]]+)\]$")
_DETAIL = re.compile(r"^  (?P<key>[a-z][a-z ()'0-9.-]*?): (?P<value>.*)$")


@dataclass
class RunItem:
    """One scenario and one engine, as its JUnit testcase tells it."""

    scenario: str
    engine: str
    status: str  # "as-expected", "not-as-expected", "skipped", "error"
    expected: str = ""
    got: str = ""
    details: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""  # a skip's or an error's reason
    # The key entries' chains (alias -> leaf first) and the server's, from the testcase's properties.
    client_chains: dict[str, tuple[x509.Certificate, ...]] = field(default_factory=dict)
    server_chain: tuple[x509.Certificate, ...] = ()

    def detail(self, key: str) -> str:
        return next((v for k, v in self.details if k == key or k.startswith(key + " (")), "")


def _parse_lines(item: RunItem, text: str) -> None:
    for line in text.splitlines():
        if match := _FIRST.search(line):
            item.expected, item.got = match["expected"], match["got"]
        elif match := _DETAIL.match(line):
            item.details.append((shown(match["key"]), shown(match["value"])))


def read_run(junit: Path) -> list[RunItem]:
    """The items of the run's JUnit file, in its order."""
    try:
        root = ET.parse(junit).getroot()  # noqa: S314 - written by this run's pytest a moment ago
    except (OSError, ET.ParseError) as exc:
        raise UsageError(str(junit), f"cannot read the run's JUnit report: {exc}", "run again") from None
    items = []
    for case in root.iter("testcase"):
        name = case.get("name", "")
        match = _NAME.match(name)
        scenario, engine = (match["scenario"], match["engine"]) if match else (name, "-")
        item = RunItem(shown(scenario), shown(engine), "as-expected")
        for prop in case.iter("property"):
            name, value = prop.get("name", ""), prop.get("value", "")
            if name.startswith(CLIENT):
                item.client_chains[name.removeprefix(CLIENT)] = read_chain(value)
            elif name == SERVER:
                item.server_chain = read_chain(value)
        for child in case:
            text = (child.text or "") + "\n" + child.get("message", "")
            if child.tag == "failure":
                item.status = "not-as-expected"
                _parse_lines(item, text)
                if not item.got:
                    item.status, item.note = "error", shown(child.get("message", "") or text.strip()[:300])
            elif child.tag == "error":
                item.status, item.note = "error", shown(child.get("message", "") or text.strip()[:300])
            elif child.tag == "skipped":
                item.status, item.note = "skipped", shown(child.get("message", ""))
            elif child.tag == "system-out":
                _parse_lines(item, text)
        items.append(item)
    return items


def run_html(junit: Path, title: str = "mtls-harness run") -> str:
    """The page of a catalogue run from its JUnit file."""
    items = read_run(junit)
    engines = sorted({i.engine for i in items})
    grid: dict[str, dict[str, RunItem]] = {}
    for item in items:
        grid.setdefault(item.scenario, {})[item.engine] = item
    counts = {s: sum(1 for i in items if i.status == s) for s in ("as-expected", "not-as-expected", "skipped", "error")}
    ok = bool(items) and counts["not-as-expected"] == counts["error"] == 0
    # One scenario's chains, from its first item that carries them: every engine met the same stores and server.
    now = dt.datetime.now(dt.UTC)
    chains = {}
    for item in items:
        if item.scenario not in chains and (item.client_chains or item.server_chain):
            chains[item.scenario] = {
                "client": client_chains(item.client_chains, None, now),
                "server": cert_boxes(item.server_chain, now),
            }
    return render(
        "run.html.j2",
        title=title,
        items=items,
        engines=engines,
        grid=grid,
        counts=counts,
        ok=ok,
        problems=[i for i in items if i.status != "as-expected"],
        chains=chains,
    )
