"""The harness as a user gets it: the wheel built from this checkout, installed into a fresh venv.

One wheel and one venv per test session, shared by the xdist workers (a file
lock in pytest's common temp root): building and installing take ~30 s, and
every test that uses them only reads them. Installation needs PyPI or pip's
cache (``PIP_CACHE_DIR``); ``CC=/bin/false`` proves nothing is compiled.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# What the wheel is built from: the package and what pyproject.toml names.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "harness")


def no_compiler_env(**extra: str) -> dict[str, str]:
    """The environment of an install that must not compile: no C/C++ compiler, no checkout on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(CC="/bin/false", CXX="/bin/false", LDSHARED="/bin/false", PIP_NO_INPUT="1")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env if env is not None else no_compiler_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}", pytrace=False
        )
    return done.stdout


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    def bin(self, name: str) -> Path:
        scripts = "Scripts" if os.name == "nt" else "bin"
        suffix = ".exe" if os.name == "nt" else ""
        return self.venv / scripts / f"{name}{suffix}"

    @property
    def python(self) -> Path:
        return self.bin("python")


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout, built from a copy (the checkout gets no build/ or egg-info)."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in WHEEL_SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = out / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, src], cwd=out)
    (wheel,) = dist.glob("mtls_harness-*.whl")
    return wheel


def install_into_fresh_venv(wheel: Path, venv: Path, *extras: str, python: Path | str = sys.executable) -> Installed:
    run([python, "-m", "venv", venv], cwd=venv.parent)
    installed = Installed(wheel, venv)
    target = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
    run([installed.python, "-m", "pip", "install", "--quiet", target], cwd=venv.parent)
    return installed


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def shared_install(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build and install once per session; xdist workers share pytest's common temp root."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / "installed-wheel"
    with _locked(root / "installed-wheel.lock"):
        done = folder / "done"
        if done.exists():
            wheel_name, venv = done.read_text("utf-8").splitlines()
            return Installed(Path(wheel_name), Path(venv))
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        wheel = build_wheel(folder / "build")
        installed = install_into_fresh_venv(wheel, folder / "venv")
        done.write_text(f"{installed.wheel}\n{installed.venv}\n", "utf-8")
        return installed
