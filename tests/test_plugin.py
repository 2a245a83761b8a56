"""The pytest plugin, run by pytest itself (``pytester``): collection, verdicts, reports, JUnit."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from junitparser import Failure, JUnitXml

from harness.errors import ScenarioError
from harness.scenario import load_scenario

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "scenarios"
JUNIT_XSD = Path(__file__).resolve().parent / "data" / "junit-10.xsd"


def add_scenario(
    pytester: pytest.Pytester, name: str, *, replace: tuple[str, str] | None = None, as_name: str | None = None
) -> Path:
    """Copy a shipped scenario into ``scenarios/`` of the test project, optionally editing one line."""
    text = (SHIPPED_DIR / f"{name}.toml").read_text("utf-8")
    if replace is not None:
        assert replace[0] in text
        text = text.replace(*replace)
    path = pytester.path / "scenarios" / f"{as_name or name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, "utf-8")
    return path


WRONG_EXPECTATION = ('outcome = "client-cert-untrusted"', 'outcome = "ok"')


PYPROJECT = '[project]\nname = "integration-flows"\nversion = "1"\n'
CONFIGURED = PYPROJECT + '\n[tool.pytest.ini_options]\nmtls_scenarios = ["scenarios"]\n'


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with scenarios/ok-rsa.toml and a pyproject.toml (a TOML file that is no scenario) naming it."""
    add_scenario(pytester, "ok-rsa")
    pytester.makepyprojecttoml(CONFIGURED)
    return pytester


@pytest.fixture
def no_jdk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)


