"""Deadlines and caps for talking to a server that may drip, stall or flood.

A socket timeout bounds each read, not the exchange: a server sending one byte
a second never trips it. ``Deadline`` is the whole exchange's end;
``exchange_deadline`` shuts a socket when it passes, whatever library reads
from it; ``read_body`` caps an HTTP answer. ``ServerTooSlow`` and
``ServerTooLarge`` are OSErrors with one line naming the limit.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator

__all__ = ["BODY_BYTES", "Deadline", "ServerTooLarge", "ServerTooSlow", "exchange_deadline", "read_body"]

# Bytes of an HTTP answer body read (the local server's answer is < 1 KiB).
BODY_BYTES = 1 << 20


class Deadline:
    """A point in time; ``bound(t)`` is the smaller of ``t`` and what is left (never below 1 ms)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self.fired = False  # set by exchange_deadline when it shut the socket

    @property
    def left(self) -> float:
        return self._end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.left <= 0

    def bound(self, seconds: float) -> float:
        return max(0.001, min(seconds, self.left))


class ServerTooSlow(TimeoutError):
    """The server did not finish within the deadline (a slow drip, or nothing at all)."""

    def __init__(self, seconds: float, received: int | None = None) -> None:
        sent = "" if received is None else f"; the server had sent {received:,} bytes by then"
        why = "(a server that drips or never ends)"
        super().__init__(f"gave up after {seconds:g} s, the deadline for the whole exchange{sent} {why}")


class ServerTooLarge(OSError):
    """The server sent more than the cap allows."""

    def __init__(self, received: int, what: str = "during the handshake", *, cap: int) -> None:
        super().__init__(f"the server sent {received:,} bytes {what}, above the limit of {cap:,} bytes; stopped there")


@contextlib.contextmanager
def exchange_deadline(sock: socket.socket, seconds: float) -> Iterator[Deadline]:
    """Shut ``sock`` down when ``seconds`` have passed, whatever blocking read is under way.

    For code that reads through a library (``http.client``) whose socket
    timeout applies per read: a server that sends one byte a second would
    otherwise keep it going for ever. ``deadline.fired`` tells afterwards that
    the read ended because of it (http.client takes the shut socket's end of
    file for the end of the headers, so a read may even seem to succeed).
    """
    clock = Deadline(seconds)
    timer = threading.Timer(seconds, _shut, args=(sock, clock))
    timer.daemon = True
    timer.start()
    try:
        yield clock
    finally:
        timer.cancel()


def _shut(sock: socket.socket, clock: Deadline) -> None:
    clock.fired = True
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def read_body(response: http.client.HTTPResponse, cap: int = BODY_BYTES) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of an HTTP body, and whether there was more (then the rest is not read)."""
    data = response.read(cap + 1)
    return data[:cap], len(data) > cap
