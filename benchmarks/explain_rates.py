"""explain's hit rates on real-world error texts, on the part that shaped the rules and on a held-out part.

Two files, split by SOURCE (never by text):

- ``tests/data/explain_realworld.toml``: the tuned part. The knowledge
  (``harness/knowledge/explain.toml``) may be edited against these texts.
- ``tests/data/explain_heldout.toml``: the held-out part. Nobody edits the
  knowledge against these texts, and this script does not print them: a
  held-out miss is shown only as its reason and kind (``--detail-heldout``
  prints more, for the closing note of a release, not for tuning).

The split rule (``source_of`` and ``held_out`` below; tests/test_explain_data.py
checks that both files obey it): a text's source is its GitHub repository
(``github.com/owner/name``) or, for any other URL, the host's last two labels
(``stackoverflow.com``, ``microsoft.com``, ``sap.com``). A source is held out
when ``int(sha256("mtls-heldout:" + source)[:8], 16) % 100 < 60`` -- unless a
text of that source shaped the rules before the split (marked ``shaped = true``
in the tuned file): such a source stays tuned, whole.

A hit: top-1 when explain's first candidate is the text's ``expected`` code or
one of its ``also`` codes; top-3 when one of them is among the first three.
``expected = "none"`` (a text with no TLS failure in it) is a hit, on both
counts, when explain names no candidate at all (the command exits 1).

Run: ``.venv/bin/python benchmarks/explain_rates.py`` (``make bench`` runs it). Whoever edits the
knowledge measures with ``--tuned-only``: the held-out file is then not even opened.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the checkout's harness, not an installed one
    sys.path.insert(0, str(ROOT))

from harness.explainer.ranking import explain  # noqa: E402

DATA = ROOT / "tests" / "data"
TUNED = DATA / "explain_realworld.toml"
HELD_OUT = DATA / "explain_heldout.toml"
NOTHING = "none"  # expected code of a text with no TLS or certificate failure in it
GENERIC = "handshake-failed"  # explain's "a handshake failed, cause unknown"
SALT = "mtls-heldout:"
HELD_OUT_PERCENT = 60
KINDS = ("java", "jdk-log", "store", "curl", "openssl", "go", "gateway", "paraphrase", "other", "none")


def source_of(url: str) -> str:
    """The source a text comes from: its GitHub repository, else the host's last two labels."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "github.com":
        segments = [s for s in parts.path.split("/") if s]
        return "github.com/" + "/".join(segments[:2]).lower()
    return ".".join(host.split(".")[-2:])


def hashed_out(source: str) -> bool:
    """Whether the hash puts ``source`` on the held-out side (before the shaped-sources exception)."""
    digest = hashlib.sha256((SALT + source).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 < HELD_OUT_PERCENT


def load(path: Path) -> list[dict[str, object]]:
    texts: list[dict[str, object]] = tomllib.loads(path.read_text("utf-8"))["text"]
    return texts


def shaped_sources(tuned: list[dict[str, object]]) -> set[str]:
    """Sources of the texts that shaped the rules before the split: they stay tuned."""
    return {source_of(str(t["url"])) for t in tuned if t.get("shaped")}


def held_out(source: str, shaped: set[str]) -> bool:
    return hashed_out(source) and source not in shaped


@dataclass(frozen=True)
class Result:
    url: str
    kind: str
    accepted: tuple[str, ...]
    got: tuple[str, ...]
    top1: bool
    top3: bool

    @property
    def reason(self) -> str:
        """Why a top-1 miss missed, in a few fixed words (a category, not the text)."""
        if self.accepted == (NOTHING,):
            return "false alarm: named a cause in a text with no TLS failure"
        if not self.got:
            return "nothing found: no candidate at all"
        if self.got[0] == GENERIC and GENERIC not in self.accepted:
            return "generic: handshake-failed first"
        if any(code in self.accepted for code in self.got):
            return "ranked low: the cause is a candidate, not first"
        return "wrong cause: the cause is not a candidate"


def measure(item: dict[str, object]) -> Result:
    accepted = (str(item["expected"]), *(str(c) for c in item.get("also", ())))  # type: ignore[attr-defined]
    got = tuple(explain(str(item["text"])).codes())
    if accepted == (NOTHING,):
        top1 = top3 = not got
    else:
        top1 = bool(got) and got[0] in accepted
        top3 = any(code in accepted for code in got[:3])
    return Result(str(item["url"]), str(item["kind"]), accepted, got, top1, top3)


def report(name: str, results: list[Result], *, detail: bool) -> list[str]:
    n = len(results)
    top1 = sum(r.top1 for r in results)
    top3 = sum(r.top3 for r in results)
    lines = [f"{name}: {n} texts, top-1 {top1}/{n} ({100 * top1 / n:.0f}%), top-3 {top3}/{n} ({100 * top3 / n:.0f}%)"]
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in results:
        counts = per_kind[r.kind]
        counts[0] += 1
        counts[1] += r.top1
        counts[2] += r.top3
    for kind, (k, h1, h3) in sorted(per_kind.items()):
        lines.append(f"  {kind:<10} {k:>3} texts: top-1 {h1}/{k}, top-3 {h3}/{k}")
    misses = [r for r in results if not r.top1]
    reasons = Counter(r.reason for r in misses)
    if reasons:
        lines.append("  reasons for a top-1 miss, most common first:")
        lines += [f"    {count:>3}  {reason}" for reason, count in reasons.most_common()]
    if misses:
        lines.append("  misses:")
    if not detail:  # grouped, so that the file's order tells nothing either
        misses.sort(key=lambda r: (r.kind, r.reason, r.top3))
    for r in misses:
        mark = "top-3" if r.top3 else "MISS "
        if detail:
            lines.append(f"    {mark} {r.accepted[0]:<28} got {list(r.got[:3])}  {r.url}")
        else:  # held-out: the reason and the kind only, never the text, its source or its cause
            lines.append(f"    {mark} {r.kind:<10} {r.reason}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--detail-heldout",
        action="store_true",
        help="also print the held-out misses' expected codes, candidates and URLs (not for tuning)",
    )
    parser.add_argument(
        "--tuned-only",
        action="store_true",
        help="measure only the tuned part; the held-out file is not opened (for whoever edits the knowledge)",
    )
    args = parser.parse_args(argv)
    tuned = load(TUNED)
    lines = report("tuned (the rules were edited against these)", [measure(t) for t in tuned], detail=True)
    if args.tuned_only:
        print("\n".join(lines))
        return 0
    held = load(HELD_OUT)
    lines += report("held-out (never tuned against)", [measure(t) for t in held], detail=args.detail_heldout)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
