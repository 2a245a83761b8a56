"""Which files are scenario files: recognised by their content, never by their folder's name.

A scenario file is a ``.toml`` file with a top-level ``[expect]`` table (every
scenario needs one: it holds the expected ``outcome``; docs/scenarios.md). Any
other TOML file - a ``settings.toml``, a ``pyproject.toml`` - is not a scenario,
wherever it lies. A file that is not even valid TOML counts as a scenario when
a line opens an ``[expect]`` table, so a scenario with a syntax error is
reported, not silently passed over. So does a ``.toml`` that is a FIFO, a
device or a socket: it is never opened for a blocking read here, and
``load_scenario`` refuses it in one line.

Used by the pytest plugin (what to collect) and ``mtls-harness run`` (which
files of a folder to run). Within the same bounds as ``load_scenario``: the
size cap, the nesting depth counted before tomllib recurses, Python's limit on
an integer's digits (a ValueError from tomllib).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from harness.limits import SCENARIO_BYTES, TOML_DEPTH, NotARegularFile, TooLarge, read_bounded, toml_depth

__all__ = ["MARKER_TABLE", "is_scenario_file"]

MARKER_TABLE = "expect"

# "[expect]" or "[expect.engines]" at the start of a line.
_MARKER_LINE = re.compile(rb"^[ \t]*\[[ \t]*expect[ \t]*[\].]", re.MULTILINE)


def is_scenario_file(path: Path) -> bool:
    """Whether ``path`` is a scenario file (``.toml`` with a top-level ``[expect]`` table)."""
    if path.suffix != ".toml":
        return False
    try:
        data = read_bounded(path, SCENARIO_BYTES)
    except NotARegularFile as exc:
        return exc.kind != "a directory"  # reported by load_scenario, never read here
    except TooLarge:  # a regular file over the cap: judged by its first bytes' marker line alone
        try:
            with path.open("rb") as file:
                return _MARKER_LINE.search(file.read(SCENARIO_BYTES.value)) is not None
        except OSError:
            return False
    except OSError:
        return False  # gone, unreadable, a symbolic link loop: not a file to run
    try:
        text = data.decode("utf-8")
        if toml_depth(text) <= TOML_DEPTH.value:
            return isinstance(tomllib.loads(text).get(MARKER_TABLE), dict)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, RecursionError):
        pass  # not TOML, an integer past Python's digit limit, nesting tomllib gave up on
    return _MARKER_LINE.search(data) is not None
