"""The report's Jinja2 environment (autoescape on, undefined names an error) and its atomic write."""

from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path
from typing import Any

from harness.files import write_atomic
from harness.outputs import write_output

__all__ = ["TEMPLATES", "render", "write_html"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def _environment() -> Any:
    # LAZY (tests/test_layers.py): jinja2 costs ~0.13 s to import, paid only when --html is given.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # Every template is HTML: every value is escaped; the only markup passed in is our own sorting script.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def _sort_script() -> tuple[Any, str]:
    """The fleet table's sorting script (our own file, so marked safe) and its CSP source: its SHA-256."""
    import markupsafe  # LAZY: jinja2's own dependency, loaded with it

    text = (TEMPLATES / "sort-table.js").read_text("utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return markupsafe.Markup(text), f"'sha256-{digest}'"  # noqa: S704 - our own file, no input in it


def render(template: str, **context: Any) -> str:
    """``template`` (a file of harness/html/templates) rendered with ``context``, every value escaped.

    The page's Content-Security-Policy allows no script but the sorting script, by its hash.
    """
    script, source = _sort_script()
    page: str = _environment().get_template(template).render(sort_script=script, script_source=source, **context)
    return page


def write_html(path: Path, page: str) -> None:
    """``page`` to ``path``: atomically (complete or absent), 0644; a failure is one line naming the path (exit 2)."""
    data = page.encode("utf-8")
    write_output(path, "--html", lambda out: write_atomic(out, data, private=False))
