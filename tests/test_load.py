"""The local server under load: thousands of loopback connections, every one recorded exactly once.

One ``LocalServer`` (a 1 s handshake timeout) takes a mix of connections from a
bounded pool of Python ``ssl`` clients: good clients (three certificates, each
POSTs a body of a length no other connection uses, so the server's
``received_bytes`` names the request), untrusted clients, clients without a
certificate, and stalled clients that connect and send nothing or half a
ClientHello, held open until the server drops them. TLS 1.2 and 1.3 alternate.

The run goes in batches; each batch opens its stalled connections first, then
runs the rest through the pool while they stall. Checked:

* each client saw what it must (its own identity in the answer, ``unknown_ca``,
  ``certificate_required`` / ``handshake_failure``, a drop no sooner than the
  handshake timeout), and good clients completed while stalled ones were held;
* each connection left exactly one handshake record of the right kind, and each
  answered POST exactly one request record;
* the process's resident memory, net of the records kept by design, does not
  grow with the number of connections.

Two sizes: ``[short]`` (600 connections, part of ``make test``, a few seconds)
and ``[full]`` (10,500 connections; marked ``slow``, skipped unless
``MTLS_LOAD=1``: ``make load``). No assertion on speed: every wait has a
deadline, and a missed deadline is a failure.
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import json
import logging
import os
import selectors
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from harness.build import Built, write_scenario_files
from harness.scenario import load_scenario
from harness.server import HandshakeRecord, LocalServer, RequestRecord
from tests.conftest import WriteScenario

LOAD = os.environ.get("MTLS_LOAD") == "1"
HANDSHAKE_TIMEOUT = 1.0
# Client-side socket timeout: far beyond any handshake under this load, so a
# timeout here means a connection the server never served.
CLIENT_TIMEOUT = 30.0
# A batch whose connections have not all ended by then has a stuck one.
BATCH_DEADLINE = 180.0
MIB = 1 << 20

GOOD_CLIENTS = ("client", "client-2", "client-3")
# Three good certificates (so an answer naming the wrong one is caught) and one
# from a root the server does not trust.
SCENARIO: dict[str, Any] = {
    "pki": {
        "client-2": {"kind": "leaf", "issuer": "client-ca", "subject": "CN=load-client-2,O=Test Corp"},
        "client-3": {"kind": "leaf", "issuer": "client-ca", "subject": "CN=load-client-3,O=Test Corp"},
        "rogue-root": {"kind": "root", "subject": "CN=Rogue Root CA,O=Rogue"},
        "rogue": {"kind": "leaf", "issuer": "rogue-root", "subject": "CN=rogue-client,O=Rogue"},
    },
    "server": {"trust": ["client-root"]},
}

# Of every 20 connections: 14 good, 2 untrusted, 2 without a certificate, 1
# silent, 1 that stops half-way through its ClientHello.
MIX = ("good",) * 14 + ("untrusted",) * 2 + ("no-cert",) * 2 + ("silent", "half-hello")
STALLED = ("silent", "half-hello")
VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
PROTOCOL = {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}
# Bodies are BODY_BASE + index bytes long: unique per connection, so the
# request records can be matched to the clients one to one without adding a
# request id to the server.
BODY_BASE = 16


@dataclass(frozen=True)
class Size:
    total: int
    batch: int
    concurrency: int


SHORT = Size(total=600, batch=200, concurrency=32)
FULL = Size(total=10_500, batch=500, concurrency=32)


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conn:
    index: int
    kind: str
    version: str
    client: str | None  # the certificate presented: a good one, "rogue", or none

    @property
    def body_length(self) -> int:
        return BODY_BASE + self.index


def plan(total: int) -> list[Conn]:
    """``total`` connections in the MIX, each kind alternating TLS 1.2 / 1.3, good ones cycling certificates."""
    seen: Counter[str] = Counter()
    conns = []
    for index in range(total):
        kind = MIX[index % len(MIX)]
        nth = seen[kind]
        seen[kind] += 1
        version = ("1.2", "1.3")[nth % 2]
        client = {"good": GOOD_CLIENTS[(nth // 2) % len(GOOD_CLIENTS)], "untrusted": "rogue"}.get(kind)
        conns.append(Conn(index, kind, version, client))
    return conns


# -- clients ---------------------------------------------------------------------------------


class Clients:
    """Client contexts (shared by all threads; an SSLContext is thread-safe) and what good answers must say."""

    def __init__(self, built: Built) -> None:
        material = built.material
        pem = serialization.Encoding.PEM
        server_root = material.cert("server.root").public_bytes(pem).decode()
        self.contexts: dict[tuple[str | None, str], ssl.SSLContext] = {}
        self.fingerprints: dict[str, bytes] = {}
        for name in (*GOOD_CLIENTS, "rogue", None):
            path = None
            if name is not None:
                issued = material.issued[name]
                # A good client sends its issuing CA: the server trusts only the root.
                chain = (name, "client-ca") if name in GOOD_CLIENTS else (name,)
                key = issued.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
                path = built.folder / f"{name}-load.pem"
                path.write_bytes(b"".join(material.cert(n).public_bytes(pem) for n in chain) + key)
                self.fingerprints[name] = issued.cert.fingerprint(hashes.SHA256())
            for version, tls in VERSIONS.items():
                context = ssl.create_default_context(cadata=server_root)
                context.minimum_version = context.maximum_version = tls
                if path is not None:
                    context.load_cert_chain(path)
                self.contexts[(name, version)] = context
        self.subjects = {n: material.cert(n).subject for n in GOOD_CLIENTS}
        self.half_hellos = {v: half_client_hello(self.contexts[(None, v)]) for v in VERSIONS}


def half_client_hello(context: ssl.SSLContext) -> bytes:
    """The first half of the ClientHello this context sends: a handshake begun and never finished."""
    outgoing = ssl.MemoryBIO()
    client = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="127.0.0.1")
    with suppress(ssl.SSLWantReadError):  # it waits for the ServerHello
        client.do_handshake()
    hello = outgoing.read()
    return hello[: len(hello) // 2]


@dataclass(frozen=True)
class Result:
    conn: Conn
    outcome: str  # "answered", the client's SSL error reason, "dropped", or what went wrong
    ended: float  # time.monotonic()


def request_bytes(port: int, conn: Conn) -> bytes:
    body = b"." * conn.body_length
    head = (
        f"POST /inbound HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def connect(port: int, conn: Conn, clients: Clients) -> Result:
    """One connection from the pool: a good, an untrusted or a certificate-less client."""
    context = clients.contexts[(conn.client, conn.version)]
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            # TLS 1.2 rejections end in wrap_socket. In TLS 1.3 the client's
            # handshake ends before the server has checked its certificate:
            # the alert arrives on the first read.
            tls.sendall(request_bytes(port, conn))
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    except ssl.SSLError as exc:
        return Result(conn, str(exc.reason), time.monotonic())
    except OSError as exc:
        return Result(conn, f"{type(exc).__name__}: {exc}", time.monotonic())
    return Result(conn, judge_answer(conn, data, clients), time.monotonic())


def judge_answer(conn: Conn, data: bytes, clients: Clients) -> str:
    """Whether the answer is a 200 naming the client's own certificate and body length: "answered", or why not."""
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    if status != [b"200"]:
        return f"status {status!r}"
    try:
        answer = json.loads(body)
        seen = bytes.fromhex(answer["client"]["sha256"].replace(":", ""))
        subject = x509.Name.from_rfc4514_string(answer["client"]["subject"])
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable answer ({exc!r})"
    assert conn.client is not None
    if (seen, subject) != (clients.fingerprints[conn.client], clients.subjects[conn.client]):
        return f"answer names {answer['client']['subject']}, not {conn.client}"
    if answer["received_bytes"] != conn.body_length:
        return f"server received {answer['received_bytes']} bytes of {conn.body_length}"
    return "answered"


