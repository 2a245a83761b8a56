"""The local MTLS server: hypercorn on 127.0.0.1, an ephemeral port, a record of every handshake.

``LocalServer`` is a context manager: it binds the socket itself (so the port
is known before anything runs), starts hypercorn on the process's server event
loop (one thread for every local server: a thread and a loop per server cost
more than serving a scenario's handshake), waits for it to listen (with a
deadline), and stops it cleanly. Its ASGI
app accepts a POSTed message and answers with the client identity *as the
server saw it*. Every handshake is recorded (``harness.server.handshakes``): the
accepted identity, or the OpenSSL reason the client was rejected.

Only this module imports hypercorn.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hypercorn.asyncio.run as hypercorn_run
from cryptography import x509
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config, Sockets
from hypercorn.logging import Logger

from harness.errors import ServerError
from harness.pki import sha256_fingerprint
from harness.server.handshakes import ClientAuth, HandshakeRecord, make_server_context
from harness.server.personas import (
    NGINX_ERROR,
    NGINX_MISSING,
    Persona,
    apache_forbidden_page,
    install_verify_callback,
    nginx_page,
    persona,
)

__all__ = [
    "HandshakeRecord",
    "LocalServer",
    "RequestRecord",
    "ServerFiles",
    "ServerPolicy",
    "address_family",
    "client_identity",
    "describe_handshake",
    "running_ports",
]

log = logging.getLogger("harness.server.local")

POLICY_FILE = "server.json"

# Abuse limits (docs/limits.md; issue 15). A request body above MAX_BODY is
# answered 413 and not read on; at most MAX_CONNECTIONS TLS connections are
# served at once (more are closed on arrival); a connection lives at most
# CONNECTION_LIFETIME seconds (a client dripping its headers a byte at a time
# gets past any per-read timeout, not past this). Connections still in their
# TLS handshake are bounded by the handshake timeout.
MAX_BODY = 4 << 20
MAX_CONNECTIONS = 512
CONNECTION_LIFETIME = 60.0
READ_TIMEOUT = 10


@dataclass(frozen=True)
class ServerPolicy:
    client_auth: ClientAuth = "required"
    ca_names: bool = True
    tls_versions: tuple[str, ...] = ("1.2", "1.3")
    path: str = "/"
    status: int = 200
    # harness.server.personas: the persona and the knobs that override it (None: its own).
    persona: str = "openssl"
    rejection: str | None = None
    client_cert_request: str | None = None
    verify_depth: int | None = None
    # The java persona's endpoint identification of the client (javaserver.py).
    check_client_names: bool = False

    def chosen_persona(self) -> Persona:
        return persona(
            self.persona,
            rejection=self.rejection,  # type: ignore[arg-type]  # validated by the scenario schema
            client_cert_request=self.client_cert_request,  # type: ignore[arg-type]
            verify_depth=self.verify_depth,
        )


@dataclass(frozen=True)
class ServerFiles:
    """What ``build`` writes under ``DIR/server/``: enough to run the server again."""

    chain: Path  # the server's certificate chain as it sends it, leaf first
    key: Path  # its private key (0600)
    client_cas: Path | None  # CAs it trusts for client certificates
    policy: ServerPolicy

    @classmethod
    def from_dir(cls, folder: Path) -> ServerFiles:
        policy_path = folder / POLICY_FILE
        try:
            raw = json.loads(policy_path.read_text("utf-8"))
            policy = ServerPolicy(**{**raw, "tls_versions": tuple(raw.get("tls_versions", ("1.2", "1.3")))})
            policy.chosen_persona()
        except FileNotFoundError:
            raise ServerError(
                str(policy_path), "no such file", "give a folder written by `mtls-harness build`"
            ) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise ServerError(str(policy_path), f"not a server policy ({exc})", "re-run `mtls-harness build`") from None
        cas = folder / "client-cas.pem"
        files = cls(folder / "chain.pem", folder / "key.pem", cas if cas.exists() else None, policy)
        for needed in (files.chain, files.key):
            if not needed.is_file():
                raise ServerError(str(needed), "missing", "re-run `mtls-harness build`")
        return files

    def policy_json(self) -> str:
        return json.dumps(asdict(self.policy), indent=2) + "\n"


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request that reached the app (so its handshake was accepted)."""

    method: str
    path: str
    status: int
    received_bytes: int
    client: Mapping[str, str] | None
    at: float = field(default_factory=time.time)


