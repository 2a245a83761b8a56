"""The harness's own errors: bad input or an unusable environment.

Every error is one line a support engineer can act on: it names the file, the
key or entry, what was wrong and what to do. The command line prints
``str(error)`` and exits 2; nothing else is shown, never a traceback.

A broken handshake is *not* an error here: it is an outcome (see
``harness.diagnose``). These classes are for input the harness cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "EngineUnavailable",
    "HarnessError",
    "ScenarioError",
    "ServerError",
    "StoreError",
    "UsageError",
]


# Not frozen: the interpreter and pytest set attributes on exceptions
# (``__notes__``, ``__traceback__``); a frozen dataclass would refuse them.
@dataclass(eq=False)
class HarnessError(Exception):
    """Base class: ``where`` (a file, URL or option), ``what`` went wrong, the ``fix``."""

    where: str
    what: str
    fix: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled across pytest-xdist workers: rebuild from the fields, not ``args``.
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))

    def problem(self) -> str:
        """The error without its fix: where and what."""
        return f"{self.where}: {self.what}" if self.where else self.what

    def __str__(self) -> str:
        text = self.problem()
        return f"{text}; {self.fix}" if self.fix else text


@dataclass(eq=False)
class ScenarioError(HarnessError):
    """A scenario file that cannot be used: ``key`` is the dotted key path."""

    key: str = ""

    def problem(self) -> str:
        where = f"{self.where}: {self.key}" if self.key else self.where
        return f"{where}: {self.what}"


@dataclass(eq=False)
class StoreError(HarnessError):
    """A keystore or truststore that cannot be opened as asked.

    ``code`` is the outcome code this failure means for the platform
    (``keystore-password-wrong``, ``store-unreadable``, ...), so engines and
    ``check`` report it in the same terms as a failed handshake.
    """

    code: str = "store-unreadable"
    entry: str = ""
    # Refused before any parser ran it (a bound of ``harness.limits``: size, nesting, iteration counts), or
    # by the reader that met it first: such a store is handed to no other reader (the JVM included).
    bounded: bool = False

    @property
    def over_bounds(self) -> bool:
        """Refused by a bound, or unreadable at the first reader: no other reader gets it (see ``bounded``)."""
        return self.bounded

    def problem(self) -> str:
        where = f"{self.where} (entry {self.entry!r})" if self.entry else self.where
        return f"{where}: {self.what}"


@dataclass(eq=False)
class ServerError(HarnessError):
    """The local MTLS server could not start or refused its own configuration."""


@dataclass(eq=False)
class EngineUnavailable(HarnessError):
    """A client engine cannot run here (for instance: no JDK)."""


@dataclass(eq=False)
class UsageError(HarnessError):
    """A command line that cannot be carried out (missing file, conflicting options)."""
