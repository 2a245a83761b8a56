"""``explain`` recovers each catalogue scenario's code from the JDK's own debug log and exception text.

Every shipped scenario runs through the real JSSE probe twice: with
``-Djavax.net.debug=ssl:handshake`` and with ``ssl:handshake:keymanager`` (which
adds the key entries the key manager found). The expected code must rank
first, with these explicit exceptions, each proven rather than assumed:
- TWINS: two scenarios whose texts carry the very same facts (the JDK never
  prints a key entry's chain length; a JKS and its twin truststore fail with
  the same words). The test asserts the facts are equal, and that the
  expected code is second.
- SHARED: a scenario whose texts carry the same facts as the scenario it is
  paired with, and (with ssl:handshake alone, which never lists key entries)
  as a third: the test asserts both equalities and the exact order of the three.
- ALERT_LOST: the server's alert can be lost to the close right behind it (the
  JDK, writing its Finished, sees Broken pipe first; real servers race the
  same way). When the run's text lacks the alert, its facts are those of the
  scenario named: the test asserts that, the twin's code first, and its own
  code still among the candidates.
- NEEDS_KEYMANAGER: only ssl:keymanager shows that the keystore holds two key
  entries; with ssl:handshake alone the code must still be in the top 3.
- SUPERSEDED: the scenario predates the code that names its cause exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.explainer.facts import read_facts
from harness.explainer.ranking import explain, knowledge
from harness.scenario import load_scenario
from tests.conftest import REPO, SHIPPED, require_tool
from tests.jdk_debug import JdkRun, jdk_debug_run

pytestmark = pytest.mark.jdk

HANDSHAKE, KEYMANAGER = "ssl:handshake", "ssl:handshake:keymanager"
TWINS = {
    # The leaf-only key entry and the entry from an unlisted CA: both send an
    # empty Certificate after the same CertificateRequest; the chain length is never logged.
    "client-chain-incomplete": "client-cert-missing-ca-names",
    # "Keystore was tampered with, or password was incorrect" from either store.
    "truststore-password-wrong": "keystore-password-wrong",
}
# A keystore holding only a trustedCertEntry and an empty keystore: the key
# manager finds no key entry in either and lists none, so the empty Certificate
# after the same CertificateRequest is all either log shows. With ssl:handshake
# alone, a key entry whose chain lacks the intermediate looks the same too
# (the JDK logs only that no certificate was selected).
SHARED = {"keystore-no-key-entry": ("client-cert-missing", "client-chain-incomplete")}
# The Java server's certificate_unknown, lost: an in-date certificate from a
# listed CA, then Broken pipe, as Apache's verify-depth refusal shows it.
ALERT_LOST = {"persona-java-name-mismatch": ("alert_received:certificate_unknown", "persona-apache-depth")}
NEEDS_KEYMANAGER = {"keystore-ambiguous"}
# The server sends only its leaf: server-chain-incomplete (added with issue 12's
# codes) is the exact cause; the scenario's [expect] still says server-cert-untrusted.
SUPERSEDED = {"server-cert-untrusted-leaf-only": "server-chain-incomplete"}


def _expected(name: str) -> str:
    return load_scenario(REPO / "scenarios" / f"{name}.toml").expect.for_engine("jsse")


def _run(name: str, debug: str, folder: Path) -> JdkRun:
    require_tool("java")
    folder.mkdir(parents=True, exist_ok=True)
    return jdk_debug_run(REPO / "scenarios" / f"{name}.toml", debug, folder)


@pytest.mark.parametrize("debug", [HANDSHAKE, KEYMANAGER])
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_explain_recovers_the_scenarios_code(path: Path, debug: str, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    expected = scenario.expect.for_engine("jsse")
    run = _run(scenario.name, debug, tmp_path / "run")
    codes = explain(run.text).codes()
    lost = ALERT_LOST.get(scenario.name)
    alert_lost = lost is not None and lost[0] not in read_facts(run.text)
    if lost is not None and alert_lost:
        twin = _run(lost[1], debug, tmp_path / "twin")
        assert set(read_facts(run.text).seen) == set(read_facts(twin.text).seen), "the texts differ in facts"
        assert codes[0] == _expected(lost[1]), codes
        assert expected in codes, codes
    elif scenario.name in SUPERSEDED:
        assert codes[0] == SUPERSEDED[scenario.name], codes
        assert expected in codes[:2], codes
    elif scenario.name in TWINS:
        twin_name = TWINS[scenario.name]
        twin = _run(twin_name, debug, tmp_path / "twin")
        assert set(read_facts(run.text).seen) == set(read_facts(twin.text).seen), "the texts differ in facts"
        assert codes[0] == load_scenario(REPO / "scenarios" / f"{twin_name}.toml").expect.for_engine("jsse")
        assert codes[1] == expected, codes
    elif scenario.name in SHARED:
        twin_name, third_name = SHARED[scenario.name]
        facts = set(read_facts(run.text).seen)
        twin = _run(twin_name, debug, tmp_path / "twin")
        assert facts == set(read_facts(twin.text).seen), "the texts differ in facts"
        if debug == HANDSHAKE:
            third = _run(third_name, debug, tmp_path / "third")
            assert facts == set(read_facts(third.text).seen), "the texts differ in facts"
        paired = [_expected(name) for name in (twin_name, third_name)]
        assert codes[:3] == [*paired, expected], codes
    elif scenario.name in NEEDS_KEYMANAGER and debug == HANDSHAKE:
        assert expected in codes[:3], codes
    else:
        assert codes[0] == expected, f"{scenario.name} ({debug}): {codes}\n{run.exception_text}"
    # The entries that claim this scenario's log fire on it (with the key manager's output).
    if debug == KEYMANAGER and not alert_lost:
        facts = read_facts(run.text)
        for entry in knowledge().entries:
            if scenario.name in entry.seen_in:
                assert entry.fires(run.text, facts) is not None, f"{entry.id} did not fire on {scenario.name}"


def test_log_only_entries_do_not_fire_on_a_good_handshake(tmp_path: Path) -> None:
    run = _run("ok-rsa", KEYMANAGER, tmp_path)
    facts = read_facts(run.text)
    assert "handshake:completed" in facts
    for entry in knowledge().entries:
        if entry.seen_in and "ok-rsa" not in entry.seen_in:
            assert entry.fires(run.text, facts) is None, entry.id


def test_tls12_certificate_request_with_two_ca_names(write_scenario: Any, tmp_path: Path) -> None:
    """TLS 1.2 logs print the CA names comma-joined and the certificate types asked: both are read."""
    require_tool("java")
    partner = {"partner-root": {"kind": "root", "subject": "CN=Partner Root CA,O=Partner Inc"}}
    both = write_scenario(
        {"pki": partner, "server": {"trust": ["partner-root", "client-root"], "tls_versions": ["1.2"]}}, name="both"
    )
    run = jdk_debug_run(both, HANDSHAKE, tmp_path / "both")
    facts = read_facts(run.text)
    assert facts.ca_names == ("CN=Partner Root CA, O=Partner Inc", "CN=Test Client Root CA, O=Test Corp")
    assert "tls:TLSv1.2" in facts
    assert "key_types_asked" in facts
    assert "client_cert:issuer_not_listed" not in facts
    assert explain(run.text).codes()[0] == "ok"
    # Negative twin: only the partner's CA is listed, so the JDK sends nothing.
    other = write_scenario(
        {"pki": partner, "server": {"trust": ["partner-root"], "tls_versions": ["1.2"]}}, name="other"
    )
    run = jdk_debug_run(other, HANDSHAKE, tmp_path / "other")
    facts = read_facts(run.text)
    assert facts.ca_names == ("CN=Partner Root CA, O=Partner Inc",)
    assert "client_cert:empty" in facts
    assert explain(run.text).codes()[0] == "client-cert-missing"
