"""The JVM's CPU per jsse probe once warm, with the local server's identity as the scenarios say and as RSA-2048.

``python benchmarks/jvm_probe_cost.py [--rounds 6]`` prepares every shipped
scenario (but the java persona's and those with server validity times) in
this process, probes each with one long-lived JVM for three warm-up rounds,
then measures ``--rounds`` more: the probe's wall time and the JVM process's
CPU (user + system from /proc, Linux) per probe. Then the same with every
scenario's ``[server.identity] key`` set to ``rsa-2048``, the identity issued
once per spec (trustme makes a new RSA key per certificate, ~0.2 s, which is
not what is measured here). It tells whether the JVM's share of a handshake
depends on the server's key type.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import harness.pki.certificates as pki  # noqa: E402 - after the path is set
from harness.build import probe_for  # noqa: E402
from harness.engines.jsse import JsseEngine  # noqa: E402
from harness.run import discard, prepare  # noqa: E402
from harness.scenario import Scenario, ServerIdentitySpec, load_scenario  # noqa: E402


def _scenarios(key: str | None) -> list[Scenario]:
    chosen = []
    for path in sorted((REPO / "scenarios").glob("*.toml")):
        scenario = load_scenario(path)
        identity = scenario.server.identity
        if scenario.server.persona == "java" or identity.not_before or identity.not_after:
            continue
        if key is not None:
            identity = dataclasses.replace(identity, key=key)  # type: ignore[arg-type]
            scenario = dataclasses.replace(scenario, server=dataclasses.replace(scenario.server, identity=identity))
        chosen.append(scenario)
    return chosen


def _jvm_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(scenarios: list[Scenario], rounds: int) -> tuple[float, float]:
    with JsseEngine() as engine:
        engine.warm_up()

        def run(count: int) -> float:
            spent = 0.0
            for _ in range(count):
                for scenario in scenarios:
                    prepared = prepare(scenario, None)
                    try:
                        probe = probe_for(scenario, prepared.built, prepared.server.url)
                        started = time.perf_counter()
                        engine.probe(probe)
                        spent += time.perf_counter() - started
                    finally:
                        discard(prepared)
            return spent

        run(3)
        pid = engine.pid
        assert pid is not None
        cpu = _jvm_cpu(pid)
        wall = run(rounds)
        probes = rounds * len(scenarios)
        return wall / probes * 1000, (_jvm_cpu(pid) - cpu) / probes * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds over the scenarios")
    args = parser.parse_args()
    issue = pki._server_identity
    shared: dict[ServerIdentitySpec, dict[str, pki.Issued]] = {}

    def once_per_spec(spec: ServerIdentitySpec, now: dt.datetime) -> dict[str, pki.Issued]:
        if spec not in shared:
            shared[spec] = issue(spec, now)
        return dict(shared[spec])

    pki._server_identity = once_per_spec  # this benchmark only: the identity is not what is measured
    print("| server identity | scenarios | probe wall ms | JVM CPU ms a probe |")
    print("|---|---|---|---|")
    for label, key in (("as the scenarios say (EC P-256 by default)", None), ("RSA-2048 everywhere", "rsa-2048")):
        scenarios = _scenarios(key)
        wall, cpu = _measure(scenarios, args.rounds)
        print(f"| {label} | {len(scenarios)} | {wall:.2f} | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
