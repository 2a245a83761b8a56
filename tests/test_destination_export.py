"""Destination files as the platform exports them (issue 21, point 1) and their bounds (issue 22).

An export carries more than ``url`` and the four store attributes: a name, a
type, headers, timeouts, a proxy. ``check`` (one destination and a fleet),
``reproduce`` and ``serve DIR`` take it as it is. A near miss of one of the
five (``URL``, ``keyStoreFile``, ``truststorepass``) is a warning naming the
attribute it meant, an error when that attribute is missing; each has its
negative twin (the exact name, and an export attribute that is no near miss).
Exit 2 only for a file that is not a JSON object, whose attributes have the
wrong types, or that is beyond the bounds — one line, no traceback, in seconds.

The stores are a catalogue scenario's, built by ``build``; the live checks run
against that scenario's real MTLS server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.build import Built, write_scenario_files
from harness.destination import KEYS, near_miss_of
from harness.jsonfile import MAX_DEPTH as JSON_DEPTH
from harness.jsonfile import MAX_DIGITS as JSON_DIGITS
from harness.scenario import load_scenario
from tests.conftest import Live, assert_one_line_error
from tests.customer_stores import make_customer_destination

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
OK_RSA = SCENARIOS / "ok-rsa.toml"
# What a platform export carries besides the five attributes.
EXPORT_EXTRAS: dict[str, Any] = {
    "name": "ACME orders (prod)",
    "type": "HTTPS_MTLS",
    "description": "orders to ACME",
    "method": "POST",
    "headers": {"Content-Type": "application/json", "X-Partner": "acme"},
    "timeouts": {"connectMs": 10000, "readMs": 30000},
    "proxy": {"host": None, "port": None},
    "retry": {"count": 3, "backoff": [1, 5, 30]},
    "keystoreType": "JKS",
    "truststoreType": "JKS",
    "keyAlias": "client",
    "enabled": True,
    "lastModified": "2026-11-30T09:12:44Z",
}
SECONDS = 60  # every command here ends well within this; a missed bound fails instead of hanging


def run(*args: str, cwd: Path, timeout: float = SECONDS) -> subprocess.CompletedProcess[str]:
    """``mtls-harness ARGS``, stdin not a terminal, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def checked_json(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = run("check", *args, "--json", cwd=cwd)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done, json.loads(done.stdout)


def near_miss_findings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["code"] == "destination-key-near-miss"]


def problems(doc: dict[str, Any]) -> set[str]:
    return {f["code"] for f in doc["findings"] if f["severity"] in ("error", "warning")}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """ok-rsa's stores and destination.json, built once for the static checks."""
    folder = tmp_path_factory.mktemp("ok-rsa")
    return write_scenario_files(load_scenario(OK_RSA), folder)


def base_doc(built: Built) -> dict[str, Any]:
    """The five attributes as build wrote them, store paths absolute, no url (static checks only)."""
    doc: dict[str, Any] = json.loads(built.destination.read_text("utf-8"))
    doc.update(keystoreFile=str(built.keystore), truststoreFile=str(built.truststore))
    doc.pop("url", None)
    return doc


def write_doc(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), "utf-8")
    return path


