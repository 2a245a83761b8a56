"""``mtls-harness keystore`` and ``truststore``: the go-live stores, read back by the real ``keytool``.

The PKCS#12 inputs are ``fixtures/p12`` (written by openssl, facts in
``fixtures/manifest.json``); the servers are real local MTLS servers on
127.0.0.1 (``LocalServer``). What the platform will open is judged by the JDK's
own ``keytool``, never by this project's reader: one PrivateKeyEntry with its
full chain, a key that opens with the store password, trusted certificates
whose SHA-256 fingerprints are the ones the server sent.

Passwords are distinctive strings, passed through the environment or a file
(never the command line); every output is searched for them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from harness.scenario import Scenario
from tests.conftest import Live, assert_one_line_error, cli

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text("utf-8"))
P12: dict[str, dict[str, Any]] = MANIFEST["p12"]
P12_PASSWORDS: dict[str, str] = json.loads((FIXTURES / "p12" / "passwords.json").read_text("utf-8"))
SCENARIOS = REPO / "scenarios"

OUT_PW = "Out-Store-Pw-6d2f81"  # the new store's password in these tests
TS_PW = "Trust-Out-Pw-93ab4e"
EXTENSION = {"jks": ".jks", "pkcs12": ".p12"}


# -- running the tools ------------------------------------------------------------------------------------


def keytool_run(keytool: str, *args: str, utf8: bool = False, **passwords: str) -> subprocess.CompletedProcess[str]:
    """keytool in English, passwords only through ``-…:env`` variables, stdin closed (a prompt fails)."""
    env = {**os.environ, **passwords}
    if utf8:
        env["LC_ALL"] = "C.UTF-8"  # the JVM decodes the environment with the locale's charset
    return subprocess.run(
        [keytool, "-J-Duser.language=en", "-J-Duser.country=US", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Entry:
    alias: str
    type: str
    chain_length: int | None
    owners: list[str] = field(default_factory=list)
    issuers: list[str] = field(default_factory=list)
    sha256: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Listing:
    store_type: str
    entries: list[Entry]

    def fingerprints(self) -> set[str]:
        return {f for e in self.entries for f in e.sha256}


def _dn(text: str) -> str:
    """keytool prints ``CN=a, O=b``; RFC 4514 (and the manifest) writes ``CN=a,O=b``."""
    return re.sub(r",\s+", ",", text.strip())


def keytool_list(keytool: str, store: Path, password: str, *extra: str, utf8: bool = False) -> Listing:
    done = keytool_run(
        keytool,
        "-list",
        "-v",
        "-keystore",
        str(store),
        "-storepass:env",
        "STOREPASS",
        *extra,
        utf8=utf8,
        STOREPASS=password,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    store_type = re.search(r"^Keystore type: (\S+)", done.stdout, re.M)
    assert store_type is not None, done.stdout
    entries = []
    for block in done.stdout.split("Alias name: ")[1:]:
        kind = re.search(r"^Entry type: (\S+)", block, re.M)
        length = re.search(r"^Certificate chain length: (\d+)", block, re.M)
        assert kind is not None, block
        entries.append(
            Entry(
                alias=block.splitlines()[0].strip(),
                type=kind[1],
                chain_length=int(length[1]) if length else None,
                owners=[_dn(o) for o in re.findall(r"^Owner: (.*)$", block, re.M)],
                issuers=[_dn(i) for i in re.findall(r"^Issuer: (.*)$", block, re.M)],
                sha256=re.findall(r"^\s*SHA256: ([0-9A-F:]+)\s*$", block, re.M),
            )
        )
    return Listing(store_type[1], entries)


def key_opens_with_the_store_password(
    keytool: str, store: Path, alias: str, password: str, tmp_path: Path
) -> tuple[bool, bool]:
    """(certreq, importkeystore) both without a key password: each succeeds only if key password == store password."""
    certreq = keytool_run(
        keytool,
        "-certreq",
        "-alias",
        alias,
        "-keystore",
        str(store),
        "-storepass:env",
        "STOREPASS",
        STOREPASS=password,
    )
    copy = tmp_path / f"copy-{store.stem}.p12"
    copy.unlink(missing_ok=True)
    imported = keytool_run(
        keytool, "-importkeystore", "-noprompt", "-srckeystore", str(store), "-srcstorepass:env", "SRC",
        "-destkeystore", str(copy), "-deststoretype", "pkcs12", "-deststorepass:env", "DEST",
        SRC=password, DEST="Copy-Pw-0f4e2d",
    )  # fmt: skip
    ok_req = certreq.returncode == 0 and "-----BEGIN NEW CERTIFICATE REQUEST-----" in certreq.stdout
    return ok_req, imported.returncode == 0 and copy.is_file()


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- keystore ------------------------------------------------------------------------------------------------


def keystore_cmd(
    tmp_path: Path, name: str | Path, out: Path, *extra: str, p12_pw: str | None = None, out_pw: str = OUT_PW
) -> subprocess.CompletedProcess[str]:
    """``mtls-harness keystore`` on a fixture .p12 (by name, with its password) or on any file (a Path)."""
    source = name if isinstance(name, Path) else FIXTURES / P12[name]["file"]
    if p12_pw is None:
        assert isinstance(name, str), "give p12_pw for a file that is not a fixture"
        p12_pw = P12_PASSWORDS[name]
    env = {"P12_PW": p12_pw, "OUT_PW": out_pw}
    return cli(
        "keystore",
        str(source),
        "--out",
        str(out),
        "--p12-password-env",
        "P12_PW",
        "--password-env",
        "OUT_PW",
        *extra,
        cwd=tmp_path,
        env=env,
    )


def _secrets(*extra: str) -> set[str]:
    return {OUT_PW, TS_PW, *P12_PASSWORDS.values(), *extra}


@pytest.mark.jdk
@pytest.mark.parametrize("fmt", ["jks", "pkcs12"])
@pytest.mark.parametrize("name", sorted(P12))
def test_keystore_is_one_private_key_entry_with_the_full_chain(
    name: str, fmt: str, tmp_path: Path, keytool: str, no_secret: Any
) -> None:
    facts = P12[name]
    out = tmp_path / f"keystore{EXTENSION[fmt]}"
    done = keystore_cmd(tmp_path, name, out, "--format", fmt)
    assert done.returncode == 0, done.stdout + done.stderr
    assert mode(out) == 0o600

    listing = keytool_list(keytool, out, OUT_PW)
    assert listing.store_type == {"jks": "JKS", "pkcs12": "PKCS12"}[fmt]
    [entry] = listing.entries
    assert (entry.alias, entry.type) == (facts["alias"].lower(), "PrivateKeyEntry")
    assert entry.chain_length == facts["chain_length"] == len(entry.owners)
    assert entry.owners[0] == facts["subject"]
    assert entry.issuers[0] == facts["issuer"]
    assert entry.owners[1] == facts["issuer"]  # the chain goes on with the issuer, in order

    # key password == store password: keytool recovers the key with the store password alone
    assert key_opens_with_the_store_password(keytool, out, entry.alias, OUT_PW, tmp_path) == (True, True)

    assert facts["subject"] in done.stdout
    assert facts["issuer"] in done.stdout
    assert f"chain of {facts['chain_length']}" in done.stdout
    no_secret(done.stdout + done.stderr, _secrets())


@pytest.mark.jdk
def test_the_key_password_proof_fails_for_a_differing_key_password(keytool: str, tmp_path: Path) -> None:
    """The proof above is not vacuous: for a keystore whose key has its own password, keytool fails."""
    destination = FIXTURES / MANIFEST["cases"]["key-password-mismatch"]["destination"]
    doc = json.loads(destination.read_text("utf-8"))
    store = (destination.parent / doc["keystoreFile"]).resolve()
    [entry] = keytool_list(keytool, store, doc["keystorePass"]).entries
    assert entry.type == "PrivateKeyEntry"
    assert key_opens_with_the_store_password(keytool, store, entry.alias, doc["keystorePass"], tmp_path) == (
        False,
        False,
    )


@pytest.mark.jdk
@pytest.mark.parametrize(("fmt", "listed"), [("jks", "custom"), ("pkcs12", "Custom")])
def test_keystore_alias_option(
    fmt: str, listed: str, tmp_path: Path, keytool: str, openssl: str, no_secret: Any
) -> None:
    out = tmp_path / f"keystore{EXTENSION[fmt]}"
    done = keystore_cmd(tmp_path, "KeyPair-aes.p12", out, "--format", fmt, "--alias", "Custom")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"one key entry {listed!r}" in done.stdout
    [entry] = keytool_list(keytool, out, OUT_PW).entries
    # The JDK compares aliases without case and lists them in lower case, for JKS and PKCS#12 alike.
    assert (entry.alias, entry.type) == ("custom", "PrivateKeyEntry")
    if fmt == "pkcs12":
        # The case is kept in the file itself: the friendlyName openssl reads.
        shown = subprocess.run(
            [openssl, "pkcs12", "-in", str(out), "-nokeys", "-passin", "env:OUT_PW"],
            env={**os.environ, "OUT_PW": OUT_PW},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        assert re.findall(r"friendlyName: (\S+)", shown.stdout) == ["Custom"]
    no_secret(done.stdout + done.stderr, _secrets())


def test_keystore_without_alias_uses_the_pkcs12_friendly_name(tmp_path: Path) -> None:
    out = tmp_path / "keystore.jks"
    done = keystore_cmd(tmp_path, "KeyPair-aes.p12", out)
    assert done.returncode == 0, done.stderr
    assert f"one key entry {P12['KeyPair-aes.p12']['alias']!r}" in done.stdout


@pytest.mark.jdk
def test_keystore_passwords_from_files(tmp_path: Path, keytool: str, no_secret: Any) -> None:
    p12_file = tmp_path / "p12.pass"
    p12_file.write_text(P12_PASSWORDS["KeyPair-3des.p12"] + "\n", "utf-8")
    out_file = tmp_path / "out.pass"
    out_file.write_text(OUT_PW + "\nnot part of it\n", "utf-8")
    out = tmp_path / "keystore.jks"
    done = cli(
        "keystore",
        str(FIXTURES / P12["KeyPair-3des.p12"]["file"]),
        "--out",
        str(out),
        "--p12-password-file",
        str(p12_file),
        "--password-file",
        str(out_file),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [entry] = keytool_list(keytool, out, OUT_PW).entries
    assert entry.type == "PrivateKeyEntry"
    no_secret(done.stdout + done.stderr, _secrets())


@pytest.mark.parametrize("name", sorted(P12))
def test_keystore_with_a_wrong_p12_password_is_exit_2_and_writes_nothing(
    name: str, tmp_path: Path, no_secret: Any
) -> None:
    out = tmp_path / "keystore.jks"
    done = keystore_cmd(tmp_path, name, out, p12_pw="p12-Wrong-Pw-5c3b")
    assert_one_line_error(done, name, "password")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary file left either
    no_secret(done.stderr, _secrets("p12-Wrong-Pw-5c3b"))


def test_keystore_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "keystore.jks"
    out.write_bytes(b"the keystore in production")
    done = keystore_cmd(tmp_path, "KeyPair-aes.p12", out)
    assert_one_line_error(done, "already exists", "--force")
    assert out.read_bytes() == b"the keystore in production"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keystore.jks"]


@pytest.mark.jdk
def test_keystore_force_replaces_the_file(tmp_path: Path, keytool: str) -> None:
    out = tmp_path / "keystore.jks"
    out.write_bytes(b"the keystore in production")
    out.chmod(0o644)
    done = keystore_cmd(tmp_path, "KeyPair-aes.p12", out, "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    assert mode(out) == 0o600
    [entry] = keytool_list(keytool, out, OUT_PW).entries
    assert entry.type == "PrivateKeyEntry"


def _good_jks() -> tuple[Path, str]:
    destination = FIXTURES / MANIFEST["cases"]["good"]["destination"]
    doc = json.loads(destination.read_text("utf-8"))
    return (destination.parent / doc["keystoreFile"]).resolve(), doc["keystorePass"]


def test_keystore_refuses_a_jks_file_as_input(tmp_path: Path, no_secret: Any) -> None:
    jks, password = _good_jks()
    out = tmp_path / "keystore.jks"
    done = keystore_cmd(tmp_path, jks, out, p12_pw=password)
    assert_one_line_error(done, "JKS", "not PKCS#12")
    assert not out.exists()
    no_secret(done.stderr, _secrets(password))


def test_keystore_names_a_jks_input_even_when_the_password_does_not_open_it(tmp_path: Path) -> None:
    jks, _ = _good_jks()
    out = tmp_path / "keystore.jks"
    done = keystore_cmd(tmp_path, jks, out, p12_pw="p12-Wrong-Pw-5c3b")
    assert done.returncode == 2
    assert not out.exists()
    assert "not PKCS#12" in done.stderr, done.stderr


def test_keystore_with_a_missing_input_is_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "keystore.jks"
    done = keystore_cmd(tmp_path, tmp_path / "KeyPair.p12", out, p12_pw="x")
    assert_one_line_error(done, "KeyPair.p12", "no such file")
    assert not out.exists()


@pytest.mark.parametrize("missing", ["p12", "new"])
def test_keystore_without_a_password_source_and_no_terminal_is_exit_2(
    missing: str, tmp_path: Path, no_secret: Any
) -> None:
    out = tmp_path / "keystore.jks"
    options = {"p12": ["--p12-password-env", "P12_PW"], "new": ["--password-env", "OUT_PW"]}
    args = [a for kind, pair in options.items() if kind != missing for a in pair]
    env = {"P12_PW": P12_PASSWORDS["KeyPair-aes.p12"], "OUT_PW": OUT_PW}
    done = cli(
        "keystore", str(FIXTURES / P12["KeyPair-aes.p12"]["file"]), "--out", str(out), *args, cwd=tmp_path, env=env
    )
    assert_one_line_error(done, "no password given", "--p12-password-env" if missing == "p12" else "--password-env")
    assert not out.exists()
    no_secret(done.stderr, _secrets())


def test_keystore_with_an_empty_password_is_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "keystore.jks"
    done = keystore_cmd(tmp_path, "KeyPair-aes.p12", out, out_pw="")
    assert_one_line_error(done, "empty")
    assert not out.exists()


NON_ASCII_PW = "Kß-Pässwort-€-4e1"


def assert_keytool_opens_or_refused(
    done: subprocess.CompletedProcess[str], out: Path, keytool: str, entry_type: str
) -> None:
    """Either the command refused the password (exit 2, nothing written) or the JDK opens what it wrote."""
    if done.returncode == 2:
        assert_one_line_error(done)
        assert not out.exists()
        return
    assert done.returncode == 0, done.stdout + done.stderr
    listed = keytool_run(keytool, "-list", "-keystore", str(out), "-storepass:env", "P", utf8=True, P=NON_ASCII_PW)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert entry_type in listed.stdout


@pytest.mark.jdk
@pytest.mark.parametrize("fmt", ["jks", "pkcs12"])
def test_keystore_with_a_non_ascii_password_opens_in_keytool_or_is_refused(
    fmt: str, tmp_path: Path, keytool: str
) -> None:
    out = tmp_path / f"keystore{EXTENSION[fmt]}"
    done = keystore_cmd(tmp_path, "KeyPair-aes.p12", out, "--format", fmt, out_pw=NON_ASCII_PW)
    assert_keytool_opens_or_refused(done, out, keytool, "PrivateKeyEntry")


# -- truststore ------------------------------------------------------------------------------------------------


def truststore_cmd(
    url: str, out: Path, cwd: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return cli(
        "truststore", url, "--out", str(out), "--password-env", "TS_PW", "--timeout", "20", *extra,
        cwd=cwd, env={"TS_PW": TS_PW, **(env or {})},
    )  # fmt: skip


def assert_lists(stdout: str, certs: list[x509.Certificate]) -> None:
    """The command's summary names each certificate: subject, SHA-256 and expiry."""
    for cert in certs:
        assert cert.subject.rfc4514_string() in stdout
        assert f"SHA-256 {fingerprint(cert)}" in stdout
        assert f"expires {cert.not_valid_after_utc:%Y-%m-%d}" in stdout


