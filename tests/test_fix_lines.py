"""Every command a fix line prints runs as printed and fixes its finding (issue 24 point 5).

For each code whose registry entry has a ``command``: the broken material (real
stores from fixtures/, written by keytool and openssl; a loopback MTLS server
where the code needs one), ``check --json`` shows the finding and its command,
the command runs exactly as printed in a POSIX shell with KS_PASS / TS_PASS set,
and ``check`` again no longer shows the finding. No printed fix or command holds
a placeholder for a field the finding knows, nor a password.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import string
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.knowledge import codes
from harness.knowledge.codes import FIELDS, RegistryError, load_codes
from tests.conftest import Live, cli

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SCENARIOS = REPO / "scenarios"
# fixtures/make-fixtures.sh KEY_OTHER_PASS: the key-password-mismatch fixture's key entry password.
FIXTURE_KEY_PASS = "fx-Key-Other-3e"
# Codes whose command needs the network (a JDK download): shown filled in, not run here.
NOT_RUN = {"engine-unavailable": "downloads a JDK", "jdk-not-run": "downloads a JDK"}
# Every code with a command is run by one test below; this is the list they cover.
RUN = {
    "key-password-mismatch",
    "store-type-mismatch",
    "keystore-format-unsupported",
    "truststore-cert-expired",
    "truststore-empty",
    "truststore-has-private-key",
    "truststore-pins-leaf",
    "server-cert-untrusted",
}


def test_every_code_with_a_command_is_run_by_a_test() -> None:
    with_command = {name for name, found in codes.CODES.items() if found.command_template}
    assert with_command == RUN | set(NOT_RUN)


# -- the command as data --------------------------------------------------------------------------

HOSTILE = "my store; rm -rf ~ $(id) `id` 'x' \"y\".jks"


@pytest.mark.parametrize("name", sorted(n for n, c in codes.CODES.items() if c.command_template))
def test_a_command_quotes_each_value_as_one_shell_word(name: str) -> None:
    found = codes.code(name)
    values = {field: f"{HOSTILE}-{field}" for field in FIELDS}
    command = found.command(**values)
    words = shlex.split(command)
    for field in found.command_fields:
        assert values[field] in words, (field, command)  # one word, exactly the value
    assert not re.search(r"\b[A-Z]{2,}_(?:FILE|TYPE|FORMAT)\b", command)


@pytest.mark.parametrize("name", sorted(n for n, c in codes.CODES.items() if c.command_template))
def test_a_command_with_a_field_unknown_is_not_printed(name: str) -> None:
    found = codes.code(name)
    all_known = {field: "x" for field in FIELDS}
    assert found.command(**all_known)  # the twin: everything known, it is printed
    for field in found.command_fields:
        assert found.command(**{k: v for k, v in all_known.items() if k != field}) == "", field


_GOOD = """
[codes.fine]
kind = "warning"
severity = ["warning"]
summary = "s"
fix = "f"
look_at = "l"
no_scenario = "n"
command = "keytool -delete -alias {alias} -keystore {keystore_file} -storepass:env KS_PASS"
"""


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ("-storepass changeit", "passwords only by environment variable"),
        ("-storepass:env KS_PASS -keypass changeit", "passwords only by environment variable"),
        ("-storepass:env KS_PASS -new:file pw.txt", "passwords only by environment variable"),
        ("-storepass:env KS_PASS --password-file pw", "passwords only by environment variable"),
        ("-storepass:env KS_PASS '{alias}'", "do not quote it"),
        ("-storepass:env KS_PASS {aliass}", "field {aliass}"),
        ("-storepass:env KS_PASS[ -v [{alias}]]", "an optional part"),
        ("-storepass:env KS_PASS[ -v {alias}", "an optional part"),
    ],
)
def test_the_registry_refuses_a_command_with_a_password_or_a_quoted_field(bad: str, said: str) -> None:
    assert load_codes(_GOOD)["fine"].command(alias="a", keystore_file="k") != ""  # the twin loads
    text = _GOOD.replace("-storepass:env KS_PASS", bad)
    with pytest.raises(RegistryError, match=re.escape(said)):
        load_codes(text)


# -- running the printed commands -----------------------------------------------------------------


def _check(destination: Path, cwd: Path, *extra: str) -> list[dict[str, Any]]:
    done = cli("check", str(destination), "--json", *extra, cwd=cwd)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)["findings"]
    _assert_no_known_placeholder(findings, url="--url" in extra)
    return findings


def _assert_no_known_placeholder(findings: list[dict[str, Any]], *, url: bool) -> None:
    """The files, the URL and an entry's alias are known to every finding of check: never a placeholder.

    The printed fix is matched against its template; each field check knows must not read as its placeholder.
    """
    known = {"keystore_file", "truststore_file", "store_file"} | ({"url", "host"} if url else set())
    for finding in findings:
        template = codes.code(finding["code"]).fix_template
        if not template or not finding["fix"]:
            continue
        filled = _filled_fields(template, finding["fix"])
        names = known | ({"alias"} if "(entry " in finding["subject"] else set())
        placeholders = {name for name in names & set(filled) if filled[name] == name.upper()}
        assert not placeholders, finding
        # A command is printed whole or not at all: no upper-case word but the password variables.
        assert not set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", finding["command"])) - _ENV_NAMES, finding


_ENV_NAMES = {"KS_PASS", "TS_PASS", "KEY_PASS"}


def _filled_fields(template: str, printed: str) -> dict[str, str]:
    """What each field of ``template`` reads as in ``printed`` (its first occurrence)."""
    pattern, names = "", []
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if name is not None:
            pattern += f"(?P<{name}>.*?)" if name not in names else ".*?"
            names.append(name)
    match = re.fullmatch(pattern, printed, re.DOTALL)
    assert match, (template, printed)
    return {name: match[name] for name in set(names)}


def _the(findings: list[dict[str, Any]], code: str) -> dict[str, Any]:
    found = [f for f in findings if f["code"] == code]
    assert found, [f["code"] for f in findings]
    return found[0]


def _run_printed(command: str, cwd: Path, passwords: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command exactly as printed, in a POSIX shell, mtls-harness and keytool on PATH."""
    for secret in passwords.values():
        assert secret not in command  # passwords by environment variable only
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env={**os.environ, "PATH": path, **passwords},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def _fixed_by_its_command(destination: Path, cwd: Path, code: str, passwords: dict[str, str], *extra: str) -> str:
    """check shows ``code`` with a command; run as printed, it makes check stop showing ``code``."""
    before = _the(_check(destination, cwd, *extra), code)
    command = before["command"]
    assert command, before
    _run_printed(command, cwd, passwords)
    after = _check(destination, cwd, *extra)
    assert code not in {f["code"] for f in after}, (command, after)
    return str(command)


