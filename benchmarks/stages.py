"""Where a catalogue run's time goes, stage by stage (issue 26's closing question; `make bench`).

``python benchmarks/stages.py [--engine python|jsse] [--sizes 50,250]`` generates
copies of the shipped catalogue (benchmarks/scaling.generate) and:

1. runs ``mtls-harness run`` on both sizes without a profiler: the marginal
   wall ms per scenario (difference of times over difference of sizes);
2. runs the larger size once under cProfile and sums, per stage, the
   cumulative time of the functions that make it (below, STAGES);
3. prints each stage's share of a scenario's profiled time and that share of
   the unprofiled marginal (cProfile slows Python code more than C code such
   as OpenSSL's, so the ms column is an estimate; the shares are measured).

The server's own half of a handshake runs on its loop thread and the JVM's in
its own process: cProfile sees only the calling thread, so "handshake +
request" is the client's wait for both. With the jsse engine the next
scenario is prepared on a background thread while the JVM probes
(harness.run's ahead): the stages it runs there show fewer calls than
scenarios, and their time overlaps the probe's. Timings are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from benchmarks.scaling import generate, timed  # noqa: E402

# stage -> the functions (file suffix, name) whose cumulative time it is; each scenario calls each once.
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "issue the PKI (once per [pki] per run)": (("harness/pki/shared.py", "shared_material"),),
    "write stores, destination and server files": (("harness/build.py", "write_scenario_files"),),
    "start the local server": (("harness/server/__init__.py", "start"),),
    "read the stores back for the diagnosis": (("harness/run.py", "read_back"),),
    "handshake + request (the engine's probe)": (
        ("harness/engines/python.py", "probe"),
        ("harness/engines/jsse.py", "probe"),
    ),
    "wait for the server's handshake record": (("harness/server/__init__.py", "wait_for_handshakes"),),
    "diagnose": (("harness/diagnose/evidence.py", "scenario_evidence"), ("harness/diagnose/verdict.py", "diagnose")),
    "stop the server, remove the files": (("harness/run.py", "discard"),),
}
_ITEM = ("_pytest/runner.py", "pytest_runtest_protocol")


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> tuple[float, int]:
    total, calls = 0.0, 0
    for (filename, _, func), (_, ncalls, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and filename.replace(os.sep, "/").endswith(suffix):
            total += cumtime
            calls += ncalls
    return total, calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("python", "jsse"), default="python")
    parser.add_argument("--sizes", default="50,250", help="two catalogue sizes, ascending")
    parser.add_argument("--repeat", type=int, default=3, help="unprofiled runs per size (median)")
    args = parser.parse_args()
    small, large = (int(s) for s in args.sizes.split(","))
    harness = str(BIN / "mtls-harness")
    with tempfile.TemporaryDirectory(prefix="mtls-stages-") as root:
        folders = {n: generate(n, Path(root) / f"copies-{n}") for n in (small, large)}
        walls = {
            n: timed([harness, "run", str(f), "--engine", args.engine], args.repeat)[0] for n, f in folders.items()
        }
        marginal = (walls[large] - walls[small]) / (large - small) * 1000
        profile = Path(root) / "run.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), harness, "run", str(folders[large])]
        subprocess.run([*command, "--engine", args.engine], cwd=root, check=True, capture_output=True)
        stats = pstats.Stats(str(profile))
    item, items = _cumulative(stats, *_ITEM)
    per_item = item / max(items, 1) * 1000
    print(
        f"## Where the time goes ({args.engine} engine, one worker; {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f})\n"
    )
    print(
        f"Unprofiled: {walls[small]:.2f} s for {small}, {walls[large]:.2f} s for {large} copies: "
        f"{marginal:.1f} ms a scenario (marginal). Profiled: {per_item:.1f} ms a scenario (pytest item).\n"
    )
    print("| stage | calls | profiled ms/scenario | share | est. ms/scenario |")
    print("|---|---|---|---|---|")
    accounted = 0.0
    for stage, functions in STAGES.items():
        found = [_cumulative(stats, suffix, name) for suffix, name in functions]
        seconds, calls = sum(f[0] for f in found), sum(f[1] for f in found)
        ms = seconds / max(items, 1) * 1000
        accounted += ms
        print(f"| {stage} | {calls} | {ms:.2f} | {ms / per_item:.0%} | {ms / per_item * marginal:.1f} |")
    if args.engine == "jsse":
        print("| (jsse: scenarios prepared ahead on a background thread are not in the profile) | | | | |")
    rest = per_item - accounted
    print(
        f"| pytest's item protocol (reports, JUnit, terminal) and the rest | {items} | {rest:.2f} | "
        f"{rest / per_item:.0%} | {rest / per_item * marginal:.1f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
