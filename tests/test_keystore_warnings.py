"""``keystore`` warns about what the platform would meet live, and refuses a name that lies about the format.

The key pairs are PKCS#12 files made here with ``cryptography`` (one fault
each); the keystores written are read back by the real ``keytool``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import cli

REPO = Path(__file__).resolve().parent.parent
GOOD_P12 = REPO / "fixtures" / "p12" / "KeyPair-aes.p12"
GOOD_P12_PASSWORD = json.loads((REPO / "fixtures" / "p12" / "passwords.json").read_text("utf-8"))["KeyPair-aes.p12"]
P12_PASSWORD = "p12-Secret-Warn-4"
OUT_PASSWORD = "out-Secret-Warn-7"
NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_p12(
    path: Path,
    *,
    valid_from: dt.timedelta = dt.timedelta(days=-1),
    valid_for: dt.timedelta = dt.timedelta(days=365),
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH,
    key_size: int = 2048,
    with_ca: bool = True,
    alias: bytes = b"client",
) -> Path:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Warn Test CA"))
        .issuer_name(_name("Warn Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=10))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    start = NOW + valid_from
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("warn-client"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        alias, key, leaf, [ca] if with_ca else None, BestAvailableEncryption(P12_PASSWORD.encode())
    )
    path.write_bytes(data)
    return path


def keystore(p12: Path, out: Path, *extra: str, password: str = P12_PASSWORD) -> subprocess.CompletedProcess[str]:
    env = {"P12_PW": password, "OUT_PW": OUT_PASSWORD}
    args = ["--p12-password-env", "P12_PW", "--password-env", "OUT_PW"]
    return cli("keystore", str(p12), "--out", str(out), *args, *extra, cwd=out.parent, env=env)


def keytool_alias(keytool: str, store: Path) -> tuple[str, str]:
    """(alias, store type) as keytool lists them."""
    done = subprocess.run(
        [keytool, "-list", "-keystore", str(store), "-storepass:env", "OUT_PW"],
        env={"OUT_PW": OUT_PASSWORD, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [x for x in done.stdout.splitlines() if "PrivateKeyEntry" in x]
    kind = next(x for x in done.stdout.splitlines() if x.startswith("Keystore type:")).split(":", 1)[1].strip()
    return line.split(",")[0], kind


def warnings_of(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    assert P12_PASSWORD not in done.stdout + done.stderr
    assert OUT_PASSWORD not in done.stdout + done.stderr
    return [line.strip().removeprefix("warning: ") for line in done.stdout.splitlines() if "warning:" in line]


FAULTS = {
    "expired": ({"valid_from": dt.timedelta(days=-400), "valid_for": dt.timedelta(days=30)}, "client-cert-expired: "),
    "not-yet-valid": ({"valid_from": dt.timedelta(days=5)}, "client-cert-not-yet-valid: "),
    "server-auth-only": ({"usage": ExtendedKeyUsageOID.SERVER_AUTH}, "client-cert-wrong-usage: "),
    "weak-key": ({"key_size": 1024}, "weak-key: CN=warn-client has a RSA-1024 key"),
    "no-chain": ({"with_ca": False}, "client-chain-incomplete: the PKCS#12 file holds no CA certificate"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_keystore_warns_about_the_key_pair_and_still_writes_it(fault: str, tmp_path: Path, keytool: str) -> None:
    changes, words = FAULTS[fault]
    p12 = make_p12(tmp_path / "KeyPair.p12", **changes)  # type: ignore[arg-type]
    out = tmp_path / "keystore.jks"
    found = warnings_of(keystore(p12, out))
    assert [w for w in found if w.startswith(words)], found
    assert len(found) == 1, found  # that fault alone
    assert keytool_alias(keytool, out) == ("client", "JKS")


def test_a_good_key_pair_gives_no_warning(tmp_path: Path) -> None:
    """The negative twin, on a fixture openssl wrote and on one made here."""
    assert warnings_of(keystore(GOOD_P12, tmp_path / "a.jks", password=GOOD_P12_PASSWORD)) == []
    assert warnings_of(keystore(make_p12(tmp_path / "KeyPair.p12"), tmp_path / "b.jks")) == []


def test_keystore_says_when_jks_lowercases_the_alias(tmp_path: Path, keytool: str) -> None:
    p12 = make_p12(tmp_path / "KeyPair.p12", alias=b"Acme-Client")
    found = warnings_of(keystore(p12, tmp_path / "keystore.jks"))
    assert found == ["alias: JKS keeps aliases in lower case: 'Acme-Client' is written as 'acme-client'"]
    assert keytool_alias(keytool, tmp_path / "keystore.jks")[0] == "acme-client"
    # PKCS#12 keeps the case: no such warning
    assert warnings_of(keystore(p12, tmp_path / "keystore.p12", "--format", "pkcs12")) == []


@pytest.mark.parametrize(("fmt", "name"), [("pkcs12", "keystore.jks"), ("jks", "keystore.p12")])
def test_keystore_refuses_a_name_of_the_other_format_unless_forced(
    fmt: str, name: str, tmp_path: Path, keytool: str
) -> None:
    p12 = make_p12(tmp_path / "KeyPair.p12")
    out = tmp_path / name
    done = keystore(p12, out, "--format", fmt)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1
    assert f"{out}: a {fmt.upper()} store would be written under a {out.suffix} name" in done.stderr
    assert not out.exists()
    forced = keystore(p12, out, "--format", fmt, "--force")
    assert forced.returncode == 0, forced.stderr
    assert keytool_alias(keytool, out)[1] == ("PKCS12" if fmt == "pkcs12" else "JKS")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_strict_makes_each_warning_a_failure_and_writes_nothing(fault: str, tmp_path: Path) -> None:
    changes, words = FAULTS[fault]
    p12 = make_p12(tmp_path / "KeyPair.p12", **changes)  # type: ignore[arg-type]
    out = tmp_path / "keystore.jks"
    done = keystore(p12, out, "--strict")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not written (--strict)" in done.stdout
    assert [line for line in done.stdout.splitlines() if "warning:" in line and words in line], done.stdout
    assert not out.exists()
    assert OUT_PASSWORD not in done.stdout + done.stderr


def test_strict_twin_a_good_key_pair_is_written(tmp_path: Path, keytool: str) -> None:
    out = tmp_path / "keystore.jks"
    assert warnings_of(keystore(make_p12(tmp_path / "KeyPair.p12"), out, "--strict")) == []
    assert keytool_alias(keytool, out) == ("client", "JKS")
