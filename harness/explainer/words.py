"""Hints from a text's words when no fact in it names a cause.

A text that speaks of TLS but carries no phrase or fact the knowledge knows (an
unknown library's message, people's own words) gets ``handshake-failed`` first,
said honestly. Below it, this module lists the causes whose known messages share
the most words with the text: a naive Bayes ranking over the words of every
knowledge entry's ``example`` and ``why`` (``harness/knowledge/explain.toml``)
and of the tuned real-world texts (``tests/data/explain_realworld.toml``, counted
into ``harness/knowledge/words.json`` by ``python -m harness.explainer.words_build``;
the held-out texts are never read), without the words most causes' messages
share. A hint rests on at least two of the text's words, each in at least two of
the cause's known messages, and names them, so the reader can judge it; it is
never ranked above a fact.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Hint", "WordModel", "count_words", "hints", "tokens"]

MAX_HINTS = 2
MIN_SHARED = 2  # a hint rests on at least this many of the text's words
MIN_MESSAGES = 2  # a word counts for a cause when at least this many of its messages have it (one is an anecdote)
SMOOTHING = 0.1
WIDESPREAD = 1 / 3  # a word in the messages of more than this share of the codes tells no cause from another
_WORD = re.compile(r"[a-z][a-z0-9]{2,30}")
_CAMEL = re.compile(r"([a-z])([A-Z])|([A-Z]+)([A-Z][a-z])")
# Words every TLS text carries: they tell no cause from another.
_COMMON_WORDS = (
    "the and for with from that this was are not but have has had when then than into its our your their you "
    "they java javax net ssl tls error exception caused com org http https sun security says said use used using "
    "what which some any all also only just get got set see can cannot does doesn did didn will would could should "
    "been being there here one two now after before while other same every example partner api localhost www "
    # the words of a stack trace's frames, in every stack trace whatever the cause
    "thread main lang util reflect invoke method native impl internal base run jar line file class source unknown"
)
_COMMON = frozenset(_COMMON_WORDS.split())
# A password's value in a paste: "keystorePass": "...", password=..., -storepass ..., -passin pass:..., --pass ...
# Its words are never named by a hint (a hint names the text's own words), whatever else they are.
_SECRET_VALUE = re.compile(
    r"""\w{0,40}(?:pass|pwd|secret)\w{0,40}["']?[ \t]{0,10}[:=][ \t]{0,10}["']?([^\s"',;}]{1,200})"""
    r"|(?<![\w-])-{1,2}(?:\w{0,10}pass(?:word|in|out)?)(?::\w{1,10})?[ \t]{1,10}(?:pass:)?([^\s\"',;]{1,200})",
    re.IGNORECASE,
)


def tokens(text: str) -> set[str]:
    """The distinct informative words of ``text``: lower case, camel case split, common words dropped.

    ``SSLHandshakeException: Keystore`` gives handshake and keystore (ssl and exception are in every text).
    """
    spaced = _CAMEL.sub(lambda m: " ".join(g for g in m.groups() if g), text)
    return {w for w in _WORD.findall(spaced.lower()) if w not in _COMMON}


@dataclass(frozen=True)
class Hint:
    code: str
    words: tuple[str, ...]  # the text's words this cause's known messages share


@dataclass(frozen=True)
class WordModel:
    counts: dict[str, collections.Counter[str]]  # code -> in how many of its messages each word appears
    vocabulary: frozenset[str]

    @classmethod
    def learn(
        cls, messages: Iterable[tuple[str, str]], counted: Mapping[str, Mapping[str, int]] | None = None
    ) -> WordModel:
        """From ``(code, message)`` pairs, plus word counts already taken from other messages (``counted``)."""
        counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for code, message in messages:
            counts[code].update(tokens(message))
        for code, words in (counted or {}).items():
            counts[code].update(words)
        spread = collections.Counter(word for counter in counts.values() for word in counter)
        vocabulary = frozenset(word for word, n in spread.items() if n <= WIDESPREAD * len(counts))
        return cls(dict(counts), vocabulary)

    def rank(self, text: str, exclude: Iterable[str] = ()) -> list[Hint]:
        """Codes by the likelihood of the text's known words, each with the words it shares; none without any."""
        secrets = tokens(" ".join(g for m in _SECRET_VALUE.finditer(text) for g in m.groups() if g))
        words = (tokens(text) - secrets) & self.vocabulary
        if not words:
            return []
        skip = set(exclude)
        size = len(self.vocabulary)
        scored = []
        for code, counter in self.counts.items():
            shared = tuple(sorted(w for w in words if counter[w] >= MIN_MESSAGES))
            if code in skip or len(shared) < MIN_SHARED:
                continue
            total = sum(counter.values()) + SMOOTHING * size
            score = sum(math.log((counter[w] + SMOOTHING) / total) for w in words)
            scored.append((score, code, shared))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [Hint(code, shared) for _, code, shared in scored]


def count_words(texts: Iterable[tuple[Iterable[str], str]]) -> dict[str, dict[str, int]]:
    """Per code, in how many of ``texts`` (``(codes, text)`` pairs) each word appears: what ``words.json`` holds."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for codes, text in texts:
        words = tokens(text)
        for code in codes:
            counts[code].update(words)
    return {code: dict(sorted(counts[code].items())) for code in sorted(counts)}


def hints(text: str, model: WordModel, exclude: Iterable[str] = ()) -> list[Hint]:
    """At most :data:`MAX_HINTS` causes the words of ``text`` point to."""
    return model.rank(text, exclude)[:MAX_HINTS]