# -- stalled clients ----------------------------------------------------------------------------


class Stalls:
    """Stalled connections, opened together and watched (in one thread, not the pool) until the server drops them."""

    def __init__(self, stack: ExitStack, port: int, conns: Sequence[Conn], clients: Clients) -> None:
        self.results: list[Result] = []
        self._open: dict[int, tuple[socket.socket, Conn, float]] = {}
        for conn in conns:
            # Taken before connecting: the server's timer starts on accepting,
            # which may run before this thread sees its connect() return.
            began = time.monotonic()
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT))
            if conn.kind == "half-hello":
                sock.sendall(clients.half_hellos[conn.version])
            sock.setblocking(False)
            self._open[sock.fileno()] = (sock, conn, began)
        # All stalled connections are open from here on.
        self.opened = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="load-stalls", daemon=True)
        self._thread.start()
        # Exits run last-in first-out: the watcher ends before its sockets close.
        stack.callback(self.join)

    def _watch(self) -> None:
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT + CLIENT_TIMEOUT
        with selectors.DefaultSelector() as selector:
            for fd, (sock, _, _) in self._open.items():
                selector.register(sock, selectors.EVENT_READ, fd)
            while self._open and (left := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(left):
                    sock, conn, began = self._open[key.data]
                    try:
                        # The server owes a stalled client nothing but the end of the connection.
                        outcome = "dropped" if sock.recv(4096) == b"" else "data from the server"
                    except ConnectionResetError:
                        outcome = "dropped"
                    except BlockingIOError:
                        continue
                    ended = time.monotonic()
                    if ended - began < HANDSHAKE_TIMEOUT:
                        outcome = f"dropped after {ended - began:.2f} s, before the handshake timeout"
                    self.results.append(Result(conn, outcome, ended))
                    selector.unregister(sock)
                    del self._open[key.data]
        self.results += [Result(conn, "never dropped", time.monotonic()) for _, conn, _ in self._open.values()]

    def join(self) -> None:
        self._thread.join(HANDSHAKE_TIMEOUT + CLIENT_TIMEOUT + 5)
        assert not self._thread.is_alive(), "stalled connections still watched after their deadline"

    @property
    def first_drop(self) -> float:
        return min((r.ended for r in self.results), default=float("inf"))


# -- memory -------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident set size (VmRSS): server, event loop and client pool alike."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


_MALLOC_TRIM = getattr(ctypes.CDLL(None), "malloc_trim", None)


def settled_rss() -> int:
    """RSS once the C allocator has handed its free memory back (call after ``settled_census``).

    The pool's client threads each get a glibc malloc arena, and memory freed
    there stays resident until trimmed: without ``malloc_trim`` the RSS of this
    process creeps by ~0.8 KiB a connection even with the server keeping no
    records at all, while the bytes malloc has in use stay flat (measured with
    mallinfo2 over 30,000 connections). That is the allocator's cache, not the
    server's memory. Where there is no glibc the RSS is taken as it is.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    return rss_bytes()


def footprint(containers: Iterable[Sequence[object]], *, known: Iterable[object] = ()) -> int:
    """Bytes held by the record lists: each list, each record and what it refers to, each object counted once.

    A record's own size is ``getsizeof`` plus a pointer per field (CPython 3.11+
    keeps an instance's attributes in a values array beside the object; asking
    for ``vars()`` would build a dict and change what is measured).
    """
    seen = {id(o) for o in known}
    total = 0
    stack: list[object] = list(containers)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, list | tuple):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif dataclasses.is_dataclass(obj):
            fields = dataclasses.fields(obj)
            total += 8 * len(fields)
            stack.extend(getattr(obj, f.name) for f in fields)
    return total


def census() -> Counter[type]:
    """Live objects the garbage collector tracks, by type."""
    return Counter(type(o) for o in gc.get_objects())


def settled_census(timeout: float = 10.0) -> Counter[type]:
    """The census once the server's event loop has finished winding the last connections down.

    A dropped connection's socket is closed a step before the task that
    accepted it ends (asyncio's ``_accept_connection2`` wakes on a later loop
    iteration): until then its socket object, transport, futures and the
    exception's traceback are alive, and only a collection after that frees
    them. Two censuses in a row that agree, each after a collection, mean
    nothing is left to wind down; a leak agrees with itself too, and is judged
    by ``check_memory``.
    """
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        gc.collect()
        current = census()
        if current == previous or time.monotonic() > deadline:
            return current
        previous = current
        time.sleep(0.02)


# Records are allowed at twice their measured footprint: pymalloc and malloc
# keep the partly used pools and chunks around long-lived objects resident.
# Measured over 10,000 connections (Python 3.11, glibc 2.36): RSS grew 1.9
# times as much as the footprint, all allocator effects included.
RECORD_OVERHEAD = 2


@dataclass(frozen=True)
class Sample:
    connections: int
    rss: int
    # Footprint of what is kept by design: the server's records and the test's own results.
    kept: int
    requests: int
    objects: Counter[type] = field(repr=False)

    def net_growth_since(self, earlier: Sample) -> int:
        return (self.rss - earlier.rss) - RECORD_OVERHEAD * (self.kept - earlier.kept)


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Run:
    conns: list[Conn]
    results: list[Result] = field(default_factory=list)
    # Per batch: good clients answered while all of the batch's stalled connections were held.
    served_during_stalls: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    handshakes: list[HandshakeRecord] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    seconds: float = 0.0


def open_sockets() -> int:
    """Sockets this process holds open: the server's listener and connections, the clients' (Linux)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):  # the listing's own descriptor, gone by now
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def settle(server: LocalServer, count: int, idle_sockets: int) -> None:
    """Wait (bounded) until ``count`` handshakes are recorded and the server has closed every connection.

    A record is filed when a handshake ends, but the connection's teardown
    (the linger after a rejection, hypercorn's tasks) follows it: memory is
    only comparable between batches once the server holds no connection.
    """
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT + 30
    got = len(server.wait_for_handshakes(count, timeout=deadline - time.monotonic()))
    assert got >= count, f"{got} handshake records for {count} connections"
    while (held := open_sockets()) > idle_sockets and time.monotonic() < deadline:
        time.sleep(0.01)
    assert held <= idle_sockets, f"{held - idle_sockets} connections still open on the server after a batch"


