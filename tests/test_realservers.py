"""Differential tests: each persona scenario against the real server it imitates, per engine.

For every persona scenario (scenarios/persona-*.toml) the real nginx, Apache
httpd or HAProxy (tests/realservers.py) runs with the same built material, and
both the persona (the local server) and the real server are probed by each
engine. Both are diagnosed the way ``check`` diagnoses a foreign server: the
stores, the server's chain and the CA names it advertises, never the local
server's own record. They must give the same outcome code and the same
client-visible error text. ``ok`` twins prove the real servers accept a right
destination, so the rejections are about the certificate and not the set-up.

Servers missing: skipped with the install command; under CI=true a failure.
``make test`` installs them when it runs as root.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.build import Built, probe_for, write_scenario_files
from harness.diagnose import Evidence, diagnose
from harness.engines import Outcome
from harness.engines.jsse import JsseEngine
from harness.engines.python import PythonEngine
from harness.errors import StoreError
from harness.scenario import Scenario, load_scenario
from harness.server import LocalServer
from harness.stores import read_store
from harness.wire.inspect import inspect_server
from tests.conftest import REPO, unavailable
from tests.realservers import PERSONA_SETUPS, SETUPS, Material, Running, missing, real_server

# ok twins: a right destination against each real server kind.
OK_SETUPS = (
    "nginx-on",
    "nginx-optional",
    "nginx-depth-default",
    "apache-host",
    "apache-host-tls12",
    "apache-location-tls12",
    "haproxy",
    "haproxy-tls12",
    "haproxy-no-ca-names",
)
ENGINES = ("python", "jsse")
# A server that closes at once after its alert races the JDK's writes: for the
# same server and case the JDK reports, run to run, the alert itself or one of
# these (measured against real Apache and HAProxy and the personas alike).
_CLOSED_WHILE_WRITING = re.compile(r"Broken pipe|Connection reset( by peer)?|Error writing to server")
CLOSED = "<closed while writing: Broken pipe | Connection reset | Error writing to server>"
_JDK_ALERT = re.compile(r"Received fatal alert: \w+")
_TAG = re.compile(r"<[^>]*>")


def client_sees(outcome: Outcome, *, raw: bool = False) -> str:
    """What the client itself reports: the exception text, or the HTTP status and the body's first line.

    Not ``raw``: the JDK's closed-while-writing texts as one (see CLOSED).
    """
    if outcome.completed:
        body = outcome.response_body or ""
        lines = [line.strip() for line in _TAG.sub("\n", body).splitlines() if line.strip()]
        status = f"HTTP {outcome.http_status}"
        if (outcome.http_status or 0) < 400 or not lines:
            return status
        # An HTML error page's title repeats the status ("400 The SSL certificate error").
        return f"{status} {lines[0].removeprefix(f'{outcome.http_status} ')}"
    text = re.sub(r" \(_ssl\.c:\d+\)", "", outcome.error or "")
    return CLOSED if _CLOSED_WHILE_WRITING.search(text) and not raw else text


def same_sight(engine: str, real: str, persona: str) -> bool:
    """Equal texts; for the JDK also its alert-or-closed race (one side read the alert, the other was cut off)."""
    if real == persona:
        return True
    racing = {real, persona} - {CLOSED}
    return engine == "jsse" and len(racing) == 1 and bool(_JDK_ALERT.search(racing.pop())) and CLOSED in (real, persona)


@dataclass
class Observed:
    code: str
    sees: str
    raw: str


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, object]]:
    found: dict[str, object] = {"python": PythonEngine()}
    jsse = JsseEngine()
    if jsse.unavailable_reason() is None:
        jsse.warm_up()
        found["jsse"] = jsse
    yield found
    jsse.close()


def _require(setup_name: str) -> None:
    reason = missing(SETUPS[setup_name].kind)
    if reason:
        unavailable(reason)


def _built(name: str, folder: Path) -> tuple[Scenario, Built]:
    scenario = load_scenario(REPO / "scenarios" / f"{name}.toml")
    folder.mkdir(parents=True, exist_ok=True)
    return scenario, write_scenario_files(scenario, folder)


def _observe(scenario: Scenario, built: Built, url: str, engine: object) -> Observed:
    """One probe, diagnosed as ``check`` does for a foreign server (no server record)."""
    try:
        keystore = read_store(built.keystore, scenario.keystore.destination_password, "keystore")
    except StoreError:
        keystore = None
    view = inspect_server(url, timeout=10.0)
    evidence = Evidence(keystore=keystore, server_chain=view.chain, ca_names=view.ca_names or (), host=view.host)
    outcome = engine.probe(probe_for(scenario, built, url))  # type: ignore[attr-defined]
    verdict = diagnose(outcome, evidence)
    return Observed(verdict.code, client_sees(outcome), outcome.error or f"HTTP {outcome.http_status}")


@dataclass
class Pair:
    scenario: Scenario
    built: Built
    real: Running
    persona: LocalServer


@pytest.fixture(scope="module", params=sorted(PERSONA_SETUPS))
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    """One persona scenario built once; its real server and its persona running for both engines' tests."""
    name = request.param
    _require(PERSONA_SETUPS[name])
    with tempfile.TemporaryDirectory(prefix="mtls-diff-") as tmp:
        scenario, built = _built(name, Path(tmp))
        material = Material.from_server_dir(built.folder / "server", scenario.server.path)
        with real_server(SETUPS[PERSONA_SETUPS[name]], material) as real, LocalServer(built.server) as persona:
            yield Pair(scenario, built, real, persona)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_persona_matches_real_server(pair: Pair, engine_name: str, engines: dict[str, object]) -> None:
    if engine_name not in engines:
        unavailable("no JDK for the jsse engine: install one or set JAVA_HOME")
    engine = engines[engine_name]
    real = _observe(pair.scenario, pair.built, pair.real.url, engine)
    persona = _observe(pair.scenario, pair.built, pair.persona.url, engine)
    where = f"{pair.real.setup.name} vs persona {pair.scenario.server.persona}"
    assert persona.code == real.code, f"{where}: real {real}, persona {persona}"
    assert same_sight(engine_name, real.sees, persona.sees), f"{where}: real {real}, persona {persona}"
    # A real server rejected this destination: never ok, never a shrug.
    assert real.code not in ("ok", "http-error", "handshake-failed"), f"{where}: {real}"


@pytest.fixture(scope="module")
def ok_built() -> Iterator[tuple[Scenario, Built]]:
    with tempfile.TemporaryDirectory(prefix="mtls-diff-ok-") as tmp:
        yield _built("ok-rsa", Path(tmp))


@pytest.mark.parametrize("setup_name", OK_SETUPS)
@pytest.mark.parametrize("engine_name", ENGINES)
def test_right_destination_is_ok_on_real_server(
    ok_built: tuple[Scenario, Built], setup_name: str, engine_name: str, engines: dict[str, object]
) -> None:
    _require(setup_name)
    if engine_name not in engines:
        unavailable("no JDK for the jsse engine: install one or set JAVA_HOME")
    scenario, built = ok_built
    material = Material.from_server_dir(built.folder / "server", scenario.server.path)
    with real_server(SETUPS[setup_name], material) as real:
        seen = _observe(scenario, built, real.url, engines[engine_name])
    assert seen.code == "ok", seen
