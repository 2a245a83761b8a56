"""Fleet benchmark: `check` on a folder of 200 local destinations (`make bench`, or run this file).

Four local MTLS servers on 127.0.0.1 (the ok-rsa, ok-ec, ok-pkcs12 and
client-cert-untrusted scenarios, so a quarter of the fleet is not ready),
50 destination JSON files each, in one folder. Each run is the command a user
types, ``mtls-harness check DIR --junit FILE``, timed from start to exit, and
prints destinations per second at each concurrency. Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.build import write_scenario_files  # noqa: E402
from harness.scenario import load_scenario  # noqa: E402
from harness.server import LocalServer  # noqa: E402

SCENARIOS = ("ok-rsa", "ok-ec", "ok-pkcs12", "client-cert-untrusted")


def run(count: int, concurrencies: list[int], engine: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mtls-fleet-bench-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp) / "fleet"
        folder.mkdir()
        for n, name in enumerate(SCENARIOS):
            built = write_scenario_files(load_scenario(REPO / "scenarios" / f"{name}.toml"), Path(tmp) / name)
            server = stack.enter_context(LocalServer(built.server, handshake_timeout=5.0))
            doc = json.loads(built.destination.read_text("utf-8"))
            doc.update(url=server.url, keystoreFile=str(built.keystore), truststoreFile=str(built.truststore))
            for i in range(n, count, len(SCENARIOS)):
                (folder / f"dest-{i:04d}.json").write_text(json.dumps(doc), "utf-8")
        print(f"fleet of {count} local destinations ({', '.join(SCENARIOS)}), engine {engine}")
        print("| concurrency | seconds | destinations/s | ready | exit |")
        print("|---|---|---|---|---|")
        for concurrency in concurrencies:
            junit = Path(tmp) / f"fleet-{concurrency}.xml"
            argv = [sys.executable, "-m", "harness.cli.main", "check", str(folder), "--engine", engine]
            argv += ["--concurrency", str(concurrency), "--junit", str(junit)]
            start = time.perf_counter()
            done = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - start
            summary = done.stdout.splitlines()[-1] if done.stdout else done.stderr
            ready = summary.split(", ")[1] if summary.startswith("fleet:") else summary
            print(f"| {concurrency} | {seconds:.1f} | {count / seconds:.1f} | {ready} | {done.returncode} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--engine", default="all", choices=("python", "jsse", "all"))
    args = parser.parse_args()
    run(args.count, args.concurrency, args.engine)


if __name__ == "__main__":
    main()
