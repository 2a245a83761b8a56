"""Hostile input files: each attack is refused by its documented limit (docs/limits.md), in one line.

Every attack has a genuine twin just inside the limit that reads as before,
so a refusal is proved to come from the limit and not from other damage.
Where the JDK enforces the same limit, the real ``keytool`` is shown refusing
the same file. No wall-clock assertion: the readers refuse before any costly
work, which the refusal's wording (the limit named) proves; every child
process has a timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from harness import limits
from harness.build import Built, probe_for
from harness.destination import load_destination
from harness.engines.python import PythonEngine
from harness.errors import ScenarioError, StoreError, UsageError
from harness.scenario import Scenario, load_scenario, parse_scenario
from harness.secret import Secret
from harness.server import LocalServer, running_ports
from harness.server import python_server as server_module
from harness.stores import jks_bytes, pkcs12_iteration_counts, read_store
from harness.wire import inspect as remote
from harness.wire.deadlines import ServerTooLarge, ServerTooSlow
from harness.wire.inspect import inspect_server
from tests import abuse, hostile
from tests.conftest import Live, WriteScenario, assert_one_line_error
from tests.hostile import HostileServer, answer_then, drip

PASSWORD = "Hostile-Pw-7q"


def bounded(call: Callable[[], object], seconds: float = 60.0) -> object:
    """``call()`` in a thread with a deadline: a reader that blocks (a FIFO, /dev/zero) fails the test, not hangs it."""
    result: list[object] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s"
    return result[0]


def store_error(path: Path, password: str = PASSWORD) -> StoreError:
    outcome = bounded(lambda: read_store(path, Secret(password), "truststore"))
    assert isinstance(outcome, StoreError), outcome
    assert "\n" not in str(outcome)
    assert password not in str(outcome)
    return outcome


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key, made by the real openssl."""
    folder = tmp_path_factory.mktemp("pki")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-subj", "/CN=hostile-test", "-days", "2"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def openssl_pfx(pki: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A PKCS#12 keystore written by ``openssl pkcs12 -export -iter 2048`` (MAC and PBE counts alike)."""
    cert, key = pki
    out = tmp_path_factory.mktemp("pfx") / "keystore.p12"
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-name", "hostile", "-out", out,
         "-passout", f"pass:{PASSWORD}", "-iter", "2048"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.read_bytes()


def certificate(pki: tuple[Path, Path]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki[0].read_bytes())


# -- PKCS#12 iteration counts ---------------------------------------------------------------


def test_pkcs12_iteration_counts_are_read_from_the_der(openssl_pfx: bytes) -> None:
    # openssl -iter 2048: the MAC, the certificate bag's PBE and the key bag's PBKDF2.
    assert pkcs12_iteration_counts(openssl_pfx) == [2048, 2048, 2048]
    assert pkcs12_iteration_counts(hostile.pfx_with_iterations(openssl_pfx, 2**31 - 1)) == [2**31 - 1] * 3


@pytest.mark.parametrize("count", [2**31 - 1, limits.JDK_PBE_ITERATIONS.value + 1])
def test_pkcs12_with_a_huge_iteration_count_is_refused_before_any_pbkdf2(
    openssl_pfx: bytes, tmp_path: Path, count: int
) -> None:
    path = tmp_path / "huge.p12"
    path.write_bytes(hostile.pfx_with_iterations(openssl_pfx, count))
    error = store_error(path)
    assert error.code == "store-unreadable"
    assert f"{count:,} iterations, above the limit of 5,000,000 iterations" in str(error)
    assert "-iter" in error.fix


def test_pkcs12_at_a_normal_iteration_count_reads(openssl_pfx: bytes, tmp_path: Path) -> None:
    path = tmp_path / "normal.p12"
    path.write_bytes(openssl_pfx)
    contents = read_store(path, Secret(PASSWORD), "keystore")
    assert [e.alias for e in contents.key_entries] == ["hostile"]
    assert not contents.key_entries[0].locked


