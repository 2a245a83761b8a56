"""``explain``: ranked candidate causes (outcome codes) for a pasted error text.

The knowledge is data (``harness/knowledge/explain.toml``): each entry fires on
phrases and/or facts (:mod:`harness.explainer.facts`) and adds its weight to one
code. Codes are ranked by score; ties keep the file's order. Nothing fired on a
text that speaks of TLS or certificates: ``handshake-failed``, said honestly,
rather than a guess; below it, at most two hints from the text's words
(:mod:`harness.explainer.words`), each naming the words it rests on. A text
without any TLS or certificate fact gets no candidate at all
(:attr:`Explanation.found` is False): "no TLS or certificate failure found in
this text", and what would help. What a code means, its fix and where to look
are the codes registry's (:mod:`harness.knowledge.codes`); its catalogue scenario
is named only when that scenario is installed with the package (:mod:`harness.explainer.catalogue`).
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from harness.errors import UsageError
from harness.explainer.catalogue import shipped_scenario
from harness.explainer.facts import Facts, read_facts
from harness.explainer.normalise import quoted, required_literal, snippet
from harness.explainer.words import WordModel, hints
from harness.knowledge import codes
from harness.limits import EXPLAIN_BYTES

__all__ = ["NOTHING_FOUND", "WHAT_HELPS", "Candidate", "Entry", "Explanation", "Knowledge", "explain", "knowledge"]

MAX_CANDIDATES = 5
UNKNOWN = "handshake-failed"
TLS_FACT = "mentions:tls"  # knowledge/spellings.toml: the text speaks of TLS, certificates or stores at all
SUCCEEDED = "handshake:succeeded"  # knowledge/spellings.toml: curl's or openssl's handshake completed
NOTHING_FOUND = "no TLS or certificate failure found in this text"
WHAT_HELPS = (
    "what would help: the exception with its 'Caused by:' lines (SSLHandshakeException, PKIX path building "
    "failed ...), the TLS alert (Received fatal alert: ..., tlsv1 alert ...), or a debug log of the failing call "
    "(java -Djavax.net.debug=ssl:handshake, curl -v, openssl s_client)"
)


@dataclass(frozen=True)
class Entry:
    id: str
    code: str
    weight: int
    why: str
    phrases: tuple[re.Pattern[str], ...] = ()
    facts: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    example: str | None = None
    source: str | None = None
    seen_in: tuple[str, ...] = ()
    needs: tuple[str | None, ...] = ()  # per phrase: a lower-case literal every match contains (None: unknown)

    def fires(self, text: str, facts: Facts, lowered: str | None = None) -> str | None:
        """The evidence (matched phrase or fact sentences) when the entry fires, else None.

        ``lowered``: ``text.lower()`` when it is as long as ``text``; a phrase without any regex
        syntax is then found with ``str.find`` (tens of times faster than a case-insensitive regex).
        """
        if any(name in facts for name in self.unless):
            return None
        if not all(name in facts for name in self.facts):
            return None
        evidence = [facts.seen[name] for name in self.facts]
        if self.phrases:
            needs = self.needs or (None,) * len(self.phrases)
            phrase = next(
                (
                    q
                    for p, literal in zip(self.phrases, needs, strict=True)
                    if lowered is None or literal is None or literal in lowered  # else it cannot match
                    if (q := quoted(p, text, lowered)) is not None
                ),
                None,
            )
            if phrase is None:
                return None
            evidence.insert(0, repr(snippet(phrase, 160)))
        return "; ".join(evidence)


@dataclass(frozen=True)
class Knowledge:
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Candidate:
    code: str
    score: int
    summary: str
    why: tuple[str, ...]  # one line per fired entry: what it means, and what gave it away
    entries: tuple[str, ...]
    look_at: str
    fix: str
    scenario: str  # the catalogue scenario's name, or "" when none is installed with the package
    scenario_path: str = ""  # where it is installed: a file the user can open and `mtls-harness run`
    hint: bool = False  # no fact names it: the text's words only (harness.explainer.words)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "score": self.score,
            "summary": self.summary,
            "why": "; ".join(self.why),
            "evidence": list(self.why),
            "entries": list(self.entries),
            "look_at": self.look_at,
            "fix": self.fix,
            "scenario": self.scenario,
            "scenario_path": self.scenario_path,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class Explanation:
    candidates: tuple[Candidate, ...]
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """False: the text holds no TLS or certificate fact (no candidate; the command exits 1)."""
        return bool(self.candidates)

    def codes(self) -> list[str]:
        return [c.code for c in self.candidates]

    def to_json(self) -> str:
        doc: dict[str, Any] = {"candidates": [c.to_dict() for c in self.candidates], "facts": self.facts}
        doc["found"] = self.found
        if not self.found:
            doc["message"] = NOTHING_FOUND
            doc["what_would_help"] = WHAT_HELPS.removeprefix("what would help: ")
        return json.dumps(doc, indent=2)

    def render(self) -> str:
        lines = []
        if self.facts:
            lines.append("read from the text:")
            lines += [f"  - {sentence}" for sentence in self.facts.values()]
        if not self.found:
            return "\n".join([*lines, NOTHING_FOUND, WHAT_HELPS])
        lines.append("candidate causes, most likely first:")
        for rank, c in enumerate(self.candidates, 1):
            label = "hint from the words, no fact" if c.hint else f"score {c.score}"
            lines.append(f"{rank}. {c.code} ({label}): {c.summary}")
            lines += [f"   why: {w}" for w in c.why]
            lines.append(f"   look at: {c.look_at}")
            lines.append(f"   fix: {c.fix}")
            if c.scenario_path:
                lines.append(f"   reproduce: mtls-harness run {c.scenario_path}")
            else:
                lines.append("   reproduce: no catalogue scenario for this cause is installed with this package")
        return "\n".join(lines)


def _tuple(value: Any, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def load_knowledge(text: str) -> Knowledge:
    """Parse and check a knowledge file: unknown codes and keys are errors, as in scenario files."""
    doc = tomllib.loads(text)
    unknown_tables = set(doc) - {"entry"}
    if unknown_tables:
        # A code's texts are the registry's (harness/knowledge/codes.toml), not this file's.
        raise ValueError(f"unknown keys {sorted(unknown_tables)}: only [[entry]] tables")
    entries = []
    seen: set[str] = set()
    allowed = {"id", "code", "weight", "why", "phrases", "facts", "unless", "example", "source", "seen_in"}
    for raw in doc.get("entry", []):
        where = f"entry {raw.get('id', '?')}"
        unknown = set(raw) - allowed
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if raw["id"] in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(raw["id"])
        if not codes.is_outcome(raw["code"]):
            raise ValueError(f"{where}: code {raw['code']} is not an outcome code (harness/knowledge/codes.toml)")
        phrases = tuple(
            re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _tuple(raw.get("phrases"), "phrases", where)
        )
        facts = _tuple(raw.get("facts"), "facts", where)
        if not phrases and not facts:
            raise ValueError(f"{where}: needs phrases or facts")
        entries.append(
            Entry(
                id=raw["id"],
                code=raw["code"],
                weight=int(raw["weight"]),
                why=raw["why"],
                phrases=phrases,
                facts=facts,
                unless=_tuple(raw.get("unless"), "unless", where),
                example=raw.get("example"),
                source=raw.get("source"),
                seen_in=_tuple(raw.get("seen_in"), "seen_in", where),
                needs=tuple(required_literal(p.pattern) for p in phrases),
            )
        )
    return Knowledge(tuple(entries))


@functools.cache
def knowledge() -> Knowledge:
    """The shipped knowledge file."""
    text = resources.files("harness.knowledge").joinpath("explain.toml").read_text("utf-8")
    return load_knowledge(text)


@functools.cache
def _word_model() -> WordModel:
    """For hints only: the words of the shipped entries' examples and whys, and of the tuned texts (words.json)."""
    shipped = resources.files("harness.knowledge").joinpath("words.json")
    counted = json.loads(shipped.read_text("utf-8"))["counts"] if shipped.is_file() else {}
    return WordModel.learn(((e.code, m) for e in knowledge().entries for m in (e.example, e.why) if m), counted)


