"""The python server: hypercorn on 127.0.0.1, an ephemeral port, a record of every handshake.

``PythonServer`` binds the socket itself (so the port is known before anything
runs), starts hypercorn on the process's server event loop
(``harness.server.loop``), waits for it to listen (with a deadline), and stops
it cleanly. Its ASGI app accepts a POSTed message and answers with the client
identity *as the server saw it*. Every handshake is recorded
(``harness.server.tls_context``): the accepted identity, or the OpenSSL reason
the client was rejected. It serves every persona but ``java``
(``harness.server.java_server``); ``LocalServer`` picks between them.

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
from collections.abc import Callable
from typing import Any

import hypercorn.asyncio.run as hypercorn_run
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config, Sockets
from hypercorn.events import Event, Updated
from hypercorn.logging import Logger

from harness.errors import ServerError
from harness.server import loop
from harness.server.personas import (
    NGINX_ERROR,
    NGINX_MISSING,
    apache_forbidden_page,
    install_verify_callback,
    nginx_page,
)
from harness.server.policy import ServerFiles
from harness.server.records import HandshakeRecord, RequestRecord, ServerRecords, client_identity
from harness.server.tls_context import make_server_context

__all__ = ["CONNECTION_LIFETIME", "MAX_BODY", "MAX_CONNECTIONS", "READ_TIMEOUT", "PythonServer"]

# The name every server line goes under (harness.server.records).
log = logging.getLogger("harness.server.local")

# Abuse limits (docs/limits.md; issue 15). A request body above MAX_BODY is
# answered 413 and not read on; at most MAX_CONNECTIONS TLS connections are
# served at once (at the cap the connection idle the longest is closed to make
# room, see _RecordingTCPServer); a connection lives at most
# CONNECTION_LIFETIME seconds (a client dripping its headers a byte at a time
# gets past any per-read timeout, not past this). Connections still in their
# TLS handshake are bounded by the handshake timeout.
MAX_BODY = 4 << 20
MAX_CONNECTIONS = 512
CONNECTION_LIFETIME = 60.0
READ_TIMEOUT = 10


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
    #
    # At the cap, the connection idle the longest (no request in progress: none yet, an incomplete request head,
    # or between requests) is closed to make room, so a client that just completed its handshake is served however
    # many idle connections an abuser holds (issue 22). Only if all are inside a request is the newcomer closed.
    _mtls_reading: set[_RecordingTCPServer] | None = None
    _mtls_idle_since: float | None = None  # loop time it last became idle; None while a request is in flight

    async def run(self) -> None:
        connections = getattr(self.config, "mtls_connections", None)
        reading: set[_RecordingTCPServer] | None = getattr(self.config, "mtls_reading", None)
        if connections is None or reading is None:
            await super().run()
            return
        if len(reading) >= MAX_CONNECTIONS and not _evict_oldest_idle(reading):
            self.writer.close()  # over the cap and nothing idle: closed at once, the others keep being served
            return
        peer = self.writer.get_extra_info("peername")
        ssl_object = self.writer.get_extra_info("ssl_object")
        key = (str(peer[0]), int(peer[1])) if peer else None
        ssl_objects = getattr(self.config, "mtls_ssl_objects", {})
        if key is not None:
            connections[key] = getattr(ssl_object, "handshake_record", None)
            ssl_objects[key] = ssl_object
        self._mtls_reading = reading
        self._mtls_idle_since = self.loop.time()
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

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated):  # hypercorn's h11: not idle once a request head is in, idle after its answer
            self._mtls_idle_since = self.loop.time() if event.idle else None
        await super().protocol_send(event)

    def _mtls_evict(self) -> None:
        """Close this idle connection now (its task ends on the EOF), and stop counting it."""
        if self._mtls_reading is not None:
            self._mtls_reading.discard(self)
        self.writer.transport.abort()

    async def _read_data(self) -> None:
        try:
            await super()._read_data()
        finally:
            if self._mtls_reading is not None:
                self._mtls_reading.discard(self)  # the client is gone (EOF, reset or read timeout)


def _evict_oldest_idle(reading: set[_RecordingTCPServer]) -> bool:
    """Close the connection idle the longest to make room for a new one; False if every one is in a request."""
    idle = [c for c in reading if c._mtls_idle_since is not None]
    if not idle:
        return False
    oldest = min(idle, key=lambda c: c._mtls_idle_since or 0.0)
    oldest._mtls_evict()
    log.debug("connection cap (%d) reached: closed the connection idle the longest", MAX_CONNECTIONS)
    return True


if getattr(hypercorn_run, "TCPServer", None) is TCPServer:
    setattr(hypercorn_run, "TCPServer", _RecordingTCPServer)  # noqa: B010 - the module does not export it


class _Config(Config):
    def __init__(self, context: Any, ready: threading.Event) -> None:
        super().__init__()
        self._context = context
        self.mtls_connections: dict[tuple[str, int], HandshakeRecord | None] = {}
        self.mtls_reading: set[_RecordingTCPServer] = set()  # connections whose client is still there (the cap)
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


class PythonServer:
    """hypercorn serving ``files`` on ``host``: ``start()`` listens (``port`` is then known), ``stop()`` ends it."""

    def __init__(
        self,
        files: ServerFiles,
        records: ServerRecords,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        handshake_timeout: float = 5.0,
        start_timeout: float = 10.0,
    ) -> None:
        self.files = files
        self.policy = files.policy
        self.persona = self.policy.chosen_persona()
        self.records = records
        self.host = host
        self._requested_port = port
        self._handshake_timeout = handshake_timeout
        self._start_timeout = start_timeout
        self._ready = threading.Event()
        self._serving: concurrent.futures.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self.socket: socket.socket | None = None
        self._connections: dict[tuple[str, int], HandshakeRecord | None] = {}
        self._reading: set[_RecordingTCPServer] = set()
        self._ssl_objects: dict[tuple[str, int], Any] = {}
        self.port = 0

    @property
    def open_connections(self) -> int:
        """Connections whose client is still there (what MAX_CONNECTIONS counts)."""
        return len(self._reading)

    @property
    def failure(self) -> ServerError | None:
        """None: a failure of this server is raised by ``start()`` or logged, never left for the caller to ask."""
        return None

    def start(self) -> None:
        context = make_server_context(
            cert_chain=self.files.chain,
            key=self.files.key,
            client_cas=self.files.client_cas,
            client_auth=self.policy.client_auth,
            tls_versions=self.policy.tls_versions,
            advertise_ca_names=self.policy.ca_names,
            on_record=self.records.handshake,
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
        sock = socket.socket(loop.address_family(self.host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            if self._requested_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ServerError(
                f"{loop.url_host(self.host)}:{self._requested_port}",
                f"cannot listen: {exc.strerror}",
                "pick another port, or --port 0 for a free one",
            ) from None
        sock.setblocking(False)
        self.socket = sock
        self.port = sock.getsockname()[1]
        config = _Config(context, self._ready)
        self._connections = config.mtls_connections
        self._reading = config.mtls_reading
        self._ssl_objects = config.mtls_ssl_objects
        config.ssl_handshake_timeout = self._handshake_timeout
        config.graceful_timeout = 1.0
        config.keep_alive_timeout = 5.0
        config.read_timeout = READ_TIMEOUT
        self._serving = asyncio.run_coroutine_threadsafe(self._main(config, sock), loop.server_loop())
        loop.serving(self.port)
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

    def stop(self, timeout: float = 5.0) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            server_loop, shutdown = self._loop, self._shutdown
            if server_loop is not None and shutdown is not None and not server_loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop ended on its own
                    server_loop.call_soon_threadsafe(shutdown.set)
            else:
                serving.cancel()  # not started yet: it never will
            try:
                serving.result(timeout)
            except concurrent.futures.TimeoutError:
                serving.cancel()
                log.warning("local server on port %s did not stop within %s s", self.port, timeout)
            except BaseException:  # noqa: BLE001, S110 - a failure was logged by _ended; stopping goes on
                pass
            loop.stopped(self.port)
        if self.socket is not None:
            self.socket.close()
            self.socket = None

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
        self.records.requests.append(RequestRecord(scope["method"], scope["path"], status, received, identity))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        who = identity["subject"] if identity else "no client certificate"
        self.records.event(f"{scope['method']} {scope['path']} -> {status} ({received} bytes) from {who}")

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
            self.records.event(f"post-handshake certificate request for {path}: {why}")
            return 403, b"text/html; charset=iso-8859-1", apache_forbidden_page()
        if chosen.rejection != "http" or record is None:
            return None
        if record.verify_errors:
            self.records.event(f"nginx persona: 400 {NGINX_ERROR} ({'; '.join(record.verify_errors)})")
            return 400, b"text/html", nginx_page(NGINX_ERROR)
        if record.client_cert_der is None and self.policy.client_auth == "required":
            self.records.event(f"nginx persona: 400 {NGINX_MISSING}")
            return 400, b"text/html", nginx_page(NGINX_MISSING)
        return None


async def _too_large(send: Callable[[dict[str, Any]], Any]) -> None:
    body = json.dumps({"error": f"request body above {MAX_BODY:,} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