def test_the_jdk_refuses_the_same_iteration_count(openssl_pfx: bytes, tmp_path: Path, keytool: str) -> None:
    """The limit is the JDK's: keytool refuses the count above it, and opens the genuine file."""
    path = tmp_path / "huge.p12"
    path.write_bytes(hostile.pfx_with_iterations(openssl_pfx, limits.JDK_PBE_ITERATIONS.value + 1))
    listed = subprocess.run(
        [keytool, "-list", "-keystore", path, "-storetype", "PKCS12", "-storepass", PASSWORD],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode != 0
    assert "iteration count too large" in listed.stdout + listed.stderr
    genuine = tmp_path / "genuine.p12"
    genuine.write_bytes(openssl_pfx)
    listed = subprocess.run(
        [keytool, "-list", "-keystore", genuine, "-storetype", "PKCS12", "-storepass", PASSWORD],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "hostile" in listed.stdout


# -- JKS headers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jks_truststore(pki: tuple[Path, Path]) -> bytes:
    return jks_bytes([], [("hostile", certificate(pki))], Secret(PASSWORD))


def test_jks_declaring_billions_of_entries_is_refused_from_its_header(jks_truststore: bytes, tmp_path: Path) -> None:
    path = tmp_path / "count.jks"
    path.write_bytes(hostile.jks_declaring_entries(jks_truststore, 2**31 - 1))
    error = store_error(path)
    assert "2,147,483,647 entries, above the limit of 5,000 entries" in str(error)
    assert "MTLS_MAX_STORE_ENTRIES" in str(error)


def test_jks_declaring_a_huge_certificate_length_is_damaged_not_read(jks_truststore: bytes, tmp_path: Path) -> None:
    path = tmp_path / "length.jks"
    path.write_bytes(hostile.jks_with_huge_certificate_length(jks_truststore))
    error = store_error(path)
    assert error.code == "store-unreadable"
    assert "damaged JKS store" in str(error)


def test_genuine_jks_reads(jks_truststore: bytes, tmp_path: Path) -> None:
    path = tmp_path / "genuine.jks"
    path.write_bytes(jks_truststore)
    assert [e.alias for e in read_store(path, Secret(PASSWORD), "truststore").cert_entries] == ["hostile"]


# -- PEM bundles and file sizes ----------------------------------------------------------------


def test_pem_bundle_of_100000_certificates_is_refused_by_its_size(pki: tuple[Path, Path], tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(hostile.pem_bundle(pki[0].read_bytes(), 100_000))
    error = store_error(path)
    assert f"{path.stat().st_size:,} bytes, above the limit of 8,388,608 bytes" in str(error)
    assert "MTLS_MAX_STORE_BYTES" in str(error)


def test_pem_bundle_within_the_size_but_above_the_entry_count_is_refused(
    pki: tuple[Path, Path], tmp_path: Path
) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(hostile.pem_bundle(pki[0].read_bytes(), 5_001))
    assert path.stat().st_size < limits.STORE_BYTES.value
    error = store_error(path)
    assert "5,001 entries, above the limit of 5,000 entries" in str(error)


def test_pem_bundle_of_cacerts_size_reads(pki: tuple[Path, Path], tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(hostile.pem_bundle(pki[0].read_bytes(), 150))
    assert len(read_store(path, Secret(PASSWORD), "truststore").cert_entries) == 150


def test_the_entry_limit_is_raised_by_its_variable(
    pki: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(hostile.pem_bundle(pki[0].read_bytes(), 5_001))
    monkeypatch.setenv("MTLS_MAX_STORE_ENTRIES", "6000")
    assert len(read_store(path, Secret(PASSWORD), "truststore").cert_entries) == 5_001


# -- not a regular file ------------------------------------------------------------------------


def test_fifo_is_refused_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "truststore.jks"
    os.mkfifo(fifo)
    error = store_error(fifo)  # a read() would block forever: no writer ever opens it
    assert "is a FIFO (named pipe), not a regular file" in str(error)


def test_dev_zero_is_refused_before_reading() -> None:
    error = store_error(Path("/dev/zero"))  # endless: a read_bytes() never returns
    assert "is a character device, not a regular file" in str(error)


def test_directory_is_refused(tmp_path: Path) -> None:
    assert "is a directory, not a regular file" in str(store_error(tmp_path))


def test_unix_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s"  # AF_UNIX paths are short
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        # open() of a socket fails (ENXIO) before fstat: refused as unreadable all the same.
        error = store_error(path)
    assert error.code == "store-unreadable"


def test_symlink_to_a_regular_store_reads(jks_truststore: bytes, tmp_path: Path) -> None:
    real = tmp_path / "real.jks"
    real.write_bytes(jks_truststore)
    link = tmp_path / "link.jks"
    link.symlink_to(real)
    assert read_store(link, Secret(PASSWORD), "truststore").type == "jks"


def test_check_refuses_a_fifo_keystore_as_a_finding(tmp_path: Path) -> None:
    """Through the command line: a finding naming the file, no hang (the child has a deadline)."""
    os.mkfifo(tmp_path / "keystore.jks")
    os.mkfifo(tmp_path / "truststore.jks")
    (tmp_path / "destination.json").write_text(
        '{"url": "https://127.0.0.1:1/", "keystoreFile": "keystore.jks", "keystorePass": "ks-Pw-fifo-1",'
        ' "truststoreFile": "truststore.jks", "truststorePass": "ts-Pw-fifo-1"}'
    )
    done = subprocess.run(
        [*cli_argv(), "check", "destination.json"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FIFO" in done.stdout
    assert "Traceback" not in done.stderr
    assert "ks-Pw-fifo-1" not in done.stdout + done.stderr


def cli_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "harness.cli.main"]


# -- TOML and JSON ---------------------------------------------------------------------------------


def test_huge_scenario_file_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text('description = "' + "x" * (2 << 20) + '"\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "scenario file size" in str(caught.value)
    assert "MTLS_MAX_SCENARIO_BYTES" in str(caught.value)


def test_deeply_nested_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(hostile.deep_toml(100_000))
    assert path.stat().st_size < limits.SCENARIO_BYTES.value
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "nested too deeply" in str(caught.value)


def test_scenario_path_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fifo.toml"
    os.mkfifo(path)
    outcome = bounded(lambda: load_scenario(path))
    assert isinstance(outcome, ScenarioError)
    assert "FIFO" in str(outcome)


def test_huge_destination_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "destination.json"
    path.write_text('{"url": "' + "x" * (2 << 20) + '"}')
    with pytest.raises(UsageError) as caught:
        load_destination(path)
    assert "JSON file size" in str(caught.value)


def test_deeply_nested_destination_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "destination.json"
    path.write_text(hostile.deep_json(200_000))
    with pytest.raises(UsageError) as caught:
        load_destination(path)
    assert "nested too deeply" in str(caught.value)


def test_destination_json_that_is_dev_zero_is_refused() -> None:
    outcome = bounded(lambda: load_destination(Path("/dev/zero")))
    assert isinstance(outcome, UsageError)
    assert "character device" in str(outcome)


# -- scenarios asking for too much work ---------------------------------------------------------------


def test_rsa_16384_is_refused_by_the_schema(tmp_path: Path) -> None:
    text = hostile.scenario_with_certs(2).replace('kind = "root"\n', 'kind = "root"\nkey = "rsa-16384"\n', 1)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, tmp_path / "big-key.toml")
    assert "pki.ca0.key" in str(caught.value)
    assert "rsa-4096" in str(caught.value)  # the largest offered


def test_thousands_of_certificates_are_refused_before_any_key(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(hostile.scenario_with_certs(5_000), tmp_path / "many.toml")
    assert "5,000 certificates, above the limit of 200 certificates" in str(caught.value)
    assert "MTLS_MAX_SCENARIO_CERTS" in str(caught.value)


@pytest.mark.parametrize(("count", "refused"), [(21, True), (20, False)])
def test_rsa_4096_keys_per_scenario_are_bounded(tmp_path: Path, count: int, refused: bool) -> None:
    text = hostile.scenario_with_certs(count).replace('kind = "leaf"\n', 'kind = "leaf"\nkey = "rsa-4096"\n')
    text = text.replace('kind = "root"\n', 'kind = "root"\nkey = "rsa-4096"\n')
    if refused:
        with pytest.raises(ScenarioError) as caught:
            parse_scenario(text, tmp_path / "big-keys.toml")
        assert "21 keys, above the limit of 20 keys" in str(caught.value)
    else:
        assert len(parse_scenario(text, tmp_path / "big-keys.toml").pki) == count


def test_certificates_up_to_the_limit_parse(tmp_path: Path) -> None:
    assert len(parse_scenario(hostile.scenario_with_certs(200), tmp_path / "many.toml").pki) == 200


@pytest.mark.parametrize("depth", [17, 1_000])
def test_deep_chains_are_refused(tmp_path: Path, depth: int) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(hostile.scenario_chain(depth), tmp_path / "deep.toml")
    assert "above the limit" in str(caught.value)


def test_chain_at_the_depth_limit_parses(tmp_path: Path) -> None:
    scenario = parse_scenario(hostile.scenario_chain(16), tmp_path / "deep.toml")
    assert len(scenario.chain_to_root("client")) == 16


def test_chain_depth_limit_is_raised_by_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTLS_MAX_CHAIN_DEPTH", "17")
    assert len(parse_scenario(hostile.scenario_chain(17), tmp_path / "deep.toml").pki) == 17


# == hostile servers (127.0.0.1 only, every loop bounded) =========================================


def test_slow_drip_handshake_ends_at_the_deadline() -> None:
    holder: list[HostileServer] = []

    def behave(conn: socket.socket) -> None:
        # A TLS handshake record header, then its body one byte at a time: each read gets a byte in time.
        drip(conn, b"\x16\x03\x03\x40\x00" + b"\x02" * 64, lambda: holder[0].stopping)

    with HostileServer(behave) as server:
        holder.append(server)
        started = time.monotonic()
        with pytest.raises(ServerTooSlow) as caught:
            inspect_server(f"https://127.0.0.1:{server.port}/", timeout=1.0, deadline=2.0)
        took = time.monotonic() - started
    assert "gave up after 2 s, the deadline for the whole exchange" in str(caught.value)
    assert took >= 2.0  # not a per-read timeout: bytes kept coming
    assert "\n" not in str(caught.value)


def test_silent_server_ends_at_the_read_timeout() -> None:
    def behave(conn: socket.socket) -> None:
        conn.recv(1 << 16)
        time.sleep(3)

    with HostileServer(behave) as server, pytest.raises(OSError, match="sent nothing") as caught:
        inspect_server(f"https://127.0.0.1:{server.port}/", timeout=0.5, deadline=5.0)
    assert "sent nothing for 0.5 s" in str(caught.value)


def test_genuine_server_is_seen_within_the_same_limits(
    live: Callable[[Path], Live], write_scenario: WriteScenario
) -> None:
    running = live(write_scenario())
    view = inspect_server(running.url, timeout=1.0, deadline=2.0)
    assert [c.subject for c in view.chain] == [c.subject for c in running.chain()]
    # A look, never a client certificate: the server recorded none.
    record = running.server.wait_for_handshakes(1, timeout=5.0)[0]
    assert record.client_cert_der is None


def test_handshake_byte_cap(
    live: Callable[[Path], Live], write_scenario: WriteScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenSSL refuses oversize messages itself (100 KiB certificate list); the cap is shown with a small value."""
    running = live(write_scenario())
    monkeypatch.setattr(remote, "HANDSHAKE_BYTES", 512)
    with pytest.raises(ServerTooLarge) as caught:
        inspect_server(running.url, timeout=2.0)
    assert "above the limit of 512 bytes" in str(caught.value)


def test_chain_of_40_certificates_is_cut_at_32(tmp_path: Path, pki: tuple[Path, Path]) -> None:
    cert, key = pki
    # The leaf and 39 more certificates in the chain file: OpenSSL sends them all as extra chain certificates.
    chain = tmp_path / "chain.pem"
    chain.write_bytes(cert.read_bytes() * 40)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)

    def behave(conn: socket.socket) -> None:
        conn.settimeout(5)
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    with HostileServer(behave) as server:
        view = inspect_server(f"https://127.0.0.1:{server.port}/", timeout=2.0)
    assert len(view.chain) == remote.MAX_CHAIN
    assert "the server sent 40 certificates; the first 32 are shown" in (view.handshake_error or "")


def test_python_engine_slow_drip_answer_ends_at_the_deadline(built_scenario: tuple[Scenario, Built]) -> None:
    scenario, built = built_scenario
    holder: list[HostileServer] = []
    behave = answer_then(
        built, b"HTTP/1.1 200 OK\r\n", lambda tls: drip(tls, b"X-Drip: 1\r\n", lambda: holder[0].stopping)
    )
    with HostileServer(behave) as server:
        holder.append(server)
        probe = dataclasses.replace(probe_for(scenario, built, f"https://127.0.0.1:{server.port}/inbound"), timeout=1.5)
        started = time.monotonic()
        outcome = PythonEngine().probe(probe)
        took = time.monotonic() - started
    assert outcome.stage == "http"
    assert "deadline for the whole exchange" in (outcome.error or "")
    assert 1.5 <= took < 10  # each read got a byte well within 1.5 s: only the deadline ended it


def test_python_engine_endless_body_is_cut(built_scenario: tuple[Scenario, Built]) -> None:
    scenario, built = built_scenario
    holder: list[HostileServer] = []

    def endless(tls: ssl.SSLSocket) -> None:
        for _ in range(2_000):  # 128 MiB at most
            if holder[0].stopping:
                return
            tls.sendall(b"\0" * (1 << 16))

    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    with HostileServer(answer_then(built, head, endless)) as server:
        holder.append(server)
        outcome = PythonEngine().probe(probe_for(scenario, built, f"https://127.0.0.1:{server.port}/inbound"))
    assert outcome.stage == "done"
    assert outcome.http_status == 200
    assert outcome.body_cut_at == 1_048_576


def test_python_engine_oversized_headers_fail_cleanly(built_scenario: tuple[Scenario, Built]) -> None:
    scenario, built = built_scenario
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    with HostileServer(answer_then(built, head, lambda tls: None)) as server:
        outcome = PythonEngine().probe(probe_for(scenario, built, f"https://127.0.0.1:{server.port}/inbound"))
    # http.client's cap (64 KiB a header line): refused, not read on.
    assert outcome.error_type == "LineTooLong"
    assert outcome.http_status is None


def test_python_engine_genuine_answer_is_whole(built_scenario: tuple[Scenario, Built]) -> None:
    scenario, built = built_scenario
    body = b'{"client": null}'
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with HostileServer(answer_then(built, head, lambda tls: None)) as server:
        outcome = PythonEngine().probe(probe_for(scenario, built, f"https://127.0.0.1:{server.port}/inbound"))
    assert outcome.stage == "done", outcome.error
    assert outcome.http_status == 200
    assert outcome.body_cut_at is None


def test_truststore_command_against_a_slow_drip_server_is_one_line(tmp_path: Path) -> None:
    holder: list[HostileServer] = []

    def behave(conn: socket.socket) -> None:
        drip(conn, b"\x16\x03\x03\x40\x00" + b"\x02" * 64, lambda: holder[0].stopping)

    with HostileServer(behave) as server:
        holder.append(server)
        done = subprocess.run(
            [*cli_argv(), "truststore", f"https://127.0.0.1:{server.port}/", "--out", "ts.jks", "--timeout", "0.5",
             "--password-env", "TS_PW"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
            env={**os.environ, "TS_PW": "ts-Pw-drip-9"},
        )  # fmt: skip
    assert_one_line_error(done, "gave up after 1 s, the deadline for the whole exchange")
    assert "ts-Pw-drip-9" not in done.stderr
    assert not (tmp_path / "ts.jks").exists()


# == the local server under abuse ====================================================================


def test_local_server_keeps_answering_a_good_client_under_abuse(
    built_scenario: tuple[Scenario, Built], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, built = built_scenario
    context = abuse.good_context(built, tmp_path)
    with LocalServer(built.server, handshake_timeout=1.0) as server:
        assert server._socket is not None
        assert server._socket.getsockname()[0] == "127.0.0.1"
        quiet, quiet_latency = abuse.measure(server.port, context, 10)
        with abuse.Abusers(server.port, context, idle=300, half_hellos=50, garbage=50) as abusers:
            during, during_latency = abuse.measure(server.port, context, 30)
            # Idle and half-open connections are dropped by the handshake timeout (1 s here), not kept.
            left = abusers.idle_still_open(within=10.0)
        result = abusers.result
        after, _ = abuse.measure(server.port, context, 5)
    assert quiet == [200] * 10
    assert during == [200] * 30
    assert after == [200] * 5
    assert left == 0
    assert set(result.outcomes["oversized-body"]) == {"status 413"}
    # hypercorn refuses headers above its 16 KiB buffer (h11_max_incomplete_size) with a 400.
    assert set(result.outcomes["oversized-header"]) <= {"status 400", "status 431"}
    for kind in ("garbage", "plain-http"):
        assert set(result.outcomes[kind]) <= {"closed by the server", "reset by the server"}, result.outcomes[kind]
    with capsys.disabled():
        q50, q99 = abuse.percentiles(quiet_latency)
        d50, d99 = abuse.percentiles(during_latency)
        print(
            f"\n  good client: p50 {q50:.1f} ms / p99 {q99:.1f} ms quiet; p50 {d50:.1f} / p99 {d99:.1f} ms under abuse"
        )


def test_at_the_cap_the_oldest_idle_connection_makes_room(
    built_scenario: tuple[Scenario, Built], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, built = built_scenario
    context = abuse.good_context(built, tmp_path)
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 3)
    with LocalServer(built.server) as server, contextlib.ExitStack() as stack:
        # Three trusted clients finish their handshake and then say nothing: they hold the cap.
        idle = []
        for _ in range(3):
            raw = stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            idle.append(stack.enter_context(context.wrap_socket(raw, server_hostname="127.0.0.1")))
            deadline = time.monotonic() + 5
            while server.open_connections < len(idle) and time.monotonic() < deadline:
                time.sleep(0.01)
        status, _ = abuse.good_post(server.port, context)
        assert status == 200  # the fourth is served: the idle one that waited longest was closed for it
        idle[0].settimeout(5)
        with contextlib.suppress(ConnectionResetError, ssl.SSLEOFError):  # closed, perhaps as a reset
            assert idle[0].recv(1) == b""  # the oldest: closed by the server
        idle[1].settimeout(0.2)
        with pytest.raises(TimeoutError):
            idle[1].recv(1)  # the twin: a younger idle connection is still open


def test_clients_that_left_do_not_hold_the_cap(
    built_scenario: tuple[Scenario, Built], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The twin: ten clients that shook hands and closed, one after another, leave room for the next one at once.

    hypercorn keeps a connection's task until its keep-alive timer ends (5 s); counted, they filled the cap
    (benchmarks/server_load.py: ~500 TLS 1.3 handshakes in 5 s, then new clients were closed on arrival).
    """
    _, built = built_scenario
    context = abuse.good_context(built, tmp_path)
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 3)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with LocalServer(built.server) as server:
        for _ in range(10):
            with (
                socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                # As the load client does: done once the server's session ticket came (it accepted the certificate).
                tls.setblocking(False)
                deadline = time.monotonic() + 5
                while ((session := tls.session) is None or not session.has_ticket) and time.monotonic() < deadline:
                    select.select([tls], [], [], 0.1)
                    with contextlib.suppress(ssl.SSLWantReadError):
                        assert tls.recv(1) != b"", "the server closed before its session ticket"
                assert tls.session is not None
                assert tls.session.has_ticket
        deadline = time.monotonic() + 3
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.open_connections == 0
        assert abuse.good_post(server.port, context)[0] == 200


def test_body_below_the_cap_is_answered(built_scenario: tuple[Scenario, Built], tmp_path: Path) -> None:
    _, built = built_scenario
    context = abuse.good_context(built, tmp_path)
    body = b"." * (server_module.MAX_BODY - 1)
    with LocalServer(built.server) as server:
        answer = abuse._post(server.port, context, body=body)
    assert abuse.status_of(answer) == 200
    assert b'"received_bytes": %d' % len(body) in answer


# == files and secrets ==================================================================================

OK_RSA = Path(__file__).resolve().parent.parent / "scenarios" / "ok-rsa.toml"


def mtls(*args: str, cwd: Path, umask: int | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_argv(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        check=False, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )  # fmt: skip


def test_build_refuses_a_symlinked_out_and_leaves_its_destination_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    link = tmp_path / "out"
    link.symlink_to(victim)
    for flags in ([], ["--force"]):
        done = mtls("build", str(OK_RSA), "--out", str(link), *flags, cwd=tmp_path)
        assert_one_line_error(done, "is a symbolic link")
        assert sorted(p.name for p in victim.iterdir()) == ["precious.txt"]
        assert link.is_symlink()


def test_build_force_never_deletes_outside_the_output_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    out = tmp_path / "out"
    assert mtls("build", str(OK_RSA), "--out", str(out), cwd=tmp_path).returncode == 0
    (out / "link-to-outside").symlink_to(outside)  # something a user put inside the built folder
    done = mtls("build", str(OK_RSA), "--out", str(out), "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (outside / "precious.txt").read_text() == "keep me"
    assert not (out / "link-to-outside").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # staging and old copy removed


@pytest.mark.parametrize("force", [False, True])
def test_a_symlink_at_the_target_file_is_never_written_through(tmp_path: Path, force: bool) -> None:
    from harness.files import write_atomic

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "keystore.jks"
    target.symlink_to(victim)
    if force:
        write_atomic(target, b"new store", private=True, overwrite=True)
        assert not target.is_symlink()
        assert target.read_bytes() == b"new store"
    else:
        with pytest.raises(FileExistsError):
            write_atomic(target, b"new store", private=True, overwrite=False)
        assert target.is_symlink()
    assert victim.read_text() == "keep me"


def test_a_dangling_symlink_at_the_target_is_not_followed(tmp_path: Path) -> None:
    from harness.files import write_atomic

    target = tmp_path / "keystore.jks"
    target.symlink_to(tmp_path / "would-be-created")
    with pytest.raises(FileExistsError):
        write_atomic(target, b"new store", private=True, overwrite=False)
    assert not (tmp_path / "would-be-created").exists()


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_key_bearing_files_are_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "out"
    done = mtls("build", str(OK_RSA), "--out", str(out), cwd=tmp_path, umask=umask)
    assert done.returncode == 0, done.stderr
    modes = {str(p.relative_to(out)): p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()}
    for private in ("keystore.jks", "truststore.jks", "destination.json", "server/key.pem"):
        assert modes[private] == 0o600, (private, oct(modes[private]))
    assert modes["server/chain.pem"] == 0o644
    assert out.stat().st_mode & 0o077 == 0  # the folder itself: mkdtemp's 0700


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    from harness.files import STALE_SECONDS, write_atomic

    stale = tmp_path / ".keystore.jks.abc123.tmp"
    fresh = tmp_path / ".keystore.jks.def456.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half a store")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    write_atomic(tmp_path / "keystore.jks", b"store", private=True)
    assert not stale.exists()
    assert fresh.exists()  # perhaps another writer's, in progress


def _age(path: Path, seconds: float) -> None:
    """Set ``path``'s mtime (the link's own for a symbolic link) ``seconds`` back."""
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_stale_staging_folders_of_a_killed_build_are_removed_and_nothing_else(tmp_path: Path) -> None:
    """Whatever their age: the next build into OUT holds OUT's lock, so no live writer owns one (harness.files)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    parent = tmp_path / "builds"
    parent.mkdir()
    stale = parent / ".out.k3x_9a0b.staging"  # mkdtemp's name for the staging folder, as a SIGKILL leaves it
    stale_old = parent / ".out.q1w2e3r4.old"  # the old folder of a --force swap, killed mid-swap
    fresh = parent / ".out.z8y7x6w5.staging"  # just left by a killed build: removed too
    # Same prefix but not mkdtemp's 8 characters, or another folder's prefix: never touched.
    unlike = [
        parent / n
        for n in (".out.not-mkdtemp.staging", ".out.abc1234.staging", ".out.ABCD1234.old", ".other.k3x_9a0b.staging")
    ]
    link = parent / ".out.l1n2k3s4.staging"  # named like a leftover, pointing outside
    for folder in (stale, stale_old, fresh, *unlike):
        (folder / "server").mkdir(parents=True)
        (folder / "server" / "key.pem").write_text("test key")
    (stale / "to-outside").symlink_to(outside)  # a link inside a leftover is removed, not followed
    link.symlink_to(outside)

    done = mtls("build", str(OK_RSA), "--out", str(parent / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not stale.exists()
    assert not stale_old.exists()
    assert not fresh.exists()
    for folder in unlike:
        assert (folder / "server" / "key.pem").exists(), folder
    assert link.is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "keep me"
    names = {p.name for p in parent.iterdir()}
    assert names == {"out", link.name, *(p.name for p in unlike)}


def test_sigkill_at_any_moment_leaves_no_half_written_build(tmp_path: Path) -> None:
    """Kill ``build`` at moments spread over its whole run: the folder is absent or complete, never partial."""
    import random
    import signal

    started = time.monotonic()
    assert mtls("build", str(OK_RSA), "--out", str(tmp_path / "timing"), cwd=tmp_path).returncode == 0
    whole = time.monotonic() - started
    rng = random.Random(15)
    expected = {"keystore.jks", "truststore.jks", "destination.json", "server"}
    outcomes = {"absent": 0, "complete": 0}
    # One --out for every kill (removed before each, so each build starts where
    # the first did): the kills' staging folders pile up beside it.
    out = tmp_path / "out"
    for i in range(24):
        if out.exists():
            shutil.rmtree(out)
        child = subprocess.Popen(
            [*cli_argv(), "build", str(OK_RSA), "--out", str(out)], cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0, whole * 1.1))
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        if not out.exists():
            outcomes["absent"] += 1
            continue
        assert {p.name for p in out.iterdir()} == expected, i
        assert {p.name for p in (out / "server").iterdir()} >= {"chain.pem", "key.pem", "server.json"}
        contents = read_store(out / "keystore.jks", Secret("ks-Secret-0k"), "keystore")
        assert not contents.key_entries[0].locked
        outcomes["complete"] += 1
    # Leftovers of a kill are hidden staging folders, private to the user.
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    for leftover in leftovers:
        assert leftover.stat().st_mode & 0o077 == 0, leftover
    # The next build into OUT removes them all (it holds OUT's lock: no live build owns one).
    if out.exists():
        shutil.rmtree(out)
    done = mtls("build", str(OK_RSA), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    assert {p.name for p in out.iterdir()} == expected
    print(f"killed 24 builds over {whole:.2f} s: {outcomes}; {len(leftovers)} staging folders left, then removed")


def test_sigkill_at_any_moment_leaves_no_half_written_keystore(tmp_path: Path) -> None:
    """The same for ``keystore --force`` over an existing store: the old or the new one, whole."""
    import json as json_module
    import random
    import signal

    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "p12"
    p12_password = json_module.loads((fixtures / "passwords.json").read_text("utf-8"))["KeyPair-aes.p12"]
    env = {**os.environ, "P12": p12_password, "KS": "ks-Pw-kill-1"}
    argv = [*cli_argv(), "keystore", str(fixtures / "KeyPair-aes.p12"), "--out", "ks.jks", "--force",
            "--p12-password-env", "P12", "--password-env", "KS"]  # fmt: skip
    started = time.monotonic()
    first = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    whole = time.monotonic() - started
    rng = random.Random(16)
    for _ in range(20):
        child = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, whole * 1.1))
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        contents = read_store(tmp_path / "ks.jks", Secret("ks-Pw-kill-1"), "keystore")
        assert len(contents.key_entries) == 1
        assert not contents.key_entries[0].locked
        assert (tmp_path / "ks.jks").stat().st_mode & 0o777 == 0o600
    leftovers = [p for p in tmp_path.iterdir() if p.name != "ks.jks"]
    assert all(p.name.startswith(".ks.jks.") and p.stat().st_mode & 0o077 == 0 for p in leftovers), leftovers


# -- JUnit ------------------------------------------------------------------------------------------------

HOSTILE_TEXTS = [
    "control \x00\x01\x08\x0b\x0c\x1b\x7f characters",
    "cdata end ]]> and <tags> & ampersands",
    "lone surrogates \ud800 \udc80 and non-characters \ufffe \uffff",
    "subject CN=\x1b[31mred\x1b[0m,O=Evil\r\n",
]


def test_junit_is_valid_xml_for_hostile_names_and_messages(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    import xmlschema

    from harness.junit import Case, write_junit

    cases = [
        Case(name=text, classname=f"check.{text}", failure=f"{text}\nsecond line {text}", output=text)
        for text in HOSTILE_TEXTS
    ] + [Case(name="skipped " + HOSTILE_TEXTS[0], classname="check", skipped=HOSTILE_TEXTS[2])]
    path = tmp_path / "junit.xml"
    write_junit(path, HOSTILE_TEXTS[0], cases, {"url": HOSTILE_TEXTS[1], "subject": HOSTILE_TEXTS[3]})
    schema = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit-10.xsd")
    schema.validate(str(path))
    names = [c.get("name") for c in ET.parse(path).iter("testcase")]  # noqa: S314 - our own output
    # Nothing dropped: what XML cannot carry reads as its escape.
    assert names[0] == "control \\x00\\x01\\x08\\x0b\\x0c\\x1b\x7f characters"  # DEL is allowed in XML 1.0
    assert names[1] == HOSTILE_TEXTS[1]
    assert names[2] == "lone surrogates \\ud800 \\udc80 and non-characters \\ufffe \\uffff"


def test_junit_for_plain_names_is_unchanged(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from harness.junit import Case, write_junit

    path = tmp_path / "junit.xml"
    write_junit(path, "check", [Case(name="keystore opens — ü", classname="check", failure="bad\nmore")])
    case = next(ET.parse(path).iter("testcase"))  # noqa: S314 - our own output
    assert case.get("name") == "keystore opens — ü"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "bad"
    assert failure.text == "bad\nmore"


# == catalogue speed: what the speed-ups must not change ============================================


def test_throwaway_writes_skip_fsync_and_kept_ones_do_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.files import write_atomic

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    write_atomic(tmp_path / "throwaway.jks", b"x", private=True, durable=False)
    assert synced == []
    write_atomic(tmp_path / "kept.jks", b"x", private=True)
    assert len(synced) == 1
    assert (tmp_path / "throwaway.jks").stat().st_mode & 0o777 == 0o600


def test_scratch_folders_go_to_ram_unless_a_place_is_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.files import scratch_dir

    for var in ("MTLS_SCRATCH", "TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(var, raising=False)
    expected = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    assert scratch_dir() == expected
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert scratch_dir() is None  # the user's choice of temporary folder wins
    monkeypatch.setenv("MTLS_SCRATCH", str(tmp_path / "scratch"))
    assert scratch_dir() == str(tmp_path / "scratch")


def test_read_store_cache_never_answers_for_other_bytes_or_another_password(
    jks_truststore: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "ts.jks"
    path.write_bytes(jks_truststore)
    first = read_store(path, Secret(PASSWORD), "truststore")
    assert read_store(path, Secret(PASSWORD), "truststore") is first  # the same bytes, the same password
    with pytest.raises(StoreError) as caught:
        read_store(path, Secret("another-password"), "truststore")
    assert caught.value.code == "truststore-password-wrong"
    path.write_bytes(jks_truststore[: len(jks_truststore) // 2])
    with pytest.raises(StoreError):
        read_store(path, Secret(PASSWORD), "truststore")  # changed bytes: read again, and damaged


def test_an_edited_scenario_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(hostile.scenario_with_certs(3))
    assert len(load_scenario(path).pki) == 3
    path.write_text(hostile.scenario_with_certs(4))
    assert len(load_scenario(path).pki) == 4


def test_scenarios_prepared_ahead_are_the_same_and_unused_ones_are_removed(write_scenario: WriteScenario) -> None:
    from harness.run import Ahead, discard

    first = load_scenario(write_scenario(name="first"))
    second = load_scenario(write_scenario(name="second"))
    serving_before = running_ports()
    ahead = Ahead()
    ahead.start("first", first, None)
    ahead.start("second", second, None)
    taken = ahead.take("first")
    assert taken is not None
    assert ahead.take("never-started") is None
    try:
        assert taken.keystore is not None
        assert [e.alias for e in taken.keystore.key_entries] == ["test-client"]
        assert abuse.good_post(taken.server.port, abuse.good_context(taken.built, taken.folder))[0] == 200
    finally:
        discard(taken)
    assert not taken.folder.exists()
    ahead.close()  # "second" was prepared and never taken: stopped and removed
    leftovers = [p for p in Path(tempfile.gettempdir()).glob("mtls-second-*")]
    leftovers += [p for p in Path("/dev/shm").glob("mtls-second-*")] if Path("/dev/shm").is_dir() else []
    assert leftovers == []
    assert taken.server.port not in running_ports()
    assert running_ports() <= serving_before


def test_a_failed_preparation_is_raised_in_its_own_setup(write_scenario: WriteScenario, tmp_path: Path) -> None:
    from harness.run import Ahead

    store = tmp_path / "gone.jks"
    store.write_bytes(b"x")
    broken = load_scenario(write_scenario({"keystore": {"file": str(store), "entries": None}}, name="broken"))
    store.unlink()  # gone between parsing and building
    ahead = Ahead()
    ahead.start("broken", broken, None)
    with pytest.raises(StoreError) as caught:
        ahead.take("broken")
    assert "no such file" in str(caught.value)
    ahead.close()
