"""What a terminal gets and a pipe or file never does: colours, and the progress bar of a run.

Each command runs for real, its stdout or stderr a pseudo-terminal (``pty``) or
a pipe; the colour cases check a real check against a loopback MTLS server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Live
from tests.terminal_run import run_on_terminal

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def destinations(live: Callable[[Path], Live], tmp_path: Path) -> tuple[Path, Path]:
    """(a ready destination, one whose client certificate expired), on loopback servers."""
    made = []
    for scenario, stem in (("ok-rsa.toml", "ok"), ("client-cert-expired.toml", "expired")):
        target = live(SCENARIOS / scenario)
        doc = json.loads(target.built.destination.read_text("utf-8"))
        doc.update(url=target.url, keystoreFile=str(target.built.keystore), truststoreFile=str(target.built.truststore))
        path = tmp_path / f"{stem}.json"
        path.write_text(json.dumps(doc), "utf-8")
        made.append(path)
    return made[0], made[1]


def test_a_terminal_sees_the_verdict_and_the_severities_in_colour(
    destinations: tuple[Path, Path], tmp_path: Path
) -> None:
    ok, expired = destinations
    code, out, _ = run_on_terminal(["check", str(ok)], tmp_path, tty="stdout")
    assert code == 0, out
    assert "\x1b[1;32mready for go-live" in out  # green
    code, out, _ = run_on_terminal(["check", str(expired), "--engine", "python"], tmp_path, tty="stdout")
    assert code == 1, out
    assert "\x1b[1;31mERROR  \x1b[0m client-cert-expired" in out
    assert "\x1b[1;31mNOT ready for go-live" in out


@pytest.mark.parametrize(
    ("how", "extra", "env"),
    [("a pipe", [], {}), ("NO_COLOR", [], {"NO_COLOR": "1"}), ("--no-color", ["--no-color"], {})],
)
def test_no_colour_through_a_pipe_with_no_color_or_the_option(
    destinations: tuple[Path, Path], tmp_path: Path, how: str, extra: list[str], env: dict[str, str]
) -> None:
    _, expired = destinations
    tty = "" if how == "a pipe" else "stdout"
    code, out, _ = run_on_terminal(["check", str(expired), "--engine", "python", *extra], tmp_path, tty=tty, env=env)
    assert code == 1
    assert "client-cert-expired" in out
    assert "NOT ready" in out
    assert not ANSI.search(out), out


def test_json_has_no_colour_even_on_a_terminal(destinations: tuple[Path, Path], tmp_path: Path) -> None:
    _, expired = destinations
    code, out, _ = run_on_terminal(["check", str(expired), "--engine", "python", "--json"], tmp_path, tty="stdout")
    assert code == 1
    assert json.loads(out)["ready"] is False
    assert "\x1b" not in out


def test_a_fleet_table_colours_its_ready_column_on_a_terminal_only(
    destinations: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = destinations[0].parent
    code, out, _ = run_on_terminal(["check", str(folder), "--engine", "python"], tmp_path, tty="stdout")
    assert code == 1
    assert "\x1b[1;32myes" in out
    assert "\x1b[1;31mno" in out
    code, out, _ = run_on_terminal(["check", str(folder), "--engine", "python", "--no-color"], tmp_path, tty="stdout")
    assert not ANSI.search(out)


RUN = ["run", *(str(SCENARIOS / n) for n in ("ok-rsa.toml", "ok-ec.toml", "client-cert-expired.toml")), "-n", "0"]


def test_a_run_longer_than_its_threshold_draws_a_bar_on_a_terminal_stderr(tmp_path: Path) -> None:
    # The threshold (2 s) set to 0, so that the bar does not depend on how fast this machine runs.
    code, out, err = run_on_terminal(RUN, tmp_path, tty="stderr", env={"MTLS_PROGRESS_AFTER": "0"})
    assert code == 0, out + err
    assert re.search(r"\r\[[#.]{24}\] \d+/6 run, 0 failed", err), err
    assert err.endswith("\r\x1b[K")  # wiped before pytest's summary
    assert "\r[" not in out


def test_a_run_shorter_than_its_threshold_draws_nothing(tmp_path: Path) -> None:
    code, out, err = run_on_terminal(RUN, tmp_path, tty="stderr", env={"MTLS_PROGRESS_AFTER": "3600"})
    assert code == 0, out + err
    assert "\r[" not in err


def test_no_bar_when_stderr_is_a_pipe(tmp_path: Path) -> None:
    code, out, err = run_on_terminal(RUN, tmp_path, tty="")
    assert code == 0, out + err
    assert "\r[" not in err
    assert "\r[" not in out
