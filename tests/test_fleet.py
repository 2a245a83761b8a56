"""``check`` over a fleet: several destination files or a folder, in parallel, as a table, JSON lines and JUnit.

Real local MTLS servers (``live``), real stores; every destination's verdict
comes from the same checks as one destination's, so these tests look at the
fleet's own behaviour: which rows, which exit code, which reports, the
deadline per destination, the progress line on a terminal.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import xmlschema
from junitparser import Failure, JUnitXml

from tests.conftest import Live, cli
from tests.terminal_run import run_on_terminal
from tests.test_check import CASES, FIXTURES, JUNIT_XSD, at_for

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _table(stdout: str) -> dict[str, list[str]]:
    """destination file -> its table cells (destination, url, ready, expiry, first finding)."""
    rows = {}
    for line in stdout.splitlines()[1:-1]:
        cells = line.split()
        rows[cells[0]] = [*cells[:4], " ".join(cells[4:])]
    return rows


@pytest.fixture
def fleet(live: Callable[[Path], Live], tmp_path: Path) -> tuple[Path, dict[str, bool]]:
    """A folder of destinations on two servers: name -> whether it is ready."""
    ok = live(SCENARIOS / "ok-rsa.toml")
    untrusted = live(SCENARIOS / "client-cert-untrusted.toml")
    folder = tmp_path / "fleet"
    folder.mkdir()
    expected = {}
    for i in range(6):
        ok.destination(folder, f"ok-{i}")
        expected[f"ok-{i}"] = True
    ok.destination(folder, "wrong-password", keystorePass="not-the-password")
    expected["wrong-password"] = False
    untrusted.destination(folder, "untrusted")
    expected["untrusted"] = False
    return folder, expected


def test_a_folder_is_checked_as_a_table_json_lines_and_junit_per_destination(
    fleet: tuple[Path, dict[str, bool]], tmp_path: Path
) -> None:
    folder, expected = fleet
    report = tmp_path / "fleet.xml"
    done = cli("check", str(folder), "--engine", "python", "--concurrency", "3", "--junit", str(report), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    table = _table(done.stdout)
    assert done.stdout.splitlines()[0].split()[:3] == ["destination", "url", "ready"]
    assert {name.removesuffix(".json"): cells[2] == "yes" for name, cells in table.items()} == expected
    assert table["wrong-password.json"][4].startswith("keystore-password-wrong:")
    assert table["untrusted.json"][4].startswith("client-cert-untrusted:")
    assert all(cells[3].lstrip("-").isdigit() for cells in table.values())  # days to the first expiry
    assert done.stdout.splitlines()[-1].startswith("fleet: 8 destination(s), 6 ready, 2 not ready")
    # JUnit: one testcase per destination, failed exactly when not ready
    xmlschema.XMLSchema(JUNIT_XSD).validate(str(report))
    cases = list(next(iter(JUnitXml.fromfile(str(report)))))
    failed = {Path(c.name).stem for c in cases if any(isinstance(r, Failure) for r in c.result)}
    assert {Path(c.name).stem for c in cases} == set(expected)
    assert failed == {name for name, ready in expected.items() if not ready}
    # --json: one object per destination, one per line
    done = cli("check", str(folder), "--engine", "python", "--json", cwd=tmp_path)
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert {Path(o["destination"]).stem: o["ready"] for o in objects} == expected
    assert all(o["verified_with"] == ["python"] for o in objects if o["ready"])
    # no password in any report
    secrets = {
        json.loads(f.read_text("utf-8"))[key]
        for f in folder.glob("*.json")
        for key in ("keystorePass", "truststorePass")
    }
    everything = done.stdout + done.stderr + report.read_text("utf-8")
    assert [s for s in secrets if s in everything] == []


@pytest.mark.jdk
def test_every_destination_ready_is_exit_0_and_the_jsse_engine_verified_each(
    live: Callable[[Path], Live], java: str, tmp_path: Path
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    files = [target.destination(tmp_path, f"d{i}") for i in range(5)]
    done = cli("check", *map(str, files), "--json", "--concurrency", "4", cwd=tmp_path)  # files, not a folder
    assert done.returncode == 0, done.stdout + done.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(objects) == 5
    assert all(o["ready"] and "jsse" in o["verified_with"] for o in objects)
    # the negative twin: one destination not ready makes the fleet exit 1
    bad = target.destination(tmp_path, "d-bad", truststorePass="not-the-password")
    done = cli("check", *map(str, files), str(bad), cwd=tmp_path)
    assert done.returncode == 1
    assert _table(done.stdout)["d-bad.json"][2] == "no"


def test_a_destination_without_a_url_is_not_ready_in_a_fleet(tmp_path: Path) -> None:
    folder = tmp_path / "static"
    folder.mkdir()
    for name in ("good", "expiring-soon"):
        shutil.copy(FIXTURES / CASES[name]["destination"], folder / f"{name}.json")
        doc = json.loads((folder / f"{name}.json").read_text("utf-8"))
        for key in ("keystoreFile", "truststoreFile"):
            doc[key] = str((FIXTURES / "destinations" / doc[key]).resolve())
        (folder / f"{name}.json").write_text(json.dumps(doc), "utf-8")
    at = at_for(CASES["expiring-soon"])  # 9 days left on expiring-soon's client certificate then
    done = cli("check", str(folder), "--at", at, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    table = _table(done.stdout)
    assert {cells[2] for cells in table.values()} == {"no"}
    assert table["good.json"][4] == "no url: not tried live"
    # --warn-days: 9 days is marked under 30, not under 5
    assert table["expiring-soon.json"][3] == "9"
    assert "9 !" in done.stdout
    relaxed = cli("check", str(folder), "--at", at, "--warn-days", "5", cwd=tmp_path)
    assert "9 !" not in relaxed.stdout
    assert "0 with one expiring within 5 days" in relaxed.stdout.splitlines()[-1]
    assert "0 with a certificate already expired, 1 with one expiring within 30 days" in done.stdout.splitlines()[-1]


def test_an_expired_certificate_is_counted_as_expired_not_as_expiring(tmp_path: Path) -> None:
    """The summary's two counts: the expired fixture as "already expired"; its twin, expiring-soon, as "expiring"."""
    folder = tmp_path / "static"
    folder.mkdir()
    for name in ("client-cert-expired", "expiring-soon"):
        doc = json.loads((FIXTURES / CASES[name]["destination"]).read_text("utf-8"))
        for key in ("keystoreFile", "truststoreFile"):
            doc[key] = str((FIXTURES / "destinations" / doc[key]).resolve())
        (folder / f"{name}.json").write_text(json.dumps(doc), "utf-8")
    at = at_for(CASES["expiring-soon"])
    done = cli("check", str(folder), "--at", at, cwd=tmp_path)
    table = _table(done.stdout)
    assert int(table["client-cert-expired.json"][3].rstrip(" !")) < 0
    assert 0 <= int(table["expiring-soon.json"][3].rstrip(" !")) < 30
    summary = done.stdout.splitlines()[-1]
    assert "1 with a certificate already expired, 1 with one expiring within 30 days" in summary, summary


