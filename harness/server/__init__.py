"""The local MTLS server: ``with LocalServer(files) as server: server.url`` serves a scenario, recording each handshake.

Two servers stand behind ``LocalServer``; the scenario's persona picks one:

* ``python_server``: hypercorn with a recording OpenSSL context, for the
  ``openssl``, ``nginx``, ``apache`` and ``haproxy`` personas;
* ``java_server``: a JSSE ``SSLServerSocket`` in this process's host JVM, for
  the ``java`` persona.

Both file what they see in the same records. The modules, each one job:

=================  ==========================================================================
``policy``         ``ServerPolicy`` and ``ServerFiles``: what ``build`` writes under DIR/server/
``records``        ``HandshakeRecord``, ``RequestRecord``, ``ServerRecords``: the facts a server records
``tls_context``    the recording ``SSLContext``: alerts flushed, handshakes recorded
``ca_names``       the acceptable client CA names in the CertificateRequest (OpenSSL through ctypes)
``personas``       how nginx, Apache, HAProxy, OpenSSL or a JSSE server refuse a client
``loop``           the event loop, running ports and address rule the python servers share
``python_server``  hypercorn and its ASGI app (the only importer of hypercorn)
``java_server``    the host JVM and its listeners
=================  ==========================================================================
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.errors import ServerError
from harness.server.java_server import JavaListener, JavaServer
from harness.server.loop import address_family, running_ports, url_host
from harness.server.policy import POLICY_FILE, ServerFiles, ServerPolicy
from harness.server.records import HandshakeRecord, RequestRecord, ServerRecords, client_identity, describe_handshake

if TYPE_CHECKING:
    from harness.server.python_server import PythonServer

__all__ = [
    "POLICY_FILE",
    "HandshakeRecord",
    "LocalServer",
    "RequestRecord",
    "ServerFiles",
    "ServerPolicy",
    "ServerRecords",
    "address_family",
    "client_identity",
    "describe_handshake",
    "running_ports",
]


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
        self.persona = self.policy.chosen_persona()
        self.host = host  # an IP address; only `serve --bind` gives another than 127.0.0.1
        self._url_host = url_host(host)
        self._records = ServerRecords(on_event)
        self.handshakes: list[HandshakeRecord] = self._records.handshakes
        self.requests: list[RequestRecord] = self._records.requests
        self._server: PythonServer | JavaServer
        if self.persona.name == "java":
            # The JVM listens on 127.0.0.1, on an ephemeral port (serve refuses --bind elsewhere before this).
            self._server = JavaServer(files, self._records, start_timeout=start_timeout)
        else:
            # hypercorn (~150 ms to import) is imported when a python server is made: the diagnosis and
            # `check` read this package's records and never serve.
            from harness.server.python_server import PythonServer

            self._server = PythonServer(
                files,
                self._records,
                port=port,
                host=host,
                handshake_timeout=handshake_timeout,
                start_timeout=start_timeout,
            )

    # -- lifecycle

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._server.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._server.stop(timeout)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"https://{self._url_host}:{self.port}{self.policy.path}"

    @property
    def open_connections(self) -> int:
        """Connections whose client is still there (what the python server's MAX_CONNECTIONS counts)."""
        return self._server.open_connections

    @property
    def failure(self) -> ServerError | None:
        """Why this server stopped serving before ``stop()`` (the java persona's JVM died); None while all is well."""
        return self._server.failure

    def wait_for_handshakes(self, count: int, timeout: float = 3.0) -> list[HandshakeRecord]:
        """The handshake records once there are at least ``count`` (or whatever there is at the deadline)."""
        return self._records.wait_for_handshakes(count, timeout)

    # -- what tests look inside (test_hardening: the listening socket; test_java_host: the JVM listener)

    @property
    def _socket(self) -> socket.socket | None:
        return None if isinstance(self._server, JavaServer) else self._server.socket

    @property
    def _java(self) -> JavaListener | None:
        return self._server.listener if isinstance(self._server, JavaServer) else None
