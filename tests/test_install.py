"""Installing without a compiler: the wheel from this checkout, into a fresh venv, with ``CC=/bin/false``.

Marked ``install``: part of ``make test``; needs PyPI or pip's cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from tests.installed import REPO, Installed, no_compiler_env, run, shared_install

pytestmark = pytest.mark.install


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return shared_install(tmp_path_factory)


def test_the_wheel_is_pure_python_with_every_file_it_needs(installed: Installed) -> None:
    assert installed.wheel.name.endswith("-py3-none-any.whl"), installed.wheel.name
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for needed in ("harness/scenario.schema.json", "harness/py.typed"):
        assert needed in names, f"{needed} missing from the wheel"
    java = {p.relative_to(REPO).as_posix() for p in (REPO / "harness" / "java").glob("*.java")}
    assert java, "no Java probe source in the checkout"
    assert java <= names, f"{sorted(java - names)} missing from the wheel"
    metadata = (
        zipfile.ZipFile(installed.wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    )
    assert "License-Expression: MIT" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: purejks==1.0.0" in requires
    assert not [r for r in requires if "pyjks" in r or "twofish" in r]


def test_installs_with_no_compiler_and_imports_from_the_venv(installed: Installed, tmp_path: Path) -> None:
    out = run(
        [
            installed.python,
            "-c",
            "import harness, jks, importlib.metadata as m; print(harness.__file__);"
            "print(sorted(d.metadata['Name'].lower() for d in m.distributions()))",
        ],
        cwd=tmp_path,
    )
    where, dists = out.splitlines()
    assert Path(where).is_relative_to(installed.venv), where  # the wheel's copy, not this checkout's
    assert "purejks" in dists
    assert "pyjks" not in dists
    assert "twofish" not in dists
    run([installed.python, "-m", "pip", "check"], cwd=tmp_path)


def test_installed_wheel_runs_the_shipped_catalogue(installed: Installed, tmp_path: Path) -> None:
    """Outside the checkout: a folder holding a copy of scenarios/, the installed command, nothing else."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "scenarios", project / "scenarios")
    junit = project / "reports" / "junit.xml"
    done = subprocess.run(
        [installed.bin("mtls-harness"), "run", "scenarios", "--junit", junit],
        cwd=project,
        env=no_compiler_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    cases = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite]
    scenarios = sorted(p.stem for p in (REPO / "scenarios").glob("*.toml"))
    assert sorted(c.name for c in cases) == sorted(f"{s}[{e}]" for s in scenarios for e in ("python", "jsse"))
    bad = [c.name for c in cases if any(isinstance(r, Failure | Error) for r in c.result)]
    assert bad == []
    skipped = [c.name for c in cases if any(isinstance(r, Skipped) for r in c.result)]
    # Only the JDK engine may be skipped (no JDK on this machine), never under CI=true.
    assert all(name.endswith("[jsse]") for name in skipped), skipped
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        assert skipped == []


def test_negative_control_pyjks_twofish_cannot_build_without_a_compiler(tmp_path: Path) -> None:
    """The control that makes the no-compiler install mean something: CC=/bin/false does stop a C build.

    twofish (pyjks's dependency) is on PyPI only as a source distribution; built
    from an unpacked folder, so pip's cache of wheels built earlier cannot stand in.
    """
    download = tmp_path / "download"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "twofish==0.3.0",
            "-d",
            download,
        ],
        cwd=tmp_path,
    )
    (sdist,) = download.glob("twofish-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    (folder,) = (tmp_path / "src").iterdir()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "dist", folder],
        cwd=tmp_path,
        env=no_compiler_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode != 0, done.stdout
    assert "/bin/false" in done.stdout + done.stderr or "error: command" in done.stdout + done.stderr
    assert not list((tmp_path / "dist").glob("*.whl"))
