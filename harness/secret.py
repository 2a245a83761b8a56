"""Passwords as values that never print themselves."""

from __future__ import annotations

__all__ = ["Secret"]


class Secret:
    """A password. ``repr``/``str`` are redacted; ``reveal()`` is the one way in.

    Scenario, store and probe objects hold passwords as ``Secret`` so that a
    log line, an assertion message, a JUnit file or a traceback built from
    their ``repr`` can never carry the password itself.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # pytest-xdist and multiprocessing may pickle probes between processes.
        return (Secret, (self._value,))
