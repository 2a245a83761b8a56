"""``capture``'s TLS versions, judged against ``openssl s_client`` on the same server (issue 24 point 1).

A version counts as accepted only when the server answers a ClientHello for
it with a ServerHello at that version. The reference is never hard-coded:
``openssl s_client -tls1_x`` asks a fresh twin of the same server, and capture
must list exactly the versions s_client got a ServerHello for.

OpenSSL 3 at its default security level cannot sign for TLS 1.0/1.1, so it
answers those ClientHellos with internal_error and logs "no suitable signature
algorithm", whoever asks (s_client included): capture may leave no more of
those lines than s_client's own asks for the refused versions, and none at all
on a server that serves every version (security level 0) or refuses the old
versions by protocol (``-tls1_2``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.build import write_scenario_files
from harness.capture import capture
from harness.knowledge.tls import tls_version
from harness.scenario import load_scenario
from tests.conftest import REPO, cli, unavailable
from tests.realservers import SETUPS, Material, missing, real_server

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed: apt-get install openssl")

START_TIMEOUT = 10.0
LIFETIME = "120"  # seconds: an s_server left behind by a crashed test ends by itself
SIGALG = "no suitable signature algorithm"
# s_client's flag and capture's name per version, oldest first.
FLAGS = {"TLSv1": "-tls1", "TLSv1.1": "-tls1_1", "TLSv1.2": "-tls1_2", "TLSv1.3": "-tls1_3"}
OLD = ("TLSv1", "TLSv1.1")


@dataclass
class Server:
    port: int
    stderr: Path
    log: str = ""  # the server's stderr, read once it stopped

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"


@pytest.fixture(scope="module")
def material() -> Iterator[tuple[Path, Path]]:
    with tempfile.TemporaryDirectory(prefix="mtls-capture-versions-") as tmp:
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        subprocess.run(
            [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
             "-subj", "/CN=localhost", "-days", "2"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        yield cert, key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def s_server(material: tuple[Path, Path], *extra: str) -> Iterator[Server]:
    """``openssl s_server -www`` on 127.0.0.1, an ephemeral port, for at most LIFETIME seconds."""
    cert, key = material
    with tempfile.TemporaryDirectory(prefix="mtls-s_server-") as tmp:
        for _ in range(3):  # the port was free a moment ago; another process may take it meanwhile
            port = _free_port()
            stderr = Path(tmp, f"stderr-{port}.log")
            with stderr.open("wb") as err:
                proc = subprocess.Popen(
                    ["timeout", LIFETIME, OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}",
                     "-cert", str(cert), "-key", str(key), "-www", *extra],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                )  # fmt: skip
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None and not _listening(port):
                time.sleep(0.05)
            if proc.poll() is None and _listening(port):
                server = Server(port, stderr)
                try:
                    yield server
                finally:
                    proc.terminate()
                    proc.wait(10)
                    server.log = stderr.read_text("utf-8", "replace")
                return
            proc.kill()
            proc.wait(10)
        raise RuntimeError(f"s_server did not start: {stderr.read_text('utf-8', 'replace')[-1000:]}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def s_client_accepts(port: int, version: str) -> bool:
    """Whether ``openssl s_client`` pinned to ``version`` gets a ServerHello (security level 0 for old ones)."""
    args = [OPENSSL, "s_client", "-msg", "-connect", f"127.0.0.1:{port}", FLAGS[version]]
    if version in OLD:
        args += ["-cipher", "DEFAULT:@SECLEVEL=0"]  # else this OpenSSL may not offer the version at all
    done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
    # -msg shows each message read: "<<< TLS 1.2, Handshake [length 0041], ServerHello". A ServerHello,
    # not a completed handshake: a server requiring a client certificate aborts after it.
    hello = re.search(r"^<<< TLS (\S+), Handshake \[length \w+\], ServerHello$", done.stdout, re.MULTILINE)
    if hello is None:
        return False
    said = tls_version(hello[1])
    return said is not None and said.name == version


def sigalg_lines(server: Server) -> int:
    return server.log.count(SIGALG)


def reference(material: tuple[Path, Path], *extra: str) -> tuple[list[str], int]:
    """What s_client gets from a fresh s_server: the accepted versions (newest first), and the
    "no suitable signature algorithm" lines its asks for the refused versions leave."""
    with s_server(material, *extra) as server:
        accepted = [v for v in reversed(FLAGS) if s_client_accepts(server.port, v)]
    return accepted, sigalg_lines(server)


def captured(material: tuple[Path, Path], *extra: str) -> tuple[list[str], dict[str, str], int, str]:
    with s_server(material, *extra) as server:
        profile = capture(server.url, timeout=5, request=False)
        shown = profile.render()
    return profile.tls_versions, profile.refusals, sigalg_lines(server), shown


def test_openssl3_defaults_lists_only_what_s_client_gets(material: tuple[Path, Path]) -> None:
    expected, their_lines = reference(material)
    accepted, refusals, our_lines, shown = captured(material)
    assert accepted == expected, shown
    assert "TLSv1.2" in accepted  # the server does serve: otherwise the comparison proves nothing
    for version in set(FLAGS) - set(accepted):
        reason = refusals[version]
        assert reason.startswith("alert ") or reason == "no answer", (version, reason)
        assert f"{version}: refused ({reason})" in shown
    # The log lines are the server's own on any TLS 1.0/1.1 ClientHello it cannot sign for:
    # capture's asks leave no more of them than s_client's do, none for the versions it serves.
    assert our_lines <= their_lines, shown


def test_tls12_only_server_lists_tls12_only(material: tuple[Path, Path]) -> None:
    expected, _ = reference(material, "-tls1_2")
    accepted, refusals, our_lines, shown = captured(material, "-tls1_2")
    assert accepted == expected == ["TLSv1.2"], shown
    assert refusals == {v: "alert protocol_version" for v in ("TLSv1.3", "TLSv1.1", "TLSv1")}, shown
    assert our_lines == 0, shown


def test_security_level_0_server_lists_old_versions_without_log_errors(material: tuple[Path, Path]) -> None:
    """The twin of the first: a server that can sign for TLS 1.0/1.1 is listed with them, and capture's
    offers (security level 0, default signature algorithms) leave no signature-algorithm error."""
    extra = ("-cipher", "DEFAULT:@SECLEVEL=0")
    expected, _ = reference(material, *extra)
    accepted, refusals, our_lines, shown = captured(material, *extra)
    assert accepted == expected, shown
    assert set(OLD) & set(accepted), f"s_server at security level 0 served no old version: {shown}"
    assert our_lines == 0, shown
    assert set(refusals) == set(FLAGS) - set(accepted)


def test_cli_shows_the_refusal(material: tuple[Path, Path], tmp_path: Path) -> None:
    with s_server(material, "-tls1_2") as server:
        done = cli("capture", server.url, "--no-request", "--timeout", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "TLS versions accepted: TLSv1.2\n" in done.stdout
    assert "TLSv1.3: refused (alert protocol_version)" in done.stdout


# -- real servers (tests/realservers.py) -------------------------------------------------------


@pytest.fixture(scope="module")
def ok_material() -> Iterator[Material]:
    with tempfile.TemporaryDirectory(prefix="mtls-capture-real-") as tmp:
        scenario = load_scenario(REPO / "scenarios" / "ok-rsa.toml")
        built = write_scenario_files(scenario, Path(tmp))
        yield Material.from_server_dir(built.folder / "server", scenario.server.path)


@pytest.mark.parametrize("setup_name", ["nginx-on", "haproxy-tls12"])
def test_real_server_lists_what_s_client_gets(ok_material: Material, setup_name: str) -> None:
    setup = SETUPS[setup_name]
    if reason := missing(setup.kind):
        unavailable(reason)
    with real_server(setup, ok_material) as real:
        expected = [v for v in reversed(FLAGS) if s_client_accepts(real.port, v)]
        profile = capture(real.url, timeout=5, request=False)
        log = real.error_log()
    assert profile.tls_versions == expected == [f"TLSv{v}" for v in sorted(setup.tls_versions, reverse=True)]
    assert set(profile.refusals) == set(FLAGS) - set(expected)
    assert SIGALG not in log
