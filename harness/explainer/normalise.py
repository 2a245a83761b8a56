"""Normalise a pasted text into facts: every stack's spelling of one thing becomes one fact name.

Alerts come out as ``alert_received:NAME`` / ``alert_sent:NAME`` (the IANA name) whatever
the spelling: Go's ``remote error: tls: bad certificate``, JSSE's ``Certificate Unknown (46)``,
``alert 48``, ``alert number 42``, or the bare name ``unknown_ca``. Everything else comes from
the knowledge table ``harness/knowledge/spellings.toml`` (exceptions, other stacks' verifier
messages, debug-log lines, HTTP answers, people's own words). The explainer only reads the
tables: what a spelling means is the knowledge's (:mod:`harness.knowledge.alerts`, spellings.toml).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from harness.knowledge.alerts import ALERT_NAMES, ALERT_NUMBERS, GO_ALERT_TEXTS

__all__ = ["Spelling", "alert_facts", "load_spellings", "spelling_facts", "spellings"]

Fact = tuple[str, str]  # (name, sentence)

# Go: "remote error: tls: bad certificate" (received), "local error: tls: ..." (its own).
_GO = re.compile(r"\b(remote|local) error: tls: ([A-Za-z ]{3,40})")
_GO_TEXTS = sorted(GO_ALERT_TEXTS, key=len, reverse=True)
# JSSE and Wireshark titles: "Certificate Unknown (46)", "Description: Unknown CA (48)"; curl adds 512.
_TITLED = re.compile(r"\b([A-Za-z]+(?: [A-Za-z]+){0,4}) \((\d{1,3})\)")
# A number: "alert 48", "alert number 42", "SSL alert number 116", "alert #40".
_NUMBER = re.compile(r"\balert(?: number| no\.| #|:)? ?#?(\d{1,3})\b", re.IGNORECASE)
# The JDK's own alert in a pasted fragment of a JDK 11+ log: "Fatal (BAD_CERTIFICATE): ...".
_FATAL = re.compile(r"\bFatal \(([A-Z_]{4,40})\)(?!: Received)")
# The bare IANA names with an underscore ("unknown_ca", "BAD_CERTIFICATE"): a plain word ("unknown") is not one.
_BARE = re.compile(
    r"(?<![\w.])(" + "|".join(sorted((n for n in ALERT_NAMES if "_" in n), key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE,
)


def alert_facts(text: str, known: set[str]) -> list[Fact]:
    """Alert facts in spellings facts.py does not read; ``known``: the facts found so far."""
    found: list[Fact] = []
    for match in _GO.finditer(text):
        words = match.group(2).strip()
        name = next((GO_ALERT_TEXTS[t] for t in _GO_TEXTS if words.startswith(t)), None)
        if name is not None:
            kind = "alert_received" if match.group(1) == "remote" else "alert_sent"
            found.append((f"{kind}:{name}", f"Go: the {_side(kind)} alert {name} ({match.group(0).strip()!r})"))
    for match in _TITLED.finditer(text):
        number = int(match.group(2))
        name = ALERT_NUMBERS.get(number) or ALERT_NUMBERS.get(number - 512)
        if name and number and re.sub(r"\s+", "_", match.group(1).lower()).endswith(name):
            found.append((f"alert_received:{name}", f"the alert {name} ({match.group(0)!r})"))
    for match in _NUMBER.finditer(text):
        name = ALERT_NUMBERS.get(int(match.group(1)))
        if name and name != "close_notify":
            found.append((f"alert_received:{name}", f"alert number {match.group(1)}: {name} ({match.group(0)!r})"))
    for match in _FATAL.finditer(text):
        name = match.group(1).lower()
        if name in ALERT_NAMES:
            found.append((f"alert_sent:{name}", f"the JDK itself raised the alert {name} ({match.group(0)!r})"))
    if not any(n.startswith("alert_") for n in known) and not found:
        # Only when no tool's spelling said more (who sent it): the name alone, as the other side's.
        for match in _BARE.finditer(text):
            name = match.group(1).lower()
            found.append((f"alert_received:{name}", f"the alert name {name} ({match.group(0)!r})"))
    return found


def _side(kind: str) -> str:
    return "received" if kind == "alert_received" else "own"


@dataclass(frozen=True)
class Spelling:
    """One fact and the phrases that give it."""

    name: str
    says: str
    phrases: tuple[re.Pattern[str], ...]
    example: str
    source: str


def load_spellings(text: str) -> tuple[Spelling, ...]:
    """Parse and check the spellings table: unknown keys, a fact without phrases, a duplicate are errors."""
    doc = tomllib.loads(text)
    if set(doc) - {"fact"}:
        raise ValueError(f"unknown keys {sorted(set(doc) - {'fact'})}: only [[fact]] tables")
    allowed = {"name", "says", "phrases", "example", "source"}
    seen: set[str] = set()
    found = []
    for raw in doc.get("fact", []):
        where = f"fact {raw.get('name', '?')}"
        if set(raw) != allowed:
            raise ValueError(f"{where}: keys must be {sorted(allowed)}, not {sorted(raw)}")
        if raw["name"] in seen:
            raise ValueError(f"{where}: duplicate name")
        seen.add(raw["name"])
        found.append(
            Spelling(
                name=raw["name"],
                says=raw["says"],
                phrases=_phrases(raw["phrases"], where),
                example=raw["example"],
                source=raw["source"],
            )
        )
    return tuple(found)


def _phrases(value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: phrases must be a non-empty list of strings")
    return tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in value)


@functools.cache
def spellings() -> tuple[Spelling, ...]:
    """The shipped table."""
    return load_spellings(resources.files("harness.knowledge").joinpath("spellings.toml").read_text("utf-8"))


_SYNTAX = re.compile(r"[\\.^$*+?{}\[\]|()]")


def spelling_facts(text: str, table: tuple[Spelling, ...] | None = None) -> list[Fact]:
    """The table's facts found in ``text``, each with the first phrase that gave it."""
    lowered = text.lower()
    same_length = len(lowered) == len(text)  # then a plain phrase is found with str.find
    found: list[Fact] = []
    for spelling in spellings() if table is None else table:
        for pattern in spelling.phrases:
            quoted = _find(pattern, text, lowered if same_length else None)
            if quoted is not None:
                found.append((spelling.name, f"{spelling.says} ({_snippet(quoted)!r})"))
                break
    return found


def _find(pattern: re.Pattern[str], text: str, lowered: str | None) -> str | None:
    if lowered is not None and not _SYNTAX.search(pattern.pattern):
        literal = pattern.pattern.lower()
        at = lowered.find(literal)
        return None if at < 0 else text[at : at + len(literal)]
    match = pattern.search(text)
    return None if match is None else match.group(0)


def _snippet(text: str, limit: int = 120) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."
