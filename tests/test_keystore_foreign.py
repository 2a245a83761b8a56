"""``keystore`` on PKCS#12 files other tools made: what Java reads, it reads (issue 21, point 6).

Every input is made here by the real ``openssl pkcs12 -export`` with one of its
PBE / MAC options (OpenSSL's legacy RC4, RC2 and 3DES encodings, AES with
SHA-224 / SHA-512 MACs, the OpenSSL 3 default), or is such a file re-encoded
with BER indefinite lengths, as browsers and OS tools export (``ber`` below:
the outer structures indefinite, the authSafe OCTET STRING in chunks, the
MAC'd content untouched, so the MAC still holds). Each input is listed by the
keytool of JDK 11.0.10, 17 and 21 where that JDK can read it; the keystore
``keystore`` writes must be listed by all three, with the input's certificate.
Negative twins: a wrong password (one line, exit 2, nothing written), a file
with two key pairs (exit 2 naming both; ``--alias`` takes one), an expired
certificate (its warning kept on the JDK's path).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import assert_one_line_error, cli, require_tool

pytestmark = pytest.mark.jdk

P12_PASS = "p12-Foreign-1"
NEW_PASS = "new-Keystore-1"
# name -> openssl pkcs12 -export options
OPTIONS: dict[str, tuple[str, ...]] = {
    "legacy-rc4": ("-legacy", "-keypbe", "PBE-SHA1-RC4-128", "-certpbe", "PBE-SHA1-RC4-128"),
    "legacy-rc2": ("-legacy", "-keypbe", "PBE-SHA1-RC2-40", "-certpbe", "PBE-SHA1-RC2-40"),
    "legacy-3des": ("-legacy", "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES"),
    "rc4-sha512-mac": ("-legacy", "-keypbe", "PBE-SHA1-RC4-128", "-certpbe", "PBE-SHA1-RC4-128", "-macalg", "sha512"),
    "aes256-sha224-mac": ("-keypbe", "AES-256-CBC", "-certpbe", "AES-256-CBC", "-macalg", "sha224"),
    "aes256-sha512-mac": ("-keypbe", "AES-256-CBC", "-certpbe", "AES-256-CBC", "-macalg", "sha512"),
    "aes128-sha224-mac": ("-keypbe", "AES-128-CBC", "-certpbe", "AES-128-CBC", "-macalg", "sha224"),
    "openssl3-default": (),
}
BER = ("legacy-3des", "aes256-sha512-mac", "openssl3-default")
CASES = [*OPTIONS, *(f"ber-{name}" for name in BER)]
JDKS = ("11.0.10", "17", "21.0.8")


# -- BER: a DER PKCS#12 re-encoded with indefinite lengths --------------------------------------


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``pos``."""
    tag, first = data[pos], data[pos + 1]
    start = pos + 2
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    else:
        length = first
    return tag, start, start + length


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def ber(der: bytes, chunk: int = 1000) -> bytes:
    """Every constructed element with an indefinite length; OCTET STRINGs above ``chunk`` bytes constructed, in
    chunks (as Windows writes the authSafe); their content is not re-encoded, so a MAC over it still holds."""
    out = b""
    pos = 0
    while pos < len(der):
        tag, start, end = _header(der, pos)
        content = der[start:end]
        if tag & 0x20:
            out += bytes([tag, 0x80]) + ber(content, chunk) + b"\x00\x00"
        elif tag == 0x04 and len(content) > chunk:
            parts = b"".join(_der(0x04, content[i : i + chunk]) for i in range(0, len(content), chunk))
            out += b"\x24\x80" + parts + b"\x00\x00"
        else:
            out += der[pos:end]
        pos = end
    return out


def test_ber_helper_makes_indefinite_lengths(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    material = _material(openssl, tmp_path)
    der = _export(openssl, material, "legacy-3des", tmp_path)
    converted = ber(der.read_bytes())
    assert converted[:2] == b"\x30\x80"  # the PFX itself: indefinite
    assert b"\x24\x80" in converted  # a constructed OCTET STRING
    assert converted != der.read_bytes()
    # the negative twin: a short element stays as it was
    assert ber(b"\x02\x01\x03") == b"\x02\x01\x03"


# -- the material --------------------------------------------------------------------------------


def _run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, timeout=120, check=False, env=env, stdin=subprocess.DEVNULL
    )


