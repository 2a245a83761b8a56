"""No password, and no private key, in any output: stdout, stderr, logs, JUnit, --json, errors, reprs.

Every scenario's passwords are collected from the shipped catalogue, and the
go-live commands run with passwords of their own; each is searched for in
everything the harness prints or writes (except the files whose job is to
hold them: the stores and destination.json).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.build import probe_for, write_scenario_files
from harness.check import render_text, run_check
from harness.destination import load_destination
from harness.engines import StoreFailure
from harness.engines.python import PythonEngine
from harness.errors import StoreError
from harness.pki import build_material
from harness.scenario import load_scenario
from harness.secret import Secret
from harness.server import LocalServer
from harness.stores import read_store
from tests.conftest import REPO, SHIPPED

FIXTURES = REPO / "fixtures"


def _catalogue_passwords() -> set[str]:
    found = set()
    for path in SHIPPED:
        scenario = load_scenario(path)
        for store in (scenario.keystore, scenario.truststore):
            for secret in (store.password, store.destination_password, store.key_password):
                found.add(secret.reveal())
    return found


def _assert_clean(text: str, passwords: set[str], where: str) -> None:
    leaked = sorted(p for p in passwords if p in text)
    assert not leaked, f"{where} shows {len(leaked)} password(s)"
    assert "PRIVATE KEY" not in text, f"{where} shows private key material"


def _mtls(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_catalogue_run_leaks_no_password(tmp_path: Path) -> None:
    passwords = _catalogue_passwords()
    assert len(passwords) >= 10  # the search below means something
    junit = tmp_path / "junit.xml"
    # pytest directly, with every log record at DEBUG printed live: logs are output too.
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-p", "no:cacheprovider", "-rA", "-v",
            "-o", "log_cli=true", "-o", "log_cli_level=DEBUG", "--junitxml", str(junit),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "scenario keystore-password-wrong" in done.stdout  # the run did report per scenario
    _assert_clean(done.stdout, passwords, "pytest stdout")
    _assert_clean(done.stderr, passwords, "pytest stderr")
    _assert_clean(junit.read_text("utf-8"), passwords, "the JUnit file")


def test_a_failing_scenario_shows_no_password(tmp_path: Path) -> None:
    # A wrong expectation prints the diagnosis and the raw errors: of a wrong password, too.
    text = (REPO / "scenarios" / "keystore-password-wrong.toml").read_text("utf-8")
    path = tmp_path / "scenarios" / "wrong.toml"
    path.parent.mkdir()
    path.write_text(text.replace('outcome = "keystore-password-wrong"', 'outcome = "ok"'), "utf-8")
    junit = tmp_path / "junit.xml"
    done = _mtls("run", str(path), "--junit", str(junit), cwd=tmp_path)
    assert done.returncode == 1
    assert "expected ok, got keystore-password-wrong" in done.stdout
    for output in (done.stdout, done.stderr, junit.read_text("utf-8")):
        _assert_clean(output, {"ks-Secret-Cat", "ks-Secret-Typo", "ts-Secret-Cat"}, "a failing scenario's report")


def test_every_command_leaks_no_password(tmp_path: Path) -> None:
    """build, serve, check (text, --json, --junit), keystore, truststore: passwords only where they belong."""
    ours = {"Leak-Canary-Ks-7731", "Leak-Canary-Ts-5520", "Leak-Canary-New-0194"}
    p12_passwords = json.loads((FIXTURES / "p12" / "passwords.json").read_text("utf-8"))
    passwords = _catalogue_passwords() | ours | set(p12_passwords.values())
    outputs: dict[str, str] = {}

    built = tmp_path / "built"
    done = _mtls("build", str(REPO / "scenarios" / "ok-rsa.toml"), "--out", str(built), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outputs["build"] = done.stdout + done.stderr

    scenario = load_scenario(REPO / "scenarios" / "ok-rsa.toml")
    material = build_material(scenario)
    served = write_scenario_files(scenario, tmp_path / "served", material=material)
    env = {"KS": "Leak-Canary-Ks-7731", "TS": "Leak-Canary-Ts-5520", "NEW": "Leak-Canary-New-0194"}
    env["P12"] = p12_passwords["KeyPair-aes.p12"]
    with LocalServer(served.server) as server:
        destination = tmp_path / "served" / "destination.json"
        for flags in ([], ["--json"], ["--junit", str(tmp_path / "check.xml")]):
            done = _mtls("check", str(destination), "--url", server.url, *flags, cwd=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr
            outputs[f"check {flags}"] = done.stdout + done.stderr
        outputs["check junit"] = (tmp_path / "check.xml").read_text("utf-8")
        done = _mtls(
            "keystore", str(FIXTURES / "p12" / "KeyPair-aes.p12"), "--out", str(tmp_path / "ks.jks"),
            "--p12-password-env", "P12", "--password-env", "KS", cwd=tmp_path, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs["keystore"] = done.stdout + done.stderr
        done = _mtls(
            "truststore", server.url, "--out", str(tmp_path / "ts.jks"), "--password-env", "TS",
            "--add-keystore", str(tmp_path / "ks.jks"), "--keystore-password-env", "KS", cwd=tmp_path, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs["truststore"] = done.stdout + done.stderr
        # Wrong passwords and refusals are output too.
        done = _mtls(
            "keystore", str(FIXTURES / "p12" / "KeyPair-aes.p12"), "--out", str(tmp_path / "ks2.jks"),
            "--p12-password-env", "NEW", "--password-env", "KS", cwd=tmp_path, env=env,
        )  # fmt: skip
        assert done.returncode == 2
        outputs["keystore, wrong p12 password"] = done.stdout + done.stderr
    for case in ("keystore-password-wrong", "key-password-mismatch", "truststore-password-wrong"):
        done = _mtls("check", str(FIXTURES / "destinations" / f"{case}.json"), "--json", cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        outputs[f"check {case}"] = done.stdout + done.stderr
        fixture_passwords = json.loads((FIXTURES / "destinations" / f"{case}.json").read_text("utf-8"))
        passwords |= {fixture_passwords["keystorePass"], fixture_passwords["truststorePass"]}
    for name, text in outputs.items():
        _assert_clean(text, passwords, name)


def test_serve_prints_no_password(tmp_path: Path) -> None:
    scenario_path = REPO / "scenarios" / "client-cert-untrusted.toml"
    scenario = load_scenario(scenario_path)
    built = write_scenario_files(scenario, tmp_path / "built")
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "serve", str(built.folder), "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("listening on https://127.0.0.1:")
        url = first.split()[-1]
        # A rejected client: the server prints a line for it.
        outcome = PythonEngine().probe(probe_for(scenario, built, url))
        assert outcome.alert_received == "unknown_ca"
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert "handshake rejected" in out
    _assert_clean(first + out + err, _catalogue_passwords(), "serve")


def test_errors_and_reprs_hide_passwords(tmp_path: Path) -> None:
    scenario = load_scenario(REPO / "scenarios" / "key-password-mismatch.toml")
    material = build_material(scenario)
    built = write_scenario_files(scenario, tmp_path, material=material)
    passwords = {"ks-Secret-Kp1", "entry-Secret-Kp2", "ts-Secret-Kp1", "Wrong-Canary-3390"}

    with pytest.raises(StoreError) as wrong:
        read_store(built.keystore, Secret("Wrong-Canary-3390"), "keystore")
    keystore = read_store(built.keystore, scenario.keystore.password, "keystore")
    outcome = PythonEngine().probe(probe_for(scenario, built, "https://127.0.0.1:9/"))
    destination = load_destination(built.destination)
    report = run_check(destination)
    texts = {
        "StoreError": str(wrong.value) + repr(wrong.value),
        "Scenario repr": repr(scenario),
        "Secret": repr(scenario.keystore.password) + str(scenario.keystore.password),
        "key entries": repr(keystore),
        "Material repr": repr(material),
        "Probe repr": repr(probe_for(scenario, built, "https://127.0.0.1:9/")),
        "Outcome": repr(outcome),
        "Destination": repr(destination),
        "check report": render_text(report) + report.to_json(),
    }
    for name, text in texts.items():
        _assert_clean(text, passwords, name)
    # The twin: the reprs are not empty shells; the real values are one call away.
    assert scenario.keystore.password.reveal() == "ks-Secret-Kp1"
    assert outcome.store_failure == StoreFailure("keystore", "key-password")
    assert any(f.code == "key-password-mismatch" for f in report.findings)


def test_hostile_inputs_and_servers_leak_no_password(tmp_path: Path) -> None:
    """The refusals added for hostile input (issue 15): check in text, --json and --junit; truststore URL."""
    from tests import hostile

    passwords = {"Leak-Canary-Hostile-Ks-1", "Leak-Canary-Hostile-Ts-2"}
    pfx = (FIXTURES / "p12" / "KeyPair-aes.p12").read_bytes()
    (tmp_path / "keystore.p12").write_bytes(hostile.pfx_with_iterations(pfx, 2**31 - 1))
    os.mkfifo(tmp_path / "truststore.jks")
    (tmp_path / "destination.json").write_text(
        json.dumps(
            {
                "url": "https://127.0.0.1:1/",
                "keystoreFile": "keystore.p12",
                "keystorePass": "Leak-Canary-Hostile-Ks-1",
                "truststoreFile": "truststore.jks",
                "truststorePass": "Leak-Canary-Hostile-Ts-2",
            }
        )
    )
    outputs = {}
    for flags in ([], ["--json"], ["--junit", str(tmp_path / "check.xml")]):
        done = _mtls("check", "destination.json", "--engine", "python", *flags, cwd=tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "iteration count" in done.stdout
        outputs[f"check {flags}"] = done.stdout + done.stderr
    outputs["check junit"] = (tmp_path / "check.xml").read_text("utf-8")
    for name, text in outputs.items():
        _assert_clean(text, passwords, name)
