"""The jsse engine's whole-answer deadline: a server dripping its answer is ServerTooSlow, as for the python engine.

HttpsURLConnection's read timeout holds per read: a server that accepts the
client certificate and then sends one byte every 0.5 s keeps the JVM reading
past any per-read timeout. Only the engine's deadline for the whole answer
(twice the probe timeout plus MARGIN) ends it; the outcome must say so, and the
diagnosis must be the python engine's for the same server. The hostile servers
(tests/hostile.py) listen on 127.0.0.1 and every loop in them is bounded.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterator

import pytest

from harness.build import Built, probe_for
from harness.diagnose import Evidence, diagnose, scenario_evidence
from harness.engines import jsse
from harness.engines.jsse import JsseEngine
from harness.engines.python import PythonEngine
from harness.scenario import Scenario
from harness.stores import read_store
from tests.conftest import require_tool
from tests.hostile import HostileServer, answer_then, drip

# A short probe timeout and margin: the drip test ends at 1 * 2 + 4 = 6 s, not at 17 s.
TIMEOUT = 1.0
SHORT_MARGIN = 4.0
DRIP_PAUSE = 0.5  # each byte well within the 1 s per-read timeout


@pytest.fixture(scope="module")
def engine() -> Iterator[JsseEngine]:
    require_tool("java")  # skipped without a JDK (a failure when CI=true), as the java fixture does
    eng = JsseEngine()
    yield eng
    eng.close()


@pytest.fixture
def short_margin(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(jsse, "MARGIN", SHORT_MARGIN)
    return TIMEOUT * 2 + SHORT_MARGIN


def _evidence(scenario: Scenario, built: Built) -> Evidence:
    return scenario_evidence(
        scenario,
        built.material,
        keystore=read_store(built.keystore, scenario.keystore.password, "keystore"),
        truststore=read_store(built.truststore, scenario.truststore.password, "truststore"),
        handshake=None,  # not our LocalServer: the hostile server keeps no record
    )


@pytest.mark.jdk
def test_a_dripping_answer_is_server_too_slow_with_the_python_engines_verdict(
    built_scenario: tuple[Scenario, Built], engine: JsseEngine, short_margin: float
) -> None:
    scenario, built = built_scenario
    holder: list[HostileServer] = []

    def dripping(tls: ssl.SSLSocket) -> None:
        # One byte per 0.5 s, "forever": bounded by the drip's byte limit and the server's stop.
        drip(tls, b"X-Drip: 1\r\n", lambda: holder[0].stopping, pause=DRIP_PAUSE, limit=1_000)

    behave = answer_then(built, b"HTTP/1.1 200 OK\r\n", dripping)
    with HostileServer(behave) as server:
        holder.append(server)
        probe = dataclasses.replace(
            probe_for(scenario, built, f"https://127.0.0.1:{server.port}/inbound"), timeout=TIMEOUT
        )
        slow = engine.probe(probe)
        discarded = engine.pid is None  # the timed-out JVM was killed, not reused
        python = PythonEngine().probe(probe)

    assert slow.error_type == "ServerTooSlow", slow.error
    assert slow.stage == "connect"  # the JVM cannot say how far it got, and the error says so
    assert f"did not finish answering within {short_margin:g} s, the whole-answer deadline" in (slow.error or "")
    assert "the JVM was restarted" in (slow.error or "")
    assert "cannot say whether it had connected" in (slow.error or "")
    assert "\n" not in (slow.error or "")
    assert f"{slow.deadline_s:g}" == f"{short_margin:g}"
    assert discarded
    assert python.error_type == "ServerTooSlow", python.error

    evidence = _evidence(scenario, built)
    jsse_verdict, python_verdict = diagnose(slow, evidence), diagnose(python, evidence)
    assert jsse_verdict.code == python_verdict.code == "handshake-failed"
    assert jsse_verdict.side == python_verdict.side == "server"
    assert "did not finish answering in time" in jsse_verdict.explanation
    assert jsse_verdict.fix == python_verdict.fix

    # The next probe starts a fresh JVM and works (the negative twin's server).
    body = b'{"client": null}'
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with HostileServer(answer_then(built, head, lambda tls: None)) as server:
        again = engine.probe(
            dataclasses.replace(probe_for(scenario, built, f"https://127.0.0.1:{server.port}/inbound"), timeout=5.0)
        )
    assert (again.stage, again.http_status, again.error_type) == ("done", 200, None), again.error


@pytest.mark.jdk
def test_an_answer_well_within_the_deadline_is_no_such_error(
    built_scenario: tuple[Scenario, Built], engine: JsseEngine, short_margin: float
) -> None:
    scenario, built = built_scenario
    body = b'{"client": null}'
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with HostileServer(answer_then(built, head, lambda tls: None)) as server:
        probe = dataclasses.replace(
            probe_for(scenario, built, f"https://127.0.0.1:{server.port}/inbound"), timeout=TIMEOUT
        )
        outcome, python = engine.probe(probe), PythonEngine().probe(probe)
    assert (outcome.stage, outcome.http_status) == ("done", 200), outcome.error
    assert outcome.error_type is None
    assert python.error_type is None
    evidence = _evidence(scenario, built)
    assert diagnose(outcome, evidence).code == diagnose(python, evidence).code == "ok"