def explain(text: str, base: Knowledge | None = None) -> Explanation:
    """Ranked candidates for ``text``; UsageError for an empty text."""
    if not text.strip():
        raise UsageError(
            "explain", "the text is empty", "paste the error text, or pipe a log into `mtls-harness explain -`"
        )
    text = text[: EXPLAIN_BYTES.value]  # the command refuses a longer text; a caller's is cut
    known = base or knowledge()
    facts = read_facts(text)
    lowered = text.lower()
    same_length = len(lowered) == len(text)  # a few characters lower to two ("İ"): then regexes only
    scores: dict[str, int] = {}
    why: dict[str, list[str]] = {}
    fired: dict[str, list[str]] = {}
    hinted: set[str] = set()
    for entry in known.entries:
        evidence = entry.fires(text, facts, lowered if same_length else None)
        if evidence is None:
            continue
        scores[entry.code] = scores.get(entry.code, 0) + entry.weight
        why.setdefault(entry.code, []).append(f"{entry.why} ({evidence})")
        fired.setdefault(entry.code, []).append(entry.id)
    if not scores and (TLS_FACT not in facts or SUCCEEDED in facts):
        return Explanation((), dict(facts.seen))  # nothing, or a handshake that worked: no failure to explain
    if not scores:
        scores[UNKNOWN] = 0
        why[UNKNOWN] = ["no phrase or debug-log fact in this text is known to mean a specific cause"]
        fired[UNKNOWN] = []
        if base is None:  # hints come from the shipped knowledge's words only
            for hint in hints(text, _word_model(), exclude=[UNKNOWN, "ok"]):
                hinted.add(hint.code)
                scores[hint.code] = 0
                why[hint.code] = [f"a hint from the text's words only, no fact: {', '.join(hint.words[:8])}"]
                fired[hint.code] = []
    order = sorted(scores, key=lambda code: -scores[code])  # stable: file order breaks ties
    candidates = []
    for name in order[:MAX_CANDIDATES]:
        registered = codes.code(name)
        shipped = shipped_scenario(registered.scenario) if registered.scenario else None
        candidates.append(
            Candidate(
                code=name,
                score=scores[name],
                summary=registered.summary,
                why=tuple(why[name]),
                entries=tuple(fired[name]),
                look_at=registered.look_at,
                fix=registered.fix(),
                scenario=(registered.scenario or "") if shipped is not None else "",
                scenario_path=str(shipped) if shipped is not None else "",
                hint=name in hinted,
            )
        )
    return Explanation(tuple(candidates), dict(facts.seen))
