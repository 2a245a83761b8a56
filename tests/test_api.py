"""The public API (harness/__init__.py, docs/api.md): every name resolves, lazily, and the
documented round trips work over real loopback TLS using nothing but ``import harness``."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import harness

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.mark.parametrize("name", [n for n in harness.__all__ if n != "__version__"])
def test_each_public_name_resolves_to_its_documented_home(name: str) -> None:
    value = getattr(harness, name)
    home = importlib.import_module(harness._HOMES[name])
    assert getattr(home, name) is value


def test_every_home_is_public_and_every_public_name_has_a_home() -> None:
    assert set(harness._HOMES) == set(harness.__all__) - {"__version__"}


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'run_checks'"):
        _ = harness.run_checks  # type: ignore[attr-defined]


def test_importing_the_package_or_its_errors_loads_nothing_heavy() -> None:
    code = (
        "import sys, harness, harness.errors\n"
        "heavy = [m for m in ('harness.check', 'harness.run', 'harness.server', 'jks', 'hypercorn', 'pytest')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "harness.run_check\n"
        "print('harness.check' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    heavy, loaded = done.stdout.splitlines()
    assert heavy == ""
    assert loaded == "True"  # and the name, once asked for, is there


def test_a_served_scenario_checked_through_the_api_is_ready() -> None:
    with harness.serve_scenario(SCENARIOS / "ok-rsa.toml") as srv:
        destination = harness.load_destination(srv.destination_file)
        report = harness.run_check(destination, engines=harness.make_engines("python"), engine_choice="python")
    assert destination.url == srv.url
    assert report.ready, [f.code for f in report.errors]
    assert report.errors == []


def test_a_served_scenario_whose_server_distrusts_the_client_is_not_ready() -> None:
    with harness.serve_scenario(SCENARIOS / "client-cert-untrusted.toml") as srv:
        destination = harness.load_destination(srv.destination_file)
        report = harness.run_check(destination, engines=harness.make_engines("python"), engine_choice="python")
    assert not report.ready
    assert "client-cert-untrusted" in {f.code for f in report.errors}


def test_run_scenario_gives_the_expected_verdict_and_its_twin_another() -> None:
    [engine] = harness.make_engines("python")
    try:
        good = harness.run_scenario(harness.load_scenario(SCENARIOS / "ok-ec.toml"), engine)
        expired = harness.run_scenario(harness.load_scenario(SCENARIOS / "client-cert-expired.toml"), engine)
    finally:
        engine.close()
    assert isinstance(good.verdict, harness.Verdict)
    assert (good.verdict.code, good.expected) == ("ok", "ok")
    assert (expired.verdict.code, expired.expected) == ("client-cert-expired", "client-cert-expired")


def test_build_stores_writes_a_destination_that_load_destination_reads(tmp_path: Path) -> None:
    with harness.build_stores(SCENARIOS / "ok-pkcs12.toml") as stores:
        destination = harness.load_destination(stores.destination_file)
        assert destination.keystore.is_file()
        assert destination.truststore.is_file()
    assert not stores.folder.exists()  # key material removed with the block


def test_explain_ranks_the_cause_and_says_it_does_not_know_for_noise() -> None:
    told = harness.explain("javax.net.ssl.SSLHandshakeException: Received fatal alert: unknown_ca")
    assert isinstance(told, harness.Explanation)
    assert told.codes()[0] == "client-cert-untrusted"
    assert "client-cert-untrusted" not in harness.explain("hello world").codes()


def test_bad_input_is_a_harness_error_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[expect]\noutcome = 'no-such-code'\n")
    with pytest.raises(harness.ScenarioError) as caught:
        harness.load_scenario(broken)
    assert isinstance(caught.value, harness.HarnessError)
    assert "broken.toml" in str(caught.value)


def test_the_example_in_docs_api_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (SCENARIOS.parent / "docs" / "api.md").read_text("utf-8")
    [example] = [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]
    monkeypatch.chdir(SCENARIOS.parent)
    exec(compile(example, "docs/api.md", "exec"), {})  # noqa: S102  # the doc's own code, as a reader runs it