def _material(openssl: str, folder: Path, *, days: str = "30", name: str = "leaf") -> dict[str, Path]:
    """A CA and a client certificate it issued (clientAuth), as PEM files; ``days`` negative: expired."""
    ca_key, ca, key, csr, leaf = (folder / f"{name}-{n}" for n in ("ca.key", "ca.pem", "key.pem", "csr", "cert.pem"))
    _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
         "-subj", "/CN=Foreign Test CA/O=Foreign Tools", "-days", "365", cwd=folder)  # fmt: skip
    _run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
         "-subj", f"/CN=foreign-{name}/O=Foreign Tools", cwd=folder)  # fmt: skip
    ext = folder / f"{name}.ext"
    ext.write_text("extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n", "utf-8")
    sign = [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(leaf), "-extfile", str(ext), "-days", days.removeprefix("-")]  # fmt: skip
    done = _run(*sign, cwd=folder)
    assert done.returncode == 0, done.stderr
    if days.startswith("-"):
        _backdate(leaf, ca_key, ca)
    return {"ca": ca, "key": key, "cert": leaf}


def _backdate(leaf: Path, ca_key: Path, ca: Path) -> None:
    """Re-sign ``leaf`` as valid in January 2020 only (openssl x509 -req takes no past dates): expired."""
    issuer_key = serialization.load_pem_private_key(ca_key.read_bytes(), None)
    assert isinstance(issuer_key, rsa.RSAPrivateKey)
    issuer = x509.load_pem_x509_certificate(ca.read_bytes())
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer.subject)
        .public_key(cert.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2020, 2, 1, tzinfo=dt.UTC))
    )
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    leaf.write_bytes(builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def _export(openssl: str, m: dict[str, Path], case: str, folder: Path) -> Path:
    out = folder / f"{case}.p12"
    done = _run(openssl, "pkcs12", "-export", *OPTIONS[case], "-in", str(m["cert"]), "-inkey", str(m["key"]),
                "-certfile", str(m["ca"]), "-name", "Foreign-Client", "-passout", f"pass:{P12_PASS}",
                "-out", str(out), cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def _input(openssl: str, m: dict[str, Path], case: str, folder: Path) -> Path:
    if not case.startswith("ber-"):
        return _export(openssl, m, case, folder)
    der = _export(openssl, m, case.removeprefix("ber-"), folder)
    out = folder / f"{case}.p12"
    out.write_bytes(ber(der.read_bytes()))
    return out


def _keytools(real_jdks: dict[str, Any]) -> dict[str, str]:
    return {"17": require_tool("keytool"), **{v: str(real_jdks[v].keytool) for v in ("11.0.10", "21.0.8")}}


def _list(keytool: str, store: Path, password: str, *more: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MTLS_TEST_PW": password}
    return _run(keytool, "-J-XX:+UseSerialGC", "-list", "-v", "-keystore", str(store), "-storepass:env",
                "MTLS_TEST_PW", *more, cwd=store.parent, env=env)  # fmt: skip


def _fingerprint(pem: Path) -> str:
    body = re.sub(r"-----[^-]+-----|\s", "", pem.read_text("ascii"))
    digest = hashlib.sha256(base64.b64decode(body)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _keystore(
    src: Path, out: Path, cwd: Path, *more: str, password: str = P12_PASS
) -> subprocess.CompletedProcess[str]:
    (cwd / "p12.pw").write_text(password, "utf-8")
    (cwd / "new.pw").write_text(NEW_PASS, "utf-8")
    return cli("keystore", str(src), "--out", str(out), "--p12-password-file", str(cwd / "p12.pw"),
               "--password-file", str(cwd / "new.pw"), *more, cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    openssl = require_tool("openssl")
    folder = tmp_path_factory.mktemp("foreign")
    return _material(openssl, folder), folder


READ_BY: dict[str, dict[str, bool]] = {}  # case -> JDK -> its keytool read the input (printed at the end)


@pytest.mark.parametrize("case", CASES)
def test_keystore_writes_what_java_reads(
    case: str, material: tuple[dict[str, Path], Path], real_jdks: dict[str, Any], tmp_path: Path
) -> None:
    m, _ = material
    src = _input(require_tool("openssl"), m, case, tmp_path)
    keytools = _keytools(real_jdks)
    # the input, as each JDK's keytool reads it
    read = {
        v: "PrivateKeyEntry" in _list(kt, src, P12_PASS, "-storetype", "PKCS12").stdout for v, kt in keytools.items()
    }
    READ_BY[case] = read
    assert read["17"], f"JDK 17 cannot read {case}: the case proves nothing"
    out = tmp_path / "keystore.jks"
    done = _keystore(src, out, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "one key entry 'foreign-client'" in done.stdout, done.stdout
    assert P12_PASS not in done.stdout + done.stderr
    assert NEW_PASS not in done.stdout + done.stderr
    if case.startswith("ber-"):
        assert "read by Java" in done.stdout  # Python's reader cannot: the JDK converted it
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    # the keystore written, read back by every JDK's keytool, with the input's certificate and chain
    want = _fingerprint(m["cert"])
    for version, keytool in keytools.items():
        listed = _list(keytool, out, NEW_PASS)
        assert listed.returncode == 0, (version, listed.stderr)
        assert listed.stdout.count("PrivateKeyEntry") == 1, (version, listed.stdout)
        assert want in listed.stdout, (version, case)
        assert "Certificate chain length: 2" in listed.stdout, (version, listed.stdout)


@pytest.mark.parametrize("case", ["legacy-rc4", "ber-aes256-sha512-mac"])
def test_a_wrong_password_stays_one_clear_line(
    case: str, material: tuple[dict[str, Path], Path], tmp_path: Path
) -> None:
    m, _ = material
    src = _input(require_tool("openssl"), m, case, tmp_path)
    out = tmp_path / "keystore.jks"
    done = _keystore(src, out, tmp_path, password="not-the-password")
    assert done.returncode == 2
    assert_one_line_error(done, src.name, "the password does not open this PKCS#12 file", "give the password")
    assert not out.exists()
    assert "not-the-password" not in done.stdout + done.stderr


def test_two_key_pairs_ask_for_alias(material: tuple[dict[str, Path], Path], tmp_path: Path) -> None:
    """keytool -importkeystore of two openssl files into one PKCS#12: cryptography reads one key, Java two."""
    openssl = require_tool("openssl")
    keytool = require_tool("keytool")
    first, _ = material
    second = _material(openssl, tmp_path, name="other")
    both = tmp_path / "both.p12"
    for index, m in enumerate((first, second)):
        src = _export(openssl, m, "legacy-3des", tmp_path)
        env = {**os.environ, "MTLS_TEST_PW": P12_PASS}
        done = _run(keytool, "-importkeystore", "-srckeystore", str(src), "-srcstoretype", "PKCS12",
                    "-srcstorepass:env", "MTLS_TEST_PW", "-srcalias", "foreign-client",
                    "-destalias", f"pair-{index + 1}", "-destkeystore", str(both), "-deststoretype", "PKCS12",
                    "-deststorepass:env", "MTLS_TEST_PW", "-noprompt", cwd=tmp_path, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
    out = tmp_path / "keystore.jks"
    done = _keystore(both, out, tmp_path)
    assert done.returncode == 2
    assert_one_line_error(done, "holds 2 key pairs", "'pair-1'", "'pair-2'", "--alias")
    assert not out.exists()
    # the twin: --alias takes the one named
    done = _keystore(both, out, tmp_path, "--alias", "pair-2")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = _list(keytool, out, NEW_PASS)
    assert _fingerprint(second["cert"]) in listed.stdout
    assert _fingerprint(first["cert"]) not in listed.stdout


def test_warnings_are_kept_on_the_jdks_path(tmp_path: Path) -> None:
    """An expired certificate in a BER file (only the JDK reads it): the warning is still there."""
    openssl = require_tool("openssl")
    expired = _material(openssl, tmp_path, days="-1", name="old")
    der = _export(openssl, expired, "legacy-3des", tmp_path)
    src = tmp_path / "ber-old.p12"
    src.write_bytes(ber(der.read_bytes()))
    done = _keystore(src, tmp_path / "keystore.jks", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "read by Java" in done.stdout
    assert "warning: client-cert-expired" in done.stdout
    # the twin: a valid certificate, no such warning
    fresh = _material(openssl, tmp_path, name="fresh")
    der = _export(openssl, fresh, "legacy-3des", tmp_path)
    src.write_bytes(ber(der.read_bytes()))
    done = _keystore(src, tmp_path / "keystore2.jks", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "client-cert-expired" not in done.stdout


def teardown_module() -> None:
    if READ_BY:
        print("\n| input | " + " | ".join(f"keytool {v}" for v in JDKS) + " |")
        for case, read in READ_BY.items():
            print(f"| {case} | " + " | ".join("reads" if read.get(v) else "cannot" for v in JDKS) + " |")