def client_identity(der: bytes) -> dict[str, str]:
    """The client certificate as the server saw it: subject, issuer, serial, SHA-256 fingerprint."""
    cert = x509.load_der_x509_certificate(der)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "sha256": sha256_fingerprint(cert),
    }


def describe_handshake(record: HandshakeRecord) -> str:
    """One line for ``serve`` and the reports."""
    if record.accepted:
        who = client_identity(record.client_cert_der)["subject"] if record.client_cert_der else "no client certificate"
        return f"handshake accepted: {who} ({record.protocol}, {record.cipher})"
    parts = [f"handshake rejected: {record.reason or 'unknown reason'}"]
    if record.reason == "handshake-incomplete" and record.error:
        parts.append(record.error)
    if record.verify_code is not None:
        parts.append(f"verify error {record.verify_code}: {record.verify_message}")
    if record.alert_sent:
        parts.append(f"sent alert {record.alert_sent}")
    return "; ".join(parts)


# -- the smallest hook that hands the peer certificate to the app ---------------
#
# hypercorn builds the ASGI scope without any TLS information (no "tls"
# extension in 0.18) but its TCPServer holds the connection's ssl object, and
# the scope's "client" is that connection's peer address. This subclass files
# the handshake record under the peer address for the app to find; it changes
# nothing for a config that is not ours.


class _RecordingTCPServer(TCPServer):
    # The cap counts connections whose client is still there: after the client's EOF, hypercorn's task lingers
    # until its keep-alive timer ends (5 s here), and counting those refused new clients under a steady load
    # (benchmarks/server_load.py, TLS 1.3: ~500 handshakes in 5 s filled the cap).
    _mtls_reading: set[object] | None = None

    async def run(self) -> None:
        connections = getattr(self.config, "mtls_connections", None)
        reading: set[object] | None = getattr(self.config, "mtls_reading", None)
        if connections is None or reading is None:
            await super().run()
            return
        if len(reading) >= MAX_CONNECTIONS:
            self.writer.close()  # over the cap: closed at once, the others keep being served
            return
        peer = self.writer.get_extra_info("peername")
        ssl_object = self.writer.get_extra_info("ssl_object")
        key = (str(peer[0]), int(peer[1])) if peer else None
        ssl_objects = getattr(self.config, "mtls_ssl_objects", {})
        if key is not None:
            connections[key] = getattr(ssl_object, "handshake_record", None)
            ssl_objects[key] = ssl_object
        self._mtls_reading = reading
        reading.add(self)
        try:
            try:
                await asyncio.wait_for(super().run(), CONNECTION_LIFETIME)
            except TimeoutError:
                self.writer.close()
        finally:
            reading.discard(self)
            if key is not None:
                connections.pop(key, None)
                ssl_objects.pop(key, None)

    async def _read_data(self) -> None:
        try:
            await super()._read_data()
        finally:
            if self._mtls_reading is not None:
                self._mtls_reading.discard(self)  # the client is gone (EOF, reset or read timeout)


if getattr(hypercorn_run, "TCPServer", None) is TCPServer:
    setattr(hypercorn_run, "TCPServer", _RecordingTCPServer)  # noqa: B010 - the module does not export it


class _Config(Config):
    def __init__(self, context: Any, ready: threading.Event) -> None:
        super().__init__()
        self._context = context
        self.mtls_connections: dict[tuple[str, int], HandshakeRecord | None] = {}
        self.mtls_reading: set[object] = set()  # connections whose client has not gone yet (the cap counts these)
        self.mtls_ssl_objects: dict[tuple[str, int], Any] = {}
        self.mtls_ready = ready
        self.logger_class = _Logger

    @property
    def ssl_enabled(self) -> bool:
        return True

    def create_ssl_context(self) -> Any:
        return self._context


