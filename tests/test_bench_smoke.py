"""`make bench`'s speed table (benchmarks/speed_table.py) at its smallest size: it runs and prints the table.

Never a time: the figures of a smoke run on a shared machine mean nothing; the rows, shapes and columns must be there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def speed_table(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "speed_table.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_quick_speed_table_prints_every_row_and_column() -> None:
    done = speed_table("--quick", "--runs", "python 1 worker", "--recipe", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| engine |"))
    for column in ("catalogue", "| 2 |", "| 4 |", "ms/scenario 2->4", "linearity", "x floor", "x recipe"):
        assert column in header
    rows = [line for line in lines if line.startswith("| python 1 worker |")]
    assert [row.split("|")[2].strip() for row in rows] == ["copies", "pki-differ"]
    assert all(row.count("|") == header.count("|") for row in rows)
    assert any(line.startswith("Floor (bare in-process TLS 1.3 handshake + POST") for line in lines)
    assert any(line.startswith("Recipe (benchmarks/baseline.sh") for line in lines)


def test_unknown_row_is_refused() -> None:
    done = speed_table("--quick", "--runs", "python with wings")
    assert done.returncode == 2
    assert "rows and shapes" in done.stderr


def test_phases_time_functions_that_run_in_every_scenario() -> None:
    """benchmarks/phases.py at 4 copies: every stage's timer was called (one on a function that moved shows 0)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "phases.py"), "--size", "4"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    calls = {cells[0].strip(): int(cells[1]) for cells in rows[1:]}
    sys.path.insert(0, str(REPO))
    from benchmarks.phases import STAGES

    assert set(STAGES) < set(calls), calls
    assert all(calls[stage] >= 4 for stage in STAGES), calls  # 4 scenarios, each stage once or more
