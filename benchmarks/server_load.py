"""Local server handshakes/s and p50/p99 latency beside `openssl s_server` on the same material.

Builds one scenario (a client certificate under an intermediate CA, the server
trusting the client root), then serves its server files, one server at a time:

1. ``LocalServer``, in a process of its own (as ``mtls-harness serve`` runs it);
2. ``openssl s_server -Verify 2 -verify_return_error -www`` with the same
   chain, key and client CAs (the reference the harness's fidelity is measured
   against; see docs and harness/server/tls_context.py).

The same load client drives both: ``--concurrency`` processes, each making new
connections one after another for ``--seconds``, each a full handshake with
the client certificate (no session resumption: every connection starts without
a session). A handshake counts once the server has finished it too: in TLS 1.2
that is when the client's handshake ends (the server's Finished follows its
check of the client certificate); in TLS 1.3 the client finishes first, so the
client waits for the server's session ticket, which the server sends only
after accepting the client certificate. Then the client closes.

    python benchmarks/server_load.py [--seconds 10] [--concurrency 2]

Both servers handle one connection at a time on one core (s_server is
iterative; LocalServer is one event loop), and the clients need CPU too: with
more client processes than cores, both rates converge on what the machine can
drive, and the ratio on 1. ``openssl s_time`` is no substitute for the client:
in TLS 1.3 it closes before the server has judged its certificate, and it
sends only the first certificate of its -cert file (measured: 1,522
"connections" against LocalServer, every one rejected with unknown_ca).

Prints a Markdown table; exit 0 when the harness reaches the target (>= 0.5x
the handshakes/s of openssl s_server) for both TLS versions, 1 when not, 2
when it could not measure. Nothing here is a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import queue
import re
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from harness.build import write_scenario_files
from harness.scenario import load_scenario

TARGET = 0.5
SERVERS = ("LocalServer", "openssl s_server")
VERSIONS = {"1.3": ssl.TLSVersion.TLSv1_3, "1.2": ssl.TLSVersion.TLSv1_2}
ROUNDS = 2  # per server and TLS version, alternating, each --seconds / ROUNDS long
START_DEADLINE = 30.0  # seconds for a server or the client processes to be ready
SCENARIO = """\
description = "benchmarks/server_load.py: one client certificate under an intermediate CA"

[pki.client-root]
kind = "root"
subject = "CN=Bench Client Root CA,O=Bench"

[pki.client-ca]
kind = "intermediate"
issuer = "client-root"
subject = "CN=Bench Client Issuing CA,O=Bench"

[pki.client]
kind = "leaf"
issuer = "client-ca"
subject = "CN=bench-client,O=Bench"

[keystore]
password = "bench-Ks-7f3a"
entries = [{ alias = "bench-client", key = "client" }]

[truststore]
password = "bench-Ts-7f3a"

[server]
trust = ["client-root"]
path = "/inbound"