def export_of(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as the platform exports it: its attributes among the others, not first."""
    return {"name": EXPORT_EXTRAS["name"], "type": EXPORT_EXTRAS["type"], **doc, **EXPORT_EXTRAS}


# -- near misses: the registry of what counts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("URL", "url"),
        ("Url", "url"),
        ("keyStoreFile", "keystoreFile"),
        ("KEYSTOREFILE", "keystoreFile"),
        ("keystore_file", "keystoreFile"),
        ("keystoreFiel", "keystoreFile"),
        ("truststorepass", "truststorePass"),
        ("trustStorePassword", "truststorePass"),
        ("keystore-pass", "keystorePass"),
        ("TrustStoreFile", "truststoreFile"),
    ],
)
def test_a_near_miss_names_the_attribute_it_meant(key: str, meant: str) -> None:
    assert near_miss_of(key) == meant


@pytest.mark.parametrize(
    "key", [*KEYS, "name", "type", "headers", "keystoreType", "truststoreType", "keyAlias", "keyPass", "uri", ""]
)
def test_the_attributes_themselves_and_other_export_keys_are_no_near_miss(key: str) -> None:
    assert near_miss_of(key) is None


# -- check, end to end, against a real MTLS server -------------------------------------------------------


@pytest.fixture(params=["python", "jsse"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "jsse":
        request.getfixturevalue("java")  # skipped without a JDK, a failure when CI=true
    return str(request.param)


def live_export(target: Live, name: str = "export.json", **changes: Any) -> Path:
    """The live scenario's destination as the platform exports it, url included; ``changes`` applied (None: removed)."""
    doc: dict[str, Any] = json.loads(target.built.destination.read_text("utf-8"))
    stores = {"keystoreFile": str(target.built.keystore), "truststoreFile": str(target.built.truststore)}
    doc = export_of({**doc, **stores, "url": target.url})
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return write_doc(target.built.folder / name, doc)


def test_a_real_export_is_checked_end_to_end_and_ready(live: Callable[[Path], Live], engine: str) -> None:
    target = live(OK_RSA)
    export = live_export(target)
    done, doc = checked_json(str(export), "--engine", engine, cwd=target.built.folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert doc["ready"] is True
    assert doc["verified_with"] == [engine]
    assert problems(doc) == set()
    assert doc["keys_not_used"] == list(dict.fromkeys(["name", "type", *EXPORT_EXTRAS]))
    # text: the other keys listed once with -v, not at all without it
    quiet = run("check", str(export), "--engine", engine, cwd=target.built.folder)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "not used by the check" not in quiet.stdout
    assert "ready for go-live" in quiet.stdout.splitlines()[-1]
    loud = run("check", str(export), "--engine", engine, "-v", cwd=target.built.folder)
    assert loud.returncode == 0, loud.stdout + loud.stderr
    [line] = [x for x in loud.stdout.splitlines() if "not used by the check" in x]
    assert all(repr(key) in line for key in EXPORT_EXTRAS)
    assert loud.stdout.count("'headers'") == 1


def test_a_near_miss_of_url_standing_in_is_an_error_though_the_handshake_works(
    live: Callable[[Path], Live], engine: str
) -> None:
    target = live(OK_RSA)
    export = live_export(target, url=None, URL=target.url)  # the platform reads url: it has none
    done, doc = checked_json(str(export), "--engine", engine, cwd=target.built.folder)
    assert done.returncode == 1, done.stdout
    assert doc["ready"] is False
    [finding] = near_miss_findings(doc)
    assert finding["severity"] == "error"
    assert finding["check"] == "handshake"
    assert "'URL'" in finding["subject"]
    assert "'url'" in finding["subject"]
    assert "missing" in finding["message"]
    # the rest of the check ran on the near miss's value: the server accepted the client
    assert {f["code"] for f in doc["findings"] if f["check"] == "handshake"} == {"ok", "destination-key-near-miss"}
    # twin: url there as well, the near miss is a warning and the export is ready
    both = live_export(target, "both.json", URL="https://elsewhere.example/")
    done, doc = checked_json(str(both), "--engine", engine, cwd=target.built.folder)
    assert done.returncode == 0, done.stdout
    assert doc["ready"] is True
    assert [f["severity"] for f in near_miss_findings(doc)] == ["warning"]


# -- near misses in check: a warning; an error when the attribute is missing --------------------------------

# url's near miss needs a live server: the end-to-end tests above show it, as a warning and as an error.
NEAR_MISSES = [
    ("keyStoreFile", "keystoreFile", "keystore"),
    ("keystorepass", "keystorePass", "keystore"),
    ("TrustStoreFile", "truststoreFile", "truststore"),
    ("truststorepass", "truststorePass", "truststore"),
    ("keystorePassword", "keystorePass", "keystore"),
]


@pytest.mark.parametrize(("key", "meant", "check"), NEAR_MISSES, ids=[m[0] for m in NEAR_MISSES])
def test_a_near_miss_beside_its_attribute_is_a_warning_naming_both(
    key: str, meant: str, check: str, built: Built, tmp_path: Path
) -> None:
    doc = export_of(base_doc(built))
    done, report = checked_json(str(write_doc(tmp_path / "d.json", {**doc, key: "something-else"})), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    [finding] = near_miss_findings(report)
    assert (finding["severity"], finding["check"]) == ("warning", check)
    assert repr(key) in finding["subject"]
    assert repr(meant) in finding["subject"]
    assert "case-sensitive" in finding["message"]
    assert finding["fix"]
    assert problems(report) == {"destination-key-near-miss"}
    assert key not in report["keys_not_used"]
    # the text names it too
    text = run("check", str(tmp_path / "d.json"), cwd=tmp_path)
    assert f"WARNING destination-key-near-miss: d.json: key {key!r} (meant {meant!r}?)" in text.stdout


@pytest.mark.parametrize("key", ["keystoreType", "keyAlias", "truststoreType", "name", "keyPass", "uri"])
def test_twin_an_export_attribute_that_is_no_near_miss_is_only_listed(key: str, built: Built, tmp_path: Path) -> None:
    doc = {**base_doc(built), key: "x"}
    done, report = checked_json(str(write_doc(tmp_path / "d.json", doc)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert near_miss_findings(report) == []
    assert problems(report) == set()
    assert report["keys_not_used"] == [key]


def test_twin_the_five_exact_names_alone_give_no_finding_and_no_unused_key(built: Built, tmp_path: Path) -> None:
    done, report = checked_json(str(write_doc(tmp_path / "d.json", base_doc(built))), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert problems(report) == set()
    assert report["keys_not_used"] == []
    verbose = run("check", str(tmp_path / "d.json"), "-v", cwd=tmp_path)
    assert "keys not used by the check: none" in verbose.stdout


@pytest.mark.parametrize(("key", "meant", "check"), NEAR_MISSES, ids=[m[0] for m in NEAR_MISSES])
def test_a_near_miss_standing_in_for_a_missing_attribute_is_an_error_exit_1(
    key: str, meant: str, check: str, built: Built, tmp_path: Path
) -> None:
    doc = export_of(base_doc(built))
    doc[key] = doc.pop(meant)
    done, report = checked_json(str(write_doc(tmp_path / "d.json", doc)), cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert done.stderr == ""
    [finding] = near_miss_findings(report)
    assert (finding["severity"], finding["check"]) == ("error", check)
    assert "missing" in finding["message"]
    assert repr(meant) in finding["message"]
    # the stores were judged on the near miss's value: they are fine, the name is the only problem
    assert problems(report) == {"destination-key-near-miss"}
    assert "1 key entries" in report["facts"]["keystore"]


@pytest.mark.parametrize("meant", ["keystoreFile", "keystorePass", "truststoreFile", "truststorePass"])
def test_twin_a_missing_attribute_with_nothing_standing_in_is_exit_2(meant: str, built: Built, tmp_path: Path) -> None:
    doc = export_of(base_doc(built))
    del doc[meant]
    done = run("check", str(write_doc(tmp_path / "d.json", doc)), cwd=tmp_path)
    assert_one_line_error(done, "d.json: no " + meant)


def test_a_missing_attribute_names_a_key_that_may_be_meant(built: Built, tmp_path: Path) -> None:
    doc = export_of(base_doc(built))
    doc["keystore"] = doc.pop("keystoreFile")  # too far for a near miss: only a hint on the exit-2 line
    done = run("check", str(write_doc(tmp_path / "d.json", doc)), cwd=tmp_path)
    assert_one_line_error(done, "no keystoreFile (is 'keystore' meant to be it? the platform reads keystoreFile)")


def test_a_password_option_fills_a_missing_password_so_its_near_miss_is_a_warning(built: Built, tmp_path: Path) -> None:
    doc = export_of(base_doc(built))
    password = doc.pop("keystorePass")
    doc["keystorepass"] = password
    path = write_doc(tmp_path / "d.json", doc)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "check", str(path), "--json", "--keystore-password-env", "KS"],
        cwd=tmp_path, env={**os.environ, "KS": password}, capture_output=True, text=True, timeout=SECONDS, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [finding] = near_miss_findings(json.loads(done.stdout))
    assert finding["severity"] == "warning"
    assert password not in done.stdout + done.stderr


# -- exit 2: not an object, wrong types, bounds ---------------------------------------------------------------

NOT_USABLE: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "array": (lambda d: json.dumps([d]), "is not a JSON object"),
    "string": (lambda d: json.dumps("destination"), "is not a JSON object"),
    "number": (lambda d: "42", "is not a JSON object"),
    "url-number": (lambda d: json.dumps({**d, "url": 8443}), "url must be a string"),
    "keystoreFile-list": (lambda d: json.dumps({**d, "keystoreFile": ["a.jks"]}), "keystoreFile must be a string"),
    "keystorePass-number": (lambda d: json.dumps({**d, "keystorePass": 1234}), "keystorePass must be a string"),
    "truststoreFile-object": (lambda d: json.dumps({**d, "truststoreFile": {}}), "truststoreFile must be a string"),
    "truststorePass-bool": (lambda d: json.dumps({**d, "truststorePass": True}), "truststorePass must be a string"),
    "stand-in-number": (
        lambda d: json.dumps({**{k: v for k, v in d.items() if k != "keystoreFile"}, "keyStoreFile": 7}),
        "'keyStoreFile' (standing in for keystoreFile, which is missing) must be a string",
    ),
    "invalid-json": (lambda d: json.dumps(d)[:-1], "not valid JSON"),
}


@pytest.mark.parametrize(("make", "said"), NOT_USABLE.values(), ids=NOT_USABLE.keys())
def test_a_file_that_cannot_be_used_is_one_line_and_exit_2(
    make: Callable[[dict[str, Any]], str], said: str, built: Built, tmp_path: Path
) -> None:
    path = tmp_path / "d.json"
    path.write_text(make(export_of(base_doc(built))), "utf-8")
    done = run("check", str(path), cwd=tmp_path)
    assert_one_line_error(done, "d.json", said)
    assert base_doc(built)["keystorePass"] not in done.stderr


def _nested(depth: int) -> dict[str, Any]:
    inner: Any = "deep"
    for _ in range(depth):
        inner = {"level": inner}
    return inner  # type: ignore[no-any-return]


BOUNDS: dict[str, tuple[Callable[[dict[str, Any]], bytes], str]] = {
    "5000-digit integer": (
        lambda d: json.dumps(d)[:-1].encode() + b', "timeout": ' + b"9" * 5000 + b"}",
        "a number of 5,000 digits, above 100",
    ),
    "negative 5000-digit integer": (
        lambda d: json.dumps(d)[:-1].encode() + b', "timeout": -' + b"9" * 5000 + b"}",
        "a number of 5,000 digits",
    ),
    "5000 nested arrays": (lambda d: b"[" * 5000, f"nested too deeply, more than {JSON_DEPTH} levels"),
    "100000 nested objects": (lambda d: b'{"a":' * 100000, f"nested too deeply, more than {JSON_DEPTH} levels"),
    "deep nesting in an export key": (
        lambda d: json.dumps({**d, "headers": _nested(JSON_DEPTH + 5)}).encode(),
        f"nested too deeply, more than {JSON_DEPTH} levels",
    ),
    "one MiB and one byte": (lambda d: json.dumps(d).encode() + b" " * (1 << 20), "above the limit of 1,048,576 bytes"),
    "many escaped quotes, unterminated": (lambda d: b'{"a": "' + b'\\"' * 400_000, "not valid JSON"),
    "many brackets inside strings": (
        lambda d: json.dumps({**d, "x": "[{" * 200_000, "y": _nested(JSON_DEPTH + 1)}).encode(),
        "nested too deeply",
    ),
}


@pytest.mark.parametrize(("make", "said"), BOUNDS.values(), ids=BOUNDS.keys())
def test_bounds_are_one_line_exit_2_no_traceback_in_seconds(
    make: Callable[[dict[str, Any]], bytes], said: str, built: Built, tmp_path: Path
) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(make(export_of(base_doc(built))))
    done = run("check", str(path), cwd=tmp_path, timeout=30)  # a missed bound fails here, it does not hang
    assert_one_line_error(done, "d.json", said)


def test_twin_within_the_bounds_an_export_is_read(built: Built, tmp_path: Path) -> None:
    """Nesting of exactly JSON_DEPTH, an integer of JSON_DIGITS digits, brackets inside strings: all read."""
    doc = export_of(base_doc(built))
    doc["headers"] = _nested(JSON_DEPTH - 1)  # the document itself is the first level
    doc["huge"] = int("9" * JSON_DIGITS)
    doc["brackets"] = "[[[[{{{{" * 100
    done, report = checked_json(str(write_doc(tmp_path / "d.json", doc)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert {"headers", "huge", "brackets"} <= set(report["keys_not_used"])


def test_a_fifo_as_destination_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "d.json"
    os.mkfifo(fifo)
    done = run("check", str(fifo), cwd=tmp_path, timeout=30)
    assert_one_line_error(done, "d.json", "a FIFO")


# -- fleet, reproduce and serve DIR with an export --------------------------------------------------------


def test_a_fleet_of_exports_is_checked_and_lists_their_other_keys(live: Callable[[Path], Live], tmp_path: Path) -> None:
    target = live(OK_RSA)
    folder = tmp_path / "fleet"
    folder.mkdir()
    live_export(target, "plain.json").rename(folder / "plain.json")
    live_export(target, "typo.json", keyStoreFile="x.jks").rename(folder / "typo.json")
    done = run("check", str(folder), "--engine", "python", "-v", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "2 destination(s), 2 ready" in done.stdout
    assert re.search(r"typo\.json .* destination-key-near-miss: .*'keystoreFile'", done.stdout), done.stdout
    for name in ("plain.json", "typo.json"):
        [line] = [x for x in done.stdout.splitlines() if x.startswith(f"{name}: keys not used by the check:")]
        assert "'headers'" in line
    rows = {Path(r["destination"]).name: r for r in map(json.loads, run(
        "check", str(folder), "--engine", "python", "--json", cwd=tmp_path
    ).stdout.splitlines())}  # fmt: skip
    assert rows["plain.json"]["keys_not_used"] == rows["typo.json"]["keys_not_used"] != []
    # twin: the near miss standing in for the missing keystoreFile makes that row not ready, exit 1
    (folder / "typo.json").unlink()
    live_export(target, "missing.json", keystoreFile=None, keyStoreFile=str(target.built.keystore)).rename(
        folder / "missing.json"
    )
    done = run("check", str(folder), "--engine", "python", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"missing\.json .* no .* destination-key-near-miss", done.stdout), done.stdout


def test_reproduce_takes_an_export(keytool: str, openssl: str, java: str, tmp_path: Path) -> None:
    """A customer's keytool-made destination (an expired client certificate), as the platform exports it."""
    plain = make_customer_destination(keytool, openssl, tmp_path / "customer", "expired")
    doc = export_of(json.loads(plain.read_text("utf-8")))
    doc["keystore_file"] = "stale.jks"  # a near miss beside its attribute: key names are not the case's shape
    export = write_doc(plain.with_name("export.json"), doc)
    outcomes = {}
    for name, path in (("plain", plain), ("export", export)):
        done = run("reproduce", str(path), "--out", str(tmp_path / name), cwd=tmp_path, timeout=240)
        assert "Traceback" not in done.stderr
        assert done.returncode == 0, done.stdout + done.stderr
        assert "reproduces the customer's failure" in done.stdout
        [scenario] = (tmp_path / name).glob("*.toml")  # named after the destination, not --out
        outcomes[name] = tomllib.loads(scenario.read_text("utf-8"))["expect"]["outcome"]
        written = "".join(p.read_text("utf-8", "replace") for p in (tmp_path / name).rglob("*") if p.is_file())
        assert "ACME" not in written
        assert "stale.jks" not in written
    assert outcomes["export"] == outcomes["plain"] == "client-cert-expired"
    # twin: a wrong type is bad input, and nothing is written
    bad = write_doc(plain.with_name("bad.json"), {**doc, "keystorePass": 5})
    done = run("reproduce", str(bad), "--out", str(tmp_path / "bad"), cwd=tmp_path)
    assert_one_line_error(done, "bad.json", "keystorePass must be a string")
    assert not (tmp_path / "bad").exists()


class Serving:
    """``serve DIR`` as a subprocess; its stdout lines read with a timeout; killed and reaped at the end."""

    def __init__(self, folder: Path, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.cli.main", "serve", str(folder), "--port", "0"],
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout: float = SECONDS) -> str | None:
        return self.lines.get(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Callable[[Path], Serving]]:
    started: list[Serving] = []

    def start(folder: Path) -> Serving:
        started.append(Serving(folder, tmp_path))
        return started[-1]

    yield start
    for one in started:
        one.close()


def test_serve_dir_keeps_an_exports_other_keys(serving: Callable[[Path], Serving], tmp_path: Path) -> None:
    folder = tmp_path / "built"
    done = run("build", str(OK_RSA), "--out", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads((folder / "destination.json").read_text("utf-8"))
    write_doc(folder / "destination.json", export_of(doc))
    served = serving(folder)
    line = served.line()
    assert line is not None
    assert line.startswith("listening on https://127.0.0.1:"), line
    rewritten = json.loads((folder / "destination.json").read_text("utf-8"))
    assert rewritten["url"] == line.removeprefix("listening on ")
    assert {k: rewritten[k] for k in EXPORT_EXTRAS} == EXPORT_EXTRAS


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"url": ', "not valid JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b"[" * 5000, "nested too deeply"),
        (b'{"timeout": ' + b"1" * 5000 + b"}", "a number of 5,000 digits"),
    ],
    ids=["invalid", "array", "deep", "5000-digits"],
)
def test_serve_dir_with_a_broken_destination_json_is_one_line_and_exit_2(
    content: bytes, said: str, serving: Callable[[Path], Serving], tmp_path: Path
) -> None:
    folder = tmp_path / "built"
    done = run("build", str(OK_RSA), "--out", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (folder / "destination.json").write_bytes(content)
    served = serving(folder)
    assert served.line() is None  # ended without listening
    assert served.process.wait(SECONDS) == 2
    assert served.process.stderr is not None
    stderr = served.process.stderr.read()
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert "destination.json" in stderr
    assert said in stderr
