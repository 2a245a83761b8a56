"""explain's hit rate on real-world error texts (tests/data/explain_realworld.toml).

Prints top-1 and top-3 hit rates, per kind, and every miss. Run:
    .venv/bin/python benchmarks/explain_rates.py
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from pathlib import Path

from harness.explainer.ranking import explain

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "explain_realworld.toml"


def rates() -> tuple[int, int, int, list[str]]:
    texts = tomllib.loads(DATA.read_text("utf-8"))["text"]
    top1 = top3 = 0
    lines = []
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for item in texts:
        codes = explain(item["text"]).codes()
        hit1, hit3 = codes[:1] == [item["expected"]], item["expected"] in codes[:3]
        top1 += hit1
        top3 += hit3
        kind = per_kind[item["kind"]]
        kind[0] += 1
        kind[1] += hit1
        kind[2] += hit3
        if not hit1:
            lines.append(f"  {'top-3' if hit3 else 'MISS '} {item['expected']:<28} got {codes[:3]}  {item['url']}")
    for name, (n, h1, h3) in sorted(per_kind.items()):
        lines.insert(0, f"  {name:<8} {n:>3} texts: top-1 {h1}/{n}, top-3 {h3}/{n}")
    return len(texts), top1, top3, lines


def main() -> None:
    n, top1, top3, lines = rates()
    rate1, rate3 = 100 * top1 / n, 100 * top3 / n
    print(f"explain on {n} real-world texts: top-1 {top1}/{n} ({rate1:.0f}%), top-3 {top3}/{n} ({rate3:.0f}%)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
