"""The README's example output is what `mtls-harness run` prints today (regenerate: python -m tests.readme_example)."""

from __future__ import annotations

import pytest

from tests import readme_example


@pytest.mark.jdk
def test_readme_run_example_matches_the_command(java: str) -> None:
    shown = readme_example.readme_block(readme_example.README.read_text("utf-8"))
    printed = readme_example.excerpt(readme_example.run_output())
    assert readme_example.normalised(shown) == readme_example.normalised(printed), (
        "README example differs from `mtls-harness run`: regenerate with `python -m tests.readme_example`"
    )


def test_the_comparison_sees_a_changed_line() -> None:
    shown = ["$ mtls-harness run x", "scenario x [jsse]: expected ok, got ok (as expected)", "= 1 passed in 1.20s ="]
    assert readme_example.normalised(shown) == readme_example.normalised([*shown[:2], "= 1 passed in 9.99s ="])
    assert readme_example.normalised(shown) != readme_example.normalised(
        [shown[0], "scenario x [jsse]: got ok", shown[2]]
    )
