"""``explain``: the knowledge file entry by entry, real-world texts, the command line.

Each entry with an ``example`` is run on it (the example must fire it) and on
its negative twin, the example without the lines that carry the entry's
phrase or facts (which must not). Entries that only facts in a JDK debug log
can fire are proven by tests/test_explain_catalogue.py on the catalogue's own logs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.explainer.facts import read_facts
from harness.explainer.ranking import Entry, explain, knowledge, load_knowledge
from harness.knowledge import codes
from harness.knowledge.codes import OUTCOME_CODES
from tests.conftest import REPO, assert_one_line_error, cli

KNOWLEDGE = knowledge()
# the 43 texts that shaped the rules (`shaped`); the later ones are measured by benchmarks/explain_rates.py
REALWORLD = [
    t
    for t in tomllib.loads((REPO / "tests" / "data" / "explain_realworld.toml").read_text("utf-8"))["text"]
    if t.get("shaped")
]
# Codes no catalogue scenario shows yet: the registry's no_scenario says "pending: ..."; this
# test accepts exactly its absence, for exactly these codes.
PENDING_SCENARIOS = {  # no local scenario reproduces these yet (SNI refusal, a server chain without its
    # intermediate as its own code, revocation)
    "server-name-unrecognized",
    "server-chain-incomplete",
    "revocation-check-failed",
}
# No catalogue scenario shows them:
NO_SCENARIO = {"connection-failed", "handshake-failed", "http-redirect", "http-timeout"}


def test_every_outcome_code_has_its_fix_and_look_at() -> None:
    for name in OUTCOME_CODES:
        registered = codes.code(name)
        assert registered.look_at, name
        assert registered.fix(), name


@pytest.mark.parametrize("code", OUTCOME_CODES)
def test_every_code_names_its_catalogue_scenario(code: str) -> None:
    # What explain says to reproduce a code with is the registry's scenario.
    registered = codes.code(code)
    if code in NO_SCENARIO:
        assert registered.scenario is None
        assert not (registered.no_scenario or "").startswith("pending")
        return
    if code in PENDING_SCENARIOS:
        assert registered.scenario is None
        assert (registered.no_scenario or "").startswith("pending"), code
        return
    assert registered.scenario, f"{code}: no scenario named"
    path = REPO / "scenarios" / f"{registered.scenario}.toml"
    assert path.is_file(), f"{code}: scenarios/{registered.scenario}.toml does not exist"


@pytest.mark.parametrize("code", sorted(PENDING_SCENARIOS | {"client-cert-untrusted"}))
def test_a_candidate_carries_the_registry_texts(code: str) -> None:
    entry = next(e for e in KNOWLEDGE.entries if e.code == code and e.example)
    [candidate] = [c for c in explain(entry.example or "").candidates if c.code == code]
    registered = codes.code(code)
    assert (candidate.summary, candidate.look_at, candidate.fix) == (
        registered.summary,
        registered.look_at,
        registered.fix(),
    )
    # The scenario is named, with a path to open, only when its file is installed (here: the checkout's).
    assert candidate.scenario == (registered.scenario or "")
    if registered.scenario:
        assert candidate.scenario_path == str((REPO / "scenarios" / f"{registered.scenario}.toml").resolve())
    else:
        assert candidate.scenario_path == ""
    shown = explain(entry.example or "").render()
    assert f"fix: {registered.fix()}" in shown
    assert "pending" not in shown  # never a pointer to a scenario that does not exist
    for line in shown.splitlines():
        if line.strip().startswith("reproduce: mtls-harness run "):
            assert Path(line.split("mtls-harness run ", 1)[1]).is_file(), line


def test_every_code_can_be_explained() -> None:
    explained = {entry.code for entry in KNOWLEDGE.entries}
    assert explained == set(OUTCOME_CODES) - {"handshake-failed"}  # the honest fallback, never a match


def test_every_entry_is_proven_somewhere() -> None:
    for entry in KNOWLEDGE.entries:
        if entry.example is not None:
            assert entry.source, f"{entry.id}: an example without its source"
        else:
            assert entry.seen_in, f"{entry.id}: neither an example nor catalogue scenarios that fire it"
            for name in entry.seen_in:
                assert (REPO / "scenarios" / f"{name}.toml").is_file(), f"{entry.id}: seen_in {name} does not exist"


def _negative_twin(entry: Entry, text: str) -> str:
    """The text without every line that shows the entry's phrase (even across lines) or one of its facts."""
    spans = [m.span() for p in entry.phrases for m in p.finditer(text)]
    kept, start = [], 0
    for line in text.splitlines(keepends=True):
        end = start + len(line)
        hit = any(a < end and b > start for a, b in spans)
        if not hit and not any(name in read_facts(line) for name in entry.facts):
            kept.append(line)
        start = end
    return "".join(kept)


