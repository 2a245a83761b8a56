"""``--html FILE`` (issue 25): the self-contained report, opened by a real headless Chromium.

Each report kind is made by the real command line from real material: a check
against a loopback MTLS server built from a catalogue scenario, a fleet of such
destinations, and a catalogue ``run``. Chromium (Debian's ``chromium``) loads
the file with no network and dumps the DOM its parser and the page's script
made; the assertions read that DOM (verdict, each finding, chain order,
timeline points, the table sorted by the page's own script) and compare it with
the command's own JSON, never with hard-coded verdicts. A screenshot proves the
page painted (PNG decoded here, many colours, not one). Names that look like
HTML stay text; the stores' passwords are nowhere in the file.

Screenshots for docs/screenshots/ are written by these tests when
``MTLS_SCREENSHOTS=1`` or when the file is missing, so a normal run leaves the
tree clean. With ``CI=true`` a missing Chromium is a failure, not a skip.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.scenario import load_scenario
from harness.secret import Secret
from harness.stores import read_store
from tests.conftest import Live, assert_one_line_error, cli, scenario_secrets

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
SCREENSHOTS = REPO / "docs" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"

# -- the browser ------------------------------------------------------------------------------


def chromium() -> str:
    found = next((p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None)
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is not installed (CI=true: the browser tests never skip); `make browser` installs it")
    pytest.skip("chromium is not installed (as root: make browser)")


def _browse(page: Path, profile: Path, *args: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
            page.resolve().as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Elements below (and including) this one with ``tag`` and these attributes (``class_`` for class)."""
        want = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag)
            and all((v in n.attrs.get(k, "").split()) if k == "class" else n.attrs.get(k) == v for k, v in want.items())
        ]

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def dom(page: Path, profile: Path, fragment: str = "") -> Node:
    """The DOM Chromium built from ``page`` (after its script ran), as a tree."""
    tree = _Tree()
    tree.feed(_browse(page, profile, "--dump-dom", fragment=fragment).stdout)
    return tree.root


# -- screenshots: a PNG decoded here (no Pillow) --------------------------------------------


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def png_rows(data: bytes, limit: int) -> tuple[int, int, list[bytes]]:
    """(width, height, the first ``limit`` rows of pixels) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, depth
    assert colour in (2, 6), colour  # RGB or RGBA
    assert interlace == 0
    step = 4 if colour == 6 else 3
    raw = zlib.decompressobj().decompress(b"".join(chunks), (width * step + 1) * min(limit, height))
    stride, previous, rows = width * step, bytes(width * step), []
    for y in range(min(limit, height)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            add = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]
            line[i] = (line[i] + add) & 0xFF
        rows.append(bytes(line))
        previous = bytes(line)
    return width, height, rows


def screenshot(page: Path, profile: Path, name: str, tmp_path: Path, height: int = 1500) -> Path:
    """A screenshot of ``page``: checked to have painted; kept in docs/screenshots/ when asked or missing."""
    shot = tmp_path / f"{name}.png"
    _browse(page, profile, f"--screenshot={shot}", f"--window-size=1100,{height}")
    width, full, rows = png_rows(shot.read_bytes(), 260)
    assert (width, full) == (1100, height)
    step = len(rows[0]) // width
    pixels = {row[i : i + 3] for row in rows for i in range(0, len(row), step * 7)}
    grey = [sum(p) / 3 for p in pixels]
    mean = sum(grey) / len(grey)
    variance = sum((g - mean) ** 2 for g in grey) / len(grey)
    assert len(pixels) > 20, f"{name}: the page did not paint ({len(pixels)} colours)"
    assert variance > 100, f"{name}: the page did not paint (variance {variance:.0f})"
    target = SCREENSHOTS / f"{name}.png"
    if os.environ.get("MTLS_SCREENSHOTS") == "1" or not target.exists():
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    return shot


def test_the_png_check_fails_on_a_blank_page(tmp_path: Path) -> None:
    """The screenshot check's negative twin: an empty page is one colour, and is refused."""
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><title>blank</title>", "utf-8")
    shot = tmp_path / "blank.png"
    _browse(blank, tmp_path / "profile", f"--screenshot={shot}", "--window-size=400,300")
    _, _, rows = png_rows(shot.read_bytes(), 300)
    assert len({row[i : i + 3] for row in rows for i in range(0, len(row), 12)}) == 1