def test_a_bad_destination_file_is_its_row_and_exit_2_with_every_report(
    live: Callable[[Path], Live], tmp_path: Path
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    good = target.destination(tmp_path, "good")
    typo = target.destination(tmp_path, "typo", keystoreFile=7)  # a wrong type; an unknown key is accepted
    report = tmp_path / "fleet.xml"
    done = cli("check", str(good), str(typo), "--engine", "python", "--junit", str(report), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    table = _table(done.stdout)
    assert table["good.json"][2] == "yes"
    assert table["typo.json"][2] == "ERROR"
    assert "keystoreFile must be a string" in table["typo.json"][4]
    cases = {Path(c.name).stem: c for c in next(iter(JUnitXml.fromfile(str(report))))}
    assert isinstance(cases["typo"].result[0], Failure)
    assert not cases["good"].result


def test_each_destination_has_a_deadline(live: Callable[[Path], Live], tmp_path: Path) -> None:
    """A server that accepts TCP and never answers: that row times out; the others are checked."""
    target = live(SCENARIOS / "ok-rsa.toml")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hung = target.destination(tmp_path, "hung", url=f"https://127.0.0.1:{port}/x")
        good = target.destination(tmp_path, "good")
        done = cli(
            "check", str(hung), str(good), "--engine", "python",
            "--destination-timeout", "1", "--timeout", "20", "--json", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {Path(o["destination"]).stem: o for o in map(json.loads, done.stdout.splitlines())}
    assert rows["hung"]["error"] == "timed out: no result within 1 s (--destination-timeout)"
    assert rows["good"]["ready"] is True


def _progress(folder: Path, tmp_path: Path, *, terminal: bool) -> str:
    """stderr of a fleet check, through a pseudo-terminal or a pipe."""
    if not terminal:
        return cli("check", str(folder), "--engine", "python", cwd=tmp_path).stderr
    return run_on_terminal(["check", str(folder), "--engine", "python"], tmp_path, tty="stderr")[2]


def test_a_progress_line_on_a_terminal_only(fleet: tuple[Path, dict[str, bool]], tmp_path: Path) -> None:
    folder, expected = fleet
    shown = _progress(folder, tmp_path, terminal=True)
    assert f"] {len(expected)}/{len(expected)} checked, 2 not ready" in shown
    assert "] 1/" in shown
    assert "\r[" in shown
    assert shown.endswith("\r\033[K")  # wiped before the table is printed
    assert _progress(folder, tmp_path, terminal=False) == ""


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--url", "https://h/x"], "--url: goes with one destination only"),
        (["--concurrency", "0"], "--concurrency: 0 is below 1"),
        (["--destination-timeout", "0"], "--destination-timeout: 0.0 is not a positive number"),
    ],
)
def test_fleet_options_misused_are_bad_input(
    fleet: tuple[Path, dict[str, bool]], tmp_path: Path, extra: list[str], words: str
) -> None:
    folder, _ = fleet
    done = cli("check", str(folder), *extra, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert words in done.stderr


def test_an_empty_folder_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = cli("check", str(tmp_path / "empty"), cwd=tmp_path)
    assert done.returncode == 2
    assert "holds no destination (*.json) files" in done.stderr
