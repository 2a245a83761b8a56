"""A fleet's expiry timeline: each destination at the days from now until its first certificate expiry.

Laid out here, drawn by the template as SVG: one row per destination, sorted
by days; today at 0, the go-live date (``--at``) and the warning threshold
(``--warn-days`` after today) marked on the same axis.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.check.fleet import Row
from harness.text import shown

__all__ = ["Timeline", "TimelinePoint", "timeline"]

WIDTH = 960
LEFT = 220  # the destinations' names
RIGHT = 30
TOP = 48  # the marks' names and the axis labels
# Days past this (beyond the marks) are drawn at the right edge, so one certificate valid until 3000 does not
# squeeze the rest of the fleet into a corner; its tooltip and data-days hold the true number.
HORIZON = 3 * 365
ROW_MAX, ROW_MIN = 16.0, 4.0
LABELS_UP_TO = 60  # more destinations than this: no name beside each point (its tooltip still has it)


@dataclass(frozen=True)
class TimelinePoint:
    destination: str
    days: int  # from now until the destination's first certificate expiry
    what: str  # that certificate
    ready: bool
    x: float = 0.0
    y: float = 0.0
    beyond: bool = False  # past the axis's end: drawn at its edge


@dataclass(frozen=True)
class Timeline:
    points: tuple[TimelinePoint, ...]
    width: int
    height: int
    ticks: tuple[tuple[float, int], ...]  # (x, days)
    today_x: float
    go_live_x: float | None
    warn_x: float
    labels: bool
    left: int = LEFT
    top: int = TOP


def _tick_step(span: int) -> int:
    for step in (1, 2, 5, 7, 10, 14, 30, 60, 90, 180, 365, 730, 1825, 3650):
        if span / step <= 10:
            return step
    return int(10 ** math.ceil(math.log10(max(span, 1))))


def timeline(rows: Sequence[Row], now: dt.datetime, go_live: int | None, warn_days: int) -> Timeline:
    """The points of the destinations with a known first expiry (a report's days count from its judged moment)."""
    found = []
    for row in rows:
        report = row.report
        if report is None or report.first_expiry is None:
            continue
        days, what = report.first_expiry
        found.append((days + (report.at - now).days, shown(row.path.name), shown(what), row.ready))
    found.sort()
    marks = [0, warn_days] + ([go_live] if go_live is not None else [])
    cap = max([HORIZON, *marks])
    low = min([d for d, *_ in found] + marks)
    high = max([min(d, cap) for d, *_ in found] + marks)
    span = max(high - low, 1)
    step = _tick_step(span)
    low, high = step * math.floor(low / step), step * math.ceil(high / step)
    if high == low:
        high = low + step
    row_height = max(ROW_MIN, min(ROW_MAX, 600 / max(len(found), 1)))

    def x(days: int) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (min(days, high) - low) / (high - low), 1)

    points = tuple(
        TimelinePoint(name, days, what, ready, x(days), round(TOP + row_height * (i + 0.5), 1), days > high)
        for i, (days, name, what, ready) in enumerate(found)
    )
    return Timeline(
        points=points,
        width=WIDTH,
        height=int(TOP + row_height * len(found) + 10),
        ticks=tuple((x(d), d) for d in range(low, high + 1, step)),
        today_x=x(0),
        go_live_x=x(go_live) if go_live is not None else None,
        warn_x=x(warn_days),
        labels=len(found) <= LABELS_UP_TO,
    )
