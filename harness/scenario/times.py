"""Times in scenario files: relative (``-30d``, ``+12h``) or RFC 3339, and what they mean at a given moment."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["TimeSpec", "parse_time", "resolve_time"]

TimeSpec = dt.timedelta | dt.datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str) -> TimeSpec | None:
    """A relative time (``-30d``, ``+12h``; units s m h d w) or an RFC 3339 date / date-time (UTC if no offset)."""
    if match := re.fullmatch(r"([+-])(\d+)([smhdw])", text):
        try:
            seconds = int(match[2]) * _UNITS[match[3]]
            return dt.timedelta(seconds=seconds if match[1] == "+" else -seconds)
        except (ValueError, OverflowError):  # more digits than int() reads, or beyond timedelta's 999999999 days
            return None
    try:
        when = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def resolve_time(spec: TimeSpec, now: dt.datetime) -> dt.datetime:
    return now + spec if isinstance(spec, dt.timedelta) else spec
