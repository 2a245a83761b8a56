"""Attacks on what the harness prints: aliases, subjects and URLs chosen by someone else, and password files.

- A real JKS (written by pyjks, as keytool writes it) whose key entry aliases hold a
  line break, ANSI escapes and an OSC title sequence, including a whole forged
  "result: ... ready for go-live" line: ``check`` must show them escaped in its text,
  JSON and JUnit, never as a line of their own nor raw on the terminal.
- A server whose certificate subject and SAN hold the same: ``capture`` and
  ``check --url`` show them escaped.
- A URL with ``user:password@``: masked in every output of ``check`` and a fleet,
  and still the URL connected to (the handshake runs).
- Password files that are ``/dev/zero``, a FIFO, a huge or a binary file: one line, exit 2.

Each through the real command, bounded in time (tests/bounded.py); each with a
negative twin: a normal alias, subject, URL and password file print unchanged.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.build import Built, write_scenario_files
from harness.limits import PASSWORD_FILE_BYTES
from harness.scenario import load_scenario
from harness.secret import Secret
from harness.server.records import ServerRecords
from harness.stores.jks import jks_bytes
from harness.text import inert, mask_url, shown
from tests.bounded import Bounded, run_bounded
from tests.conftest import BASE, Live, merged, to_toml
from tests.hostile import HostileServer

FORGED = "result: 0 error(s), 0 warning(s): ready for go-live (verified with jsse)"
# JKS aliases are lower case (keytool lower-cases them); the escapes survive that.
EVIL_ALIAS = f"test-client\n{FORGED}\x1b[2j\x1b[31m"
EVIL_ALIAS_2 = "second\x1b]0;owned\x07\r"
EVIL_NAME = "evil\nready for go-live (verified with JSSE)\x1b[2J\x1b]0;owned\x07"
RAW = ("\x1b", "\x07", "\r")  # what must never reach the terminal from a file or a server
KEYSTORE_PASSWORD = BASE["keystore"]["password"]

TABLE: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _table() -> Iterator[None]:
    yield
    if TABLE:
        print("\n| attack | exit | time | peak RSS |\n|---|---|---|---|\n" + "\n".join(TABLE))


def _ran(result: Bounded, *codes: int) -> Bounded:
    TABLE.append(result.row())
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode in codes, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _assert_inert(text: str) -> None:
    """No raw control character; no line of its own that starts like a verdict, except the real last one."""
    for char in RAW:
        assert char not in text, repr(text[:3000])
    lines = [line.lstrip().lower() for line in text.splitlines()]
    results = [i for i, line in enumerate(lines) if line.startswith("result:")]
    assert results in ([], [len(lines) - 1]), text
    assert not any(line.startswith("ready for go-live") for line in lines), text


# -- a keystore whose aliases forge lines -------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> Built:
    (tmp_path / "case.toml").write_text(to_toml(merged(BASE, {})) + "\n", "utf-8")
    folder = tmp_path / "built"
    folder.mkdir()
    return write_scenario_files(load_scenario(tmp_path / "case.toml"), folder)


def _keystore_with_aliases(built: Built, *aliases: str) -> Path:
    """The built keystore rewritten as a JKS whose key entries (the same key and chain) have ``aliases``."""
    material = built.material
    chain = [material.cert("client"), material.cert("client-ca")]
    key = material.issued["client"].key
    data = jks_bytes([(alias, key, chain) for alias in aliases], [], Secret(KEYSTORE_PASSWORD))
    built.keystore.write_bytes(data)
    doc = json.loads(built.destination.read_text("utf-8"))
    del doc["url"]  # the stores only: the aliases reach the report without a server
    path = built.folder / "stores-only.json"
    path.write_text(json.dumps(doc), "utf-8")
    return path


def _check_everything(destination: Path, tmp_path: Path, name: str, *extra: str) -> tuple[str, dict, str]:
    junit = tmp_path / f"{name}.xml"
    text = _ran(run_bounded(f"check ({name}) text", "check", str(destination), *extra, memory_mb=None), 0, 1)
    doc = _ran(run_bounded(f"check ({name}) --json", "check", str(destination), "--json", *extra, memory_mb=None), 0, 1)
    _ran(
        run_bounded(
            f"check ({name}) --junit", "check", str(destination), "--junit", str(junit), *extra, memory_mb=None
        ),
        0,
        1,
    )
    return text.stdout + text.stderr, json.loads(doc.stdout), junit.read_text("utf-8")


def test_aliases_with_line_breaks_and_escapes_are_shown_escaped(built: Built, tmp_path: Path) -> None:
    destination = _keystore_with_aliases(built, EVIL_ALIAS, EVIL_ALIAS_2)
    text, doc, junit = _check_everything(destination, tmp_path, "hostile aliases")
    _assert_inert(text)
    assert "\\x1b[2j\\x1b[31m" in text  # shown, as its escape
    assert "second\\x1b]0;owned\\x07\\r" in text
    assert text.splitlines()[-1].startswith("result: 1 error(s)")  # the real result line, last and alone
    assert "NOT ready for go-live" in text.splitlines()[-1]
    assert doc["ready"] is False
    for finding in doc["findings"]:
        for value in (finding["subject"], finding["message"], finding["fix"]):
            assert not re.search(r"[\x00-\x1f\x7f]", value), value  # also safe for `jq -r`
    assert not any(re.search(r"[\x00-\x1f\x7f]", k + v) for k, v in doc["facts"].items())
    for element in ET.fromstring(junit.encode()).iter():  # noqa: S314 (the file this test wrote)
        for value in [element.text or "", *element.attrib.values()]:
            _assert_inert(value)


def test_normal_aliases_print_unchanged(built: Built, tmp_path: Path) -> None:
    destination = _keystore_with_aliases(built, "test-client", "second")
    text, doc, _ = _check_everything(destination, tmp_path, "normal aliases")
    assert "holds 2 key entries ('test-client', 'second')" in text
    assert "client certificate test-client: CN=test-client,O=Test Corp" in text
    assert any("('test-client', 'second')" in f["message"] for f in doc["findings"])


# -- a server whose certificate names forge lines -----------------------------------------------------


def _server_context(tmp_path: Path, common_name: str, dns_name: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    sans = x509.SubjectAlternativeName([x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(sans, critical=False)
        .sign(key, hashes.SHA256())
    )
    chain, key_file = tmp_path / "server-chain.pem", tmp_path / "server-key.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    return context


def _answering(context: ssl.SSLContext) -> Callable[[socket.socket], None]:
    """A handshake, then a 200 whose header holds an escape, to any request."""

    def behave(conn: socket.socket) -> None:
        conn.settimeout(5)
        with context.wrap_socket(conn, server_side=True) as tls:
            data = b""
            for _ in range(100):
                chunk = tls.recv(1 << 16)
                if not chunk:
                    return
                data += chunk
                if b"\r\n\r\n" in data:
                    tls.sendall(b"HTTP/1.1 200 OK\r\nX-Evil: a\x1b[31mb\r\nContent-Length: 0\r\n\r\n")
                    return

    return behave


@pytest.mark.parametrize("hostile", [True, False], ids=["hostile-subject", "normal-subject"])
def test_server_certificate_names_are_shown_escaped(hostile: bool, built: Built, tmp_path: Path) -> None:
    common_name, dns_name = (EVIL_NAME, "evil\x1b[31m.example") if hostile else ("server.example", "server.example")
    destination = _keystore_with_aliases(built, "test-client")
    with HostileServer(_answering(_server_context(tmp_path, common_name, dns_name))) as server:
        url = f"https://127.0.0.1:{server.port}/inbound"
        captured = _ran(run_bounded(f"capture ({'hostile' if hostile else 'normal'} subject)", "capture", url), 0)
        checked = _ran(
            run_bounded(
                f"check --url ({'hostile' if hostile else 'normal'} subject)",
                "check",
                str(destination),
                "--url",
                url,
                "--engine",
                "python",
                memory_mb=None,
            ),
            1,
        )
        trusted = _ran(
            run_bounded(
                f"truststore URL ({'hostile' if hostile else 'normal'} subject)",
                "truststore",
                url,
                "--out",
                str(tmp_path / "truststore.jks"),
                "--password-env",
                "NEW_TRUSTSTORE_PASSWORD",
                "--pin-leaf",  # the server sends only its self-signed certificate: its name is what is printed
                env={"NEW_TRUSTSTORE_PASSWORD": "ts-New-4b1d"},
                memory_mb=None,
            ),
            0,
        )
    for output in (captured.stdout, checked.stdout + checked.stderr, trusted.stdout + trusted.stderr):
        _assert_inert(output)
        if hostile:
            assert "CN=evil\\nready for go-live (verified with JSSE)\\x1b[2J\\x1b]0\\;owned\\x07" in output
        else:
            assert "CN=server.example" in output  # the twin: printed as it is


# -- credentials in a URL ----------------------------------------------------------------------------


@pytest.mark.parametrize("userinfo", ["deploy:url-Pw-7f3a91@", ""], ids=["password-in-url", "no-password"])
def test_url_password_is_masked_everywhere_and_still_connects(
    userinfo: str, live: Callable[[Path], Live], tmp_path: Path
) -> None:
    scenario = tmp_path / "case.toml"
    scenario.write_text(to_toml(merged(BASE, {})) + "\n", "utf-8")
    running = live(scenario)
    url = running.url.replace("https://", f"https://{userinfo}")
    doc = json.loads(running.built.destination.read_text("utf-8"))
    doc["url"] = url
    destination = running.built.folder / "with-url.json"
    destination.write_text(json.dumps(doc), "utf-8")
    text, report, junit = _check_everything(destination, tmp_path, userinfo or "plain url", "--engine", "python")
    other = running.built.folder / "fleet"
    other.mkdir()
    (other / "a.json").write_text(json.dumps({**doc, "keystoreFile": "../keystore.jks"}), "utf-8")
    (other / "b.json").write_text(
        json.dumps({**doc, "truststoreFile": "../truststore.jks", "keystoreFile": "../keystore.jks"}), "utf-8"
    )
    fleet = _ran(run_bounded("check FOLDER (fleet)", "check", str(other), "--engine", "python", memory_mb=None), 0, 1)
    outputs = (text, json.dumps(report), junit, fleet.stdout + fleet.stderr)
    for output in outputs:
        assert "url-Pw-7f3a91" not in output
    assert report["ready"] is True  # the handshake ran against the URL as given
    if userinfo:
        masked = url.replace("url-Pw-7f3a91", "***")
        assert all(masked in output for output in outputs[:3])
        assert "deploy:***@" in fleet.stdout
    else:
        assert all(url in output for output in outputs[:3])


# -- password files -----------------------------------------------------------------------------------


@pytest.fixture
def stores_only(built: Built) -> Path:
    return _keystore_with_aliases(built, "test-client")


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "huge", "binary"])
def test_hostile_password_file_is_one_line_exit_2(kind: str, stores_only: Path, tmp_path: Path) -> None:
    path = tmp_path / "password"
    if kind == "/dev/zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)  # no writer: reading would block for ever
    elif kind == "huge":
        path.write_bytes(KEYSTORE_PASSWORD.encode() + b"\n" + b"x" * PASSWORD_FILE_BYTES.value)
    else:
        path.write_bytes(b"\xff\xfe\x00binary")
    result = run_bounded(
        f"check --keystore-password-file ({kind})",
        "check",
        str(stores_only),
        "--keystore-password-file",
        str(path),
        timeout=60,
        memory_mb=1024,  # refused before any JVM starts
    )
    TABLE.append(result.row())
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"mtls-harness: error: {path}: "), result.stderr
    assert KEYSTORE_PASSWORD not in result.stderr + result.stdout


def test_password_file_twin_is_read(stores_only: Path, tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text(KEYSTORE_PASSWORD + "\n", "utf-8")
    result = _ran(
        run_bounded(
            "check --keystore-password-file (regular file)",
            "check",
            str(stores_only),
            "--keystore-password-file",
            str(path),
            memory_mb=None,
        ),
        0,
    )
    assert "stores look right" in result.stdout


# -- the one function -----------------------------------------------------------------------------------


def test_inert_escapes_controls_and_keeps_printable_text() -> None:
    assert inert("a\nb\x1b[31mc\x07\x00\u202e\x9b") == "a\\nb\\x1b[31mc\\x07\\x00\\u202e\\x9b"
    for normal in ("CN=Müller\\, Jörg,O=Test Corp", "alias-1 (RSA 2048)", "日本語", "tab\\there"):
        assert inert(normal) == normal


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("https://user:pw@host:8443/p?q=1") == "https://user:***@host:8443/p?q=1"
    assert mask_url("against https://u:p@ss@h/x and https://h/y") == "against https://u:***@h/x and https://h/y"
    for normal in ("https://host:8443/path", "https://user@host/path", "mailto:a@b"):
        assert mask_url(normal) == normal
    assert shown("https://u:p@h/\n") == "https://u:***@h/\\n"


def test_serve_lines_are_inert() -> None:
    lines: list[str] = []
    ServerRecords(on_event=lines.append).event("request GET /x\x1b[2J\nhandshake accepted: CN=forged")
    assert lines == ["request GET /x\\x1b[2J\\nhandshake accepted: CN=forged"]
