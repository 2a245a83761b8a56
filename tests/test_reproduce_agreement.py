"""``reproduce`` per engine (issue 24, point 3): the scenario it writes passes a default ``run`` on every engine.

Customer stores are made with keytool (tests/customer_stores.py). ``reproduce`` runs
the scenario it writes on python and on jsse, and compares each engine's code with
``check``'s on the customer's stores: one line per engine, ``same`` or ``DIFFERENT``
with its reason. Where the engines legitimately differ (the JDK sends no certificate
when its chain reaches none of the server's CA names, OpenSSL sends it anyway), the
written ``[expect]`` says so per engine. Every test runs ``mtls-harness run`` (both
engines, real loopback TLS) on the written file and reads which engine passed from
its JUnit report. The file is named after the destination's ``name``, made safe.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.reproduce.naming import MAX_STEM, safe_stem, scenario_file_name
from tests.conftest import cli, require_tool
from tests.customer_stores import make_customer_destination

pytestmark = pytest.mark.jdk

# The chain the customer's server sends (its CA is the one the customer's truststore holds).
_SERVER_CHAIN = [
    {"subject": "CN=api,O=Partner", "issuer": "CN=Partner Issuing,O=Partner", "key": "RSA-2048"},
    {"subject": "CN=Partner Issuing,O=Partner", "issuer": "CN=Globex Server Root,O=Globex Customer"},
]


@pytest.fixture(scope="module")
def customer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One keytool-made customer per case, made once for the module: case -> destination.json."""
    keytool, openssl = require_tool("keytool"), require_tool("openssl")
    base = tmp_path_factory.mktemp("customers")
    return {case: make_customer_destination(keytool, openssl, base / case, case) for case in ("good", "two-keys")}


def _destination(source: Path, folder: Path, **extra: Any) -> Path:
    """``source`` without its url (check judges the stores only), with ``extra`` attributes, as destination.json."""
    doc = json.loads(source.read_text("utf-8"))
    doc.pop("url")
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("keystoreFile", "truststoreFile"):
        doc[key] = str(source.parent / doc[key])
    doc.update(extra)
    path = folder / "destination.json"
    path.write_text(json.dumps(doc), "utf-8")
    return path


