"""Server personas over loopback: each behaviour, and its negative twin (the same persona accepting a right client).

The personas' fidelity to the real servers is proved in tests/test_realservers.py;
here: the knobs do what they say, through the whole pipeline (python engine,
server record, diagnosis), and bad persona settings are refused with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Run, WriteScenario, assert_one_line_error, cli

RunScenario = Callable[..., Run]
EXPIRED = {"pki": {"client": {"not_before": "-400d", "not_after": "-1d"}}}


@pytest.mark.parametrize("persona", ["openssl", "nginx", "apache", "haproxy"])
def test_every_persona_accepts_a_right_client(run_scenario: RunScenario, persona: str) -> None:
    run = run_scenario({"server": {"persona": persona}})
    assert run.verdict.code == "ok", run.verdict.text()
    assert run.record is not None
    assert run.record.accepted
    assert run.record.client_cert_der


@pytest.mark.parametrize("persona", ["openssl", "nginx", "apache", "haproxy"])
def test_every_persona_rejects_an_expired_client(run_scenario: RunScenario, persona: str) -> None:
    run = run_scenario({**EXPIRED, "server": {"persona": persona}})
    assert run.verdict.code == "client-cert-expired", run.verdict.text()


def test_nginx_persona_answers_at_the_http_layer(run_scenario: RunScenario) -> None:
    run = run_scenario({**EXPIRED, "server": {"persona": "nginx"}})
    assert run.outcome.completed
    assert run.outcome.http_status == 400
    assert "The SSL certificate error" in (run.outcome.response_body or "")
    # The handshake was accepted, with the verify error nginx keeps for later.
    assert run.record is not None
    assert run.record.accepted
    assert any("certificate has expired" in e for e in run.record.verify_errors)


def test_nginx_persona_without_certificate_sends_its_missing_page(run_scenario: RunScenario) -> None:
    run = run_scenario({"keystore": {"entries": []}, "server": {"persona": "nginx"}})
    assert run.outcome.http_status == 400
    assert "No required SSL certificate was sent" in (run.outcome.response_body or "")
    assert run.verdict.code == "client-cert-missing"


def test_optional_auth_without_certificate_is_never_plain_ok(run_scenario: RunScenario) -> None:
    run = run_scenario({"keystore": {"entries": []}, "server": {"persona": "nginx", "client_auth": "optional"}})
    assert run.outcome.http_status == 200
    assert run.verdict.code == "client-cert-missing", run.verdict.text()
    # Twin: optional auth with a certificate sent is ok.
    assert run_scenario({"server": {"persona": "nginx", "client_auth": "optional"}}).verdict.code == "ok"


def test_rejection_knob_overrides_the_persona(run_scenario: RunScenario) -> None:
    run = run_scenario({**EXPIRED, "server": {"persona": "nginx", "rejection": "alert-close"}})
    assert run.outcome.stage == "handshake"
    assert run.outcome.alert_received == "certificate_expired"


def test_apache_depth_limit_refuses_with_internal_error_and_its_twin_passes(run_scenario: RunScenario) -> None:
    run = run_scenario({"server": {"persona": "apache", "verify_depth": 1}})
    assert run.outcome.alert_received == "internal_error"
    assert run.verdict.code == "client-cert-rejected"
    assert "SSLVerifyDepth" in run.verdict.fix
    assert "ssl_verify_depth" in run.verdict.fix
    assert run_scenario({"server": {"persona": "apache", "verify_depth": 2}}).verdict.code == "ok"


def test_nginx_depth_counts_intermediates(run_scenario: RunScenario) -> None:
    refused = run_scenario({"server": {"persona": "nginx", "verify_depth": 0}})
    assert refused.outcome.http_status == 400
    assert refused.verdict.code == "client-cert-rejected"
    assert run_scenario({"server": {"persona": "nginx", "verify_depth": 1}}).verdict.code == "ok"


def test_post_handshake_request_is_renegotiation_failed(run_scenario: RunScenario) -> None:
    server: dict[str, Any] = {"persona": "apache", "client_cert_request": "post-handshake", "tls_versions": ["1.3"]}
    run = run_scenario({"server": server})
    assert run.outcome.http_status == 403
    assert run.verdict.code == "renegotiation-failed", run.verdict.text()
    assert "TLS 1.2" in run.verdict.fix


def test_post_handshake_on_tls12_is_refused(write_scenario: WriteScenario, tmp_path: Path) -> None:
    path = write_scenario({"server": {"persona": "apache", "client_cert_request": "post-handshake"}})
    done = cli("build", str(path), "--out", str(tmp_path / "out"), cwd=REPO)
    assert_one_line_error(done, "server.client_cert_request", "renegotiate", 'tls_versions = ["1.3"]')
    assert not (tmp_path / "out").exists()


def test_unknown_persona_is_refused(write_scenario: WriteScenario, tmp_path: Path) -> None:
    path = write_scenario({"server": {"persona": "tomcat"}})
    done = cli("build", str(path), "--out", str(tmp_path / "out"), cwd=REPO)
    assert_one_line_error(done, "persona")


JAVA_NAMES = {"pki": {"client": {"san": ["DNS:acme-integration.example"]}}}


def test_java_persona_checking_client_names_is_name_mismatch(java: str, run_scenario: RunScenario) -> None:
    run = run_scenario({**JAVA_NAMES, "server": {"persona": "java", "check_client_names": True}})
    assert run.record is not None
    assert not run.record.accepted
    assert "No subject alternative names matching IP address 127.0.0.1" in (run.record.error or "")
    assert run.verdict.code == "client-cert-name-mismatch", run.verdict.text()
    # Twins: the same certificate without the check, and a certificate naming the address, are accepted.
    assert run_scenario({**JAVA_NAMES, "server": {"persona": "java"}}).verdict.code == "ok"
    named = {"pki": {"client": {"san": ["IP:127.0.0.1"]}}}
    assert run_scenario({**named, "server": {"persona": "java", "check_client_names": True}}).verdict.code == "ok"


def test_java_persona_without_certificate_is_missing(java: str, run_scenario: RunScenario) -> None:
    run = run_scenario({"keystore": {"entries": []}, "server": {"persona": "java"}})
    assert run.outcome.alert_received == "bad_certificate"  # JDK 17's answer to an empty chain
    assert run.verdict.code == "client-cert-missing", run.verdict.text()


def test_check_client_names_needs_the_java_persona(write_scenario: WriteScenario, tmp_path: Path) -> None:
    path = write_scenario({"server": {"check_client_names": True}})
    done = cli("build", str(path), "--out", str(tmp_path / "out"), cwd=REPO)
    assert_one_line_error(done, "server.check_client_names", 'persona = "java"')


def test_python_engine_reads_the_tls13_verdict_before_writing(run_scenario: RunScenario) -> None:
    # Apache closes right after its alert: a client that wrote first would see EOF.
    run = run_scenario({"keystore": {"entries": []}, "server": {"persona": "apache", "tls_versions": ["1.3"]}})
    assert run.outcome.alert_received == "certificate_required", run.outcome
    assert run.outcome.client_cert_requested is True
    assert run.outcome.client_cert_sent is False
    # Twin: an accepted certificate; the server's session tickets end the wait.
    ok = run_scenario({"server": {"persona": "apache", "tls_versions": ["1.3"]}})
    assert ok.verdict.code == "ok"
    assert ok.outcome.server_after_handshake == "session tickets"


def test_an_http_400_that_is_not_about_the_certificate_stays_http_error(run_scenario: RunScenario) -> None:
    # The twin of nginx's 400 pages: the local server's own 400 (a JSON answer).
    run = run_scenario({"server": {"status": 400}})
    assert run.verdict.code == "http-error", run.verdict.text()
