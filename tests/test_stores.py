"""Keystores and truststores as the JDK sees them: read back by the real ``keytool`` and ``openssl``."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import SignatureAlgorithmOID

from harness.build import Built, build_scenario
from harness.errors import StoreError
from harness.scenario import Scenario, load_scenario
from harness.secret import Secret
from harness.stores import detect_type, read_store

FORMATS = {
    "jks": {},
    "pkcs12-aes": {"keystore": {"format": "pkcs12"}, "truststore": {"format": "pkcs12"}},
    "pkcs12-legacy": {
        "keystore": {"format": "pkcs12", "pkcs12_encryption": "legacy"},
        "truststore": {"format": "pkcs12", "pkcs12_encryption": "legacy"},
    },
}


@dataclass(frozen=True)
class Case:
    scenario: Scenario
    built: Built


@pytest.fixture
def build(write_scenario: Any, tmp_path: Path) -> Callable[..., Case]:
    count = 0

    def make(overrides: dict[str, Any] | None = None) -> Case:
        nonlocal count
        count += 1
        scenario = load_scenario(write_scenario(overrides, name=f"case{count}"))
        return Case(scenario, build_scenario(scenario, tmp_path / f"out{count}"))

    return make


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


@dataclass(frozen=True)
class Listed:
    alias: str
    type: str
    chain_length: int | None
    sha256: tuple[str, ...]


# English messages; the quickest JVM start-up for a short-lived tool.
KEYTOOL_JVM = ("-J-Duser.language=en", "-J-Duser.country=US", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC")


def keytool_run(keytool: str, *args: str, **passwords: str) -> subprocess.CompletedProcess[str]:
    """keytool in English, passwords through the environment (``-storepass:env``), never a prompt."""
    env = {**os.environ, **passwords}
    return subprocess.run(
        [keytool, *KEYTOOL_JVM, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def keytool_list(keytool: str, store: Path, password: str) -> tuple[subprocess.CompletedProcess[str], list[Listed]]:
    done = keytool_run(
        keytool, "-list", "-v", "-keystore", str(store), "-storepass:env", "STOREPASS", STOREPASS=password
    )
    entries = []
    for block in done.stdout.split("Alias name: ")[1:]:
        length = re.search(r"^Certificate chain length: (\d+)$", block, re.M)
        entries.append(
            Listed(
                alias=block.splitlines()[0].strip(),
                type=re.search(r"^Entry type: (\w+)$", block, re.M)[1],  # type: ignore[index]
                chain_length=int(length[1]) if length else None,
                sha256=tuple(re.findall(r"^\s*SHA256: ([0-9A-F:]+)$", block, re.M)),
            )
        )
    return done, entries


# -- keytool reads what build writes --------------------------------------------------------------


@pytest.mark.jdk
@pytest.mark.parametrize("overrides", FORMATS.values(), ids=FORMATS.keys())
def test_keytool_lists_the_keystore_with_its_password(build: Any, keytool: str, overrides: dict[str, Any]) -> None:
    case = build(overrides)
    done, entries = keytool_list(keytool, case.built.keystore, case.scenario.keystore.password.reveal())
    assert done.returncode == 0, done.stderr
    material = case.built.material
    assert entries == [
        Listed(
            "test-client",
            "PrivateKeyEntry",
            2,
            (fingerprint(material.cert("client")), fingerprint(material.cert("client-ca"))),
        )
    ]


@pytest.mark.jdk
@pytest.mark.parametrize("overrides", FORMATS.values(), ids=FORMATS.keys())
def test_keytool_lists_the_truststore_with_its_password(build: Any, keytool: str, overrides: dict[str, Any]) -> None:
    case = build(merged_trust(overrides))
    done, entries = keytool_list(keytool, case.built.truststore, case.scenario.truststore.password.reveal())
    assert done.returncode == 0, done.stderr
    material = case.built.material
    assert entries == [
        Listed("client-root", "trustedCertEntry", None, (fingerprint(material.cert("client-root")),)),
        Listed("server-root", "trustedCertEntry", None, (fingerprint(material.cert("server.root")),)),
    ]


def merged_trust(overrides: dict[str, Any]) -> dict[str, Any]:
    truststore = {**overrides.get("truststore", {}), "trust": ["server.root", "client-root"]}
    return {**overrides, "truststore": truststore}


@pytest.mark.jdk
@pytest.mark.parametrize("role", ["keystore", "truststore"])
@pytest.mark.parametrize("overrides", FORMATS.values(), ids=FORMATS.keys())
def test_keytool_refuses_a_wrong_password(build: Any, keytool: str, overrides: dict[str, Any], role: str) -> None:
    case = build(overrides)
    store = case.built.keystore if role == "keystore" else case.built.truststore
    done, entries = keytool_list(keytool, store, "wrong-Pw-0d93")
    assert done.returncode != 0
    assert "password was incorrect" in done.stdout + done.stderr
    assert entries == []


@pytest.mark.jdk
def test_pkcs12_alias_is_kept_as_written(build: Any, keytool: str) -> None:
    entries = [{"alias": "Acme-Client", "key": "client"}]
    case = build({"keystore": {"format": "pkcs12", "entries": entries}})
    password = case.scenario.keystore.password
    data = case.built.keystore.read_bytes()
    loaded = pkcs12.load_pkcs12(data, password.reveal().encode())
    assert loaded.cert is not None
    assert loaded.cert.friendly_name == b"Acme-Client"
    assert [e.alias for e in read_store(case.built.keystore, password, "keystore").key_entries] == ["Acme-Client"]
    # The JDK compares PKCS#12 aliases without case (and lists them in lower case).
    done, listed = keytool_list(keytool, case.built.keystore, password.reveal())
    assert done.returncode == 0, done.stderr
    assert [e.alias.lower() for e in listed] == ["acme-client"]


def test_jks_alias_is_kept_in_lower_case(build: Any) -> None:
    case = build({"keystore": {"entries": [{"alias": "acme-client-2", "key": "client"}]}})
    contents = read_store(case.built.keystore, case.scenario.keystore.password, "keystore")
    assert [e.alias for e in contents.key_entries] == ["acme-client-2"]


# -- a key password other than the store password ---------------------------------------------------


def _import(keytool: str, case: Case, dest: Path, *, keypass: str | None = None) -> subprocess.CompletedProcess[str]:
    args = ["-importkeystore", "-noprompt", "-srckeystore", str(case.built.keystore), "-srcstorepass:env", "SRC"]
    args += ["-destkeystore", str(dest), "-deststoretype", "pkcs12", "-deststorepass:env", "DEST"]
    passwords = {"SRC": case.scenario.keystore.password.reveal(), "DEST": "dest-Pw-61c2"}
    if keypass is not None:
        args += ["-srcalias", "test-client", "-srckeypass:env", "KEYPASS"]
        passwords["KEYPASS"] = keypass
    return keytool_run(keytool, *args, **passwords)


@pytest.mark.jdk
def test_differing_key_password_lists_but_the_key_cannot_be_recovered(build: Any, keytool: str, tmp_path: Path) -> None:
    case = build({"keystore": {"key_password": "key-Pw-3a7c"}})
    done, entries = keytool_list(keytool, case.built.keystore, case.scenario.keystore.password.reveal())
    assert done.returncode == 0, done.stderr
    assert [(e.alias, e.type) for e in entries] == [("test-client", "PrivateKeyEntry")]

    refused = _import(keytool, case, tmp_path / "refused.p12")
    assert refused.returncode != 0
    # The store password does not open the key: keytool asks for the key's own password, and gives up.
    assert "Enter key password for <test-client>" in refused.stdout + refused.stderr

    # The key is there, under the scenario's key password.
    recovered = _import(keytool, case, tmp_path / "recovered.p12", keypass="key-Pw-3a7c")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr


@pytest.mark.jdk
def test_equal_key_password_lets_keytool_recover_the_key(build: Any, keytool: str, tmp_path: Path) -> None:
    case = build()
    dest = tmp_path / "copy.p12"
    done = _import(keytool, case, dest)
    assert done.returncode == 0, done.stdout + done.stderr
    listed, entries = keytool_list(keytool, dest, "dest-Pw-61c2")
    assert listed.returncode == 0
    assert [(e.alias, e.type) for e in entries] == [("test-client", "PrivateKeyEntry")]


def test_reader_leaves_a_key_entry_with_another_password_locked(build: Any) -> None:
    locked = build({"keystore": {"key_password": "key-Pw-3a7c"}})
    entry = read_store(locked.built.keystore, locked.scenario.keystore.password, "keystore").key_entries[0]
    assert entry.locked
    assert len(entry.chain) == 2
    opened = build()
    assert not read_store(opened.built.keystore, opened.scenario.keystore.password, "keystore").key_entries[0].locked


# -- files and modes ------------------------------------------------------------------------------------


def test_files_holding_keys_or_passwords_are_0600(build: Any) -> None:
    built = build().built
    mode = {p.relative_to(built.folder).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in built.folder.rglob("*")}
    assert mode == {
        "keystore.jks": 0o600,
        "truststore.jks": 0o600,
        "destination.json": 0o600,
        "server": mode["server"],
        "server/key.pem": 0o600,
        "server/chain.pem": 0o644,
        "server/client-cas.pem": 0o644,
        "server/server.json": 0o644,
    }


# -- type by content; errors by code -----------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "kind"), [(FORMATS["jks"], "jks"), (FORMATS["pkcs12-aes"], "pkcs12")])
def test_type_comes_from_content_not_name(build: Any, tmp_path: Path, overrides: dict[str, Any], kind: str) -> None:
    case = build(overrides)
    data = case.built.keystore.read_bytes()
    assert detect_type(data) == kind
    misnamed = tmp_path / ("keystore.p12" if kind == "jks" else "keystore.jks")
    misnamed.write_bytes(data)
    assert read_store(misnamed, case.scenario.keystore.password, "keystore").type == kind


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "unknown"),
        (b"<html><body>404 Not Found</body></html>\n", "unknown"),
        (b"\xfe\xed\xfe\xed", "jks"),
        (b"\xce\xce\xce\xce", "jceks"),
        (b"\n-----BEGIN CERTIFICATE-----\n", "pem"),
    ],
    ids=["empty", "html", "jks-magic", "jceks-magic", "pem"],
)
def test_detect_type_of_other_content(data: bytes, kind: str) -> None:
    assert detect_type(data) == kind


def _damage(how: str, data: bytes) -> bytes:
    return {"truncate": data[: len(data) // 2], "pad": data + b"\0" * 16, "garbage": b"GIF89a" + data[6:]}[how]


@pytest.mark.parametrize(
    ("overrides", "how", "words"),
    [
        (FORMATS["pkcs12-aes"], "truncate", "truncated"),
        (FORMATS["pkcs12-aes"], "pad", "padded"),
        (FORMATS["jks"], "truncate", "damaged JKS"),
        (FORMATS["jks"], "garbage", "not a keystore"),
    ],
    ids=["pkcs12-truncated", "pkcs12-padded", "jks-truncated", "garbage"],
)
def test_damaged_store_is_unreadable(
    build: Any, tmp_path: Path, overrides: dict[str, Any], how: str, words: str
) -> None:
    case = build(overrides)
    damaged = tmp_path / "damaged"
    damaged.write_bytes(_damage(how, case.built.keystore.read_bytes()))
    password = case.scenario.keystore.password
    with pytest.raises(StoreError) as caught:
        read_store(damaged, password, "keystore")
    assert caught.value.code == "store-unreadable"
    assert words in str(caught.value)
    assert password.reveal() not in str(caught.value)


@pytest.mark.parametrize("corrupt", ["truncate", "garbage"])
@pytest.mark.parametrize("overrides", [FORMATS["jks"], FORMATS["pkcs12-aes"]], ids=["jks", "pkcs12"])
def test_scenario_corrupt_store_is_unreadable(build: Any, overrides: dict[str, Any], corrupt: str) -> None:
    case = build({**overrides, "keystore": {**overrides.get("keystore", {}), "corrupt": corrupt}})
    with pytest.raises(StoreError) as caught:
        read_store(case.built.keystore, case.scenario.keystore.password, "keystore")
    assert caught.value.code == "store-unreadable"


@pytest.mark.parametrize("role", ["keystore", "truststore"])
@pytest.mark.parametrize("overrides", FORMATS.values(), ids=FORMATS.keys())
def test_wrong_password_has_the_role_in_its_code(build: Any, overrides: dict[str, Any], role: str) -> None:
    case = build(overrides)
    store = getattr(case.built, role)
    spec = getattr(case.scenario, role)
    contents = read_store(store, spec.password, role)  # the twin: the right password opens it
    assert contents.key_entries or contents.cert_entries
    with pytest.raises(StoreError) as caught:
        read_store(store, Secret("wrong-Pw-0d93"), role)
    assert caught.value.code == f"{role}-password-wrong"
    assert f"{role}Pass does not open" in str(caught.value)
    assert "wrong-Pw-0d93" not in str(caught.value)


def test_missing_store_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        read_store(tmp_path / "nowhere.jks", Secret("x-Pw-1"), "truststore")
    assert caught.value.code == "store-unreadable"
    assert "no such file" in str(caught.value)


# -- weak signatures are really weak and really valid ------------------------------------------------------

WEAK = {
    ("rsa-2048", "sha1"): SignatureAlgorithmOID.RSA_WITH_SHA1,
    ("rsa-2048", "md5"): SignatureAlgorithmOID.RSA_WITH_MD5,
    ("ec-p256", "sha1"): SignatureAlgorithmOID.ECDSA_WITH_SHA1,
}


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _openssl_verify(
    openssl: str, folder: Path, root: x509.Certificate, ca: x509.Certificate, leaf: bytes
) -> subprocess.CompletedProcess[str]:
    (folder / "root.pem").write_bytes(_pem(root))
    (folder / "ca.pem").write_bytes(_pem(ca))
    (folder / "leaf.pem").write_bytes(leaf)
    args = [openssl, "verify", "-CAfile", "root.pem", "-untrusted", "ca.pem", "leaf.pem"]
    return subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.openssl
@pytest.mark.parametrize(("key", "signature"), WEAK, ids=[f"{k}-{s}" for k, s in WEAK])
def test_weak_signature_is_that_algorithm_and_verifies(
    build: Any, openssl: str, tmp_path: Path, key: str, signature: str
) -> None:
    pki = {"client-ca": {"key": key}, "client": {"signature": signature}}
    material = build({"pki": pki}).built.material
    leaf = material.cert("client")
    assert leaf.signature_algorithm_oid == WEAK[key, signature]
    good = _openssl_verify(openssl, tmp_path, material.cert("client-root"), material.cert("client-ca"), _pem(leaf))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "leaf.pem: OK" in good.stdout

    der = bytearray(leaf.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # one bit of the signature
    tampered = x509.load_der_x509_certificate(bytes(der)).public_bytes(serialization.Encoding.PEM)
    bad = _openssl_verify(openssl, tmp_path, material.cert("client-root"), material.cert("client-ca"), tampered)
    assert bad.returncode != 0
    assert "signature failure" in bad.stdout + bad.stderr


@pytest.mark.jdk
@pytest.mark.parametrize(
    ("signature", "name"), [("sha1", "SHA1withRSA"), ("md5", "MD5withRSA"), ("sha256", "SHA256withRSA")]
)
def test_keytool_reports_the_signature_algorithm(build: Any, keytool: str, signature: str, name: str) -> None:
    case = build({"pki": {"client": {"signature": signature}}})
    done, _ = keytool_list(keytool, case.built.keystore, case.scenario.keystore.password.reveal())
    assert done.returncode == 0, done.stderr
    first = done.stdout.split("Certificate[2]:")[0]
    assert re.search(rf"^Signature algorithm name: {name}\b", first, re.M)


def test_pem_written_by_openssl_pkcs12_nodes_is_pem(openssl: str, tmp_path: Path) -> None:
    """`openssl pkcs12 -nodes` puts "Bag Attributes" text before each PEM block: still PEM, with its key entry."""
    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "p12"
    password = json.loads((fixtures / "passwords.json").read_text("utf-8"))["KeyPair-aes.p12"]
    out = tmp_path / "keypair.pem"
    subprocess.run(
        [openssl, "pkcs12", "-in", str(fixtures / "KeyPair-aes.p12"), "-nodes", "-passin", "env:P", "-out", str(out)],
        env={**os.environ, "P": password},
        check=True,
        capture_output=True,
    )
    data = out.read_bytes()
    assert data.startswith(b"Bag Attributes")
    assert detect_type(data) == "pem"
    contents = read_store(out, Secret("unused"), "keystore")
    assert [(e.alias, e.locked, len(e.chain)) for e in contents.key_entries] == [("pem", False, 2)]
    # The twin: binary DER that happens to hold no PEM marker is not PEM.
    assert detect_type(b"Bag Attributes\n" + bytes(range(256))) == "unknown"