WITH_EXAMPLES = [e for e in KNOWLEDGE.entries if e.example is not None]


@pytest.mark.parametrize("entry", WITH_EXAMPLES, ids=[e.id for e in WITH_EXAMPLES])
def test_entry_fires_on_its_example_and_not_on_its_twin(entry: Entry) -> None:
    assert entry.example is not None
    result = explain(entry.example)
    fired = {c.code: c.entries for c in result.candidates}
    # The entry's code may rank low when the example is ambiguous, but it is listed, with this entry as why.
    assert entry.code in fired, f"{entry.id}: {entry.code} not among {result.codes()}"
    assert entry.id in fired[entry.code]
    twin = _negative_twin(entry, entry.example)
    assert entry.fires(twin, read_facts(twin)) is None, f"{entry.id} fired without its phrase/facts: {twin!r}"


def test_unknown_tls_text_says_handshake_failed_honestly() -> None:
    result = explain("javax.net.ssl.SSLHandshakeException: something went wrong while talking to the partner")
    assert result.codes() == ["handshake-failed"]
    assert result.found
    assert "no phrase or debug-log fact" in result.candidates[0].why[0]
    # Negative twin: a known phrase is not answered with the fallback.
    assert "handshake-failed" not in explain("Received fatal alert: unknown_ca").codes()


@pytest.mark.parametrize(
    "text", ["hello world", "something went wrong while talking to the partner", "Exception in thread main: NPE"]
)
def test_text_without_tls_says_nothing_found_and_what_would_help(text: str) -> None:
    result = explain(text)
    assert not result.found
    assert result.codes() == []
    shown = result.render()
    assert "no TLS or certificate failure found in this text" in shown
    assert "Received fatal alert" in shown  # what would help: the alert,
    assert "javax.net.debug" in shown  # or a debug log
    doc = json.loads(result.to_json())
    assert doc["found"] is False
    assert doc["candidates"] == []
    # Negative twin: the same words with a TLS word are a handshake failure nothing explains yet.
    assert explain(text + "\njavax.net.ssl.SSLException: closing inbound").codes() == ["handshake-failed"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("java.net.SocketTimeoutException: Read timed out", "http-timeout"),
        ("requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='x', port=443): Read timed out.", "http-timeout"),
        ("java.net.ConnectException: Connection refused (Connection refused)", "connection-failed"),
        ("connect ECONNREFUSED 10.0.0.5:443", "connection-failed"),
    ],
)
def test_timeout_and_refused_are_named_as_such(text: str, code: str) -> None:
    result = explain(text)
    assert result.codes()[0] == code
    assert "handshake-failed" not in result.codes()


def test_empty_text_is_bad_input() -> None:
    with pytest.raises(UsageError, match="empty"):
        explain("  \n ")


def test_ambiguous_text_ranks_both_causes() -> None:
    # A wrong password, or a PKCS#12 this JDK cannot read: the JDK says the same.
    codes = explain("java.io.IOException: keystore password was incorrect").codes()
    assert codes[:2] == ["keystore-password-wrong", "keystore-format-unsupported"]
    # With the decryption failure that only an unreadable algorithm gives, the order flips.
    codes = explain(
        "java.io.IOException: keystore password was incorrect\n"
        "Caused by: java.security.UnrecoverableKeyException: failed to decrypt safe contents entry"
    ).codes()
    assert codes[0] == "keystore-format-unsupported"


NGINX_PAGE = (
    "<html>\r\n<head><title>400 {0}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
    "<center>{0}</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
)


def test_gateway_pages_and_bare_closes_rank_sensibly() -> None:
    # nginx's page for no certificate: missing first, the keystore without a key entry next.
    codes = explain(NGINX_PAGE.format("No required SSL certificate was sent")).codes()
    assert codes[:2] == ["client-cert-missing", "keystore-no-key-entry"]
    # Negative twin: the page for a certificate that was sent and refused.
    codes = explain(NGINX_PAGE.format("The SSL certificate error")).codes()
    assert codes[0] == "client-cert-rejected"
    assert "client-cert-missing" not in codes
    # A bare close says little: several candidates, the refusal of a sent certificate first.
    codes = explain("java.net.SocketException: Broken pipe").codes()
    assert codes[:3] == ["client-cert-rejected", "client-cert-missing", "client-cert-untrusted"]
    # certificate_required names the cause: no certificate, then why none was sent.
    codes = explain("javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_required").codes()
    assert codes == ["client-cert-missing", "client-chain-incomplete", "keystore-no-key-entry"]