# -- what every report must be ----------------------------------------------------------------


def assert_self_contained(page: Path, tree: Node, secrets: set[str]) -> None:
    """0644, no resource from anywhere, no password, and no element made from a name."""
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    text = page.read_text("utf-8")
    leaked = sorted(s for s in secrets if s in text)
    assert not leaked, f"{len(leaked)} password(s) in the HTML report"
    assert "PRIVATE KEY" not in text
    for node in tree.walk():
        assert node.tag not in ("img", "iframe", "object", "embed", "link"), node.tag
        assert "src" not in node.attrs, node.attrs
        assert node.attrs.get("href", "#").startswith("#"), node.attrs
        assert not any(k.startswith("on") for k in node.attrs), node.attrs
    assert len(tree.all("script")) <= 1


def _hostile_scenario(tmp_path: Path) -> Path:
    """ok-rsa with a client certificate subject and key entry alias that look like HTML."""
    text = (SCENARIOS / "ok-rsa.toml").read_text("utf-8")
    # RFC 4514 escapes (doubled for TOML): the certificate's CN is exactly HOSTILE.
    text = text.replace(
        'subject = "CN=acme-integration,', 'subject = "CN=\\\\<img src\\\\=x onerror\\\\=alert(1)\\\\>,', 1
    )
    text = text.replace('alias = "acme-client"', f'alias = "{HOSTILE}"', 1)
    path = tmp_path / "hostile-names.toml"
    path.write_text(text, "utf-8")
    return path


# -- check: one destination ------------------------------------------------------------------

CHECK_CASES = {
    # name: (scenario, screenshot or None)
    "ready": (SCENARIOS / "ok-rsa.toml", "check-ready"),
    "not-ready": (SCENARIOS / "client-cert-missing-ca-names.toml", "check-not-ready"),
    "hostile-names": (None, None),
}


