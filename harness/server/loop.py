"""What this process's local servers share: one event loop in one thread, the ports serving on it, the address rule.

One thread for every local server: a thread and a loop per server cost more
than serving a scenario's handshake. Servers on the loop share nothing else:
each has its own socket, SSL context and records.
"""

from __future__ import annotations

import asyncio
import socket
import threading

__all__ = ["address_family", "running_ports", "server_loop", "url_host"]

_loop_lock = threading.Lock()
_loop_thread: threading.Thread | None = None
_loop: asyncio.AbstractEventLoop | None = None
_running: set[int] = set()  # ports of the servers serving on the loop now


def server_loop() -> asyncio.AbstractEventLoop:
    """The event loop every local server of this process runs on, in a daemon thread started on first use.

    Started anew if its thread is gone (after a fork, say).
    """
    global _loop, _loop_thread
    with _loop_lock:
        if _loop is None or _loop_thread is None or not _loop_thread.is_alive():
            _loop = asyncio.new_event_loop()
            _loop_thread = threading.Thread(target=_loop.run_forever, name="mtls-servers", daemon=True)
            _loop_thread.start()
        return _loop


def running_ports() -> frozenset[int]:
    """The ports of this process's local servers that are serving (started and not stopped)."""
    with _loop_lock:
        return frozenset(_running)


def serving(port: int) -> None:
    """Count ``port`` among the running ports (a server started on the loop)."""
    with _loop_lock:
        _running.add(port)


def stopped(port: int) -> None:
    with _loop_lock:
        _running.discard(port)


def address_family(host: str) -> socket.AddressFamily:
    """The socket family of a numeric address: IPv6 for one with a colon (``::1``), else IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def url_host(host: str) -> str:
    """The address as a URL writes it: IPv6 in brackets."""
    return f"[{host}]" if ":" in host else host
