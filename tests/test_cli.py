"""``mtls-harness`` as a user runs it: a subprocess, its exit code, its stdout and stderr."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml

from harness.cli.scenarios import AUTO_MIN_SCENARIOS, auto_workers
from harness.engines import Probe
from harness.engines.python import PythonEngine
from harness.scenario import load_scenario
from harness.secret import Secret
from harness.stores import jks_bytes, read_store
from tests.conftest import assert_one_line_error, cli

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "scenarios"
OK_RSA = SHIPPED_DIR / "ok-rsa.toml"
LISTENING = re.compile(r"listening on (https://127\.0\.0\.1:(\d+)(/\S*))")


# -- run -----------------------------------------------------------------------------------------------


def test_run_shipped_scenarios_exit_0_with_junit(tmp_path: Path) -> None:
    report = tmp_path / "reports" / "junit.xml"
    done = cli("run", str(SHIPPED_DIR), "--engine", "python", "--junit", str(report), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    names = {case.name for suite in JUnitXml.fromfile(str(report)) for case in suite}
    assert names == {f"{p.stem}[python]" for p in SHIPPED_DIR.glob("*.toml")}


def test_run_in_parallel_workers(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    done = cli(
        "run",
        str(OK_RSA),
        str(SHIPPED_DIR / "client-cert-untrusted.toml"),
        "-n",
        "2",
        "--junit",
        str(junit),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "2 workers" in done.stdout
    assert junit.read_text("utf-8").count("<testcase") == 4


@pytest.mark.parametrize(
    ("scenarios", "engine", "cores", "workers"),
    [
        (42, "python", 2, None),  # the shipped catalogue: workers cost more than they save
        (99, "python", 2, None),
        (100, "python", 2, "2"),
        (2500, "python", 2, "2"),
        (2500, "python", 1, None),
        (150, "python", 8, "3"),  # no more workers than scenarios pay for
        (2500, "python", 8, "8"),
        (2500, "jsse", 2, None),  # a JVM worker keeps a core and a half busy
        (2500, "all", 2, None),
        (2500, "jsse", 4, "2"),
        (2500, "all", 8, "4"),
    ],
)
def test_auto_workers_start_only_where_they_pay(scenarios: int, engine: str, cores: int, workers: str | None) -> None:
    assert auto_workers(scenarios, engine, cores) == workers


def test_run_n_auto_on_a_small_catalogue_runs_in_one_process(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    done = cli("run", str(OK_RSA), "--engine", "python", "-n", "auto", "--junit", str(junit), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "workers" not in done.stdout  # the twin of test_run_in_parallel_workers: no xdist session
    assert junit.read_text("utf-8").count("<testcase") == 1


def test_run_n_auto_on_a_large_catalogue_starts_workers(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(AUTO_MIN_SCENARIOS):
        (folder / f"ok-rsa-{i:03d}.toml").write_text(OK_RSA.read_text("utf-8"), "utf-8")
    done = cli("run", str(folder), "--engine", "python", "-n", "auto", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    expected = auto_workers(AUTO_MIN_SCENARIOS, "python", os.cpu_count() or 1)
    if expected is None:  # a one-core machine
        assert "workers" not in done.stdout
    else:
        assert f"{expected} workers [{AUTO_MIN_SCENARIOS} items]" in done.stdout
    assert f"{AUTO_MIN_SCENARIOS} passed" in done.stdout


def test_run_with_a_wrong_expectation_exits_1(tmp_path: Path, no_secret: Any) -> None:
    text = (SHIPPED_DIR / "client-cert-untrusted.toml").read_text("utf-8")
    wrong = tmp_path / "client-cert-untrusted.toml"
    wrong.write_text(text.replace('outcome = "client-cert-untrusted"', 'outcome = "ok"'), "utf-8")
    done = cli("run", str(wrong), str(OK_RSA), "--engine", "python", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "expected ok, got client-cert-untrusted (NOT as expected)" in done.stdout
    assert "1 failed, 1 passed" in done.stdout
    no_secret(done.stdout + done.stderr, load_scenario(wrong))


BAD_INPUT = {
    "bad-scenario": (["run", "{bad}"], ["{bad}: keystore: unknown key 'pasword'"]),
    "missing-path": (["run", "{tmp}/nowhere"], ["nowhere: no such file or folder"]),
    "empty-folder": (["run", "{empty}"], ["holds no scenario"]),
    "bad-option": (["run", "--engine", "nope"], ["invalid choice: 'nope'"]),
    "unknown-command": (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    "no-command": ([], ["required"]),
    "build-without-out": (["build", "{ok}"], ["--out"]),
    "build-bad-scenario": (["build", "{bad}", "--out", "{tmp}/out"], ["unknown key 'pasword'"]),
    "serve-missing": (["serve", "{tmp}/nowhere.toml"], ["no such file or folder"]),
    "serve-folder-not-built": (["serve", "{empty}"], ["server.json: no such file"]),
}


@pytest.mark.parametrize(("args", "words"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_exit_2_and_one_line(tmp_path: Path, args: list[str], words: list[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(OK_RSA.read_text("utf-8").replace('password = "ks-Secret-0k"', 'pasword = "ks-Secret-0k"'))
    (tmp_path / "empty").mkdir()
    values = {"bad": str(bad), "tmp": str(tmp_path), "ok": str(OK_RSA), "empty": str(tmp_path / "empty")}
    done = cli(*(a.format(**values) for a in args), cwd=tmp_path)
    assert_one_line_error(done, *(w.format(**values) for w in words))
    assert "ks-Secret-0k" not in done.stderr
    assert not (tmp_path / "out").exists()


UNBUILDABLE = {
    "md5-with-an-ec-issuer": {"pki": {"client-ca": {"key": "ec-p256"}, "client": {"signature": "md5"}}},
    "empty-pkcs12-keystore": {"keystore": {"format": "pkcs12", "entries": []}},
    "empty-pkcs12-truststore": {"truststore": {"format": "pkcs12", "trust": []}},
}


@pytest.mark.parametrize("overrides", UNBUILDABLE.values(), ids=UNBUILDABLE.keys())
def test_scenario_that_cannot_be_built_is_exit_2_and_one_line(
    write_scenario: Any, tmp_path: Path, overrides: dict[str, Any]
) -> None:
    done = cli("build", str(write_scenario(overrides)), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_one_line_error(done, "case.toml")


# -- build ----------------------------------------------------------------------------------------------


def test_build_writes_the_destination(tmp_path: Path, no_secret: Any) -> None:
    out = tmp_path / "out"
    done = cli("build", str(OK_RSA), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    scenario = load_scenario(OK_RSA)
    no_secret(done.stdout + done.stderr, scenario)

    destination = json.loads((out / "destination.json").read_text("utf-8"))
    assert set(destination) == {"url", "keystoreFile", "keystorePass", "truststoreFile", "truststorePass"}
    assert destination["url"] == "https://127.0.0.1:8443/inbound/orders"
    for role in ("keystore", "truststore"):
        relative = Path(destination[f"{role}File"])
        assert not relative.is_absolute()
        contents = read_store(out / relative, Secret(destination[f"{role}Pass"]), role)  # type: ignore[arg-type]
        assert contents.key_entries if role == "keystore" else contents.cert_entries
    assert destination["keystorePass"] == scenario.keystore.password.reveal()

    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (out / "server").iterdir()}
    assert modes == {"key.pem": 0o600, "chain.pem": 0o644, "client-cas.pem": 0o644, "server.json": 0o644}
    assert stat.S_IMODE((out / "destination.json").stat().st_mode) == 0o600


@pytest.mark.jdk
def test_built_keystore_opens_in_keytool_with_the_destination_passwords(tmp_path: Path, keytool: str) -> None:
    out = tmp_path / "out"
    assert cli("build", str(OK_RSA), "--out", str(out), cwd=tmp_path).returncode == 0
    destination = json.loads((out / "destination.json").read_text("utf-8"))
    for role, entry_type in (("keystore", "PrivateKeyEntry"), ("truststore", "trustedCertEntry")):
        listed = subprocess.run(
            [
                keytool,
                "-J-Duser.language=en",
                "-list",
                "-keystore",
                destination[f"{role}File"],
                "-storepass:env",
                "PASS",
            ],
            cwd=out,
            env={**os.environ, "PASS": destination[f"{role}Pass"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert entry_type in listed.stdout


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_refuses_a_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before, siblings = _snapshot(tmp_path), sorted(tmp_path.iterdir())

    refused = cli("build", str(OK_RSA), "--out", str(out), cwd=tmp_path)
    assert_one_line_error(refused, "is not empty", "--force")
    assert _snapshot(tmp_path) == before
    assert sorted(tmp_path.iterdir()) == siblings

    forced = cli("build", str(OK_RSA), "--out", str(out), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert sorted(p.name for p in out.iterdir()) == ["destination.json", "keystore.jks", "server", "truststore.jks"]
    assert sorted(tmp_path.iterdir()) == siblings  # no staging folder left beside it


# -- serve ----------------------------------------------------------------------------------------------


class Served:
    """A running ``serve`` subprocess whose stdout lines are read with a timeout."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.cli.main", "serve", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.everything: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.everything.append(line)
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout: float = 30) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output from serve within {timeout} s")
        assert line is not None, f"serve ended: {self.process.wait(10)} {self.stderr()}"
        return line

    def rest(self) -> list[str]:
        """The remaining lines, once the process has ended."""
        self._reader.join(30)
        found = []
        while (line := self.lines.get_nowait()) is not None:
            found.append(line)
        return found

    def stderr(self) -> str:
        return self.process.stderr.read() if self.process.stderr else ""