def _fixture_case(case: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of fixtures/cases/CASE with its destination JSON (paths relative, as shipped); its passwords."""
    shutil.copytree(FIXTURES / "cases" / case, tmp_path / "cases" / case)
    (tmp_path / "destinations").mkdir()
    destination = tmp_path / "destinations" / f"{case}.json"
    shutil.copyfile(FIXTURES / "destinations" / f"{case}.json", destination)
    doc = json.loads(destination.read_text("utf-8"))
    return destination, {"KS_PASS": doc["keystorePass"], "TS_PASS": doc["truststorePass"]}


def test_key_password_mismatch_is_fixed_by_its_keytool_command(tmp_path: Path, java: str) -> None:
    destination, passwords = _fixture_case("key-password-mismatch", tmp_path)
    passwords["KEY_PASS"] = FIXTURE_KEY_PASS  # the key entry's own password: the command reads it from KEY_PASS
    command = _fixed_by_its_command(destination, tmp_path, "key-password-mismatch", passwords, "--engine", "python")
    assert command.startswith("keytool -keypasswd -alias client -keystore cases/key-password-mismatch/keystore.jks ")


@pytest.mark.parametrize("case", ["store-type-mismatch-pkcs12-as-jks", "store-type-mismatch-jceks"])
def test_store_type_mismatch_is_fixed_by_converting_in_place(case: str, tmp_path: Path, java: str) -> None:
    destination, passwords = _fixture_case(case, tmp_path)
    command = _fixed_by_its_command(destination, tmp_path, "store-type-mismatch", passwords, "--engine", "python")
    assert "-deststoretype JKS" in command


@pytest.mark.jdk
def test_keystore_format_unsupported_is_fixed_by_a_legacy_pkcs12(
    tmp_path: Path, java: str, real_jdks: dict[str, Any]
) -> None:
    destination, passwords = _fixture_case("keystore-openssl3-pkcs12", tmp_path)
    extra = ("--engine", "python", "--jdk", "11.0.10")
    command = _fixed_by_its_command(destination, tmp_path, "keystore-format-unsupported", passwords, *extra)
    assert "-Dkeystore.pkcs12.legacy" in command


def _expired_ca_pem(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Retired Partner CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=800))
        .not_valid_after(now - dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _keytool(cwd: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        ["keytool", *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_truststore_cert_expired_is_fixed_by_deleting_that_entry(tmp_path: Path, java: str) -> None:
    destination, passwords = _fixture_case("good", tmp_path)
    truststore = tmp_path / "cases" / "good" / "truststore.jks"
    pem = _expired_ca_pem(tmp_path / "retired.pem")
    _keytool(tmp_path, passwords, "-importcert", "-noprompt", "-alias", "retired ca", "-file", str(pem),
             "-keystore", str(truststore), "-storetype", "JKS", "-storepass:env", "TS_PASS")  # fmt: skip
    command = _fixed_by_its_command(destination, tmp_path, "truststore-cert-expired", passwords, "--engine", "python")
    assert "-alias 'retired ca'" in command


# -- the truststore fixes, against a live server ----------------------------------------------


@pytest.fixture
def ok_server(live: Callable[[Path], Live]) -> Live:
    return live(SCENARIOS / "ok-rsa.toml")


def _destination_with_truststore(target: Live, folder: Path, truststore: Path, password: str) -> Path:
    """The live scenario's keystore (copied into ``folder``) with a broken ``truststore``."""
    doc = json.loads(target.built.destination.read_text("utf-8"))
    keystore = folder / "keystore.jks"
    shutil.copyfile(target.built.keystore, keystore)
    destination = folder / "destination.json"
    destination.write_text(
        json.dumps(
            {**doc, "keystoreFile": keystore.name, "truststoreFile": truststore.name, "truststorePass": password}
        ),
        "utf-8",
    )
    return destination


def _live_fix(target: Live, folder: Path, truststore: Path, password: str, code: str) -> str:
    destination = _destination_with_truststore(target, folder, truststore, password)
    doc = json.loads(destination.read_text("utf-8"))
    passwords = {"KS_PASS": doc["keystorePass"], "TS_PASS": password}
    extra = ("--url", target.url, "--engine", "python", "--timeout", "20")
    command = _fixed_by_its_command(destination, folder, code, passwords, *extra)
    after = _check(destination, folder, *extra)
    assert not [f for f in after if f["severity"] == "error"], after  # the rewritten truststore works
    return command


def test_truststore_empty_is_fixed_by_its_truststore_command(ok_server: Live, tmp_path: Path, java: str) -> None:
    folder = tmp_path / "dest"
    folder.mkdir()
    truststore = folder / "trust store; $(id).jks"  # a name the shell must not split or run
    shutil.copyfile(FIXTURES / "cases" / "truststore-empty" / "truststore.jks", truststore)
    password = json.loads((FIXTURES / "destinations" / "truststore-empty.json").read_text("utf-8"))["truststorePass"]
    command = _live_fix(ok_server, folder, truststore, password, "truststore-empty")
    assert shlex.split(command)[:2] == ["mtls-harness", "truststore"]
    assert "'trust store; $(id).jks'" in command
    assert truststore.is_file()
    assert not (folder / "trust store").exists()


def test_server_cert_untrusted_is_fixed_by_its_truststore_command(ok_server: Live, tmp_path: Path, java: str) -> None:
    """The truststore also trusts the keystore's certificate (`truststore --add-keystore`): the fix keeps it."""
    folder = tmp_path / "dest"
    folder.mkdir()
    truststore = folder / "truststore.jks"  # trusts the fixture CAs, not this server's
    shutil.copyfile(FIXTURES / "cases" / "good" / "truststore.jks", truststore)
    password = json.loads((FIXTURES / "destinations" / "good.json").read_text("utf-8"))["truststorePass"]
    ks_pass = json.loads(ok_server.built.destination.read_text("utf-8"))["keystorePass"]
    passwords = {"KS_PASS": ks_pass, "TS_PASS": password}
    client = folder / "client.pem"
    _keytool(folder, passwords, "-exportcert", "-rfc", "-alias", "acme-client", "-file", str(client),
             "-keystore", str(ok_server.built.keystore), "-storepass:env", "KS_PASS")  # fmt: skip
    _keytool(folder, passwords, "-importcert", "-noprompt", "-alias", "our client", "-file", str(client),
             "-keystore", str(truststore), "-storetype", "JKS", "-storepass:env", "TS_PASS")  # fmt: skip
    command = _live_fix(ok_server, folder, truststore, password, "server-cert-untrusted")
    assert "--add-keystore keystore.jks --keystore-password-env KS_PASS" in command
    listed = subprocess.run(
        ["keytool", "-list", "-keystore", str(truststore), "-storepass:env", "TS_PASS"],
        env={**os.environ, **passwords}, capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    fingerprint = x509.load_pem_x509_certificate(client.read_bytes()).fingerprint(hashes.SHA256())
    assert ":".join(f"{b:02X}" for b in fingerprint) in listed  # still trusted after the rewrite


def test_a_truststore_without_the_keystores_certificate_gets_no_add_keystore(
    ok_server: Live, tmp_path: Path, java: str
) -> None:
    """The twin: a truststore that never held the keystore's certificate is not given it by the fix."""
    folder = tmp_path / "dest"
    folder.mkdir()
    truststore = folder / "truststore.jks"
    shutil.copyfile(FIXTURES / "cases" / "good" / "truststore.jks", truststore)
    password = json.loads((FIXTURES / "destinations" / "good.json").read_text("utf-8"))["truststorePass"]
    destination = _destination_with_truststore(ok_server, folder, truststore, password)
    finding = _the(_check(destination, folder, "--url", ok_server.url, "--engine", "python"), "server-cert-untrusted")
    assert finding["command"].startswith("mtls-harness truststore ")
    assert "--add-keystore" not in finding["command"]


def test_truststore_has_private_key_is_fixed_by_its_truststore_command(
    ok_server: Live, tmp_path: Path, java: str
) -> None:
    folder = tmp_path / "dest"
    folder.mkdir()
    truststore = folder / "truststore.p12"  # a PKCS#12 truststore: the command keeps its format
    shutil.copyfile(FIXTURES / "cases" / "truststore-has-private-key" / "truststore.jks", truststore)
    password = json.loads((FIXTURES / "destinations" / "truststore-has-private-key.json").read_text("utf-8"))[
        "truststorePass"
    ]
    _keytool(folder, {"TS_PASS": password}, "-importkeystore", "-noprompt", "-srckeystore", truststore.name,
             "-srcstorepass:env", "TS_PASS", "-destkeystore", truststore.name, "-deststoretype", "PKCS12",
             "-deststorepass:env", "TS_PASS")  # fmt: skip
    command = _live_fix(ok_server, folder, truststore, password, "truststore-has-private-key")
    assert "--format pkcs12" in command


def test_truststore_pins_leaf_is_fixed_by_its_truststore_command(ok_server: Live, tmp_path: Path, java: str) -> None:
    folder = tmp_path / "dest"
    folder.mkdir()
    leaf = x509.load_pem_x509_certificates(ok_server.built.server.chain.read_bytes())[0]
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    password = "ts-Pinned-1x"
    _keytool(folder, {"TS_PASS": password}, "-importcert", "-noprompt", "-alias", "server", "-file", "leaf.pem",
             "-keystore", "truststore.jks", "-storetype", "JKS", "-storepass:env", "TS_PASS")  # fmt: skip
    _live_fix(ok_server, folder, folder / "truststore.jks", password, "truststore-pins-leaf")


# -- every fixture: no placeholder for what the finding knows -------------------------------------


def test_no_fix_line_of_any_fixture_holds_a_placeholder_the_finding_knows(tmp_path: Path) -> None:
    """Every fixture, checked in one fleet run (JSON lines), with a URL nothing listens on."""
    shutil.copytree(FIXTURES / "cases", tmp_path / "cases")
    shutil.copytree(FIXTURES / "destinations", tmp_path / "destinations")
    for destination in (tmp_path / "destinations").glob("*.json"):
        doc = json.loads(destination.read_text("utf-8"))
        destination.write_text(json.dumps({**doc, "url": "https://127.0.0.1:9/in"}), "utf-8")
    done = cli("check", "destinations", "--json", "--engine", "python", "--timeout", "2", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(reports) == len(list((FIXTURES / "destinations").glob("*.json")))
    findings = [finding for report in reports for finding in report["findings"]]
    assert len(findings) > 40
    _assert_no_known_placeholder(findings, url=True)
    assert any(f["command"] for f in findings)


def test_a_known_field_left_as_a_placeholder_is_caught() -> None:
    """The twin of the test above: a fix that still reads ALIAS for an entry's finding fails the check."""
    good = {"code": "key-password-mismatch", "subject": "ks.jks (entry 'client')", "command": ""}
    fix = codes.fix("key-password-mismatch", alias="client", keystore_file="ks.jks")
    _assert_no_known_placeholder([{**good, "fix": fix}], url=False)
    with pytest.raises(AssertionError):
        _assert_no_known_placeholder([{**good, "fix": codes.fix("key-password-mismatch")}], url=False)
    with pytest.raises(AssertionError):
        _assert_no_known_placeholder([{**good, "fix": fix, "command": "keytool -alias ALIAS_NAME"}], url=False)


def test_a_fifo_named_as_a_store_does_not_block_the_command(tmp_path: Path) -> None:
    """Commands name a store's type from its first bytes: a FIFO is not read (it would never answer)."""
    from harness.check.report import Report
    from harness.destination import Destination
    from harness.secret import Secret

    os.mkfifo(tmp_path / "trust.p12")
    destination = Destination(
        tmp_path / "ks.jks", Secret("x"), tmp_path / "trust.p12", Secret("y"), url="https://h.example/p"
    )
    report = Report(destination)
    report.add("truststore-empty", "truststore", "trust.p12", "m")  # returns: the FIFO was not read
    assert report.findings[0].command.startswith("mtls-harness truststore https://h.example/p --out ")
    assert "--format pkcs12" in report.findings[0].command  # its type by name, as nothing else tells
