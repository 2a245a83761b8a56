"""Each engine's run of a reproduced scenario against ``check``'s code on the customer's stores.

The scenario is run on every chosen engine: python (OpenSSL), and jsse on each
chosen JDK (the default JDK always). Each engine's code is compared with what ``check`` says of the
customer's stores (on the same JDK; python against the first, as ``check``
judges the stores as the JDK reads them). A difference gets its reason, from
a run, not a guess: the captured server of ``--profile`` (the same scenario
without it gives ``check``'s code: ``check`` judges the stores alone and sends
nothing to the customer's server), or OpenSSL and the JDK differing (a JDK
gives ``check``'s code where python does not); anything else is unexplained.
The written ``[expect]`` holds every engine's code (``engines.python``,
``jdk``), so a default ``run`` of the file passes on every engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.check import Report, run_check
from harness.destination import Destination
from harness.engines import Engine
from harness.engines.factory import make_engines
from harness.engines.jsse import JsseEngine
from harness.errors import UsageError
from harness.java.runtimes import resolve_jdks
from harness.knowledge.codes import is_outcome
from harness.run import ScenarioRun, run_scenario
from harness.scenario import load_scenario

__all__ = ["Agreement", "EngineSet", "agreements", "expectation"]

_REASON_CHARS = 200


@dataclass(frozen=True)
class Agreement:
    """One engine: the scenario's code, check's code, and why they differ ("" when they agree)."""

    engine: str
    got: str
    check: str
    reason: str = ""
    explained: bool = True

    @property
    def same(self) -> bool:
        return self.got == self.check

    def line(self) -> str:
        head = f"{self.engine}: scenario {self.got}, check {self.check} -> "
        return head + ("same" if self.same else f"DIFFERENT: {self.reason}")


class EngineSet:
    """The chosen engines (python first, then jsse on the default JDK and on each ``--jdk``), open for the whole
    reproduction."""

    def __init__(self, choice: str, jdks: Sequence[str] | None) -> None:
        # The default JDK always (a default `run` uses it, and [expect] outcome is its code), then each --jdk.
        self.engines: list[Engine] = make_engines(choice)
        if jdks and choice != "python":
            self.engines += make_engines("jsse", resolve_jdks(jdks)[0])
        for engine in self.engines:
            reason = engine.unavailable_reason()
            if reason is not None:
                self.close()
                fix = "install a JDK or --engine python"
                raise UsageError("--engine", f"{engine.name} engine unavailable: {reason}", fix)

    @property
    def jsse(self) -> list[JsseEngine]:
        return [e for e in self.engines if isinstance(e, JsseEngine)]

    def run(self, path: Path, only: Sequence[str] | None = None) -> dict[str, ScenarioRun]:
        """The scenario file at ``path`` run on each engine (or those named in ``only``), by engine name."""
        scenario = load_scenario(path)
        return {e.name: run_scenario(scenario, e) for e in self.engines if only is None or e.name in only}

    def check_codes(self, destination: Destination) -> dict[str, str]:
        """check's code on the stores per engine: each JDK's own; python's that of the first (else default) JDK."""
        codes = {e.name: _check_code(destination, [e]) for e in self.jsse}
        if any(not isinstance(e, JsseEngine) for e in self.engines):
            if codes:
                first = next(iter(codes.values()))
            else:
                [default] = make_engines("jsse")
                try:
                    first = _check_code(destination, [default])
                finally:
                    default.close()
            codes = {"python": first, **codes}
        return codes

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


def _check_code(destination: Destination, jdks: list[Any]) -> str:
    """The code ``check`` gives on the customer's stores (no live part: nothing is sent), as the command does:
    with that JDK's reading of the stores (its key entries, the alias its key manager chooses)."""
    report: Report = run_check(destination, jdks=(jdks, ()))
    if report.errors:
        return report.errors[0].code
    warnings = [f.code for f in report.findings if is_outcome(f.code)]
    return warnings[0] if warnings else "ok"


def expectation(runs: dict[str, ScenarioRun]) -> dict[str, Any]:
    """``[expect]`` that every engine's run meets: the default JDK's code (the platform's, and what a default
    ``run`` meets), python's and other JDKs' (by their full version) where they differ from it."""
    jsse = [r for name, r in runs.items() if name != "python"]
    reference = (jsse[0] if jsse else runs["python"]).verdict.code
    expect: dict[str, Any] = {"outcome": reference}
    if "python" in runs and runs["python"].verdict.code != reference:
        expect["engines"] = {"python": runs["python"].verdict.code}
    by_jdk = {
        r.outcome.java_version: r.verdict.code
        for r in jsse[1:]
        if r.verdict.code != reference and r.outcome.java_version
    }
    if by_jdk:
        expect["jdk"] = by_jdk
    return expect


def _said(run: ScenarioRun) -> str:
    text = " ".join(run.verdict.explanation.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3].rstrip() + "..."


def agreements(
    runs: dict[str, ScenarioRun], checks: dict[str, str], without_profile: dict[str, ScenarioRun] | None
) -> list[Agreement]:
    """One Agreement per engine run; ``without_profile``: the same scenario's runs with the default server."""
    jdk_agrees = any(r.verdict.code == checks[n] for n, r in runs.items() if n != "python")
    found = []
    for name, run in runs.items():
        got, check = run.verdict.code, checks[name]
        if got == check:
            found.append(Agreement(name, got, check))
            continue
        plain = (without_profile or {}).get(name)
        if plain is not None and plain.verdict.code == check:
            cause = (
                f"the captured server (--profile) makes it: without it this scenario gives {check} here too, "
                "and check judges the stores alone (it sends nothing to the customer's server)"
            )
            found.append(Agreement(name, got, check, f"{cause}; {name} saw: {_said(run)}"))
        elif name == "python" and jdk_agrees:
            cause = (
                f"OpenSSL and the JDK differ here (the JDK gives check's {check}; check judges the stores as the "
                f"JDK reads them), and [expect.engines] says {got} for python"
            )
            found.append(Agreement(name, got, check, f"{cause}; python saw: {_said(run)}"))
        else:
            cause = "no known reason for the difference (report this)"
            found.append(Agreement(name, got, check, f"{cause}; {name} saw: {_said(run)}", explained=False))
    return found
