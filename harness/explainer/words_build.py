"""Count the words of the tuned real-world texts into ``harness/knowledge/words.json`` (``make words``).

The hints of :mod:`harness.explainer.words` learn from the shipped knowledge's
entries and from these counts: per outcome code, in how many of the tuned texts
that establish it (``expected`` and ``also``) each word appears. Only the tuned
part is read (``tests/data/explain_realworld.toml``); the held-out part
(``tests/data/explain_heldout.toml``) is never opened, so its measurement stays a
measurement. Texts with nothing to explain (``expected = "none"``) teach nothing.
tests/test_explain_words.py fails when the shipped file differs from what this
writes from the checkout's data::

    python -m harness.explainer.words_build
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from harness.explainer.words import count_words

__all__ = ["TUNED", "WORDS", "build", "main"]

WORDS = Path(__file__).resolve().parent.parent / "knowledge" / "words.json"
TUNED = Path(__file__).resolve().parent.parent.parent / "tests" / "data" / "explain_realworld.toml"
NOTHING = "none"


def build(tuned: Path = TUNED) -> str:
    """The JSON text of the counts, from the tuned texts at ``tuned``."""
    items: list[dict[str, Any]] = tomllib.loads(tuned.read_text("utf-8"))["text"]
    texts = [
        ((str(item["expected"]), *(str(c) for c in item.get("also", ()))), str(item["text"]))
        for item in items
        if item["expected"] != NOTHING
    ]
    doc = {
        "about": "per outcome code: in how many tuned real-world texts (tests/data/explain_realworld.toml) each word "
        "appears; written by python -m harness.explainer.words_build",
        "texts": len(texts),
        "counts": count_words(texts),
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def main() -> int:
    if not TUNED.is_file():
        print(f"{TUNED}: not found: run this from a source checkout", file=sys.stderr)
        return 2
    WORDS.write_text(build(), "utf-8")
    print(f"wrote {WORDS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
