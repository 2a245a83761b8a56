"""The fast subset on the Pythons this run is not using: 3.11, 3.12 and 3.13 all supported.

For each other CPython found (``MTLS_HARNESS_PYTHONS="/path/python3.12 ..."``,
else ``~/.pyenv/versions/3.1x.*``, else ``python3.1x`` on PATH): a fresh venv with
this checkout's wheel (no compiler), then the parts that
depend on the interpreter - the CPython object layout behind the CA names, the
ssl/asyncio internals of the server's fidelity, the wheel's own ``run`` of the
catalogue (python engine). Under CI=true a missing Python is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installed import REPO, Installed, install_into_fresh_venv, no_compiler_env, run, shared_install

pytestmark = pytest.mark.install

VERSIONS = ("3.11", "3.12", "3.13")
# What differs between interpreters; the rest of the suite is the same code on the same OpenSSL.
# The plugin's pytester runs (interpreter-independent logic, ~15 s) are left out.
FAST_SUBSET = ("tests/test_ca_names.py", "tests/test_fidelity.py", "-k", "not plugin")
# What FAST_SUBSET imports beyond the wheel's own dependencies (not all test extras: mypy, ruff, ...).
SUBSET_NEEDS = ("junitparser>=3.1",)


def find_python(version: str) -> Path | None:
    listed = os.environ.get("MTLS_HARNESS_PYTHONS")
    candidates = [Path(p) for p in listed.split()] if listed else []
    if not listed:
        pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
        candidates += sorted(pyenv.glob(f"{version}.*/bin/python{version}"), reverse=True)
        if found := shutil.which(f"python{version}"):
            candidates.append(Path(found))
    for candidate in candidates:
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


OTHERS = [v for v in VERSIONS if v != f"{sys.version_info[0]}.{sys.version_info[1]}"]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return shared_install(tmp_path_factory)


@pytest.mark.parametrize("version", OTHERS)
def test_fast_subset_passes_on_the_other_pythons(installed: Installed, tmp_path: Path, version: str) -> None:
    python = find_python(version)
    if python is None:
        reason = f"no Python {version} found (set MTLS_HARNESS_PYTHONS or install it with pyenv)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    other = install_into_fresh_venv(installed.wheel, tmp_path / f"venv{version}", python=python)
    run([other.python, "-m", "pip", "install", "--quiet", *SUBSET_NEEDS], cwd=tmp_path)
    env = no_compiler_env()
    # The wheel's own command on the catalogue (copied out of the checkout).
    project = tmp_path / "project"
    shutil.copytree(REPO / "scenarios", project / "scenarios")
    done = subprocess.run(
        [other.bin("mtls-harness"), "run", "scenarios", "--engine", "python"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The interpreter-dependent tests, from this checkout, on that Python.
    done = subprocess.run(
        [other.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *FAST_SUBSET],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]
