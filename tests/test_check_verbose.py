"""``check``'s words (issue 24 point 6): no library's internal wording reaches the user; ``-v`` shows the raw exception.

Every fixture destination and a few live catalogue scenarios are checked as a user runs them (text, with
and without ``-v``), and their output is searched for phrases only a library's internals produce. With
``-v``, each engine's exception is shown as the platform would log it (the JDK's class and message), on
one line, escaped; without ``-v``, it is not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from harness.check.judge import raw_error_line
from harness.check.render import render_text
from harness.check.report import Report
from harness.destination import load_destination
from harness.diagnose import certificates, verify_server_chain
from tests.conftest import Live, cli
from tests.test_check import CASES, FIXTURES, SCENARIOS, at_for

# Phrases only a library's (or the interpreter's) internals produce: never in what check prints.
INTERNAL = (
    "candidates exhausted",
    "interior errors",
    "Traceback",
    "object at 0x",
    "PyAsn1Error",
    "asn1",
    "OpenSSL.SSL",
    "_ssl.c",
)

DESTINATIONS = sorted((FIXTURES / "destinations").glob("*.json"))
# Live scenarios whose checks once carried library wording, or raise an exception in each engine.
LIVE = (
    "server-cert-untrusted",
    "server-cert-untrusted-leaf-only",
    "server-name-mismatch",
    "client-cert-untrusted",
    "truststore-empty",
)


def internal_phrases(text: str) -> list[str]:
    return [phrase for phrase in INTERNAL if phrase in text]


def _at(destination: Path) -> tuple[str, ...]:
    """``--at`` for a fixture the manifest times (their validity is relative to their generation)."""
    for case in CASES.values():
        if (FIXTURES / case["destination"]).resolve() == destination.resolve():
            return ("--at", at_for(case))
    return ()


def test_the_fixture_destinations_are_found() -> None:
    assert len(DESTINATIONS) >= 20


@pytest.mark.parametrize("destination", DESTINATIONS, ids=lambda p: p.stem)
def test_no_internal_wording_in_check_on_each_fixture(destination: Path, tmp_path: Path) -> None:
    for verbose in ((), ("-v",)):
        done = cli("check", str(destination), *_at(destination), *verbose, cwd=tmp_path)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        assert done.stdout.splitlines()[-1].startswith("result: ")
        assert internal_phrases(done.stdout + done.stderr) == [], done.stdout + done.stderr


@pytest.mark.parametrize("name", LIVE)
def test_no_internal_wording_in_check_on_live_scenarios(name: str, live: Callable[[Path], Live]) -> None:
    target = live(SCENARIOS / f"{name}.toml")
    for verbose in ((), ("-v",)):
        done = cli(
            "check", str(target.built.destination), "--url", target.url, "--timeout", "20", *verbose,
            cwd=target.built.folder,
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr  # each of them fails: an engine raised
        assert internal_phrases(done.stdout + done.stderr) == [], done.stdout + done.stderr


def test_an_untrusted_chain_is_said_in_plain_words_where_the_library_says_candidates_exhausted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The twin of the searches above: the verifier's own text has the phrase; the reason check gives has not."""
    seen: list[str] = []
    plain = certificates._short

    def spy(exc: Exception) -> str:
        seen.append(str(exc))
        return plain(exc)  # type: ignore[arg-type]

    monkeypatch.setattr(certificates, "_short", spy)
    issuer, stranger = trustme.CA(), trustme.CA()
    chain = [x509.load_pem_x509_certificate(p.bytes()) for p in issuer.issue_cert("server.example").cert_chain_pems]
    anchors = [x509.load_pem_x509_certificate(stranger.cert_pem.bytes())]
    reason = verify_server_chain(chain, anchors, "server.example", dt.datetime.now(dt.UTC))
    [raw] = seen
    assert "candidates exhausted" in raw  # the library's wording: what must not reach the user
    assert reason is not None
    assert internal_phrases(reason) == [], reason
    assert "trusted" in reason


@pytest.mark.jdk
def test_verbose_shows_the_jdks_exception_and_the_plain_run_does_not(live: Callable[[Path], Live], java: str) -> None:
    target = live(SCENARIOS / "server-cert-untrusted.toml")
    args = ("check", str(target.built.destination), "--url", target.url, "--engine", "jsse", "--timeout", "20")
    verbose = cli(*args, "-v", cwd=target.built.folder)
    plain = cli(*args, cwd=target.built.folder)
    assert verbose.returncode == plain.returncode == 1, verbose.stdout + verbose.stderr
    [line] = [x for x in verbose.stdout.splitlines() if x.startswith("  raw error jsse: ")]
    # The JDK's own class and message, as the platform would log it: one line, at most ~300 characters.
    assert line.removeprefix("  raw error jsse: ").startswith(
        "javax.net.ssl.SSLHandshakeException: PKIX path building failed"
    ), line
    assert "unable to find valid certification path" in line
    assert len(line) <= 320
    assert "raw error" not in plain.stdout
    assert "SSLHandshakeException" not in plain.stdout
    assert "PKIX path building failed" not in plain.stdout


@pytest.mark.jdk
def test_verbose_shows_no_raw_error_when_no_engine_raised(live: Callable[[Path], Live], java: str) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    done = cli("check", str(target.built.destination), "--url", target.url, "-v", cwd=target.built.folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "raw error" not in done.stdout


def test_the_raw_line_is_condensed_the_first_line_of_each_new_cause() -> None:
    chain = (
        "javax.net.ssl.SSLHandshakeException: PKIX path building failed: unable to find valid certification path\n"
        "sun.security.validator.ValidatorException: PKIX path building failed: "
        "unable to find valid certification path\n"
        "java.io.IOException: first line of a new cause\n"
        "  its second line\n"
    )
    assert raw_error_line(chain) == (
        "javax.net.ssl.SSLHandshakeException: PKIX path building failed: unable to find valid certification path"
        " / caused by: java.io.IOException: first line of a new cause"
    )
    assert raw_error_line("[SSL: X] verify failed (_ssl.c:1006)") == "[SSL: X] verify failed"
    assert len(raw_error_line("java.lang.Exception: " + "x" * 1000)) == 300
    assert raw_error_line(None) == raw_error_line("") == ""


def test_the_raw_line_is_shown_inert(tmp_path: Path) -> None:
    """An exception message carries what the server sent: a forged line or a terminal escape is shown escaped."""
    destination = load_destination(FIXTURES / CASES["good"]["destination"])
    report = Report(destination)
    report.raw_errors = {"jsse": raw_error_line("javax.net.ssl.SSLException: \x1b[32mok\u202e\x00 end")}
    verbose = render_text(report, verbose=True)
    [line] = [x for x in verbose.splitlines() if x.startswith("  raw error jsse: ")]
    assert line.endswith("SSLException: \\x1b[32mok\\u202e\\x00 end"), line
    for control in ("\x1b", "\u202e", "\x00"):
        assert control not in verbose
    # A line break inside a message cannot start a forged line: only the first line of each cause is kept.
    report.raw_errors = {"jsse": raw_error_line("javax.net.ssl.SSLException: bad\rresult: ready for go-live")}
    assert "result: ready" not in render_text(report, verbose=True)
    assert "raw error" not in render_text(report)
