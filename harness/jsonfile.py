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
import re
from pathlib import Path
from typing import Any

from harness.limits import JSON_BYTES, Limit, NotARegularFile, TooLarge, read_bounded

__all__ = ["JSON_BYTES", "MAX_DEPTH", "MAX_DIGITS", "BadJson", "json_depth_over", "read_json"]

# A capture profile nests 3 deep, a server policy 2; a destination export 2 or 3 (headers, proxy, timeouts).
MAX_DEPTH = 32
# Digits of one integer: Python refuses above 4,300 itself, after the work; no genuine file has more than ~20.
MAX_DIGITS = 100


class BadJson(ValueError):
    """The file cannot be used as JSON; ``str()`` says why in one clause."""


# A string (to its closing quote, or to the end if unterminated: never retried from the next quote), or a bracket.
_TOKEN = re.compile(r'"(?:[^"\\]+|\\.)*"?|[\[\]{}]', re.DOTALL)


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def json_depth_over(text: str, limit: int = MAX_DEPTH) -> int | None:
    """The line where arrays and objects in ``text`` first nest deeper than ``limit``, else None (linear time)."""
    depth = 0
    for match in _TOKEN.finditer(text):
        char = match.group()[0]
        if char in "[{":
            depth += 1
            if depth > limit:
                return _line_of(text, match.start())
        elif char in "]}":
            depth -= 1
    return None


def read_json(
    path: Path, limit: Limit = JSON_BYTES, *, max_depth: int = MAX_DEPTH, max_digits: int = MAX_DIGITS
) -> Any:
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
    if (line := json_depth_over(text, max_depth)) is not None:
        raise BadJson(f"not valid JSON (line {line}: nested too deeply, more than {max_depth} levels)")

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > max_digits:
            line = _line_of(text, text.find(digits))
            raise BadJson(
                f"not valid JSON (line {line}: a number of {len(digits.lstrip('-')):,} digits, above {max_digits})"
            )
        return int(digits)

    try:
        return json.loads(text, parse_int=integer)
    except json.JSONDecodeError as exc:
        raise BadJson(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # an integer above sys.get_int_max_str_digits()
        raise BadJson(f"not valid JSON ({str(exc)[:100]})") from None
