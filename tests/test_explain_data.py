"""The real-world explain texts are well formed and split by source; the benchmark runs.

Data: tests/data/explain_realworld.toml (tuned) and tests/data/explain_heldout.toml
(held out). The rule is benchmarks/explain_rates.py's; this file checks the data obeys
it, and that the checks themselves catch a broken file (each check has a bad twin).
Rates are the benchmark's business (`make bench`), not asserted here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.explain_rates import (
    HELD_OUT,
    KINDS,
    NOTHING,
    TUNED,
    hashed_out,
    held_out,
    load,
    shaped_sources,
    source_of,
)
from harness.knowledge.codes import OUTCOME_CODES
from tests.conftest import REPO

MIN_TOTAL = 100
MIN_HELD_OUT = 40
ACCEPTED_CODES = {*OUTCOME_CODES, NOTHING}


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def malformed(texts: list[dict[str, Any]]) -> list[str]:
    """One line per text that lacks a field or names an unknown kind or code."""
    problems = []
    for item in texts:
        url, kind, expected = item.get("url"), item.get("kind"), item.get("expected")
        also, text = item.get("also", []), item.get("text")
        if not isinstance(url, str) or not re.fullmatch(r"https?://\S+", url):
            problems.append(f"{url!r}: url is not a web address")
        if kind not in KINDS:
            problems.append(f"{url}: kind {kind!r} is not one of {KINDS}")
        if expected not in ACCEPTED_CODES:
            problems.append(f"{url}: expected {expected!r} is not an outcome code (nor {NOTHING!r})")
        if not isinstance(also, list) or any(c not in OUTCOME_CODES or c == expected for c in also):
            problems.append(f"{url}: also {also!r} must list other outcome codes")
        if expected == NOTHING and (also or kind != NOTHING):
            problems.append(f"{url}: a text with nothing to explain has kind {NOTHING!r} and no `also`")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{url}: empty text")
    return problems


def duplicates(texts: list[dict[str, Any]]) -> list[str]:
    """Texts that appear twice (whitespace aside), in either file."""
    seen: dict[str, str] = {}
    problems = []
    for item in texts:
        key = _squeeze(str(item["text"]))
        if key in seen:
            problems.append(f"{item['url']}: same text as {seen[key]}")
        seen.setdefault(key, str(item["url"]))
    return problems


def split_violations(tuned: list[dict[str, Any]], held: list[dict[str, Any]]) -> list[str]:
    """Texts on the wrong side of the rule, and sources on both sides."""
    shaped = shaped_sources(tuned)
    problems = [f"{t['url']}: a held-out text cannot be `shaped`" for t in held if t.get("shaped")]
    for item in tuned:
        source = source_of(str(item["url"]))
        if held_out(source, shaped):
            problems.append(f"{item['url']}: source {source} belongs to the held-out part")
    for item in held:
        source = source_of(str(item["url"]))
        if not held_out(source, shaped):
            problems.append(f"{item['url']}: source {source} belongs to the tuned part")
    both = {source_of(str(t["url"])) for t in tuned} & {source_of(str(t["url"])) for t in held}
    problems += [f"source {s} is on both sides" for s in sorted(both)]
    return problems


@pytest.fixture(scope="module")
def parts() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return load(TUNED), load(HELD_OUT)


def test_every_text_names_its_source_kind_and_a_known_cause(parts: tuple[list[Any], list[Any]]) -> None:
    tuned, held = parts
    assert malformed(tuned + held) == []


def test_a_text_with_an_unknown_code_kind_or_source_is_reported() -> None:
    bad = [
        {"url": "not a url", "kind": "java", "expected": "client-cert-missing", "text": "x"},
        {"url": "https://example.org/a", "kind": "cobol", "expected": "client-cert-missing", "text": "y"},
        {"url": "https://example.org/b", "kind": "java", "expected": "cert-is-sad", "text": "z"},
        {"url": "https://example.org/c", "kind": "java", "expected": "ok", "also": ["nope"], "text": "w"},
        {"url": "https://example.org/d", "kind": "java", "expected": NOTHING, "text": "v"},
        {"url": "https://example.org/e", "kind": "java", "expected": "client-cert-missing", "text": "  "},
    ]
    assert len(malformed(bad)) == len(bad)


def test_no_text_appears_twice(parts: tuple[list[Any], list[Any]]) -> None:
    tuned, held = parts
    assert duplicates(tuned + held) == []


def test_a_repeated_text_is_reported_even_reflowed() -> None:
    a = {"url": "https://example.org/1", "text": "Received fatal alert:  bad_certificate"}
    b = {"url": "https://example.org/2", "text": "Received fatal alert:\nbad_certificate"}
    assert duplicates([a, b]) == ["https://example.org/2: same text as https://example.org/1"]
    assert duplicates([a, {"url": "https://example.org/3", "text": "Received fatal alert: unknown_ca"}]) == []


def test_the_split_is_by_source_and_follows_the_rule(parts: tuple[list[Any], list[Any]]) -> None:
    tuned, held = parts
    assert split_violations(tuned, held) == []


def test_a_source_split_across_both_parts_is_reported() -> None:
    # two issues of one repository: one source, so they must be on one side
    out = next(f"https://github.com/acme/r{i}/issues/1" for i in range(1000) if hashed_out(f"github.com/acme/r{i}"))
    same_repo = out.replace("/issues/1", "/issues/2")
    assert source_of(out) == source_of(same_repo)
    assert split_violations([{"url": same_repo}], [{"url": out}])  # tuned side holds a held-out source
    assert split_violations([], [{"url": out}]) == []
    # a source that shaped the rules stays tuned, whole, even though it hashes out
    shaped = {"url": out, "shaped": True}
    assert split_violations([shaped, {"url": same_repo}], []) == []
    assert split_violations([shaped], [{"url": same_repo}])


def test_sources_are_repositories_or_sites() -> None:
    assert source_of("https://github.com/OpenSSL/openssl/issues/17414") == "github.com/openssl/openssl"
    assert source_of("https://github.com/openssl/openssl/pull/2898") == "github.com/openssl/openssl"
    assert source_of("https://github.com/openssl/tools/issues/1") != source_of("https://github.com/openssl/openssl")
    assert source_of("http://stackoverflow.com/questions/6353849/x") == "stackoverflow.com"
    assert source_of("https://learn.microsoft.com/a") == source_of("https://support.microsoft.com/b")
    assert source_of("https://help.salesforce.com/s/articleView?id=1") == "salesforce.com"


def test_there_are_enough_texts_and_enough_held_out(parts: tuple[list[Any], list[Any]]) -> None:
    tuned, held = parts
    assert len(tuned) + len(held) >= MIN_TOTAL
    assert len(held) >= MIN_HELD_OUT
    assert {t["kind"] for t in held} >= {"java", "gateway", "curl", "openssl"}  # not one kind only


def test_the_benchmark_runs_and_reports_both_parts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "explain_rates.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first_lines = [line for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert len(first_lines) == 2
    for line, part in zip(first_lines, ("tuned", "held-out"), strict=True):
        assert line.startswith(part), line
        assert " top-1 " in line, line
        assert " top-3 " in line, line
    # held-out misses show their reason and kind only: no URL, no text
    held_part = done.stdout[done.stdout.index("held-out") :]
    assert "://" not in held_part
    assert not any(str(t["text"])[:40] in held_part for t in load(HELD_OUT))
