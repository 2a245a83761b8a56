"""Which files are scenario files: recognised by their content, never by their folder's name.

A scenario file is a ``.toml`` file with a top-level ``[expect]`` table (every
scenario needs one: it holds the expected ``outcome``; docs/scenarios.md). Any
other TOML file - a ``settings.toml``, a ``pyproject.toml`` - is not a scenario,
wherever it lies. A file that is not even valid TOML counts as a scenario when
a line opens an ``[expect]`` table, so a scenario with a syntax error is
reported, not silently passed over.

Used by the pytest plugin (what to collect) and ``mtls-harness run`` (which
files of a folder to run).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

__all__ = ["MARKER_TABLE", "is_scenario_file"]

MARKER_TABLE = "expect"

# "[expect]" or "[expect.engines]" at the start of a line.
_MARKER_LINE = re.compile(rb"^[ \t]*\[[ \t]*expect[ \t]*[\].]", re.MULTILINE)
# Larger files are judged by the marker line alone; harness.scenario enforces its own limits.
_PARSE_LIMIT = 1 << 20


def is_scenario_file(path: Path) -> bool:
    """Whether ``path`` is a scenario file (``.toml`` with a top-level ``[expect]`` table)."""
    if path.suffix != ".toml":
        return False
    try:
        with path.open("rb") as file:
            data = file.read(_PARSE_LIMIT + 1)
    except OSError:
        return False
    if len(data) <= _PARSE_LIMIT:
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            pass
        else:
            return isinstance(doc.get(MARKER_TABLE), dict)
    return _MARKER_LINE.search(data) is not None