@contextlib.contextmanager
def serve_processes(cwd: Path, env: dict[str, str] | None = None) -> Iterator[Callable[..., Served]]:
    """Start ``serve`` subprocesses in ``cwd`` (with ``env`` added); each is killed and reaped at the end."""
    started: list[Served] = []

    def start(*args: str, env: dict[str, str] | None = env) -> Served:
        served = Served(list(args), cwd, {**os.environ, **(env or {})})
        started.append(served)
        return served

    try:
        yield start
    finally:
        for served in started:
            if served.process.poll() is None:
                served.process.kill()
            served.process.wait(30)
            for stream in (served.process.stdout, served.process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    with serve_processes(tmp_path) as start:
        yield start


def _probe(url: str, keystore: Path, ks_pass: Secret, truststore: Path, ts_pass: Secret) -> Any:
    return PythonEngine().probe(Probe(url, keystore, ks_pass, truststore, ts_pass, timeout=10))


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_scenario_answers_logs_and_stops(
    serve: Callable[..., Served], tmp_path: Path, stop: signal.Signals, no_secret: Any
) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    served = serve(str(OK_RSA), "--port", "0", env={"TMPDIR": str(private_tmp)})
    match = LISTENING.fullmatch(served.line())
    assert match is not None
    url, path = match[1], match[3]
    assert int(match[2]) > 0
    assert path == "/inbound/orders"

    # serve writes the scenario's stores into a private temporary folder: the probe uses them.
    [folder] = private_tmp.glob("mtls-serve-ok-rsa-*")
    scenario = load_scenario(OK_RSA)
    stores = (
        folder / "keystore.jks",
        scenario.keystore.password,
        folder / "truststore.jks",
        scenario.truststore.password,
    )
    outcome = _probe(url, *stores)
    assert (outcome.stage, outcome.http_status) == ("done", 200), outcome.error
    assert outcome.server_seen is not None
    assert outcome.server_seen["subject"] == "CN=acme-integration,OU=Integrations,O=Acme Corp"
    assert served.line().startswith("handshake accepted: CN=acme-integration,OU=Integrations,O=Acme Corp (TLSv1.3, ")
    assert re.fullmatch(
        r"POST /inbound/orders -> 200 \(\d+ bytes\) from CN=acme-integration,OU=Integrations,O=Acme Corp", served.line()
    )

    # The negative twin: the truststore alone, no client certificate.
    empty = tmp_path / "empty.jks"
    empty.write_bytes(jks_bytes([], [], Secret("e-Pw-1")))
    refused = _probe(url, empty, Secret("e-Pw-1"), *stores[2:])
    assert refused.stage == "handshake"
    assert served.line() == "handshake rejected: PEER_DID_NOT_RETURN_A_CERTIFICATE; sent alert certificate_required"

    served.process.send_signal(stop)
    assert served.process.wait(timeout=30) == 0
    assert served.rest() == ["stopping"]
    errors = served.stderr()
    assert errors == ""
    assert list(private_tmp.iterdir()) == []  # the key material is gone with the server
    no_secret("".join(served.everything) + errors, scenario)


def test_serve_built_folder_rewrites_the_url(serve: Callable[..., Served], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("build", str(OK_RSA), "--out", str(out), cwd=tmp_path).returncode == 0
    served = serve(str(out), "--port", "0")
    match = LISTENING.fullmatch(served.line())
    assert match is not None
    destination = json.loads((out / "destination.json").read_text("utf-8"))
    assert destination["url"] == match[1]
    assert stat.S_IMODE((out / "destination.json").stat().st_mode) == 0o600

    outcome = _probe(
        destination["url"],
        out / destination["keystoreFile"],
        Secret(destination["keystorePass"]),
        out / destination["truststoreFile"],
        Secret(destination["truststorePass"]),
    )
    assert (outcome.stage, outcome.http_status) == ("done", 200), outcome.error
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0


def test_serve_on_a_port_in_use_is_exit_2_and_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("serve", str(OK_RSA), "--port", str(port), cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert_one_line_error(done, f"127.0.0.1:{port}: cannot listen")
    assert done.stdout == ""
    assert not list(tmp_path.glob("mtls-serve-*"))  # its temporary stores are removed on failure too