@pytest.mark.jdk
@pytest.mark.parametrize("case", list(CHECK_CASES))
def test_check_report_shows_the_verdict_findings_chains_and_engines(
    case: str, live: Callable[[Path], Live], tmp_path: Path
) -> None:
    scenario_path, shot = CHECK_CASES[case]
    target = live(scenario_path or _hostile_scenario(tmp_path))
    destination = target.destination(tmp_path, "partner")
    page = tmp_path / "out" / "report.html"
    done = cli("check", str(destination), "--json", "--html", str(page), cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    facts = json.loads(done.stdout)
    tree = dom(page, tmp_path / "profile")
    assert_self_contained(page, tree, scenario_secrets(target.scenario))

    verdict = tree.one(id="verdict")
    assert verdict.attrs["data-ready"] == ("true" if facts["ready"] else "false")
    assert (case != "not-ready") == facts["ready"]  # the cases are what they say
    shown = [(f.attrs["data-code"], f.attrs["data-severity"]) for f in tree.one(id="findings").all("li")]
    assert shown == [(f["code"], f["severity"]) for f in facts["findings"]]
    for node, finding in zip(tree.one(id="findings").all("li"), facts["findings"], strict=True):
        assert finding["message"] in node.text()
        assert not finding["fix"] or finding["fix"] in node.one(class_="fix").text()

    # The chains, leaf first: as the keystore holds its key entry's chain, and as the server sent its own.
    password = Secret(json.loads(destination.read_text("utf-8"))["keystorePass"])
    store = read_store(target.built.keystore, password, "keystore")
    [entry] = store.key_entries
    [client] = tree.all("svg", data_side="client")
    assert [g.attrs["data-subject"] for g in client.all("g", class_="cert")] == [
        c.subject.rfc4514_string() for c in entry.chain
    ]
    server = tree.one("svg", data_side="server")
    assert [g.attrs["data-subject"] for g in server.all("g", class_="cert")] == [
        c.subject.rfc4514_string() for c in target.chain()
    ]
    # The server's CA names beside the key entry: marked reached exactly when the JDK offers the entry.
    block = tree.one("div", class_="client-chain")
    names = [(li.text(), li.attrs["data-reaches"]) for li in block.all("li")]
    assert names, "the server lists CA names"
    assert block.attrs["data-reaches"] == ("false" if case == "not-ready" else "true")
    assert {reaches for _, reaches in names} == {block.attrs["data-reaches"]}

    # Per engine: what was sent and what came back, one row per engine that shook hands.
    engines = {row.attrs["data-engine"]: row for row in tree.all("tr", class_="engine")}
    assert set(engines) == {"python", "jsse"}
    for engine, row in engines.items():
        cells = [" ".join(td.text().split()) for td in row.all("td")]
        assert cells[1:3] == [
            facts["facts"][f"request {engine}"],
            " ".join(facts["facts"][f"handshake {engine}"].split()),
        ]

    if case == "hostile-names":
        assert block.one("code", class_="alias").text() == HOSTILE  # shown as text ...
        assert (
            "<img src=x onerror=alert(1)\\>" in client.all("g", class_="cert")[0].one("text", class_="subject").text()
        )
        assert not tree.all("img")  # ... and no such element exists
    if shot:
        screenshot(page, tmp_path / "profile", shot, tmp_path, height=1500)


# -- check: a fleet --------------------------------------------------------------------------


@pytest.mark.jdk
def test_fleet_report_has_a_sortable_table_and_an_expiry_timeline(live: Callable[[Path], Live], tmp_path: Path) -> None:
    ok = live(SCENARIOS / "ok-rsa.toml")
    untrusted = live(SCENARIOS / "client-cert-untrusted.toml")
    folder = tmp_path / "fleet"
    folder.mkdir()
    for name in ("billing", "orders", "shipping"):
        ok.destination(folder, name)
    ok.destination(folder, "wrong-password", keystorePass="not-the-password")
    untrusted.destination(folder, "partner-untrusted")
    page = tmp_path / "fleet.html"
    done = cli("check", str(folder), "--at", "+20d", "--json", "--html", str(page), "--concurrency", "2", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = {Path(d["destination"]).name: d for d in map(json.loads, done.stdout.splitlines())}
    tree = dom(page, tmp_path / "profile")
    secrets = scenario_secrets(ok.scenario) | scenario_secrets(untrusted.scenario)
    assert_self_contained(page, tree, secrets)

    verdict = tree.one(id="verdict")
    assert verdict.attrs["data-ready"] == "false"
    assert int(verdict.attrs["data-ready-count"]) == sum(d["ready"] for d in lines.values()) == 3
    rows = tree.one("table", id="fleet").all("tr", class_="destination")
    assert {r.attrs["data-destination"]: r.attrs["data-ready"] == "true" for r in rows} == {
        name: d["ready"] for name, d in lines.items()
    }
    # The timeline: a point per destination at its days from today; the go-live date 20 days out.
    points = {g.attrs["data-destination"]: int(g.attrs["data-days"]) for g in tree.all("g", class_="point")}
    assert points == {name: d["first_expiry_days"] + 20 for name, d in lines.items()}
    assert tree.one(id="go-live").attrs["data-days"] == "20"
    # Each not-ready destination's findings, by code.
    for name, d in lines.items():
        details = tree.one("details", data_destination=name)
        assert [li.attrs["data-code"] for li in details.all("li")] == [f["code"] for f in d["findings"]]

    # Sorted by the page's own script (in Chromium): by days, then by name descending.
    profile = tmp_path / "profile"
    by_days = [r.attrs["data-days"] for r in dom(page, profile, "#sort=3").all("tr", class_="destination")]
    assert by_days == sorted(by_days, key=int)
    by_name = [
        r.attrs["data-destination"]
        for r in dom(page, tmp_path / "profile", "#sort=0-desc").all("tr", class_="destination")
    ]
    assert by_name == sorted(lines, reverse=True)
    assert [r.attrs["data-destination"] for r in rows] != by_name  # the unsorted page is in file order
    screenshot(page, tmp_path / "profile", "fleet", tmp_path, height=1300)


# -- run: the catalogue ----------------------------------------------------------------------


def test_run_report_shows_each_item_and_what_was_not_as_expected(tmp_path: Path) -> None:
    shipped = [SCENARIOS / "ok-rsa.toml", SCENARIOS / "client-cert-untrusted.toml"]
    good = tmp_path / "run.html"
    done = cli("run", *map(str, shipped), "--engine", "python", "--html", str(good), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    tree = dom(good, tmp_path / "profile")
    assert_self_contained(good, tree, {s for p in shipped for s in _secrets_of(p)})
    assert tree.one(id="verdict").attrs["data-ready"] == "true"
    assert not tree.one(id="findings").all("li")
    cells = {(c.attrs["data-engine"], c.text()) for c in tree.one(id="grid").all("td", class_="item")}
    assert cells == {("python", "ok"), ("python", "client-cert-untrusted")}
    # Each scenario's chains, leaf first, each box issued by the next: the key entry's and the server's.
    chains = {d.attrs["data-scenario"]: d for d in tree.one(id="chains").all("details")}
    assert set(chains) == {"ok-rsa", "client-cert-untrusted"}
    for side, first in (("client", "acme-integration"), ("server", "127.0.0.1")):
        [svg] = [s for s in chains["ok-rsa"].all("svg") if s.attrs["data-side"] == side]
        boxes = svg.all("g", class_="cert")
        assert first in boxes[0].attrs["data-subject"], boxes[0].attrs
        assert len(boxes) >= 2
        for lower, upper in itertools.pairwise(boxes):
            assert lower.attrs["data-issuer"] == upper.attrs["data-subject"]
    screenshot(good, tmp_path / "profile", "run", tmp_path, height=900)
    # The twin: a run without --html puts no chain into its JUnit file.
    junit = tmp_path / "plain.xml"
    cli("run", str(shipped[0]), "--engine", "python", "--junit", str(junit), cwd=tmp_path)
    assert "mtls-chain" not in junit.read_text("utf-8")

    # The twin: a scenario expecting the wrong outcome is shown as a finding with what came back.
    wrong = tmp_path / "ok-rsa-expects-untrusted.toml"
    wrong.write_text(
        shipped[0].read_text("utf-8").replace('outcome = "ok"', 'outcome = "client-cert-untrusted"'), "utf-8"
    )
    bad = tmp_path / "run-bad.html"
    done = cli("run", str(wrong), str(shipped[1]), "--engine", "python", "--html", str(bad), cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    tree = dom(bad, tmp_path / "profile")
    assert tree.one(id="verdict").attrs["data-ready"] == "false"
    [finding] = tree.one(id="findings").all("li")
    assert (finding.attrs["data-code"], finding.attrs["data-scenario"]) == ("ok", "ok-rsa-expects-untrusted")
    assert "expected client-cert-untrusted, got ok" in " ".join(finding.text().split())


def _secrets_of(path: Path) -> set[str]:
    return scenario_secrets(load_scenario(path))


# -- where the report cannot go ---------------------------------------------------------------


def test_an_unwritable_html_path_is_one_line_and_the_other_reports_are_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", "utf-8")
    destination = tmp_path / "destination.json"  # never read: the paths are looked at before any work
    destination.write_text("{}", "utf-8")
    junit = tmp_path / "check.xml"
    done = cli("check", str(destination), "--junit", str(junit), "--html", str(blocker / "report.html"), cwd=tmp_path)
    assert_one_line_error(done, "report.html", "--html")
    assert "--html" in junit.read_text("utf-8")
    assert not (blocker.parent / "report.html").exists()

    done = cli("run", str(SCENARIOS / "ok-rsa.toml"), "--html", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(done, "is a folder", "--html")
