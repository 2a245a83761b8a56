"""``--html FILE``: one self-contained HTML report of a ``check``, a fleet or a catalogue ``run`` (issue 25).

The page needs no network to open: its CSS, SVG diagrams and the fleet table's
sorting script are inline, no font or script is fetched. It is rendered by
Jinja2 with autoescape on (``templating``), so every alias, subject, URL and
server answer in it is text, never markup. Passwords and keys are never handed
to a template: a report holds certificates (public) and the findings' words,
whose URLs have their password masked (``harness.text.shown``).

- ``check_page``: one destination (verdict, findings, chain diagrams, what each
  engine and JDK sent and got back) and a fleet (sortable table, expiry timeline);
- ``run_page``: a catalogue run, read from the JUnit XML pytest wrote;
- ``chains``: certificates as the boxes the chain diagrams draw;
- ``templating``: the Jinja2 environment and the atomic write.
"""

from __future__ import annotations

from harness.html.check_page import check_html, check_report_writer, fleet_html
from harness.html.run_page import run_html
from harness.html.templating import write_html

__all__ = ["check_html", "check_report_writer", "fleet_html", "run_html", "write_html"]