def run_load(built: Built, size: Size) -> Run:
    clients = Clients(built)
    run = Run(plan(size.total))
    start = time.monotonic()
    with (
        LocalServer(built.server, handshake_timeout=HANDSHAKE_TIMEOUT) as server,
        ThreadPoolExecutor(size.concurrency, thread_name_prefix="load-client") as pool,
    ):
        idle_sockets = open_sockets()
        for first in range(0, size.total, size.batch):
            batch = run.conns[first : first + size.batch]
            with ExitStack() as stack:
                stalls = Stalls(stack, server.port, [c for c in batch if c.kind in STALLED], clients)
                futures = [pool.submit(connect, server.port, c, clients) for c in batch if c.kind not in STALLED]
                _, pending = wait(futures, timeout=BATCH_DEADLINE)
                for future in pending:
                    future.cancel()
                assert not pending, f"{len(pending)} connections of a batch did not end in {BATCH_DEADLINE:g} s"
                served = [f.result() for f in futures]
                stalls.join()
            run.results += served + stalls.results
            run.served_during_stalls.append(
                sum(1 for r in served if r.outcome == "answered" and stalls.opened <= r.ended < stalls.first_drop)
            )
            settle(server, first + len(batch), idle_sockets)
            objects = settled_census()
            rss = settled_rss()
            # The plan's Conns predate the first sample: only the results themselves are new.
            kept = footprint([server.handshakes, server.requests, run.results], known=run.conns)
            run.samples.append(Sample(first + len(batch), rss, kept, len(server.requests), objects))
    # Stopped: nothing more can be recorded, so the counts below are final.
    run.seconds = time.monotonic() - start
    run.handshakes, run.requests = list(server.handshakes), list(server.requests)
    return run


