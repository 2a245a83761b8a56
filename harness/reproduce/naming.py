"""The reproduced scenario's file name: the destination's ``name`` attribute, made safe for a file name.

A platform export names its destination (``"name": "ACME Prod / EU"``); that
name, not the output folder's, becomes the scenario's file name (and so its
name in ``run`` and JUnit). Only ASCII letters, digits, ``.``, ``_`` and ``-``
are kept, every other run of characters (a path separator, a space, a NUL or
control character, a non-ASCII letter) becomes one ``-``; no leading dot or
dash; at most ``MAX_STEM`` characters. Without a usable ``name``, the
destination file's stem, made safe the same way; without that either,
``reproduced``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["MAX_STEM", "safe_stem", "scenario_file_name"]

MAX_STEM = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_FALLBACK = "reproduced"


def safe_stem(text: str) -> str:
    """``text`` as a file name's stem ("ACME Prod / EU" -> "ACME-Prod-EU"); "" when nothing safe is left."""
    stem = _UNSAFE.sub("-", text)
    stem = re.sub(r"\.{2,}", ".", stem)  # no ".." anywhere
    stem = stem.lstrip(".-_")[:MAX_STEM].rstrip(".-_")
    return stem


def scenario_file_name(name: object, destination: Path) -> str:
    """``<stem>.toml`` from the destination's ``name`` attribute (a string), else its file's stem."""
    stem = safe_stem(name) if isinstance(name, str) else ""
    return f"{stem or safe_stem(destination.stem) or _FALLBACK}.toml"
