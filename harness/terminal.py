"""What a terminal gets and a file never does: colours for severities and verdicts, a progress bar.

Colour is on only when the stream is a terminal, ``NO_COLOR`` is unset or empty
(https://no-color.org) and ``--no-color`` was not given. JSON, JUnit, metrics
and HTML never pass through here. The progress bar is drawn on stderr, in place,
only when stderr is a terminal, and is wiped before anything else is printed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

__all__ = ["PROGRESS_AFTER", "Bar", "colour_wanted", "paint"]



def _progress_after(default: float = 2.0) -> float:
    """Seconds of waiting before a terminal sees a progress line or bar: MTLS_PROGRESS_AFTER, else 2."""
    try:
        seconds = float(os.environ.get("MTLS_PROGRESS_AFTER", default))
    except ValueError:
        return default
    return seconds if 0 <= seconds <= 86400 else default  # nan and inf are neither


PROGRESS_AFTER = _progress_after()

# SGR codes: bold red for errors and NOT ready, yellow for warnings, cyan for info, bold green for ready.
_STYLE = {
    "error": "1;31",
    "warning": "33",
    "info": "36",
    "ready": "1;32",
    "not-ready": "1;31",
}


def colour_wanted(stream: TextIO, *, no_color: bool = False) -> bool:
    """Whether to colour what is written to ``stream``: a terminal, no NO_COLOR, no --no-color."""
    if no_color or os.environ.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str, on: bool) -> str:
    """``text`` in the colour of ``style`` (a severity, "ready" or "not-ready") when ``on``; else as is."""
    code = _STYLE.get(style)
    return f"\033[{code}m{text}\033[0m" if on and code else text


class Bar:
    """``[#######.............] 57/200 checked, 3 not ready`` on one line of stderr, rewritten in place.

    Drawn only when ``enabled`` (stderr a terminal) and once ``after`` seconds have passed since it was
    made, so that a short run prints nothing. ``clear`` wipes the line; call it before printing results.
    """

    WIDTH = 24

    def __init__(
        self,
        total: int,
        done: str,
        failed: str,
        *,
        enabled: bool,
        after: float = 0.0,
        stream: TextIO | None = None,
    ) -> None:
        self.total, self.done_word, self.failed_word, self.enabled = total, done, failed, enabled
        self.count = self.failed = 0
        self._after = time.monotonic() + after
        self._stream = stream if stream is not None else sys.stderr
        self._drawn = False
        self._lock = threading.Lock()

    def tick(self, ok: bool) -> None:
        with self._lock:
            self.count += 1
            self.failed += not ok
            if self.enabled and time.monotonic() >= self._after:
                self._draw()

    def _draw(self) -> None:
        done = self.WIDTH * self.count // max(self.total, 1)
        bar = "#" * done + "." * (self.WIDTH - done)
        self._stream.write(
            f"\r[{bar}] {self.count}/{self.total} {self.done_word}, {self.failed} {self.failed_word} \033[K"
        )
        self._stream.flush()
        self._drawn = True

    def clear(self) -> None:
        with self._lock:
            if self._drawn:
                self._stream.write("\r\033[K")
                self._stream.flush()
                self._drawn = False