[expect]
outcome = "ok"
"""


class Unmeasurable(Exception):
    """A server or the load clients could not be brought to measure (exit 2)."""


@dataclass(frozen=True)
class Material:
    """Files of one built scenario, as both servers and the load client read them."""

    folder: Path
    server_dir: Path  # chain.pem (leaf first), key.pem, client-cas.pem, server.json
    client_pem: Path  # the client's certificate, its issuing CA and its key
    server_root: Path  # what the client trusts for the server


@dataclass(frozen=True)
class Measurement:
    server: str
    version: str
    handshakes: int
    seconds: float
    latencies: tuple[float, ...]  # seconds, sorted
    errors: int
    first_error: str | None

    @property
    def rate(self) -> float:
        return self.handshakes / self.seconds

    def __add__(self, other: Measurement) -> Measurement:
        return Measurement(
            self.server,
            self.version,
            self.handshakes + other.handshakes,
            self.seconds + other.seconds,
            tuple(sorted(self.latencies + other.latencies)),
            self.errors + other.errors,
            self.first_error or other.first_error,
        )

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(p / 100 * len(self.latencies)))]


def build_material(folder: Path) -> Material:
    scenario_path = folder / "bench.toml"
    scenario_path.write_text(SCENARIO, "utf-8")
    built = write_scenario_files(load_scenario(scenario_path), folder)
    material, pem = built.material, serialization.Encoding.PEM
    chain = built.server.chain.read_bytes()
    leaf_end = chain.index(b"-----END CERTIFICATE-----") + len(b"-----END CERTIFICATE-----\n")
    (folder / "server-chain-rest.pem").write_bytes(chain[leaf_end:])
    key = material.issued["client"].key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    client_pem = folder / "client.pem"
    # The intermediate goes with the leaf: the servers trust only the client root.
    client_pem.write_bytes(
        material.cert("client").public_bytes(pem) + material.cert("client-ca").public_bytes(pem) + key
    )
    server_root = folder / "server-root.pem"
    server_root.write_bytes(material.cert("server.root").public_bytes(pem))
    return Material(folder, built.server.chain.parent, client_pem, server_root)


# -- the servers -------------------------------------------------------------------------------


def _local_server(server_dir: str, ports: Connection, stop: Event) -> None:
    """Child process: LocalServer on the built folder until ``stop``."""
    from harness.server import LocalServer, ServerFiles

    with LocalServer(ServerFiles.from_dir(Path(server_dir)), handshake_timeout=10.0) as server:
        ports.send(server.port)
        stop.wait(3600)


@contextmanager
def harness_server(material: Material) -> Iterator[int]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    stop = context.Event()
    process = context.Process(target=_local_server, args=(str(material.server_dir), send, stop), daemon=True)
    process.start()
    try:
        if not receive.poll(START_DEADLINE):
            raise Unmeasurable(f"LocalServer did not report its port within {START_DEADLINE:g} s")
        yield int(receive.recv())
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()
        receive.close()
        send.close()


def s_server_command(openssl: str) -> list[str]:
    """The reference, run in the built folder (so the command prints as it runs)."""
    # -cert loads only the first certificate of chain.pem, so the rest of the
    # chain goes in -cert_chain: both servers then send the same two certificates.
    return [
        openssl, "s_server", "-accept", "127.0.0.1:0",
        "-Verify", "2", "-verify_return_error",
        "-cert", "server/chain.pem", "-cert_chain", "server-chain-rest.pem",
        "-key", "server/key.pem", "-CAfile", "server/client-cas.pem",
        "-www",
    ]  # fmt: skip


@contextmanager
def openssl_server(command: Sequence[str], folder: Path) -> Iterator[int]:
    process = subprocess.Popen(
        command, cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    lines: queue.Queue[bytes] = queue.Queue()

    def drain() -> None:
        # s_server writes a line or two per connection; an unread pipe would stall it.
        assert process.stdout is not None
        for line in process.stdout:
            if lines.qsize() < 100:
                lines.put(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_DEADLINE
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            seen.append(line.decode(errors="replace").strip())
            if found := re.match(rb"ACCEPT 127\.0\.0\.1:(\d+)", line):
                yield int(found[1])
                return
        raise Unmeasurable(f"openssl s_server did not start: {' / '.join(seen) or 'no output'}")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
        if process.stdout is not None:
            process.stdout.close()


# -- the load client ---------------------------------------------------------------------------


def client_context(material: Material, version: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(material.server_root))
    context.minimum_version = context.maximum_version = VERSIONS[version]
    context.load_cert_chain(material.client_pem)
    return context


def handshake(context: ssl.SSLContext, port: int, timeout: float = 10.0) -> None:
    """One new connection, a full handshake the server has finished too, then close."""
    deadline = time.monotonic() + timeout
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        if tls.version() != "TLSv1.3":
            return
        # TLS 1.3 (RFC 8446, 4.4.4 and 4.6.1): the client is done before the
        # server has checked its certificate; the server's NewSessionTicket
        # comes after that check. Reading processes it without returning data
        # (the servers send none unasked); an alert raises SSLError here.
        tls.setblocking(False)
        while (session := tls.session) is None or not session.has_ticket:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no session ticket from the server")
            select.select([tls], [], [], left)
            with suppress(ssl.SSLWantReadError):
                if tls.recv(1) == b"":
                    raise ConnectionError("the server closed before sending a session ticket")


def _load_worker(
    material: Material, version: str, port: int, seconds: float, ready: Barrier, results: Connection
) -> None:
    """Child process: warm up, wait for the others, then handshake sequentially for ``seconds``."""
    context = client_context(material, version)
    latencies: list[float] = []
    errors, first_error = 0, None
    try:
        for _ in range(5):  # imports, first connections: not measured
            handshake(context, port)
    except (OSError, ssl.SSLError) as exc:
        ready.abort()  # no measurement without every client: tell the others now
        errors, first_error = 1, f"before measuring: {type(exc).__name__}: {exc}"
    with suppress(threading.BrokenBarrierError):
        ready.wait(START_DEADLINE)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.perf_counter()
            try:
                handshake(context, port)
            except (OSError, ssl.SSLError) as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            latencies.append(time.perf_counter() - began)
    results.send((latencies, errors, first_error))
    results.close()


def measure(name: str, material: Material, version: str, port: int, seconds: float, concurrency: int) -> Measurement:
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(concurrency + 1)
    pipes = [context.Pipe(duplex=False) for _ in range(concurrency)]
    workers = [
        context.Process(target=_load_worker, args=(material, version, port, seconds, ready, send), daemon=True)
        for _, send in pipes
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    errors, first_error = 0, None
    try:
        try:
            ready.wait(START_DEADLINE)
        except threading.BrokenBarrierError:
            started = None
        else:
            started = time.perf_counter()
        for receive, _ in pipes:
            if not receive.poll(START_DEADLINE + seconds + 30):
                raise Unmeasurable(f"{name}: a load client did not report in time")
            got, failed, why = receive.recv()
            latencies += got
            errors += failed
            first_error = first_error or why
        if started is None:
            raise Unmeasurable(f"{name}, TLS {version}: the load clients could not start ({first_error or 'timeout'})")
        elapsed = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
                worker.join()
        for receive, send in pipes:
            receive.close()
            send.close()
    # The workers stop starting handshakes at ``seconds``; the last ones end a
    # little later, which the elapsed time includes.
    return Measurement(name, version, len(latencies), elapsed, tuple(sorted(latencies)), errors, first_error)


# -- report --------------------------------------------------------------------------------------


def print_table(rows: list[Measurement], concurrency: int, command: Sequence[str]) -> bool:
    openssl_version = subprocess.run([command[0], "version"], capture_output=True, text=True, check=False).stdout
    print(
        f"### Local server vs openssl s_server ({concurrency} client processes, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {ssl.OPENSSL_VERSION}; s_server: {openssl_version.strip()})\n"
    )
    print("| server | TLS | handshakes | handshakes/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.server} | {row.version} | {row.handshakes} | {row.rate:.0f} | {row.percentile(50) * 1000:.2f} "
            f"| {row.percentile(99) * 1000:.2f} | {row.errors} |"
        )
    print()
    met = True
    for version in VERSIONS:
        harness, reference = (next(r for r in rows if r.version == version and r.server == s) for s in SERVERS)
        ratio = harness.rate / reference.rate if reference.rate else float("nan")
        ok = ratio >= TARGET and not harness.errors and not reference.errors
        met = met and ok
        print(f"- TLS {version}: harness/openssl = {ratio:.2f}x (target >= {TARGET}x: {'met' if ok else 'NOT met'})")
    for row in rows:
        if row.first_error:
            print(f"- {row.server} TLS {row.version}: first error: {row.first_error}")
    print(f"- reference, in the built folder: `{' '.join(['openssl', *command[1:]])}`")
    return met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per server and TLS version (default 10)")
    parser.add_argument("--concurrency", type=int, default=2, help="client processes (default 2)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1:
        parser.error("--seconds must be > 0 and --concurrency >= 1")
    openssl = shutil.which("openssl")
    if openssl is None:
        print("openssl not found on PATH: it is the reference", file=sys.stderr)
        return 2
    rows: dict[tuple[str, str], Measurement] = {}
    command = s_server_command(openssl)
    with tempfile.TemporaryDirectory(prefix="mtls-server-load-") as folder:
        material = build_material(Path(folder))
        try:
            with harness_server(material) as harness_port, openssl_server(command, material.folder) as openssl_port:
                ports = dict(zip(SERVERS, (harness_port, openssl_port), strict=True))
                # Alternating rounds: a change in the machine's load during the
                # run falls on both servers alike instead of on one.
                for version in VERSIONS:
                    for _ in range(ROUNDS):
                        for name, port in ports.items():
                            got = measure(name, material, version, port, args.seconds / ROUNDS, args.concurrency)
                            key = (name, version)
                            rows[key] = rows[key] + got if key in rows else got
        except Unmeasurable as exc:
            print(f"not measured: {exc}", file=sys.stderr)
            return 2
    return 0 if print_table(list(rows.values()), args.concurrency, command) else 1


if __name__ == "__main__":
    sys.exit(main())
