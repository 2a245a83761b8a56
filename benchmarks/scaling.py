"""How the catalogue's cost grows with its size: ms per scenario per engine, against keytool + openssl.

``python benchmarks/scaling.py`` (part of ``make bench``) generates 25, 250
and 2,500 scenarios (the shipped catalogue repeated under new names), runs
``mtls-harness run DIR --engine E`` on each (median of ``--repeat`` runs) and
prints, per engine, wall time, CPU time (user + system of the run and its
JVM: the figure to trust on a shared machine) and the marginal cost per
scenario between sizes. The reference is ``benchmarks/baseline.sh`` (what an
engineer scripts with keytool and openssl, one cold JVM probe per scenario),
measured in the same run on a few scenarios: it is linear by construction,
every scenario a fresh PKI, stores, server and handshake.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))


def generate(count: int, folder: Path) -> Path:
    """``count`` scenario files: the shipped ones in turn, each under a name of its own."""
    shipped = sorted((REPO / "scenarios").glob("*.toml"))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        source = shipped[i % len(shipped)]
        shutil.copyfile(source, folder / f"{source.stem}-{i:05d}.toml")
    return folder


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], repeat: int, cwd: Path = REPO, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Median wall and CPU seconds of ``argv`` over ``repeat`` runs (each must succeed)."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def baseline_per_scenario(count: int) -> tuple[float, float]:
    from benchmarks.run import _java_once

    with tempfile.TemporaryDirectory(prefix="mtls-bench-") as work:
        env = {"JAVA_ONCE": " ".join(_java_once())}
        wall, cpu = timed(["bash", str(REPO / "benchmarks" / "baseline.sh"), str(count), work], 1, env=env)
    return wall / count, cpu / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="25,250,2500", help="catalogue sizes (comma-separated)")
    parser.add_argument("--engines", default="python,jsse", help="engines (comma-separated)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--large-repeat", type=int, default=1, help="runs per figure for sizes of 1,000 and more")
    parser.add_argument("--baseline", type=int, default=5, help="scenarios the keytool+openssl script runs")
    parser.add_argument("--workers", default="", help='also run with -n WORKERS (e.g. "auto")')
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    runs: list[tuple[str, list[str]]] = [(e, ["--engine", e]) for e in engines]
    if args.workers:
        runs += [(f"{e} -n {args.workers}", ["--engine", e, "-n", args.workers]) for e in engines]
    harness = str(BIN / "mtls-harness")
    results: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mtls-scaling-") as root:
        for size in sizes:
            folder = generate(size, Path(root) / f"n{size}")
            for label, flags in runs:
                repeat = args.repeat if size < 1_000 else args.large_repeat
                results[(label, size)] = timed([harness, "run", str(folder), *flags], repeat)
    base_wall, base_cpu = baseline_per_scenario(args.baseline)

    load = os.getloadavg()
    print(f"## Catalogue scaling (`make bench`; {os.cpu_count()} cores, load average {load[0]:.1f} at the end)\n")
    print(
        f"Median of {args.repeat} runs each ({args.large_repeat} for 1,000 scenarios and more); "
        "CPU = user + system of the run and its children (the JVM included).\n"
    )
    header = "| engine | " + " | ".join(f"{n:,} scenarios" for n in sizes)
    header += " | marginal ms/scenario (wall) | marginal ms/scenario (CPU) |"
    print(header)
    print("|---" * (len(sizes) + 3) + "|")
    for label, _ in runs:
        cells = [f"{results[(label, n)][0]:.1f} s (CPU {results[(label, n)][1]:.1f} s)" for n in sizes]
        margins_wall, margins_cpu = [], []
        for small, large in itertools.pairwise(sizes):
            (w0, c0), (w1, c1) = results[(label, small)], results[(label, large)]
            margins_wall.append(f"{(w1 - w0) / (large - small) * 1000:.1f}")
            margins_cpu.append(f"{(c1 - c0) / (large - small) * 1000:.1f}")
        print(f"| {label} | " + " | ".join(cells) + f" | {' / '.join(margins_wall)} | {' / '.join(margins_cpu)} |")
    print(
        f"| keytool + openssl script ({args.baseline} scenarios, linear) | "
        + " | ".join(f"{base_wall * n:.0f} s" for n in sizes)
        + f" | {base_wall * 1000:.0f} | {base_cpu * 1000:.0f} |"
    )
    print("\nMarginal cost: between consecutive sizes (25 -> 250, 250 -> 2,500).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
