"""The plugin collects only what it is told, and a scenario is known by its content.

Installed into a team's repository, the plugin must leave their TOML files
alone (a ``scenarios/settings.toml`` of their own is no test) and collect
scenario files only from the paths named by ``mtls_scenarios`` (ini) or
``--mtls-scenarios`` (command line).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.discovery import is_scenario_file
from tests.conftest import REPO, SHIPPED

SETTINGS = '[keystore]\npassword = "not-a-scenario"\n[server]\nport = 8443\n'


def _items(result: pytest.RunResult) -> list[str]:
    return sorted(line for line in result.outlines if "::" in line)


def _copy(pytester: pytest.Pytester, folder: str, *names: str) -> None:
    target = pytester.path / folder
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(REPO / "scenarios" / f"{name}.toml", target)


@pytest.fixture
def repo(pytester: pytest.Pytester) -> pytest.Pytester:
    """A team's repository: scenarios/ with one scenario and their settings.toml, and a test of their own."""
    _copy(pytester, "scenarios", "ok-rsa")
    (pytester.path / "scenarios" / "settings.toml").write_text(SETTINGS)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_own.py").write_text("def test_own():\n    assert True\n")
    return pytester


OWN = "tests/test_own.py::test_own"
OK_RSA = ["scenarios/ok-rsa.toml::ok-rsa[jsse]", "scenarios/ok-rsa.toml::ok-rsa[python]"]


def test_unconfigured_collects_no_toml_at_all(repo: pytest.Pytester) -> None:
    repo.makepyprojecttoml('[project]\nname = "flows"\nversion = "1"\n')
    result = repo.runpytest("--collect-only", "-q")
    assert _items(result) == [OWN]
    assert "toml" not in result.stdout.str()


@pytest.mark.parametrize("style", ["pyproject", "pytest.ini"])
def test_ini_option_collects_its_scenarios_but_never_settings_toml(repo: pytest.Pytester, style: str) -> None:
    if style == "pyproject":
        repo.makepyprojecttoml('[tool.pytest.ini_options]\nmtls_scenarios = ["scenarios"]\n')
    else:
        repo.makeini("[pytest]\nmtls_scenarios = scenarios\n")
    result = repo.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert _items(result) == sorted([OWN, *OK_RSA])
    assert "settings.toml" not in result.stdout.str()


def test_folder_name_does_not_matter_content_does(pytester: pytest.Pytester) -> None:
    _copy(pytester, "mtls/cases", "ok-rsa", "ok-ec")
    _copy(pytester, "scenarios", "client-cert-untrusted")  # a folder named scenarios, not configured
    (pytester.path / "mtls" / "cases" / "pyproject-like.toml").write_text('[tool.x]\nexpect = "no table"\n')
    pytester.makeini("[pytest]\nmtls_scenarios = mtls/cases\n")
    result = pytester.runpytest("--collect-only", "-q", "--mtls-engine", "python")
    assert _items(result) == ["mtls/cases/ok-ec.toml::ok-ec[python]", "mtls/cases/ok-rsa.toml::ok-rsa[python]"]


def test_command_line_option_replaces_the_ini_option(repo: pytest.Pytester) -> None:
    repo.makeini("[pytest]\nmtls_scenarios = scenarios\n")
    _copy(repo, "other", "ok-ec")
    result = repo.runpytest("--collect-only", "-q", "--mtls-engine", "python", "--mtls-scenarios", "other")
    assert _items(result) == sorted([OWN, "other/ok-ec.toml::ok-ec[python]"])


def test_explicit_test_paths_stay_just_those(repo: pytest.Pytester) -> None:
    repo.makeini("[pytest]\ntestpaths = tests\nmtls_scenarios = scenarios\n")
    # Without paths, the scenario paths join testpaths ...
    assert _items(repo.runpytest("--collect-only", "-q")) == sorted([OWN, *OK_RSA])
    # ... but `pytest tests/test_own.py` runs that file only.
    assert _items(repo.runpytest("--collect-only", "-q", "tests/test_own.py")) == [OWN]


def test_a_scenario_named_on_the_command_line_is_collected_a_settings_file_is_not(repo: pytest.Pytester) -> None:
    result = repo.runpytest("--collect-only", "-q", "--mtls-engine", "python", "scenarios/ok-rsa.toml")
    assert _items(result) == ["scenarios/ok-rsa.toml::ok-rsa[python]"]
    result = repo.runpytest("--collect-only", "-q", "scenarios/settings.toml")
    assert _items(result) == []
    # pytest's own answer for a path no plugin collects.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "not found" in result.stderr.str()


def test_a_broken_scenario_is_reported_not_passed_over(repo: pytest.Pytester) -> None:
    repo.makeini("[pytest]\nmtls_scenarios = scenarios\n")
    (repo.path / "scenarios" / "broken.toml").write_text('[expect]\noutcome = "ok"\n[keystore\n')
    result = repo.runpytest("-q", "--mtls-engine", "python")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting scenarios/broken.toml*"])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[expect]\noutcome = "ok"\n', True),
        ('expect = { outcome = "ok" }\n', True),
        ('[expect.engines]\njsse = "ok"\n', True),
        ('[expect]\noutcome = "ok"\n[broken\n', True),  # not TOML, but meant as a scenario
        (SETTINGS, False),
        ('expect = "ok"\n', False),  # a key, not the table
        ('[tool.mtls]\nexpect = { outcome = "ok" }\n', False),  # not top-level
        ("# [expect]\n", False),
        ("", False),
        ("\xff\xfe not text", False),
    ],
)
def test_is_scenario_file_by_content(tmp_path: Path, text: str, expected: bool) -> None:
    path = tmp_path / "x.toml"
    path.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    assert is_scenario_file(path) is expected
    other = tmp_path / "x.txt"
    other.write_text('[expect]\noutcome = "ok"\n')
    assert not is_scenario_file(other)


def test_every_shipped_scenario_is_recognised() -> None:
    assert SHIPPED
    assert all(is_scenario_file(path) for path in SHIPPED)


def test_this_checkout_is_configured_through_the_ini_option(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    scenario_items = [line for line in done.stdout.splitlines() if line.startswith("scenarios/")]
    assert sorted(scenario_items) == sorted(
        f"scenarios/{p.name}::{p.stem}[{engine}]" for p in SHIPPED for engine in ("python", "jsse")
    )
    # No TOML outside the configured folder became a test (tests/data holds some).
    assert not [line for line in done.stdout.splitlines() if ".toml::" in line and not line.startswith("scenarios/")]


def test_run_on_a_folder_runs_its_scenarios_not_its_settings(tmp_path: Path) -> None:
    from tests.conftest import cli

    folder = tmp_path / "scenarios"
    folder.mkdir()
    shutil.copy(REPO / "scenarios" / "ok-rsa.toml", folder)
    (folder / "settings.toml").write_text(SETTINGS)
    done = cli("run", "scenarios", "--engine", "python", "-v", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok-rsa[python]" in done.stdout
    assert "settings" not in done.stdout + done.stderr
    # Named explicitly, a file that is not a scenario is bad input.
    named = cli("run", "scenarios/settings.toml", "--engine", "python", cwd=tmp_path)
    assert named.returncode == 2, named.stdout + named.stderr
    assert "Traceback" not in named.stderr