# -- expectations -------------------------------------------------------------------------------

CLIENT_SEES = {
    "good": {"1.2": "answered", "1.3": "answered"},
    "untrusted": {"1.2": "TLSV1_ALERT_UNKNOWN_CA", "1.3": "TLSV1_ALERT_UNKNOWN_CA"},
    "no-cert": {"1.2": "SSLV3_ALERT_HANDSHAKE_FAILURE", "1.3": "TLSV13_ALERT_CERTIFICATE_REQUIRED"},
    "silent": {"1.2": "dropped", "1.3": "dropped"},
    "half-hello": {"1.2": "dropped", "1.3": "dropped"},
}


def server_saw(conn: Conn) -> tuple[object, ...]:
    """The handshake record a connection must leave, reduced to what identifies its kind."""
    if conn.kind == "good":
        return ("accepted", PROTOCOL[conn.version], conn.client)
    if conn.kind == "untrusted":
        return ("CERTIFICATE_VERIFY_FAILED", 20, "unknown_ca")
    if conn.kind == "no-cert":
        alert = {"1.2": "handshake_failure", "1.3": "certificate_required"}[conn.version]
        return ("PEER_DID_NOT_RETURN_A_CERTIFICATE", None, alert)
    return ("handshake-incomplete", "sent nothing" if conn.kind == "silent" else "began its handshake")


