"""examples/partner-client run as a user runs it: from the installed wheel, outside this checkout.

Marked ``install`` (the wheel, a fresh venv): part of ``make test``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from tests.installed import REPO, Installed, no_compiler_env, shared_install

pytestmark = pytest.mark.install

EXAMPLE = REPO / "examples" / "partner-client"
EXPECTED = [
    "tests/test_partner.py::test_java_client_is_refused_by_a_partner_who_does_not_trust_us",
    "tests/test_partner.py::test_java_client_posts_with_the_jks_stores",
    "tests/test_partner.py::test_our_stores_need_no_server",
    "tests/test_partner.py::test_python_client_is_refused_without_our_ca_trusted",
    "tests/test_partner.py::test_python_client_posts_with_the_pem_files",
]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return shared_install(tmp_path_factory)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "partner-client"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    assert (copy / "scenarios" / "settings.toml").is_file()
    return copy


def _pytest(installed: Installed, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed.bin("pytest")), "-p", "no:cacheprovider", *args],
        cwd=project,
        env=no_compiler_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _collected(done: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(line for line in done.stdout.splitlines() if "::" in line)


def test_example_collects_exactly_its_tests(installed: Installed, project: Path) -> None:
    done = _pytest(installed, project, "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _collected(done) == EXPECTED


def test_example_passes_from_the_installed_wheel(installed: Installed, project: Path) -> None:
    junit = project / "junit.xml"
    done = _pytest(installed, project, f"--junitxml={junit}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    cases = {
        f"{c.classname.replace('.', '/')}.py::{c.name}": c for suite in JUnitXml.fromfile(str(junit)) for c in suite
    }
    assert sorted(cases) == EXPECTED
    assert not [n for n, c in cases.items() if any(isinstance(r, Failure | Error) for r in c.result)]
    skipped = [n for n, c in cases.items() if any(isinstance(r, Skipped) for r in c.result)]
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        assert skipped == []
    else:
        assert all("java" in n for n in skipped), skipped


def test_told_to_the_plugin_collects_the_scenarios_but_not_settings(installed: Installed, project: Path) -> None:
    """The negative twin: the same project's scenarios become tests only when mtls_scenarios names them."""
    done = _pytest(
        installed, project, "--collect-only", "-q", "--mtls-scenarios", "scenarios", "--mtls-engine", "python"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _collected(done) == sorted(
        [
            *EXPECTED,
            "scenarios/partner-ok.toml::partner-ok[python]",
            "scenarios/partner-untrusted.toml::partner-untrusted[python]",
        ]
    )