class _Logger(Logger):
    """hypercorn's logger, but quiet, and the "Running on" line is our readiness signal.

    hypercorn logs "Running on https://..." right after ``asyncio.start_server``
    returns: from then on handshakes are served. ``logger_class`` is hypercorn's
    documented way to replace its logger.
    """

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.access_logger = None
        self.error_logger = log
        self._ready = getattr(config, "mtls_ready", None)

    async def info(self, message: str, *args: Any, **kwargs: Any) -> None:
        if message.startswith("Running on") and self._ready is not None:
            self._ready.set()
        log.debug(message, *args)


_running: set[int] = set()  # ports of the servers serving on the loop now


def running_ports() -> frozenset[int]:
    """The ports of this process's local servers that are serving (started and not stopped)."""
    with _loop_lock:
        return frozenset(_running)


_loop_lock = threading.Lock()
_loop_thread: threading.Thread | None = None
_loop: asyncio.AbstractEventLoop | None = None


def _server_loop() -> asyncio.AbstractEventLoop:
    """The event loop every local server of this process runs on, in a daemon thread started on first use.

    Started anew if its thread is gone (after a fork, say). Servers on it share
    nothing but the loop: each has its own socket, SSL context and records.
    """
    global _loop, _loop_thread
    with _loop_lock:
        if _loop is None or _loop_thread is None or not _loop_thread.is_alive():
            _loop = asyncio.new_event_loop()
            _loop_thread = threading.Thread(target=_loop.run_forever, name="mtls-servers", daemon=True)
            _loop_thread.start()
        return _loop