def record_kind(record: HandshakeRecord, clients_by_der: dict[bytes, str]) -> tuple[object, ...]:
    if record.accepted:
        return ("accepted", record.protocol, clients_by_der.get(record.client_cert_der or b"", "unknown certificate"))
    if record.reason == "handshake-incomplete":
        began = "began its handshake" in (record.error or "")
        return ("handshake-incomplete", "began its handshake" if began else "sent nothing")
    return (record.reason, record.verify_code, record.alert_sent)


def check(run: Run, built: Built) -> None:
    conns = run.conns
    clients_by_der = {built.material.cert(n).public_bytes(serialization.Encoding.DER): n for n in GOOD_CLIENTS}

    # Every connection ended exactly once, as its client expected.
    assert sorted(r.conn.index for r in run.results) == list(range(len(conns)))
    seen = Counter((r.conn.kind, r.conn.version, r.outcome) for r in run.results)
    assert seen == Counter((c.kind, c.version, CLIENT_SEES[c.kind][c.version]) for c in conns)

    # Stalled clients held no one up: each batch answered good clients while they stalled.
    assert all(n > 0 for n in run.served_during_stalls), run.served_during_stalls

    # One handshake record per connection, of the connection's kind; none extra.
    assert len(run.handshakes) == len(conns)
    assert Counter(record_kind(h, clients_by_der) for h in run.handshakes) == Counter(server_saw(c) for c in conns)

    # One request record per answered POST, matched by its unique body length.
    answered = {r.conn.body_length: r.conn for r in run.results if r.outcome == "answered"}
    lengths = Counter(q.received_bytes for q in run.requests)
    assert len(run.requests) == len(answered)
    assert [n for n, k in lengths.items() if k > 1] == [], "requests recorded twice"
    assert set(lengths) == set(answered)
    for request in run.requests:
        conn = answered[request.received_bytes]
        assert (request.method, request.path, request.status) == ("POST", "/inbound", 200)
        assert request.client is not None
        assert request.client["subject"] == built.material.cert(conn.client or "").subject.rfc4514_string()

    check_memory(run)