def test_which_side_sent_the_alert_decides() -> None:
    # The JDK raised it itself while checking the server: the server's name.
    local = "Fatal (CERTIFICATE_UNKNOWN): No subject alternative names matching IP address 10.0.0.7 found ("
    log = f"javax.net.ssl|ERROR|10|main|2026-12-03 08:30:08.009 UTC|TransportContext.java:375|{local}\n"
    assert explain(log).codes()[0] == "server-name-mismatch"
    assert "client-cert-name-mismatch" not in explain(log).codes()
    # The same words from a server that checks the client certificate's names.
    remote = (
        "java.security.cert.CertificateException: No subject alternative names matching IP address 10.0.0.7 found\n"
    )
    remote += "\tat sun.security.ssl.X509TrustManagerImpl.checkClientTrusted(X509TrustManagerImpl.java:84)"
    assert explain(remote).codes()[0] == "client-cert-name-mismatch"


def test_older_formats_are_read_for_facts() -> None:
    # JDK 8's debug log format: the client answered the CertificateRequest with nothing.
    jdk8 = (
        "*** CertificateRequest\nCert Types: RSA, DSS, ECDSA\nCert Authorities:\n<CN=Partner Root CA, O=Partner>\n"
        "*** ServerHelloDone\nWarning: no suitable certificate found - continuing without client authentication\n"
        "*** Certificate chain\n<Empty>\n***\nmain, RECV TLSv1.2 ALERT:  fatal, handshake_failure\n"
    )
    facts = read_facts(jdk8)
    assert {"cert_requested", "ca_names:listed", "client_cert:empty", "alert_received:handshake_failure"} <= set(
        facts.seen
    )
    assert explain(jdk8).codes()[0] == "client-cert-missing"
    # Negative twin: a certificate was sent (no <Empty>): no empty-certificate fact.
    assert "client_cert:empty" not in read_facts(jdk8.replace("<Empty>\n***", "[\n  Version: V3\n]\n***"))
    # curl -v prints the alert it received like this.
    curl = "* TLSv1.3 (IN), TLS handshake, Request CERT (13):\n* TLSv1.3 (IN), TLS alert, unknown CA (560):"
    assert {"cert_requested", "alert_received:unknown_ca"} <= set(read_facts(curl).seen)
    assert explain(curl).codes()[0] == "client-cert-untrusted"


def test_loader_refuses_unknown_codes_and_keys() -> None:
    entry = '[[entry]]\nid = "e"\ncode = "ok"\nweight = 1\nwhy = "w"\nphrases = ["x"]\n'
    assert len(load_knowledge(entry).entries) == 1
    with pytest.raises(ValueError, match="not an outcome code"):
        load_knowledge(entry.replace('code = "ok"', 'code = "okay"'))
    with pytest.raises(ValueError, match="not an outcome code"):
        load_knowledge(entry.replace('code = "ok"', 'code = "alias"'))  # a warning code is not explained
    with pytest.raises(ValueError, match="unknown keys"):
        load_knowledge(entry + 'colour = "red"\n')
    with pytest.raises(ValueError, match=r"unknown keys \['codes'\]"):
        # A code's texts are the registry's: a [codes.*] table here is refused, not read.
        load_knowledge('[codes.ok]\nlook_at = "x"\nfix = "y"\nscenario = "ok-rsa"\n' + entry)
    with pytest.raises(ValueError, match="needs phrases or facts"):
        load_knowledge(entry.replace('phrases = ["x"]\n', ""))
    with pytest.raises(ValueError, match="duplicate id"):
        load_knowledge(entry + entry)


# -- real-world texts ------------------------------------------------------------------------


def test_realworld_texts_are_recorded_with_their_source() -> None:
    assert len(REALWORLD) >= 30
    for item in REALWORLD:
        assert re.match(r"https://\S+$", item["url"]), item
        assert item["expected"] in OUTCOME_CODES, item
        assert item["kind"] in {"java", "jdk-log", "curl", "openssl", "gateway"}, item


def test_realworld_hit_rates() -> None:
    """Measured, printed by benchmarks/explain_rates.py; guarded here against regressions."""
    top1 = top3 = 0
    for item in REALWORLD:
        codes = explain(item["text"]).codes()
        top1 += codes[:1] == [item["expected"]]
        top3 += item["expected"] in codes[:3]
    assert top1 / len(REALWORLD) >= 0.7, f"top-1 {top1}/{len(REALWORLD)}"
    assert top3 / len(REALWORLD) >= 0.9, f"top-3 {top3}/{len(REALWORLD)}"


