"""Reading a scenario's tables after the schema: refusals with key paths, and certificate times."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError
from harness.scenario.times import TimeSpec, parse_time, resolve_time

__all__ = ["TableReader"]

# What a certificate's validity can hold: cryptography refuses dates before 1950; datetime ends in 9999.
_EARLIEST = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


class TableReader:
    """What every table's reading shares: refusals naming the file and key path, and times read at one moment."""

    def __init__(self, doc: dict[str, Any], path: Path) -> None:
        self.doc = doc
        self.path = path
        self.now = dt.datetime.now(dt.UTC)  # relative times are checked as if the certificates were issued now

    def fail(self, key: str, what: str, fix: str = "") -> ScenarioError:
        return ScenarioError(str(self.path), what, fix, key=key)

    def time(self, key: str, text: str | None, default: TimeSpec | None) -> TimeSpec | None:
        if text is None:
            return default
        spec = parse_time(text)
        if spec is None:
            raise self.fail(key, f"{text!r} is not a valid date-time", "use RFC 3339")
        try:
            when = resolve_time(spec, self.now).astimezone(dt.UTC)
        except OverflowError:  # past year 9999 (or before year 1) once resolved or moved to UTC
            when = None
        if when is None or not _EARLIEST <= when <= _LATEST:
            raise self.fail(
                key, f"{text!r} is outside the dates a certificate can hold", "use a time between 1950 and 9999"
            )
        return spec

    def validity(
        self,
        key: str,
        before: TimeSpec | None,
        after: TimeSpec | None,
        default_before: TimeSpec,
        default_after: TimeSpec,
    ) -> tuple[TimeSpec, TimeSpec]:
        """A certificate's not_before and not_after. An omitted one takes its default, unless that would put the
        validity backwards: then it is the given one (a zero-length validity: an expired or not-yet-valid
        certificate). Both given must be in order."""
        if before is None:
            before = default_before if after is None or self.at(after) >= self.at(default_before) else after
        if after is None:
            after = default_after if self.at(default_after) >= self.at(before) else before
        self.check_validity(key, self.at(before), self.at(after))
        return before, after

    def at(self, spec: TimeSpec) -> dt.datetime:
        return resolve_time(spec, self.now)

    def check_validity(self, key: str, not_before: dt.datetime, not_after: dt.datetime) -> None:
        """cryptography refuses a certificate whose not_after is before its not_before."""
        if not_after < not_before:
            after, before = not_after.astimezone(dt.UTC), not_before.astimezone(dt.UTC)
            raise self.fail(
                f"{key}.not_after",
                f"is before not_before ({after:%Y-%m-%d %H:%M} < {before:%Y-%m-%d %H:%M} UTC)",
                "make not_after later than not_before",
            )
