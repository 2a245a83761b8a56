"""Bad output paths in every command: one line naming the path, exit 2, no traceback, nothing written.

Each command is run as a user runs it (a subprocess) with an output path that
cannot work: a folder where a file is wanted (or a file where a folder is), a
path under a file, a folder nobody may write in (for root, which passes every
permission bit, a sysfs folder: creating a file there fails for root too).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from tests.conftest import cli

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "scenarios" / "ok-rsa.toml"
GOOD = REPO / "fixtures" / "destinations" / "good.json"
P12 = REPO / "fixtures" / "p12" / "KeyPair-aes.p12"
P12_PASSWORD = json.loads((REPO / "fixtures" / "p12" / "passwords.json").read_text("utf-8"))["KeyPair-aes.p12"]
ENV = {"P12_PASS": P12_PASSWORD, "NEW_PASS": "new-Secret-Out-1"}


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() == 0:
        yield Path("/sys/kernel")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    yield folder
    folder.chmod(0o700)


# command -> the arguments with OUT standing for the output path, and the option it is given to
COMMANDS: dict[str, tuple[list[str], str]] = {
    "check": ([str(GOOD), "--junit", "OUT"], "--junit"),
    "run": ([str(SCENARIO), "--junit", "OUT"], "--junit"),
    "run-keep": ([str(SCENARIO), "--keep", "OUT"], "--keep"),
    "build": ([str(SCENARIO), "--out", "OUT"], "--out"),
    "keystore": ([str(P12), "--out", "OUT", "--p12-password-env", "P12_PASS", "--password-env", "NEW_PASS"], "--out"),
    "truststore": (["https://127.0.0.1:9/", "--out", "OUT", "--password-env", "NEW_PASS"], "--out"),
}
FOLDER_OUTPUT = {"build", "run-keep"}  # these want a folder


def _bad_paths(tmp_path: Path, unwritable: Path, name: str) -> dict[str, tuple[Path, str]]:
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder\n", "utf-8")
    a_folder = tmp_path / "a-folder"
    a_folder.mkdir()
    wrong_kind = (a_file, "is a file, not a folder") if name in FOLDER_OUTPUT else (a_folder, "is a folder")
    return {
        "wrong-kind": wrong_kind,
        "under-a-file": (a_file / "sub" / "out.xml", f"{a_file} is a file, not a folder"),
        "unwritable": (unwritable / "mtls-harness-out" / "out.xml", "cannot be written"),
    }


@pytest.mark.parametrize("kind", ["wrong-kind", "under-a-file", "unwritable"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_bad_output_path_is_one_line_and_exit_2(name: str, kind: str, tmp_path: Path, unwritable: Path) -> None:
    args, option = COMMANDS[name]
    path, words = _bad_paths(tmp_path, unwritable, name)[kind]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    command = name.split("-")[0]
    done = cli(command, *[str(path) if a == "OUT" else a for a in args], cwd=tmp_path, env=ENV)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"mtls-harness: error: {path}: "), done.stderr
    assert words in done.stderr, done.stderr
    assert option in done.stderr or "choose another" in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, not even a folder
    assert P12_PASSWORD not in done.stderr
    assert ENV["NEW_PASS"] not in done.stderr


def test_check_with_a_bad_junit_path_still_prints_its_json_error(tmp_path: Path) -> None:
    done = cli("check", str(GOOD), "--json", "--junit", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"].startswith(f"{tmp_path}: is a folder")


@pytest.mark.parametrize("name", ["check", "run"])
def test_on_bad_input_the_junit_report_carries_the_error(name: str, tmp_path: Path) -> None:
    report = tmp_path / "reports" / "out.xml"
    missing = tmp_path / ("nowhere.json" if name == "check" else "nowhere.toml")
    done = cli(name, str(missing), "--junit", str(report), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    [case] = next(iter(JUnitXml.fromfile(str(report))))
    assert isinstance(case.result[0], Failure)
    assert "no such file" in case.result[0].text
    assert str(missing) in case.result[0].text


def test_a_good_output_path_is_written(tmp_path: Path) -> None:
    """The positive twin: the same command with a writable path under new folders."""
    report = tmp_path / "new" / "folders" / "check.xml"
    done = cli("check", str(GOOD), "--at", "+1h", "--junit", str(report), cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert JUnitXml.fromfile(str(report))
