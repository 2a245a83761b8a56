"""Reading a small JSON file a user hands over (a capture profile, a built folder's server policy) within bounds.

Refused before ``json.loads`` runs: anything but a regular file (a FIFO, a
device), a file above its size limit, and nesting deeper than ``MAX_DEPTH``
(found by one linear scan, so the recursive parser never sees it). Then the
parser's own refusals (bad syntax, an integer above Python's digit limit).
Every refusal is a ``BadJson`` whose text is one clause: the caller names the
file and says what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.limits import Limit, NotARegularFile, TooLarge, read_bounded

__all__ = ["JSON_BYTES", "MAX_DEPTH", "BadJson", "json_depth_over", "read_json"]

# The same bound and variable as a destination JSON's (harness.limits.DESTINATION_BYTES).
JSON_BYTES = Limit("JSON file size", 1 << 20, "bytes", "MTLS_MAX_JSON_BYTES")
# A capture profile nests 3 deep, a server policy 2; a destination JSON 1.
MAX_DEPTH = 32


class BadJson(ValueError):
    """The file cannot be used as JSON; ``str()`` says why in one clause."""


def json_depth_over(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit`` (strings skipped; linear time)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def read_json(path: Path, limit: Limit = JSON_BYTES, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in the regular file at ``path``; BadJson (one clause) for anything unusable."""
    try:
        text = read_bounded(path, limit).decode("utf-8-sig")
    except FileNotFoundError:
        raise BadJson("no such file") from None
    except (NotARegularFile, TooLarge) as exc:
        raise BadJson(f"not read: {exc}") from None
    except OSError as exc:
        raise BadJson(f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BadJson(f"not UTF-8 text (byte {exc.start})") from None
    if json_depth_over(text, max_depth):
        raise BadJson(f"not read: arrays or objects nested more than {max_depth} deep")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadJson(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # an integer above sys.get_int_max_str_digits()
        raise BadJson(f"not valid JSON ({str(exc)[:100]})") from None