@pytest.mark.jdk
@pytest.mark.parametrize("fmt", ["jks", "pkcs12"])
def test_truststore_holds_the_top_ca_the_server_sent(
    live: Callable[[Path], Live], fmt: str, tmp_path: Path, keytool: str, no_secret: Any
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    out = tmp_path / f"truststore{EXTENSION[fmt]}"
    done = truststore_cmd(target.url, out, tmp_path, "--format", fmt)
    assert done.returncode == 0, done.stdout + done.stderr
    assert mode(out) == 0o600

    sent = target.chain()
    assert len(sent) >= 2  # leaf and intermediate: the scenario's server sends its chain
    listing = keytool_list(keytool, out, TS_PW)
    assert listing.store_type == {"jks": "JKS", "pkcs12": "PKCS12"}[fmt]
    assert {e.type for e in listing.entries} == {"trustedCertEntry"}
    # issue 24: the top CA only (was: every certificate sent, leaf included), so it survives renewal
    assert listing.fingerprints() == {fingerprint(sent[-1])}
    assert fingerprint(sent[0]) not in listing.fingerprints()
    assert_lists(done.stdout, [sent[-1]])
    # Which Java opens it: said for a PKCS#12 (JDK 11.0.10's keytool cannot: tests/test_keystore_pem.py), not for JKS.
    assert ("Java 8u301 / 11.0.12 / 12 and newer open it" in done.stdout) == (fmt == "pkcs12"), done.stdout
    no_secret(done.stdout + done.stderr, {TS_PW, *(s.reveal() for s in _passwords(target.scenario))})


def _passwords(scenario: Scenario) -> list[Any]:
    return [scenario.keystore.password, scenario.truststore.password]


@pytest.mark.jdk
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize("client_auth", ["required", "none"])
def test_truststore_gets_the_chain_whether_or_not_the_server_requires_a_certificate(
    live: Callable[[Path], Live], write_scenario: Any, tls: str, client_auth: str, tmp_path: Path, keytool: str
) -> None:
    """A server requiring a client certificate still shows its chain to the certificate-less connection."""
    overrides = {"server": {"client_auth": client_auth, "tls_versions": [tls]}}
    target = live(write_scenario(overrides, name=f"server-{client_auth}-{tls}"))
    out = tmp_path / "truststore.jks"
    done = truststore_cmd(target.url, out, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # issue 24: the top CA the server sends (was: the whole chain, leaf included)
    assert keytool_list(keytool, out, TS_PW).fingerprints() == {fingerprint(target.chain()[-1])}


@pytest.mark.jdk
def test_truststore_with_the_keystore_then_check_passes_against_the_same_server(
    live: Callable[[Path], Live], tmp_path: Path, keytool: str, java: str, no_secret: Any
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    ks_pw = target.scenario.keystore.password.reveal()
    out = target.built.folder / "truststore-new.jks"
    done = truststore_cmd(
        target.url,
        out,
        tmp_path,
        "--add-keystore",
        str(target.built.keystore),
        "--keystore-password-env",
        "KS_PW",
        env={"KS_PW": ks_pw},
    )
    assert done.returncode == 0, done.stdout + done.stderr

    # the keystore's certificates, as keytool sees them, are added to the server's
    keystore_certs = {f for e in keytool_list(keytool, target.built.keystore, ks_pw).entries for f in e.sha256}
    assert keystore_certs
    listing = keytool_list(keytool, out, TS_PW)
    assert {e.type for e in listing.entries} == {"trustedCertEntry"}
    assert listing.fingerprints() == {fingerprint(target.chain()[-1])} | keystore_certs  # issue 24: no leaf
    assert len(listing.entries) == len(listing.fingerprints())  # each certificate once
    no_secret(done.stdout + done.stderr, {TS_PW, ks_pw})

    verdict = _check(target, tmp_path, out)
    assert verdict["returncode"] == 0, verdict
    assert verdict["handshake"] == {"python": "ok", "jsse": "ok"}
    assert verdict["problems"] == set()


def check_report(target: Live, tmp_path: Path, truststore: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    """``check --json`` (all engines) of the target's keystore with ``truststore``, against the target's server."""
    destination = tmp_path / f"destination-{truststore.stem}.json"
    doc = {
        "url": target.url,
        "keystoreFile": str(target.built.keystore),
        "keystorePass": target.scenario.keystore.password.reveal(),
        "truststoreFile": str(truststore),
        "truststorePass": TS_PW,
    }
    destination.write_text(json.dumps(doc), "utf-8")
    done = cli("check", str(destination), "--json", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done, json.loads(done.stdout)


def _check(target: Live, tmp_path: Path, truststore: Path) -> dict[str, Any]:
    """check_report, summed up: exit code, each engine's handshake code, the errors and warnings."""
    done, report = check_report(target, tmp_path, truststore)
    findings = report["findings"]
    return {
        "returncode": done.returncode,
        "handshake": {engine: f["code"] for f in findings for engine in f["engines"]},  # one finding per cause
        "problems": {(f["check"], f["code"]) for f in findings if f["severity"] in ("error", "warning")},
        "output": done.stdout + done.stderr,
    }


@pytest.mark.jdk
def test_truststore_of_another_server_fails_check(
    live: Callable[[Path], Live], tmp_path: Path, java: str, no_secret: Any
) -> None:
    """The negative twin: the same scenario built twice is two servers with two CAs."""
    target = live(SCENARIOS / "ok-rsa.toml")
    other = live(SCENARIOS / "ok-rsa.toml")
    assert {fingerprint(c) for c in target.chain()}.isdisjoint({fingerprint(c) for c in other.chain()})
    mine, theirs = tmp_path / "mine.jks", tmp_path / "theirs.jks"
    assert truststore_cmd(target.url, mine, tmp_path).returncode == 0
    assert truststore_cmd(other.url, theirs, tmp_path).returncode == 0

    good = _check(target, tmp_path, mine)
    assert (good["returncode"], good["problems"]) == (0, set())
    bad = _check(target, tmp_path, theirs)
    assert bad["returncode"] == 1
    assert ("server-chain", "server-cert-untrusted") in bad["problems"]
    assert bad["handshake"] == {"python": "server-cert-untrusted", "jsse": "server-cert-untrusted"}
    no_secret(good["output"] + bad["output"], {TS_PW, *(s.reveal() for s in _passwords(target.scenario))})


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port that is reserved (bound, so nobody else takes it) and refuses connections."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reserved:
        reserved.bind(("127.0.0.1", 0))
        yield reserved.getsockname()[1]


def test_truststore_of_an_unreachable_url_is_exit_2_and_writes_nothing(tmp_path: Path, closed_port: int) -> None:
    out = tmp_path / "truststore.jks"
    done = truststore_cmd(f"https://127.0.0.1:{closed_port}/inbound", out, tmp_path)
    assert_one_line_error(done, f"127.0.0.1:{closed_port}", "cannot reach the server")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    assert TS_PW not in done.stderr


def test_truststore_of_a_malformed_url_is_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "truststore.jks"
    done = truststore_cmd("http://127.0.0.1:1/", out, tmp_path)
    assert_one_line_error(done, "not an https:// URL")
    assert not out.exists()


@pytest.mark.jdk
def test_truststore_refuses_to_overwrite_unless_forced(
    live: Callable[[Path], Live], tmp_path: Path, keytool: str
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    out = tmp_path / "truststore.jks"
    out.write_bytes(b"the truststore in production")
    refused = truststore_cmd(target.url, out, tmp_path)
    assert_one_line_error(refused, "already exists", "--force")
    assert out.read_bytes() == b"the truststore in production"
    assert target.server.handshakes == []  # refused before connecting

    forced = truststore_cmd(target.url, out, tmp_path, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    # issue 24: the top CA the server sends (was: the whole chain, leaf included)
    assert keytool_list(keytool, out, TS_PW).fingerprints() == {fingerprint(target.chain()[-1])}


def test_truststore_add_keystore_with_a_wrong_password_is_exit_2(
    live: Callable[[Path], Live], tmp_path: Path, no_secret: Any
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    out = tmp_path / "truststore.jks"
    done = truststore_cmd(
        target.url,
        out,
        tmp_path,
        "--add-keystore",
        str(target.built.keystore),
        "--keystore-password-env",
        "KS_PW",
        env={"KS_PW": "ks-Wrong-Pw-77d0"},
    )
    assert_one_line_error(done, "keystore.jks")
    assert not out.exists()
    no_secret(done.stderr, {TS_PW, "ks-Wrong-Pw-77d0", target.scenario.keystore.password.reveal()})


@pytest.mark.jdk
@pytest.mark.parametrize("fmt", ["jks", "pkcs12"])
def test_truststore_with_a_non_ascii_password_opens_in_keytool_or_is_refused(
    live: Callable[[Path], Live], fmt: str, tmp_path: Path, keytool: str
) -> None:
    target = live(SCENARIOS / "ok-rsa.toml")
    out = tmp_path / f"truststore{EXTENSION[fmt]}"
    done = cli(
        "truststore", target.url, "--out", str(out), "--format", fmt, "--password-env", "TS_PW",
        cwd=tmp_path, env={"TS_PW": NON_ASCII_PW},
    )  # fmt: skip
    assert_keytool_opens_or_refused(done, out, keytool, "trustedCertEntry")


# -- the whole "Before go-live" sequence: keystore, truststore, check -----------------------------------------------


@pytest.mark.jdk
@pytest.mark.parametrize("ready", [True, False], ids=["its-own-server", "a-server-trusting-another-ca"])
def test_go_live_sequence_from_a_key_pair(
    live: Callable[[Path], Live],
    write_scenario: Any,
    tmp_path: Path,
    keytool: str,
    java: str,
    ready: bool,
    no_secret: Any,
) -> None:
    """README "Before go-live": KeyPair.p12 -> keystore, URL -> truststore, then check.

    The KeyPair.p12 is ok-pkcs12's keystore (one key entry and its chain, as a CA issues it). Against ok-pkcs12's
    own server, which trusts that key pair's root, the destination is ready; against a server trusting another
    client root (the suite's base scenario: "CN=Test Client Root CA"), the same steps end in check's exit 1.
    """
    issuer_side = live(SCENARIOS / "ok-pkcs12.toml")
    server = issuer_side if ready else live(write_scenario(name="other-client-ca"))
    site = tmp_path / "site"
    site.mkdir()
    key_pair = site / "KeyPair.p12"
    shutil.copy(issuer_side.built.keystore, key_pair)
    env = {"P12_PASS": issuer_side.scenario.keystore.password.reveal(), "KS_PASS": OUT_PW, "TS_PASS": TS_PW}

    made = cli(
        "keystore", "KeyPair.p12", "--out", "keystore.jks", "--p12-password-env", "P12_PASS",
        "--password-env", "KS_PASS", cwd=site, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    trusted = cli(
        "truststore", server.url, "--out", "truststore.jks", "--password-env", "TS_PASS",
        "--add-keystore", "keystore.jks", "--keystore-password-env", "KS_PASS", cwd=site, env=env,
    )  # fmt: skip
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    [entry] = keytool_list(keytool, site / "keystore.jks", OUT_PW).entries
    assert entry.type == "PrivateKeyEntry"

    doc = {
        "url": server.url,
        "keystoreFile": "keystore.jks",
        "keystorePass": OUT_PW,
        "truststoreFile": "truststore.jks",
        "truststorePass": TS_PW,
    }
    (site / "destination.json").write_text(json.dumps(doc), "utf-8")
    checked = cli("check", "destination.json", "--json", cwd=site)
    report = json.loads(checked.stdout)
    handshake = {engine: f["code"] for f in report["findings"] for engine in f["engines"]}
    if ready:
        assert checked.returncode == 0, checked.stdout
        assert handshake == {"python": "ok", "jsse": "ok"}
    else:
        assert checked.returncode == 1, checked.stdout
        assert set(handshake) == {"python", "jsse"}
        assert "ok" not in handshake.values()
        assert {f["severity"] for f in report["findings"] if f["engines"]} == {"error"}
        # check names the cause before any handshake: the server's CA names are not the key pair's
        [missing] = [
            f for f in report["findings"] if (f["check"], f["code"]) == ("client-ca-names", "client-cert-missing")
        ]
        assert server.scenario.pki["client-root"].subject in missing["message"]
    secrets = {OUT_PW, TS_PW, *(s.reveal() for s in _passwords(issuer_side.scenario))}
    no_secret(made.stdout + made.stderr + trusted.stdout + trusted.stderr + checked.stdout + checked.stderr, secrets)
