"""Where a catalogue scenario's time goes: ms per scenario per stage, one process.

``python benchmarks/phases.py [--size 250] [--engine python]`` generates the
shipped catalogue repeated under new names (as benchmarks/scaling.py does),
runs it through the plugin in this process with a timer around each stage of a
scenario (PKI, store bytes, file writes, server start, read-back, probe,
diagnosis, server stop, folder removal) and prints the mean per scenario. The
timer wraps the functions as they are called from the plugin; its own cost is
a few microseconds a call. Figures are wall clock: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.scaling import generate  # noqa: E402 - after the path is set

_SPENT: collections.Counter[str] = collections.Counter()
_CALLS: collections.Counter[str] = collections.Counter()


def _timed(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _SPENT[label] += time.perf_counter() - started
            _CALLS[label] += 1

    setattr(owner, name, wrapper)


class _Phases:
    """A pytest plugin: pytest's own setup / call / teardown durations per scenario item."""

    def __init__(self) -> None:
        self.phases: collections.Counter[str] = collections.Counter()
        self.items = 0

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.phases[report.when] += report.duration
        self.items += report.when == "call"


# label -> where the call is looked up when a scenario runs (the module or class that calls it by that name).
# Each runs once or more a scenario; a label that shows no calls names a function that moved (its test says so).
STAGES = (
    "PKI (issued, or shared once a run)",
    "store bytes (JKS / PKCS#12)",
    "file writes",
    "server start",
    "stores read back",
    "probe",
    "diagnosis",
    "server stop",
    "folder removal",
)


def _instrument() -> None:
    import harness.build as build
    import harness.run as run
    import harness.server as server
    from harness.engines.jsse import JsseEngine
    from harness.engines.python import PythonEngine

    _timed(run, "shared_material", STAGES[0])
    _timed(build, "scenario_store_bytes", STAGES[1])
    _timed(build, "write_atomic", STAGES[2])
    _timed(server.LocalServer, "start", STAGES[3])
    _timed(run, "read_back", STAGES[4])
    _timed(PythonEngine, "probe", STAGES[5])
    _timed(JsseEngine, "probe", STAGES[5])
    _timed(run, "scenario_evidence", STAGES[6])
    _timed(run, "diagnose", STAGES[6])
    _timed(server.LocalServer, "stop", STAGES[7])
    _timed(run.shutil, "rmtree", STAGES[8])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=250, help="scenarios (the shipped catalogue repeated)")
    parser.add_argument("--engine", default="python", choices=("python", "jsse"), help="the engine")
    args = parser.parse_args()
    import pytest

    _instrument()
    phases = _Phases()
    with tempfile.TemporaryDirectory(prefix="mtls-phases-") as root:
        folder = generate(args.size, Path(root) / "scenarios")
        started = time.perf_counter()
        argv = [str(folder), "--mtls-scenario-dirs", "-p", "harness.plugin", "-p", "no:cacheprovider", "-q"]
        argv += ["--mtls-engine", args.engine, "--assert=plain", "-p", "no:hypothesispytest"]
        code = pytest.main(argv, plugins=[phases])
        wall = time.perf_counter() - started
    if code != 0 or not phases.items:
        print(f"the run failed (pytest exit {int(code)})", file=sys.stderr)
        return 1
    n = phases.items
    print(f"\n## Per scenario, {n:,} scenarios, engine {args.engine}, one process ({wall:.1f} s in all)\n")
    print("| stage | calls | ms per scenario |")
    print("|---|---|---|")
    for when in ("setup", "call", "teardown"):
        print(f"| pytest {when} (all of it) | {n} | {phases.phases[when] / n * 1000:.2f} |")
    for label in STAGES:
        print(f"| {label} | {_CALLS[label]} | {_SPENT[label] / n * 1000:.2f} |")
    if args.engine == "jsse":
        print("\n(jsse: the next scenario is prepared on a background thread while the JVM probes: overlapped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
