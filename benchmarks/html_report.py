"""HTML report benchmark (issue 25): sizes, and the time to render a 200-destination fleet's page.

Four local MTLS servers on 127.0.0.1 (ok-rsa, ok-ec, ok-pkcs12 and
client-cert-untrusted, so a quarter of the fleet is not ready), ``--count``
destinations checked in this process with the python engine (real handshakes,
real stores): their reports are what ``check DIR --html`` renders. Then, timed:

- the page made from the reports (Jinja2, median of ``--repeat``) and written atomically;
- headless Chromium opening the page (``--dump-dom``, the script run) and painting it
  (``--screenshot``), beside the same for an empty page: the difference is the page's own cost.

Also the size of one destination's page and of a catalogue run's page
(``mtls-harness run --engine python --html``). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.build import write_scenario_files  # noqa: E402
from harness.check import run_check  # noqa: E402
from harness.check.fleet import Row  # noqa: E402
from harness.destination import load_destination  # noqa: E402
from harness.engines.factory import make_engines  # noqa: E402
from harness.html import check_html, fleet_html, write_html  # noqa: E402
from harness.scenario import load_scenario  # noqa: E402
from harness.server import LocalServer  # noqa: E402

SCENARIOS = ("ok-rsa", "ok-ec", "ok-pkcs12", "client-cert-untrusted")


def _chromium(page: Path, profile: Path, *args: str) -> float:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return float("nan")
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}"]
    start = time.perf_counter()
    subprocess.run([*argv, *args, page.as_uri()], capture_output=True, timeout=300, check=True)
    return time.perf_counter() - start


def _browser_times(page: Path, blank: Path, tmp: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """(median seconds for the page, for an empty page) per browser task."""
    out = {}
    tasks = {"load (dump-dom)": ["--dump-dom"], "paint (screenshot)": ["--screenshot", "--window-size=1100,1400"]}
    for name, args in tasks.items():
        with_page, empty = [], []
        for i in range(repeat):
            args_i = [a if a != "--screenshot" else f"--screenshot={tmp / f'shot-{i}.png'}" for a in args]
            with_page.append(_chromium(page, tmp / "profile", *args_i))
            empty.append(_chromium(blank, tmp / "profile", *args_i))
        out[name] = (statistics.median(with_page), statistics.median(empty))
    return out


def run(count: int, repeat: int, with_run: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="mtls-html-bench-") as name, contextlib.ExitStack() as stack:
        tmp = Path(name)
        folder = tmp / "fleet"
        folder.mkdir()
        for n, scenario in enumerate(SCENARIOS):
            built = write_scenario_files(load_scenario(REPO / "scenarios" / f"{scenario}.toml"), tmp / scenario)
            server = stack.enter_context(LocalServer(built.server, handshake_timeout=5.0))
            doc = json.loads(built.destination.read_text("utf-8"))
            doc.update(url=server.url, keystoreFile=str(built.keystore), truststoreFile=str(built.truststore))
            for i in range(n, count, len(SCENARIOS)):
                (folder / f"dest-{i:04d}.json").write_text(json.dumps(doc), "utf-8")
        engines = make_engines("python")
        now = dt.datetime.now(dt.UTC)
        at = now + dt.timedelta(days=30)
        start = time.perf_counter()
        rows = []
        for path in sorted(folder.glob("*.json")):
            report = run_check(load_destination(path), engines=engines, at=at, engine_choice="python")
            rows.append(Row(path, report, seconds=0.05))
        checked = time.perf_counter() - start
        for engine in engines:
            engine.close()
        print(f"fleet of {count} local destinations ({', '.join(SCENARIOS)}), python engine, --at +30d")
        print(f"checked in this process in {checked:.1f} s (not part of the figures below)")

        renders = []
        for _ in range(repeat):
            start = time.perf_counter()
            page = fleet_html(rows, now, at)
            write_html(tmp / "fleet.html", page)
            renders.append(time.perf_counter() - start)
        one = tmp / "one.html"
        write_html(one, check_html(rows[0].report) if rows[0].report else "")
        blank = tmp / "blank.html"
        blank.write_text("<!DOCTYPE html><title>blank</title>", "utf-8")
        fleet_page = tmp / "fleet.html"
        print()
        print("| report | bytes |")
        print("|---|---|")
        state = "ready" if rows[0].ready else "not ready"
        print(f"| one destination (check --html, {rows[0].path.name}, {state}) | {one.stat().st_size} |")
        print(f"| fleet of {count} (check DIR --html) | {fleet_page.stat().st_size} |")
        if with_run:
            page = tmp / "run.html"
            argv = [sys.executable, "-m", "harness.cli.main", "run", str(REPO / "scenarios"), "--engine", "python"]
            subprocess.run([*argv, "--html", str(page)], cwd=tmp, capture_output=True, timeout=900, check=False)
            items = page.read_text("utf-8").count('class="item"') if page.exists() else 0
            print(f"| catalogue run (run scenarios/ --engine python --html, {items} items) | {page.stat().st_size} |")
        print()
        print(f"| step ({count} destinations) | seconds (median of {repeat}) |")
        print("|---|---|")
        print(f"| page rendered (Jinja2) and written atomically | {statistics.median(renders):.3f} |")
        for task, (seconds, empty) in _browser_times(fleet_page, blank, tmp, repeat).items():
            print(
                f"| Chromium {task}: the page / an empty page / the page's own | "
                f"{seconds:.2f} / {empty:.2f} / {seconds - empty:.2f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-run", action="store_true", help="skip the catalogue run's page")
    args = parser.parse_args()
    run(args.count, args.repeat, not args.no_run)


if __name__ == "__main__":
    main()
