"""``serve --bind ADDR``: loopback silently, anything else with a warning, a bad address is exit 2.

These tests bind loopback addresses only (127.0.0.1, ::1). The warning for a
non-loopback address is checked through the function that decides it, never by
listening there; 192.0.2.1 (TEST-NET-1, RFC 5737) is not an address of this
machine, so binding it fails locally (EADDRNOTAVAIL) before any packet leaves.
"""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.cli.scenarios import bind_warning
from harness.engines import Probe
from harness.engines.python import PythonEngine
from harness.scenario import load_scenario
from harness.secret import Secret
from harness.stores import jks_bytes
from tests.conftest import assert_one_line_error, cli
from tests.test_cli import OK_RSA, Served, serve_processes

LISTENING = re.compile(r"listening on (https://(127\.0\.0\.1|\[::1\]):(\d+)/inbound/orders)")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with serve_processes(tmp_path, {"TMPDIR": str(scratch)}) as start:
        yield start


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _handshake(url: str, folder: Path, scenario_path: Path) -> tuple[str, int | None, str | None]:
    scenario = load_scenario(scenario_path)
    probe = Probe(
        url,
        folder / "keystore.jks",
        scenario.keystore.password,
        folder / "truststore.jks",
        scenario.truststore.password,
        timeout=10,
    )
    outcome = PythonEngine().probe(probe)
    return outcome.stage, outcome.http_status, outcome.error


def _serve_and_probe(serve: Callable[..., Served], tmp_path: Path, scenario: Path, *bind: str) -> Served:
    served = serve(str(scenario), "--port", "0", *bind)
    match = LISTENING.fullmatch(served.line())
    assert match is not None
    [folder] = (tmp_path / "tmp").glob("mtls-serve-*")
    assert _handshake(match[1], folder, scenario)[:2] == ("done", 200)
    assert served.line().startswith("handshake accepted: CN=acme-integration,")
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0
    return served


def test_default_is_127_0_0_1_with_a_real_handshake_and_no_warning(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    served = _serve_and_probe(serve, tmp_path, OK_RSA)
    assert served.stderr() == ""


def test_explicit_loopback_bind_is_silent(serve: Callable[..., Served], tmp_path: Path) -> None:
    served = _serve_and_probe(serve, tmp_path, OK_RSA, "--bind", "127.0.0.1")
    assert served.stderr() == ""


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1 cannot be bound)")
def test_ipv6_loopback_bind_brackets_the_url_and_handshakes(serve: Callable[..., Served], tmp_path: Path) -> None:
    # The server certificate must name ::1 for the client's hostname check.
    scenario = tmp_path / "ok-rsa-v6.toml"
    scenario.write_text(
        OK_RSA.read_text("utf-8") + '\n[server.identity]\nnames = ["127.0.0.1", "::1"]\n', "utf-8"
    )
    served = serve(str(scenario), "--port", "0", "--bind", "::1")
    match = LISTENING.fullmatch(served.line())
    assert match is not None
    assert match[2] == "[::1]"
    [folder] = (tmp_path / "tmp").glob("mtls-serve-*")
    assert _handshake(match[1], folder, scenario)[:2] == ("done", 200)
    assert served.line().startswith("handshake accepted: CN=acme-integration,")
    # The negative twin: the same server refuses a client without a certificate.
    empty = tmp_path / "empty.jks"
    empty.write_bytes(jks_bytes([], [], Secret("e-Pw-1")))
    loaded = load_scenario(scenario)
    refused = PythonEngine().probe(
        Probe(match[1], empty, Secret("e-Pw-1"), folder / "truststore.jks", loaded.truststore.password, timeout=10)
    )
    assert refused.stage == "handshake"
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0
    assert served.stderr() == ""


def test_an_address_this_machine_does_not_have_is_exit_2_one_line(tmp_path: Path) -> None:
    done = cli("serve", str(OK_RSA), "--bind", "192.0.2.1", cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert_one_line_error(done, "--bind 192.0.2.1", "cannot listen on this address")
    assert not list(tmp_path.glob("mtls-serve-*"))  # refused before any store is written


@pytest.mark.parametrize("text", ["not-an-address", "localhost", "127.0.0.256", ""])
def test_a_bind_that_is_not_an_ip_address_is_exit_2_one_line(tmp_path: Path, text: str) -> None:
    done = cli("serve", str(OK_RSA), "--bind", text, cwd=tmp_path)
    assert_one_line_error(done, "argument --bind: not an IP address")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1"])
def test_loopback_addresses_get_no_warning(address: str) -> None:
    assert bind_warning(address) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "10.1.2.3", "::", "2001:db8::1"])  # noqa: S104 - not bound
def test_other_addresses_get_the_one_line_warning(address: str) -> None:
    warning = bind_warning(address)
    assert warning is not None
    assert "\n" not in warning
    assert warning == (
        f"mtls-harness serve: warning: listening on {address}, reachable from other machines; "
        "its key and CAs are test material written for the scenario (no secrets in it)"
    )


def test_serve_help_documents_bind(tmp_path: Path) -> None:
    done = cli("serve", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "--bind ADDR" in text
    assert "reachable from other machines" in text


def test_the_java_persona_refuses_a_bind_elsewhere(tmp_path: Path) -> None:
    # Its JVM server listens on 127.0.0.1 only; refused before any JVM starts (::1 is loopback, never bound here).
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "persona-java-missing.toml"
    done = cli("serve", str(scenario), "--bind", "::1", cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert_one_line_error(done, "--bind ::1", "java persona")
    assert not list(tmp_path.glob("mtls-serve-*"))