# -- the command line -----------------------------------------------------------------------


def test_cli_explain_argument_and_json(tmp_path: Path) -> None:
    done = cli("explain", "Received fatal alert: certificate_required", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    first = doc["candidates"][0]
    assert first["code"] == "client-cert-missing"
    assert {"code", "why", "fix", "scenario"} <= set(first)
    assert "certificate_required" in first["why"]
    assert first["scenario"] == "client-cert-missing"
    assert Path(first["scenario_path"]).is_file()


def test_cli_explain_exits_1_when_nothing_is_found(tmp_path: Path) -> None:
    done = cli("explain", "hello world", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "no TLS or certificate failure found in this text" in done.stdout
    assert "what would help" in done.stdout
    assert "Traceback" not in done.stderr
    # Negative twin: a TLS text exits 0, even when nothing names its cause.
    done = cli("explain", "javax.net.ssl.SSLException: something new", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1. handshake-failed" in done.stdout
    # The exit codes are documented where a user looks.
    helped = cli("explain", "--help", cwd=tmp_path)
    assert "exit codes:" in helped.stdout
    assert "no TLS or certificate failure found" in helped.stdout


def test_cli_explain_reads_stdin_and_files(tmp_path: Path) -> None:
    text = "javax.net.ssl.SSLHandshakeException: PKIX path building failed: unable to find valid certification path"
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "explain", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "1. server-cert-untrusted" in done.stdout
    assert "look at:" in done.stdout
    assert "fix:" in done.stdout
    log = tmp_path / "platform.log"
    log.write_text("java.security.UnrecoverableKeyException: Cannot recover key\n")
    done = cli("explain", "--file", str(log), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1. key-password-mismatch" in done.stdout


def test_cli_explain_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(cli("explain", "", cwd=tmp_path), "empty")
    assert_one_line_error(cli("explain", "--file", str(tmp_path / "missing.log"), cwd=tmp_path), "missing.log")
    assert_one_line_error(cli("explain", cwd=tmp_path), "empty")  # stdin not a terminal, and empty
    both = cli("explain", "x", "--file", str(tmp_path / "a.log"), cwd=tmp_path)
    assert_one_line_error(both, "both")


def test_explain_never_echoes_secrets_from_the_paste(tmp_path: Path) -> None:
    paste = (
        '{"url": "https://partner.example/in", "keystorePass": "Ks-Very-Secret-91", "truststorePass": "Ts-Secret-22"}\n'
        "java.io.IOException: Keystore was tampered with, or password was incorrect"
    )
    done = cli("explain", paste, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Ks-Very-Secret-91" not in done.stdout
    assert "Ts-Secret-22" not in done.stdout
    assert json.loads(done.stdout)["candidates"][0]["code"] == "keystore-password-wrong"


# -- what a pipx user gets ------------------------------------------------------------------


@pytest.mark.install
def test_installed_wheel_points_only_at_scenarios_it_ships(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """From the installed wheel, outside the checkout: a scenario is named only with a file that exists."""
    from tests.installed import no_compiler_env, shared_install

    installed = shared_install(tmp_path_factory)
    text = "javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_required"
    command = [str(installed.bin("mtls-harness")), "explain", text]
    env = no_compiler_env()
    done = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    candidates = json.loads(done.stdout)["candidates"]
    assert candidates[0]["code"] == "client-cert-missing"
    assert candidates[0]["scenario_path"], candidates[0]  # the wheel ships the catalogue (harness/scenarios)
    for candidate in candidates:
        if candidate["scenario_path"]:
            path = Path(candidate["scenario_path"])
            assert path.is_file(), path
            assert path.is_relative_to(installed.venv), path  # inside the installed package, not this checkout
            assert candidate["scenario"] == path.stem
        else:
            assert candidate["scenario"] == "", candidate  # no name without a file to open
    shown = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "pending" not in shown.stdout
    for line in shown.stdout.splitlines():
        if "reproduce:" in line:
            target = line.split("reproduce:", 1)[1].strip()
            if target.startswith("mtls-harness run "):
                assert Path(target.removeprefix("mtls-harness run ")).is_file(), line
            else:
                assert "no catalogue scenario for this cause is installed" in target, line
    # Negative twin: from this checkout the same candidate names its scenario with a path that exists.
    here = explain(text).candidates[0]
    assert here.scenario == "client-cert-missing"
    assert Path(here.scenario_path).is_file()