def check_memory(run: Run) -> None:
    """Memory stays flat once warm, apart from the records the server keeps by design.

    Objects: past the warm-up batch, the only tracked objects that may grow in
    number are the records (one per handshake, one per request) and this test's
    own results; a connection's state outliving it (a transport, a protocol, a
    task, an SSL object) would add thousands.

    Resident memory, measured after ``settled_rss``: the server keeps its
    records forever (that is what they are for), so their size is measured
    (``footprint``: ~2 KiB per answered connection, its handshake record with
    the certificate's DER and its request record with the identity; ~0.4 KiB per
    rejection) and allowed
    ``RECORD_OVERHEAD`` times over. What is left must stay under 20 MiB and
    must not grow with the connection count: the second half of the run may add
    at most half of what the first half added, or 4 MiB of allocator noise. A
    leaked connection costs far more than either: 55 KiB of RSS for an accepted
    TLS 1.3 client whose SSL object is kept alive (measured).
    """
    warm, middle, end = run.samples[0], run.samples[len(run.samples) // 2], run.samples[-1]
    grown = end.objects - warm.objects
    by_design = {
        HandshakeRecord: end.connections - warm.connections,
        RequestRecord: end.requests - warm.requests,
        Result: end.connections - warm.connections,
        Sample: len(run.samples) - 1,
        Counter: len(run.samples) - 1,
    }
    for kind, expected in by_design.items():
        assert grown.pop(kind, 0) <= expected, kind.__qualname__
    assert grown.total() < 150, f"objects that grew: {describe_objects(grown)}"

    first_half, second_half = middle.net_growth_since(warm), end.net_growth_since(middle)
    assert end.net_growth_since(warm) < 20 * MIB, describe_memory(run)
    assert second_half <= max(4 * MIB, first_half // 2), describe_memory(run)


def describe_objects(grown: Counter[type]) -> str:
    return ", ".join(f"{t.__module__}.{t.__qualname__} +{n}" for t, n in grown.most_common(8))


def describe_memory(run: Run) -> str:
    warm, middle, end = run.samples[0], run.samples[len(run.samples) // 2], run.samples[-1]
    return (
        f"RSS after {warm.connections} / {middle.connections} / {end.connections} connections: "
        f"{warm.rss / MIB:.1f} / {middle.rss / MIB:.1f} / {end.rss / MIB:.1f} MiB; "
        f"kept by design {warm.kept / MIB:.2f} / {middle.kept / MIB:.2f} / {end.kept / MIB:.2f} MiB; "
        f"net growth {middle.net_growth_since(warm) / MIB:+.2f} then {end.net_growth_since(middle) / MIB:+.2f} MiB"
    )


# -- the test ------------------------------------------------------------------------------------


@pytest.fixture
def built(write_scenario: WriteScenario, tmp_path: Path) -> Built:
    scenario = load_scenario(write_scenario(SCENARIO, name="load"))
    folder = tmp_path / "built"
    folder.mkdir()
    return write_scenario_files(scenario, folder)


@pytest.fixture
def quiet_server_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    # The server logs a line per connection at INFO; were it captured (e.g.
    # --log-level=INFO), pytest would keep every line and the memory check
    # would measure pytest.
    with caplog.at_level(logging.WARNING, logger="harness.server.local"):
        yield


@pytest.mark.usefixtures("quiet_server_log")
@pytest.mark.parametrize(
    "size",
    [
        pytest.param(SHORT, id="short"),
        pytest.param(
            FULL,
            id="full",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(not LOAD, reason="the 10,500-connection load run: MTLS_LOAD=1 (make load)"),
            ],
        ),
    ],
)
def test_server_under_load(built: Built, size: Size, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_load(built, size)
    if size is FULL:
        kinds = Counter(c.kind for c in run.conns)
        with capsys.disabled():
            print(
                f"\n[load] {size.total} connections in {run.seconds:.1f} s ({dict(kinds)}), "
                f"good answered while stalls were held, per batch: {run.served_during_stalls}; " + describe_memory(run)
            )
    check(run, built)


# -- a good client's latency while the server is abused (issue 15) --------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("quiet_server_log")
@pytest.mark.skipif(not LOAD, reason="the abuse load run: MTLS_LOAD=1 (make load)")
def test_good_client_latency_under_abuse_load(built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1,000 idle + 200 half-open connections, garbage, plain HTTP, oversized headers and bodies; printed, not timed."""
    from tests import abuse

    context = abuse.good_context(built, tmp_path)
    with LocalServer(built.server, handshake_timeout=HANDSHAKE_TIMEOUT) as server:
        abuse.measure(server.port, context, 20)  # warm
        quiet, quiet_latency = abuse.measure(server.port, context, 200)
        rss_before = rss_bytes()
        with abuse.Abusers(server.port, context, idle=1_000, half_hellos=200, garbage=500) as abusers:
            during, during_latency = abuse.measure(server.port, context, 200)
            rss_during = rss_bytes()
            left = abusers.idle_still_open(within=30.0)
        after, _ = abuse.measure(server.port, context, 20)
    assert quiet == [200] * 200
    assert during == [200] * 200
    assert after == [200] * 20
    assert left == 0
    q50, q99 = abuse.percentiles(quiet_latency)
    d50, d99 = abuse.percentiles(during_latency)
    with capsys.disabled():
        print(
            f"\n[abuse] good client, 200 sequential POSTs: quiet p50 {q50:.1f} ms p99 {q99:.1f} ms; under abuse "
            f"(1,000 idle, 200 half-hello, 500 garbage, 20 plain HTTP, 10 x 64 KiB header, 3 x 8 MiB body) "
            f"p50 {d50:.1f} ms p99 {d99:.1f} ms; RSS of the test process (server and abusers) "
            f"{rss_before / MIB:.0f} -> {rss_during / MIB:.0f} MiB"
        )


# -- a good client past 1,000 idle TLS connections (issue 22) ------------------------------------


class IdleHolder:
    """Keeps ``target`` trusted TLS connections open and silent, opening a new one for each the server closes.

    ``threads`` openers, each keeping its share. The server closes an idle connection after its keep-alive
    timeout (5 s), and at the cap the connection idle the longest for each newcomer.
    """

    def __init__(self, port: int, context: ssl.SSLContext, target: int, threads: int = 4) -> None:
        self.port, self.context, self.target = port, context, target
        self.held: list[list[ssl.SSLSocket]] = [[] for _ in range(threads)]
        self.opened = self.closed_by_server = self.failed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    @property
    def count(self) -> int:
        return sum(len(h) for h in self.held)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _open(self, share: list[ssl.SSLSocket]) -> None:
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT)
            tls = self.context.wrap_socket(raw, server_hostname="127.0.0.1")
            tls.setblocking(False)
            share.append(tls)
            with self._lock:
                self.opened += 1
        except OSError:
            with self._lock:
                self.failed += 1

    def _run(self, index: int) -> None:
        share = self.held[index]
        quota = self.target // len(self._threads)
        while not self._stop.is_set():
            for tls in list(share):
                if _closed(tls):
                    share.remove(tls)
                    tls.close()
                    with self._lock:
                        self.closed_by_server += 1
            for _ in range(min(10, quota - len(share))):  # then look for closed ones again
                if self._stop.is_set():
                    break
                self._open(share)
            if len(share) >= quota:
                self._stop.wait(0.02)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        for share in self.held:
            for tls in share:
                tls.close()


def _closed(tls: ssl.SSLSocket) -> bool:
    """Whether the server closed this (non-blocking) connection; session tickets are read, not taken as data."""
    try:
        return tls.recv(1) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True


def _raise_open_files(wanted: int) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


class _Counter(logging.Handler):
    def __init__(self, words: str) -> None:
        super().__init__(logging.DEBUG)
        self.words, self.count = words, 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.count += 1


# The cap for this run: the idle connections this test can open (~50 a second on the shared 2-core machine,
# each living the server's 5 s keep-alive) stay below the real cap of 512; 150 makes the cap bite.
IDLE_RUN_CAP = 150


@pytest.mark.slow
@pytest.mark.skipif(not LOAD, reason="the idle-connection load run: MTLS_LOAD=1 (make load)")
def test_good_client_served_past_1000_idle_tls_connections(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 trusted TLS connections opened and held silent (re-opened as the server closes them), past the cap.

    Measured, not timed: the good client's success rate and latency while they are held; asserted: every good
    POST answered 200, and the cap was reached (connections were closed to make room).
    """
    from harness.server import python_server
    from tests import abuse

    _raise_open_files(8_192)  # 1,000 idle connections: two descriptors each in this process
    monkeypatch.setattr(python_server, "MAX_CONNECTIONS", IDLE_RUN_CAP)
    evictions = _Counter("connection cap")
    server_log = logging.getLogger("harness.server.local")
    server_log.addHandler(evictions)
    monkeypatch.setattr(server_log, "level", logging.DEBUG)
    monkeypatch.setattr(server_log, "propagate", False)  # hypercorn's and the records' lines, unprinted
    context = abuse.good_context(built, tmp_path)
    try:
        with LocalServer(built.server, handshake_timeout=HANDSHAKE_TIMEOUT) as server:
            abuse.measure(server.port, context, 20)  # warm
            quiet, quiet_latency = abuse.measure(server.port, context, 200)
            holder = IdleHolder(server.port, context, 1_000)
            started = time.monotonic()
            holder.start()
            try:
                deadline = started + 180
                while holder.opened < 1_000 and time.monotonic() < deadline:
                    time.sleep(0.1)
                opened, filled = holder.opened, time.monotonic() - started
                evicted_before, counted = evictions.count, server.open_connections
                during, during_latency = abuse.measure(server.port, context, 200)
                evicted_during = evictions.count - evicted_before
            finally:
                holder.close()
    finally:
        server_log.removeHandler(evictions)
    ok = sum(1 for s in during if s == 200)
    q50, q99 = abuse.percentiles(quiet_latency)
    d50, d99 = abuse.percentiles(during_latency)
    print(
        f"\n[idle] {opened} idle TLS connections opened in {filled:.1f} s and re-opened as closed "
        f"({holder.opened} in all, {holder.failed} failed, {holder.closed_by_server} closed by the server); "
        f"server cap {IDLE_RUN_CAP}, counting {counted}; {evicted_before} idle connections closed to make room "
        f"before, {evicted_during} during the good client's 200 sequential POSTs: {ok}/200 answered 200, "
        f"p50 {d50:.1f} ms p99 {d99:.1f} ms (quiet: {sum(1 for s in quiet if s == 200)}/200, "
        f"p50 {q50:.1f} ms p99 {q99:.1f} ms)"
    )
    assert quiet == [200] * 200
    assert opened >= 1_000
    assert evicted_before + evicted_during > 0, "the cap was never reached: nothing measured"
    assert during == [200] * 200
