"""Strings from files and servers made inert before they are shown: on a terminal, in JUnit, JSON or a log.

An alias, a subject, a SAN, an HTTP header or body, a file name: whoever made
the store, the certificate or the server chose those characters. ``inert``
shows every control character as its escape (``\\n``, ``\\x1b``, ``\\u202e``), so
that a line break cannot start a forged line ("ready for go-live") and an
escape sequence cannot drive the terminal; printable text, including
backslashes and non-ASCII letters, is unchanged. ``mask_url`` hides the
password of ``https://user:pw@host`` wherever a URL is shown; the URL itself is
still the one connected to.
"""

from __future__ import annotations

import re

__all__ = ["inert", "mask_url", "shown"]

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text
# (bidi embeddings/overrides/isolates, zero-width marks, line and paragraph separators).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# scheme://user:password@ ... : the password runs to the last "@" before the host's path.
_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]{0,20}://[^/?#@:\s]*:)(?P<password>[^/?#\s]*)@", re.IGNORECASE)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def inert(text: object) -> str:
    """``str(text)`` with every control or format character shown as its escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escape, str(text))


def mask_url(text: object) -> str:
    """``str(text)`` with the password of every ``scheme://user:password@`` in it shown as ``***``."""
    return _USERINFO.sub(lambda m: f"{m['head']}***@", str(text))


def shown(text: object) -> str:
    """Both: what every renderer applies to a value that came from a file, a server or a URL."""
    return inert(mask_url(text))