def address_family(host: str) -> socket.AddressFamily:
    """The socket family of a numeric address: IPv6 for one with a colon (``::1``), else IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class LocalServer:
    """A running local MTLS server. Use as ``with LocalServer(files) as server: server.url``."""

    def __init__(
        self,
        files: ServerFiles,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        handshake_timeout: float = 5.0,
        start_timeout: float = 10.0,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.files = files
        self.policy = files.policy
        self.handshakes: list[HandshakeRecord] = []
        self.requests: list[RequestRecord] = []
        self._requested_port = port
        self.host = host  # an IP address; only `serve --bind` gives another than 127.0.0.1
        self._url_host = f"[{host}]" if ":" in host else host  # IPv6 in brackets
        self._handshake_timeout = handshake_timeout
        self._start_timeout = start_timeout
        self._on_event = on_event
        self._records_changed = threading.Condition()
        self._ready = threading.Event()
        self._serving: concurrent.futures.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._socket: socket.socket | None = None
        self._connections: dict[tuple[str, int], HandshakeRecord | None] = {}
        self._reading: set[object] = set()
        self._ssl_objects: dict[tuple[str, int], Any] = {}
        self.persona = self.policy.chosen_persona()
        self._java: Any = None
        self.port = 0

    # -- lifecycle

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"https://{self._url_host}:{self.port}{self.policy.path}"

    @property
    def open_connections(self) -> int:
        """Connections whose client is still there (what MAX_CONNECTIONS counts)."""
        return len(self._reading)

    @property
    def failure(self) -> ServerError | None:
        """Why this server stopped serving before ``stop()`` (the java persona's JVM died); None while all is well."""
        if self._java is not None:
            failed: ServerError | None = self._java.failure
            return failed
        return None

    def start(self) -> None:
        if self.persona.name == "java":
            self._start_java()
            return
        context = make_server_context(
            cert_chain=self.files.chain,
            key=self.files.key,
            client_cas=self.files.client_cas,
            client_auth=self.policy.client_auth,
            tls_versions=self.policy.tls_versions,
            advertise_ca_names=self.policy.ca_names,
            on_record=self._record_handshake,
            # Also records clients that stall or leave mid-handshake, which
            # asyncio drops without telling the SSL object.
            handshake_timeout=self._handshake_timeout,
            rejection=self.persona.rejection,
            post_handshake=self.persona.client_cert_request == "post-handshake",
        )
        if self.policy.client_auth != "none":
            install_verify_callback(context, self.persona)
        # HTTP/1.1 is what the platform (HttpsURLConnection) speaks.
        context.set_alpn_protocols(["http/1.1"])
        # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on a
        # connection only when its socket's proto is IPPROTO_TCP
        # (asyncio.base_events._set_nodelay), and accepted sockets inherit the
        # listener's. With Nagle on, hypercorn's separate header and body
        # writes wait for the client's delayed ACK: +40 ms per answer
        # (measured: a sequential handshake + POST took 48 ms, 5 ms with it).
        sock = socket.socket(address_family(self.host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            if self._requested_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ServerError(
                f"{self._url_host}:{self._requested_port}",
                f"cannot listen: {exc.strerror}",
                "pick another port, or --port 0 for a free one",
            ) from None
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = _Config(context, self._ready)
        self._connections = config.mtls_connections
        self._reading = config.mtls_reading
        self._ssl_objects = config.mtls_ssl_objects
        config.ssl_handshake_timeout = self._handshake_timeout
        config.graceful_timeout = 1.0
        config.keep_alive_timeout = 5.0
        config.read_timeout = READ_TIMEOUT
        self._serving = asyncio.run_coroutine_threadsafe(self._main(config, sock), _server_loop())
        with _loop_lock:
            _running.add(self.port)
        self._serving.add_done_callback(self._ended)
        if not self._ready.wait(self._start_timeout) or self._failure is not None:
            reason = (
                f"{type(self._failure).__name__}: {self._failure}"
                if self._failure
                else f"not listening after {self._start_timeout:g} s"
            )
            self.stop()
            raise ServerError(
                "local server", f"did not start ({reason})", "see the log above; report it if it persists"
            )

    def _start_java(self) -> None:
        from harness.server.java_persona import JavaServerProcess  # only this persona needs a JVM

        def on_request(method: str, path: str, status: int, subject: str | None) -> None:
            identity = {"subject": subject} if subject else None
            self.requests.append(RequestRecord(method, path, status, 0, identity))
            self._emit(f"{method} {path} -> {status} from {subject or 'no client certificate'}")

        self._java = JavaServerProcess(
            chain=self.files.chain,
            key=self.files.key,
            client_cas=self.files.client_cas,
            client_auth=self.policy.client_auth,
            tls_versions=self.policy.tls_versions,
            path=self.policy.path,
            status=self.policy.status,
            check_client_names=self.policy.check_client_names,
            on_record=self._record_handshake,
            on_request=on_request,
            start_timeout=max(self._start_timeout, 30.0),
        )
        self.port = self._java.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._java is not None:
            self._java.stop(timeout)
            self._java = None
        serving, self._serving = self._serving, None
        if serving is not None:
            loop, shutdown = self._loop, self._shutdown
            if loop is not None and shutdown is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop ended on its own
                    loop.call_soon_threadsafe(shutdown.set)
            else:
                serving.cancel()  # not started yet: it never will
            try:
                serving.result(timeout)
            except concurrent.futures.TimeoutError:
                serving.cancel()
                log.warning("local server on port %s did not stop within %s s", self.port, timeout)
            except BaseException:  # noqa: BLE001, S110 - a failure was logged by _ended; stopping goes on
                pass
            with _loop_lock:
                _running.discard(self.port)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _ended(self, serving: concurrent.futures.Future[None]) -> None:
        if serving.cancelled() or serving.exception() is None:
            return
        exc = serving.exception()
        self._failure = exc  # surfaced to start() and the log, never lost
        self._ready.set()
        log.error("local server failed: %s: %s", type(exc).__name__, exc)

    async def _main(self, config: _Config, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        sockets = Sockets(secure_sockets=[sock], insecure_sockets=[], quic_sockets=[])
        app = ASGIWrapper(self._app)  # type: ignore[arg-type]  # hypercorn's TypedDict scopes vs a plain dict
        await hypercorn_run.worker_serve(app, config, sockets=sockets, shutdown_trigger=self._shutdown.wait)

    # -- records

    def _record_handshake(self, record: HandshakeRecord) -> None:
        with self._records_changed:
            self.handshakes.append(record)
            self._records_changed.notify_all()
        self._emit(describe_handshake(record))

    def _emit(self, line: str) -> None:
        log.info(line)
        if self._on_event is not None:
            self._on_event(line)

    def wait_for_handshakes(self, count: int, timeout: float = 3.0) -> list[HandshakeRecord]:
        """The handshake records once there are at least ``count`` (or whatever there is at the deadline)."""
        deadline = time.monotonic() + timeout
        with self._records_changed:
            while len(self.handshakes) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._records_changed.wait(left)
            return list(self.handshakes)

    # -- the ASGI app

    async def _app(
        self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[dict[str, Any]], Any]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                await _too_large(send)
                return
            if not message.get("more_body"):
                break
        client_addr = scope.get("client")
        record = None
        peer = (str(client_addr[0]), int(client_addr[1])) if client_addr else None
        if peer:
            record = self._connections.get(peer)
        identity = client_identity(record.client_cert_der) if record and record.client_cert_der else None
        refusal = self._persona_refusal(scope["path"], record, self._ssl_objects.get(peer) if peer else None)
        if refusal is not None:
            status, content_type, body = refusal
            identity = None
        else:
            if scope["method"] != "POST":
                status = 405
            elif scope["path"] != self.policy.path:
                status = 404
            else:
                status = self.policy.status
            answer = {
                "client": identity,
                "protocol": record.protocol if record else None,
                "cipher": record.cipher if record else None,
                "received_bytes": received,
                "path": scope["path"],
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            content_type, body = b"application/json", json.dumps(answer).encode()
        # Recorded before the answer leaves: a client that has its answer finds
        # its request in ``requests``.
        self.requests.append(RequestRecord(scope["method"], scope["path"], status, received, identity))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        who = identity["subject"] if identity else "no client certificate"
        self._emit(f"{scope['method']} {scope['path']} -> {status} ({received} bytes) from {who}")

    def _persona_refusal(
        self, path: str, record: HandshakeRecord | None, ssl_object: Any
    ) -> tuple[int, bytes, bytes] | None:
        """The HTTP-level refusal of the persona (status, content type, body), or None to serve the request."""
        chosen = self.persona
        if self.policy.client_auth == "none":
            return None
        if chosen.client_cert_request == "post-handshake" and path == self.policy.path:
            # Apache's <Location> SSLVerifyClient: TLS 1.3 post-handshake auth.
            # A client that did not offer it (the JDK cannot; the engines do not)
            # makes OpenSSL refuse to send the request: Apache answers 403.
            try:
                ssl_object.verify_client_post_handshake()
                why = "the client offered post-handshake auth, which this persona cannot complete over hypercorn"
            except (ssl.SSLError, AttributeError, ValueError) as exc:
                why = f"cannot perform post-handshake authentication ({exc})"
            self._emit(f"post-handshake certificate request for {path}: {why}")
            return 403, b"text/html; charset=iso-8859-1", apache_forbidden_page()
        if chosen.rejection != "http" or record is None:
            return None
        if record.verify_errors:
            self._emit(f"nginx persona: 400 {NGINX_ERROR} ({'; '.join(record.verify_errors)})")
            return 400, b"text/html", nginx_page(NGINX_ERROR)
        if record.client_cert_der is None and self.policy.client_auth == "required":
            self._emit(f"nginx persona: 400 {NGINX_MISSING}")
            return 400, b"text/html", nginx_page(NGINX_MISSING)
        return None

async def _too_large(send: Callable[[dict[str, Any]], Any]) -> None:
    body = json.dumps({"error": f"request body above {MAX_BODY:,} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
