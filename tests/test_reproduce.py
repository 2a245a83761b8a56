"""``reproduce`` on keytool-made customer stores: the scenario it writes passes ``run`` with ``check``'s code.

For each case the customer's destination is made with keytool (tests/customer_stores.py),
``check`` runs on it without its URL (nothing is sent to the customer's host),
``reproduce`` writes DIR, ``run DIR`` (the JDK, as the platform) must pass, and
DIR must hold no customer name, password, certificate or key byte.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from harness.knowledge.codes import OUTCOME_CODES
from harness.secret import Secret
from harness.stores import read_store
from tests.conftest import assert_one_line_error, cli
from tests.customer_stores import CASES, CUSTOMER_STRINGS, KS_PASS, make_customer_destination

pytestmark = pytest.mark.jdk


def _check_code(destination: Path, tmp_path: Path) -> str:
    """``mtls-harness check`` on the customer's stores only: the JSON without its url."""
    doc = json.loads(destination.read_text("utf-8"))
    doc.pop("url")
    static = destination.with_name("static.json")
    static.write_text(json.dumps(doc), "utf-8")
    done = cli("check", str(static), "--json", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    findings = json.loads(done.stdout)["findings"]
    errors = [f["code"] for f in findings if f["severity"] == "error"]
    warnings = [f["code"] for f in findings if f["code"] in OUTCOME_CODES]
    return errors[0] if errors else warnings[0] if warnings else "ok"


def written(done: subprocess.CompletedProcess[str], cwd: Path) -> Path:
    """The scenario file ``reproduce`` says it wrote (its first line: ``wrote PATH``)."""
    first = done.stdout.splitlines()[0]
    assert first.startswith("wrote "), done.stdout
    return cwd / first.removeprefix("wrote ")


def _customer_bytes(destination: Path) -> list[bytes]:
    """Every certificate and private key of the customer's keystore and truststore, DER and PEM base64."""
    folder = destination.parent
    blobs: list[bytes] = []
    name = json.loads(destination.read_text("utf-8"))["keystoreFile"]
    keystore = read_store(folder / name, Secret(KS_PASS), "keystore")
    for entry in keystore.key_entries:
        for cert in entry.chain:
            blobs.append(cert.public_bytes(serialization.Encoding.DER))
        if entry.key is not None:
            blobs.append(
                entry.key.private_bytes(
                    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
    for pem in folder.glob("*.pem"):
        blobs.append(pem.read_bytes())
    return blobs


def _assert_clean(folder: Path, destination: Path) -> None:
    blobs = _customer_bytes(destination)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files, "DIR is empty"
    for path in files:
        data = path.read_bytes()
        lowered = data.lower()
        for word in CUSTOMER_STRINGS:
            assert word.lower().encode() not in lowered, f"{path.name} holds {word!r}"
        for blob in blobs:
            for chunk in (blob[i : i + 24] for i in range(0, max(1, len(blob) - 24), 97)):
                assert chunk not in data, f"{path.name} holds customer certificate/key bytes"
            b64 = base64.b64encode(blob)[:40]
            assert b64 not in data, f"{path.name} holds customer base64"


@pytest.mark.parametrize("case", CASES)
def test_reproduce_gives_checks_code_and_keeps_nothing(
    case: str, keytool: str, openssl: str, java: str, tmp_path: Path
) -> None:
    destination = make_customer_destination(keytool, openssl, tmp_path / "customer", case)
    expected = _check_code(destination, tmp_path)
    out = tmp_path / "case-4711"
    done = cli("reproduce", str(destination), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reproduces the customer's failure" in done.stdout
    scenario = written(done, tmp_path)
    assert scenario == out / "destination.toml"  # the destination file's stem (it has no name), not --out's
    doc = tomllib.loads(scenario.read_text("utf-8"))
    assert doc["expect"]["outcome"] == expected, done.stdout
    _assert_clean(out, destination)
    assert KS_PASS not in done.stdout + done.stderr
    if case == "pkcs12-legacy":
        assert doc["keystore"]["format"] == "pkcs12"
        assert doc["keystore"]["pkcs12_encryption"] == "legacy"
    # The scenario is a regression test: a default run passes it on every engine.
    ran = cli("run", str(scenario), cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_keep_names_is_the_only_way_names_get_in(keytool: str, openssl: str, java: str, tmp_path: Path) -> None:
    destination = make_customer_destination(keytool, openssl, tmp_path / "customer", "good")
    out = tmp_path / "internal"
    done = cli("reproduce", str(destination), "--out", str(out), "--keep-names", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    text = written(done, tmp_path).read_text("utf-8")
    assert "Globex Customer" in text  # subjects kept
    assert "globex-integration" in text  # alias kept
    assert KS_PASS not in text  # never the passwords


def test_disagreeing_error_text_is_reported(keytool: str, openssl: str, java: str, tmp_path: Path) -> None:
    destination = make_customer_destination(keytool, openssl, tmp_path / "customer", "expired")
    out = tmp_path / "case"
    error = "javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired"
    done = cli("reproduce", str(destination), "--out", str(out), "--error", error, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "explain on the customer's error: client-cert-expired -> same" in done.stdout
    # Negative twin: an error text that means something else does not match.
    other = "javax.net.ssl.SSLHandshakeException: PKIX path building failed"
    done = cli("reproduce", str(destination), "--out", str(out), "--force", "--error", other, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "explain on the customer's error: server-cert-untrusted -> DIFFERENT" in done.stdout
    assert "does NOT reproduce" in done.stdout


def test_profile_shapes_the_server(keytool: str, openssl: str, java: str, tmp_path: Path) -> None:
    destination = make_customer_destination(keytool, openssl, tmp_path / "customer", "good")
    profile = tmp_path / "profile.json"
    captured = {
        "client_auth": "required",
        "ca_names": ["CN=Globex Root CA,O=Globex Customer"],
        "tls_versions": ["TLSv1.3"],
        "intermediates_sent": True,
        "chain": [
            {"subject": "CN=api,O=Partner", "issuer": "CN=Partner Issuing,O=Partner", "key": "RSA-2048"},
            {"subject": "CN=Partner Issuing,O=Partner", "issuer": "CN=Globex Server Root,O=Globex Customer"},
        ],
    }
    profile.write_text(json.dumps(captured), "utf-8")
    out = tmp_path / "shaped"
    done = cli("reproduce", str(destination), "--profile", str(profile), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    server = tomllib.loads(written(done, tmp_path).read_text("utf-8"))["server"]
    assert server["tls_versions"] == ["1.3"]
    assert server["ca_names"] is True
    assert server["send_chain"] is True
    assert server["trust"] == ["root-ca-1"]  # the customer's CA the server names, renamed
    # Twin: a server that names another CA -> the reproduction trusts a stand-in and fails, as the captured
    # server makes it (check on the stores alone says ok): each engine says so, and [expect] holds each code.
    captured["ca_names"] = ["CN=Someone Else,O=Other"]
    profile.write_text(json.dumps(captured), "utf-8")
    done = cli("reproduce", str(destination), "--profile", str(profile), "--out", str(out), "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    expect = tomllib.loads(written(done, tmp_path).read_text("utf-8"))["expect"]
    assert expect["outcome"] == "client-cert-missing"
    assert expect["engines"] == {"python": "client-cert-untrusted"}
    for engine, code in (("python", "client-cert-untrusted"), ("jsse", "client-cert-missing")):
        assert f"  {engine}: scenario {code}, check ok -> DIFFERENT: the captured server (--profile)" in done.stdout


def test_reproduce_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(cli("reproduce", str(tmp_path / "none.json"), "--out", str(tmp_path / "o"), cwd=tmp_path))
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    dest = tmp_path / "d.json"
    dest.write_text("{}")
    assert_one_line_error(cli("reproduce", str(dest), "--out", str(full), cwd=tmp_path), "not empty")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(cli("reproduce", str(dest), "--out", str(blocker / "o"), cwd=tmp_path), "not a folder")
    bad_profile = tmp_path / "p.json"
    bad_profile.write_text("[1]")
    done = cli("reproduce", str(dest), "--profile", str(bad_profile), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert_one_line_error(done, "capture")
    assert not (tmp_path / "o").exists()  # nothing half-written