def _reproduce(destination: Path, out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    done = cli("reproduce", str(destination), "--out", str(out), *args, cwd=out.parent)
    assert "Traceback" not in done.stderr, done.stderr
    first = done.stdout.splitlines()[0] if done.stdout else ""
    assert first.startswith("wrote "), done.stdout + done.stderr
    return done, out.parent / first.removeprefix("wrote ")


def _engine_lines(stdout: str) -> dict[str, str]:
    """engine -> its line: ``engine: scenario CODE, check CODE -> same | DIFFERENT: reason``."""
    found = {}
    for line in stdout.splitlines():
        match = re.match(r"  (python|jsse[\w.-]*): scenario ", line)
        if match:
            found[match.group(1)] = line.strip()
    return found


def _run_everywhere(scenario: Path, *args: str) -> dict[str, str]:
    """``mtls-harness run FILE`` (default engines: python and jsse): engine -> passed / failed, from its JUnit."""
    junit = scenario.parent.parent / f"{scenario.stem}-junit.xml"
    done = cli("run", str(scenario), "--junit", str(junit), *args, cwd=scenario.parent.parent)
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - the file run wrote
        engine = re.search(r"\[([\w.-]+)\]", case.get("name", ""))
        assert engine is not None, case.get("name")
        failed = case.find("failure") is not None or case.find("error") is not None
        results[engine.group(1)] = "failed" if failed else "passed"
    assert (done.returncode == 0) is all(v == "passed" for v in results.values()), done.stdout + done.stderr
    return results


# -- the two-CA case (issue 21): two key entries from two CAs -----------------------------------------------


@pytest.mark.parametrize("case", ["two-keys", "good"])
def test_every_engine_gives_checks_code(case: str, customer: dict[str, Path], tmp_path: Path) -> None:
    """two-keys: the JDK's own key manager chooses between the entries; good (the twin): one key entry."""
    destination = _destination(customer[case], tmp_path / "customer")
    done, scenario = _reproduce(destination, tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = _engine_lines(done.stdout)
    assert set(lines) == {"python", "jsse"}, done.stdout
    expect = tomllib.loads(scenario.read_text("utf-8"))["expect"]
    for line in lines.values():
        assert line.endswith(f"check {expect['outcome']} -> same"), done.stdout
    assert "engines" not in expect  # no engine differs
    assert (expect["outcome"] == "keystore-ambiguous") is (case == "two-keys"), done.stdout
    assert "every engine gives check's code" in done.stdout
    assert _run_everywhere(scenario) == {"python": "passed", "jsse": "passed"}


# -- client-cert-missing (JSSE) against client-cert-untrusted (OpenSSL): the engines differ ---------------


@pytest.mark.parametrize("names_the_customers_ca", [False, True])
def test_engines_that_differ_are_each_expected(
    names_the_customers_ca: bool, customer: dict[str, Path], tmp_path: Path
) -> None:
    """A captured server that lists a CA the customer's chain does not reach: the JDK sends no certificate
    (client-cert-missing), OpenSSL sends it and the server refuses it (client-cert-untrusted); check on the
    stores alone says ok. The twin: the server lists the customer's CA, every engine says ok."""
    destination = _destination(customer["good"], tmp_path / "customer")
    ca = "CN=Globex Root CA,O=Globex Customer" if names_the_customers_ca else "CN=Someone Else,O=Other"
    profile = tmp_path / "profile.json"
    captured = {"client_auth": "required", "ca_names": [ca], "tls_versions": ["TLSv1.3"], "chain": _SERVER_CHAIN}
    profile.write_text(json.dumps(captured), "utf-8")
    done, scenario = _reproduce(destination, tmp_path / "out", "--profile", str(profile))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = _engine_lines(done.stdout)
    expect = tomllib.loads(scenario.read_text("utf-8"))["expect"]
    if names_the_customers_ca:
        assert lines == {
            "python": "python: scenario ok, check ok -> same",
            "jsse": "jsse: scenario ok, check ok -> same",
        }
        assert expect["outcome"] == "ok"
        assert "engines" not in expect
    else:
        assert lines["jsse"].startswith(
            "jsse: scenario client-cert-missing, check ok -> DIFFERENT: the captured server"
        )
        assert lines["python"].startswith(
            "python: scenario client-cert-untrusted, check ok -> DIFFERENT: the captured server"
        )
        assert "without it this scenario gives ok here too" in lines["python"]
        assert expect["outcome"] == "client-cert-missing"
        assert expect["engines"] == {"python": "client-cert-untrusted"}
        assert "does NOT reproduce" not in done.stdout
    assert _run_everywhere(scenario) == {"python": "passed", "jsse": "passed"}
    if not names_the_customers_ca:
        # The per-engine expectation is what makes python pass: without it, a default run fails on python.
        text = scenario.read_text("utf-8")
        scenario.write_text(re.sub(r"(?m)^engines = .*\n", "", text), "utf-8")
        assert _run_everywhere(scenario) == {"python": "failed", "jsse": "passed"}


# -- the file's name: the destination's name, made safe -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("ACME Prod / EU", "ACME-Prod-EU.toml"),
        (None, "destination.toml"),  # the twin: no name -> the destination file's stem, never --out's
        ("../../etc/x", "etc-x.toml"),
        ("x" * 5000, "x" * MAX_STEM + ".toml"),
        ("evil\x00name\n\x1b[31mred\r", "evil-name-31mred.toml"),
    ],
)
def test_the_file_is_named_after_the_destination(
    name: object, file: str, customer: dict[str, Path], tmp_path: Path
) -> None:
    extra = {} if name is None else {"name": name}
    destination = _destination(customer["good"], tmp_path / "customer", **extra)
    out = tmp_path / "case-4711"
    done, scenario = _reproduce(destination, out, "--engine", "all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert scenario == out / file, done.stdout
    assert [p.name for p in out.iterdir()] == [file]  # the only file, inside --out
    assert not (tmp_path / "etc").exists()
    assert done.stdout.splitlines()[0] == f"wrote {out / file}"
    assert "\x00" not in done.stdout
    assert "\x1b" not in done.stdout
    assert _run_everywhere(scenario) == {"python": "passed", "jsse": "passed"}


@pytest.mark.parametrize(
    ("text", "stem"),
    [
        ("ACME Prod / EU", "ACME-Prod-EU"),
        ("..\\..\\windows\\x", "windows-x"),
        (".hidden", "hidden"),
        ("a..b", "a.b"),
        ("Zürich orders", "Z-rich-orders"),
        ("plain-name_1.2", "plain-name_1.2"),
        ("/", ""),
        ("", ""),
    ],
)
def test_safe_stem(text: str, stem: str) -> None:
    assert safe_stem(text) == stem
    assert "/" not in stem
    assert "\\" not in stem
    assert not stem.startswith(".")
    assert len(stem) <= MAX_STEM


def test_file_name_falls_back_to_the_destinations_stem() -> None:
    assert scenario_file_name("ACME Prod / EU", Path("d/export.json")) == "ACME-Prod-EU.toml"
    assert scenario_file_name(None, Path("d/export.json")) == "export.toml"
    assert scenario_file_name("..", Path("d/..json")) == "reproduced.toml"
    assert scenario_file_name("../..", Path("d/export.json")) == "export.toml"  # nothing safe left: the stem
    assert scenario_file_name(7, Path("d/export.json")) == "export.toml"  # not a string: the stem


# -- OpenSSL and the JDK differ without a captured server: an empty truststore ---------------------------------


@pytest.mark.parametrize("empty", [True, False])
def test_python_differing_from_the_jdk_is_expected_of_python(
    empty: bool, customer: dict[str, Path], tmp_path: Path
) -> None:
    """A truststore with no entry: the JDK trusts nothing (check and jsse: truststore-empty), OpenSSL's reading
    of the same store differs; [expect.engines] says what python gives. The twin: the customer's truststore."""
    source = customer["good"]
    extra: dict[str, Any] = {}
    if empty:
        keytool = require_tool("keytool")
        store = tmp_path / "empty.jks"
        password = json.loads(source.read_text("utf-8"))["truststorePass"]
        common = ["-keystore", str(store), "-storetype", "JKS", "-storepass", password]
        for args in (
            ["-genkeypair", "-alias", "gone", "-keyalg", "EC", "-dname", "CN=gone", "-keypass", password],
            ["-delete", "-alias", "gone"],
        ):
            subprocess.run([keytool, *args, *common], check=True, capture_output=True, timeout=120)
        extra["truststoreFile"] = str(store)
    destination = _destination(source, tmp_path / "customer", **extra)
    done, scenario = _reproduce(destination, tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = _engine_lines(done.stdout)
    expect = tomllib.loads(scenario.read_text("utf-8"))["expect"]
    if empty:
        assert lines["jsse"] == "jsse: scenario truststore-empty, check truststore-empty -> same", done.stdout
        assert "-> DIFFERENT: OpenSSL and the JDK differ here" in lines["python"], done.stdout
        assert expect["outcome"] == "truststore-empty"
        assert expect["engines"]["python"] != "truststore-empty"
    else:
        assert lines["python"] == "python: scenario ok, check ok -> same", done.stdout
        assert "engines" not in expect
    assert _run_everywhere(scenario) == {"python": "passed", "jsse": "passed"}


# -- jsse per chosen JDK: the JDKs differ too ---------------------------------------------------------------


def test_each_chosen_jdk_gets_its_code(customer: dict[str, Path], real_jdks: dict[str, Any], tmp_path: Path) -> None:
    """``--jdk 11.0.10 --jdk 21.0.8`` besides the default JDK: JDK 11.0.10 sends its only certificate whatever
    CA names the server lists (as OpenSSL does), newer JDKs send none. [expect.jdk] holds 11.0.10's code, so
    a run passes on each JDK; without that line it fails on 11.0.10 (the twin)."""
    destination = _destination(customer["good"], tmp_path / "customer")
    profile = tmp_path / "profile.json"
    captured = {"client_auth": "required", "ca_names": ["CN=Someone Else,O=Other"], "chain": _SERVER_CHAIN}
    profile.write_text(json.dumps(captured), "utf-8")
    jdks = [arg for version in real_jdks for arg in ("--jdk", version)]
    done, scenario = _reproduce(destination, tmp_path / "out", "--profile", str(profile), *jdks)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = _engine_lines(done.stdout)
    assert set(lines) == {"python", "jsse", "jsse-11.0.10", "jsse-21.0.8"}, done.stdout
    assert lines["jsse-11.0.10"].startswith("jsse-11.0.10: scenario client-cert-untrusted, check ok -> DIFFERENT")
    assert lines["jsse-21.0.8"].startswith("jsse-21.0.8: scenario client-cert-missing, check ok -> DIFFERENT")
    expect = tomllib.loads(scenario.read_text("utf-8"))["expect"]
    assert expect["outcome"] == "client-cert-missing"  # the default JDK's (17)
    assert expect["jdk"] == {"11.0.10": "client-cert-untrusted"}
    assert _run_everywhere(scenario) == {"python": "passed", "jsse": "passed"}
    on_jdks = _run_everywhere(scenario, *jdks)
    assert on_jdks == {"python": "passed", "jsse-11.0.10": "passed", "jsse-21.0.8": "passed"}
    text = scenario.read_text("utf-8")
    scenario.write_text(re.sub(r"(?m)^jdk = .*\n", "", text), "utf-8")
    assert _run_everywhere(scenario, *jdks)["jsse-11.0.10"] == "failed"
