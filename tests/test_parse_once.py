"""Each scenario file is parsed once per run (issue 26), and an edited file is parsed again.

`mtls-harness run` validates every file before pytest starts, then pytest's
collection and each file's set-up use the scenario again: the same path with
the same text is the same (immutable) Scenario. The count is taken by a
profile hook on the real ``parse_scenario`` in a separate process running
``mtls-harness run`` in-process twice (nothing of the harness is replaced);
the runs are real python-engine runs over loopback TLS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO, assert_one_line_error, cli

SHIPPED_DIR = REPO / "scenarios"

# Runs `mtls-harness run FOLDER --engine python` twice in one process; between the runs, writes the edits
# (file name -> new text) over the files in place and gives each its old modification time back. Writes, per
# run, the exit code and how many times parse_scenario ran for each file name.
_RUNS = r"""
import json, os, sys, threading
from pathlib import Path
from harness.cli.main import main
from harness.scenario import load

folder, edits, out = Path(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
target = load.parse_scenario.__code__
parses = {}

def hook(frame, event, arg):
    if event == "call" and frame.f_code is target:
        name = Path(frame.f_locals["path"]).name
        parses[name] = parses.get(name, 0) + 1

runs = []
for step in range(2):
    if step == 1:
        for name, text in edits.items():
            file = folder / name
            before = file.stat()
            file.write_text(text)
            os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
    parses.clear()
    sys.setprofile(hook)
    threading.setprofile(hook)
    try:
        code = main(["run", str(folder), "--engine", "python"])
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    runs.append({"code": code, "parses": dict(parses)})
out.write_text(json.dumps(runs))
"""


def _catalogue(tmp_path: Path) -> Path:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    for name, source in (("a.toml", "ok-rsa"), ("b.toml", "ok-rsa"), ("c.toml", "ok-ec")):
        (folder / name).write_text((SHIPPED_DIR / f"{source}.toml").read_text())
    return folder


def _two_runs(tmp_path: Path, folder: Path, edits: dict[str, str]) -> list[dict[str, Any]]:
    out = tmp_path / "runs.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUNS, str(folder), json.dumps(edits), str(out)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs: list[dict[str, Any]] = json.loads(out.read_text())
    return runs


def _same_size_edit(text: str) -> str:
    """``outcome = "ok"`` expected wrongly, the description shortened so the file keeps its size."""
    wrong = text.replace('outcome = "ok"', 'outcome = "client-cert-missing"')
    grown = len(wrong.encode()) - len(text.encode())
    start = wrong.index('description = "') + len('description = "')
    edited = wrong[:start] + wrong[start + grown :]
    assert len(edited.encode()) == len(text.encode())
    assert edited != text
    return edited


def test_each_scenario_is_parsed_once_in_a_run_and_not_again_while_unchanged(tmp_path: Path) -> None:
    folder = _catalogue(tmp_path)
    first, second = _two_runs(tmp_path, folder, {})
    assert first == {"code": 0, "parses": {"a.toml": 1, "b.toml": 1, "c.toml": 1}}
    # The same text, the same Scenario: the second run in the process parses nothing.
    assert second == {"code": 0, "parses": {}}


def test_a_file_edited_between_two_runs_is_parsed_again_and_its_edit_counts(tmp_path: Path) -> None:
    folder = _catalogue(tmp_path)
    # Same size, same modification time, same inode: only the text tells the edit.
    edited = _same_size_edit((folder / "a.toml").read_text())
    first, second = _two_runs(tmp_path, folder, {"a.toml": edited})
    assert first == {"code": 0, "parses": {"a.toml": 1, "b.toml": 1, "c.toml": 1}}
    assert second["parses"] == {"a.toml": 1}
    assert second["code"] == 1  # the edited expectation is the one judged: a mismatch


def test_a_malformed_scenario_is_still_refused_in_one_line_after_a_good_one_was_parsed(tmp_path: Path) -> None:
    folder = _catalogue(tmp_path)
    (folder / "b.toml").write_text((folder / "b.toml").read_text().replace("[keystore]", "[keystore]\npasword = 1"))
    done = cli("run", str(folder), "--engine", "python", cwd=tmp_path)
    assert_one_line_error(done, "b.toml", "unknown key 'pasword'")