def _items(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


@pytest.mark.parametrize(
    ("args", "items"),
    [
        (["--mtls-engine", "python"], ["scenarios/ok-rsa.toml::ok-rsa[python]"]),
        (["--mtls-engine", "jsse"], ["scenarios/ok-rsa.toml::ok-rsa[jsse]"]),
        ([], ["scenarios/ok-rsa.toml::ok-rsa[python]", "scenarios/ok-rsa.toml::ok-rsa[jsse]"]),
    ],
    ids=["python", "jsse", "default"],
)
def test_collects_one_item_per_engine_and_no_other_toml(
    project: pytest.Pytester, args: list[str], items: list[str]
) -> None:
    (project.path / "config").mkdir()
    (project.path / "config" / "settings.toml").write_text('[keystore]\npassword = "x"\n')
    result = project.runpytest("--collect-only", "-q", *args)
    assert result.ret == pytest.ExitCode.OK
    assert _items(result) == items
    assert "pyproject" not in result.stdout.str()
    assert "settings.toml" not in result.stdout.str()


def test_toml_named_on_the_command_line_is_collected(project: pytest.Pytester) -> None:
    elsewhere = project.path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(SHIPPED_DIR / "ok-ec.toml", elsewhere)
    result = project.runpytest("--collect-only", "-q", "--mtls-engine", "python", "elsewhere/ok-ec.toml")
    assert _items(result) == ["elsewhere/ok-ec.toml::ok-ec[python]"]


def test_python_engine_passes_the_scenario(project: pytest.Pytester) -> None:
    result = project.runpytest("--mtls-engine", "python", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*scenario ok-rsa [[]python[]]: expected ok, got ok (as expected)*"])


@pytest.mark.usefixtures("no_jdk")
def test_jsse_is_skipped_without_a_jdk(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = project.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *jsse engine unavailable: no JDK found*"])


@pytest.mark.usefixtures("no_jdk")
def test_jsse_fails_without_a_jdk_in_ci(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = project.runpytest("-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*jsse engine unavailable in CI (CI=true): no JDK found*"])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.jdk
@pytest.mark.usefixtures("java")
def test_both_engines_pass_with_a_jdk(project: pytest.Pytester) -> None:
    result = project.runpytest()
    result.assert_outcomes(passed=2)


def test_wrong_expectation_fails_with_the_diagnosis_and_no_traceback(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(CONFIGURED)
    add_scenario(pytester, "client-cert-untrusted", replace=WRONG_EXPECTATION)
    result = pytester.runpytest("--mtls-engine", "python")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenario client-cert-untrusted [[]python[]]: expected ok, got client-cert-untrusted (NOT as expected)",
            "  why expected: the server trusts only CN=Partner Root CA",
            "  diagnosis (the server rejected): * the server trusts CN=Partner Root CA,O=Partner Inc but your "
            "certificate CN=acme-integration,O=Acme Corp is issued by CN=Acme Client Issuing CA,O=Acme Corp*",
            "  fix: *",
            "  raw error (python): *unknown ca*",
            "  server: handshake rejected: CERTIFICATE_VERIFY_FAILED*",
        ]
    )
    out = result.stdout.str()
    assert "Traceback" not in out
    assert "def runtest" not in out
    assert "ScenarioMismatch" not in out


def test_malformed_scenario_is_a_one_line_collection_error(project: pytest.Pytester) -> None:
    bad = add_scenario(project, "ok-rsa", replace=('alias = "acme-client"', 'alais = "acme-client"'), as_name="bad")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad)
    result = project.runpytest("--mtls-engine", "python")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting scenarios/bad.toml*", str(caught.value)])
    assert "keystore.entries[0]: unknown key 'alais'" in str(caught.value)
    assert "Traceback" not in result.stdout.str()


def test_runs_in_parallel_workers(project: pytest.Pytester) -> None:
    add_scenario(project, "ok-ec")
    add_scenario(project, "client-cert-untrusted")
    result = project.runpytest_subprocess("-n", "2", "--mtls-engine", "python")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*2 workers*"])


@pytest.mark.parametrize("validated", [True, False])
def test_validated_workers_read_only_the_scenarios_they_run(project: pytest.Pytester, validated: bool) -> None:
    """With --mtls-validated (``run -n`` passes it) an xdist worker reads a file when it runs it, not to collect."""
    add_scenario(project, "ok-ec")
    add_scenario(project, "ok-rsa", replace=('alias = "acme-client"', 'alais = "acme-client"'), as_name="bad")
    flags = ["--mtls-validated"] if validated else []
    result = project.runpytest_subprocess("-n", "2", "--mtls-engine", "python", "-k", "ok-", *flags)
    if validated:
        result.assert_outcomes(passed=2)  # bad.toml was never read
        assert "alais" not in result.stdout.str()
        result.stdout.fnmatch_lines(["*2 workers*"])
    else:
        assert result.ret != 0  # the twin: every worker reads every file, and bad.toml stops the collection
        result.stdout.fnmatch_lines(["*unknown key 'alais'*"])


def test_junit_report_is_valid_and_carries_the_details(pytester: pytest.Pytester, no_secret: Any) -> None:
    pytester.makepyprojecttoml(CONFIGURED)
    passing = add_scenario(pytester, "ok-rsa")
    failing = add_scenario(pytester, "client-cert-untrusted", replace=WRONG_EXPECTATION)
    locked = add_scenario(pytester, "key-password-mismatch")
    report = pytester.path / "junit.xml"
    result = pytester.runpytest(
        "--mtls-engine", "python", f"--junitxml={report}", "-o", "junit_logging=system-out", "-o", "junit_family=xunit2"
    )
    result.assert_outcomes(passed=2, failed=1)

    xmlschema.XMLSchema(JUNIT_XSD).validate(report)
    cases = {case.name: case for suite in JUnitXml.fromfile(str(report)) for case in suite}
    assert set(cases) == {"ok-rsa[python]", "client-cert-untrusted[python]", "key-password-mismatch[python]"}

    ok = cases["ok-rsa[python]"]
    assert ok.is_passed
    assert "expected ok, got ok (as expected)" in ok.system_out
    assert "  tls: TLSv1." in ok.system_out
    assert "client identity seen by the server: CN=acme-integration,OU=Integrations,O=Acme Corp" in ok.system_out
    assert (
        "expected key-password-mismatch, got key-password-mismatch" in cases["key-password-mismatch[python]"].system_out
    )

    bad = cases["client-cert-untrusted[python]"]
    [failure] = bad.result
    assert isinstance(failure, Failure)
    assert "expected ok, got client-cert-untrusted (NOT as expected)" in (failure.text or "")
    assert "the server trusts CN=Partner Root CA,O=Partner Inc" in (failure.text or "")

    for scenario in map(load_scenario, (passing, failing, locked)):
        no_secret(report.read_bytes(), scenario)
        no_secret(result.stdout.str(), scenario)
