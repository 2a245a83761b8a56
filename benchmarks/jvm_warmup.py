"""The jsse probe JVM's CPU per probe, round by round from its start: how its JIT warm-up is paid off.

``python benchmarks/jvm_warmup.py [--rounds 16] [--only NAME] [--times N]``
prepares the shipped scenarios (those ``benchmarks/jvm_probe_cost.py`` takes:
not the java persona's, not those with server validity times), starts one
jsse engine and probes them round after round, printing per round the JVM
process's CPU (user + system, /proc) and the probe's wall time, in ms a probe.
``--only ok-pkcs12 --times 20``: that scenario alone, 20 times a round (a
PKCS#12 store costs PBKDF2 rounds, which C2 runs several times faster than C1).

Flags are tried with the environment, e.g.
``JAVA_TOOL_OPTIONS=-XX:TieredStopAtLevel=1 python benchmarks/jvm_warmup.py``
(docs/speed.md, "Where the time goes"). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.jvm_probe_cost import _jvm_cpu, _scenarios  # noqa: E402 - after the path is set
from harness.build import probe_for  # noqa: E402
from harness.engines.jsse import JsseEngine  # noqa: E402
from harness.run import discard, prepare  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=16, help="rounds over the scenarios")
    parser.add_argument("--only", default="", help="only the scenarios whose name holds this")
    parser.add_argument("--times", type=int, default=1, help="each scenario this many times a round")
    args = parser.parse_args()
    scenarios = [s for s in _scenarios(None) if args.only in s.name] * args.times
    if len(scenarios) < 2:
        parser.error("fewer than 2 probes a round")
    print(f"JAVA_TOOL_OPTIONS={os.environ.get('JAVA_TOOL_OPTIONS', '')!r}, {len(scenarios)} probes a round")
    print("| round | JVM CPU ms a probe | probe wall ms |")
    print("|---|---|---|")
    with JsseEngine() as engine:
        engine.warm_up()
        pid: int | None = None
        for round_ in range(args.rounds):
            spent, cpu, probes = 0.0, 0.0, 0
            for scenario in scenarios:
                prepared = prepare(scenario, None)
                try:
                    probe = probe_for(scenario, prepared.built, prepared.server.url)
                    if pid is None:
                        engine.probe(probe)  # the very first probe also waits for the JVM: not counted
                        pid = engine.pid
                        assert pid is not None
                        cpu = _jvm_cpu(pid)
                        continue
                    if probes == 0:
                        cpu = _jvm_cpu(pid)
                    started = time.perf_counter()
                    engine.probe(probe)
                    spent += time.perf_counter() - started
                    probes += 1
                finally:
                    discard(prepared)
            assert pid is not None
            print(f"| {round_} | {(_jvm_cpu(pid) - cpu) / probes * 1000:.1f} | {spent / probes * 1000:.1f} |")
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
