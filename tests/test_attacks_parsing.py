"""Untrusted bytes parsed within a budget, through the real commands (issue 22, points 2 and 3).

Each attack is built from genuine material (openssl, keytool, the harness's
own writers; tests/hostile.py changes only what the attack needs) and run
through ``mtls-harness`` in a child process with a wall-time and a memory
bound (tests.hostile.run_bounded: its process tree is killed past 120 s or
1 GiB resident), so a missed bound fails instead of hanging. Where the command
judges the input (``check`` judging stores) the attack is a finding and exit
1; elsewhere one line on stderr and exit 2; never a traceback. Each has a
negative twin: the genuine file goes through the same command as before.
The figures (exit code, time, peak memory) are printed by
``python benchmarks/attacks.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.errors import StoreError
from harness.limits import TOML_DEPTH, toml_depth
from harness.secret import Secret
from harness.stores import jks_bytes, read_store
from tests import hostile
from tests.conftest import assert_one_line_error, require_tool

KS_PASSWORD = "Ks-Attack-Pw-3"
TS_PASSWORD = "Ts-Attack-Pw-4"
REPO = Path(__file__).resolve().parent.parent
# `keystore IN.p12 --out OUT`: both passwords from the environment, never on the command line.
P12_PASSWORD = ("--p12-password-env", "P12", "--password-env", "P12")
P12_ENV = {**os.environ, "P12": KS_PASSWORD}


def mtls(*args: str, cwd: Path, env: dict[str, str] | None = None) -> hostile.Bounded:
    return hostile.run_bounded([sys.executable, "-m", "harness.cli.main", *args], cwd=cwd, env=env)


def check(folder: Path, keystore: str, truststore: str = "truststore.jks") -> hostile.Bounded:
    """``check`` on a destination without a URL: the stores alone are judged (exit 1 on any error)."""
    (folder / "destination.json").write_text(
        json.dumps(
            {"keystoreFile": keystore, "keystorePass": KS_PASSWORD, "truststoreFile": truststore,
             "truststorePass": TS_PASSWORD}
        )
    )  # fmt: skip
    return mtls("check", "destination.json", cwd=folder)


def assert_finding(run: hostile.Bounded, file: str, *words: str) -> str:
    """Exit 1, no traceback, and one ERROR line naming ``file`` and ``words``; the line is returned."""
    done = run.done
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [
        line
        for line in done.stdout.splitlines()
        if line.startswith("ERROR") and file in line and all(word in line for word in words)
    ]
    assert len(lines) == 1, done.stdout
    assert KS_PASSWORD not in done.stdout + done.stderr
    return lines[0]


def assert_clean(run: hostile.Bounded, *words: str) -> None:
    """Exit 0: nothing judged an error; ``words`` in the report."""
    assert run.done.returncode == 0, run.done.stdout + run.done.stderr
    assert "Traceback" not in run.done.stderr
    for word in words:
        assert word in run.done.stdout, run.done.stdout


# -- material ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An RSA key and certificate (openssl), its PKCS#12 (openssl -export) and a JKS truststore trusting it."""
    folder = tmp_path_factory.mktemp("material")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", folder / "key.pem",
         "-out", folder / "cert.pem", "-subj", "/CN=attack-client", "-days", "400"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-in", folder / "cert.pem", "-inkey", folder / "key.pem",
         "-name", "client", "-out", folder / "keystore.p12", "-passout", f"pass:{KS_PASSWORD}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cert = x509.load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    (folder / "truststore.jks").write_bytes(jks_bytes([], [("client", cert)], Secret(TS_PASSWORD)))
    return folder


@pytest.fixture
def folder(material: Path, tmp_path: Path) -> Path:
    """A fresh folder holding the genuine keystore.p12 and truststore.jks."""
    for name in ("keystore.p12", "truststore.jks", "cert.pem"):
        shutil.copy(material / name, tmp_path / name)
    return tmp_path


def pkcs8_and_der(material: Path) -> tuple[bytes, bytes]:
    key = serialization.load_pem_private_key((material / "key.pem").read_bytes(), None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert = x509.load_pem_x509_certificate((material / "cert.pem").read_bytes())
    return pkcs8, cert.public_bytes(serialization.Encoding.DER)


# -- PKCS#12: nesting and hidden iteration counts --------------------------------------------------------


def test_nested_ber_is_refused_by_depth_in_check_and_keystore(folder: Path) -> None:
    (folder / "nested.p12").write_bytes(hostile.pfx_with_nested_ber((folder / "keystore.p12").read_bytes(), 3_000))
    assert_finding(check(folder, "nested.p12"), "nested.p12", "store-unreadable", "BER nesting depth", "64 levels")
    keystore = mtls("keystore", "nested.p12", "--out", "out.jks", *P12_PASSWORD, cwd=folder, env=P12_ENV)
    assert_one_line_error(keystore.done, "nested.p12", "BER nesting depth")
    assert not (folder / "out.jks").exists()


def test_genuine_pkcs12_twin_reads_in_check_and_keystore(folder: Path) -> None:
    assert_clean(check(folder, "keystore.p12"), "keystore.p12: PKCS12, 1 key entries")
    keystore = mtls("keystore", "keystore.p12", "--out", "out.jks", *P12_PASSWORD, cwd=folder, env=P12_ENV)
    assert keystore.done.returncode == 0, keystore.done.stderr
    assert read_store(folder / "out.jks", Secret(KS_PASSWORD), "keystore").key_entries[0].alias == "client"


def test_key_bag_hidden_in_encrypted_contents_is_refused_before_its_pbkdf2(folder: Path, material: Path) -> None:
    """The walk cannot see inside encryption: the SafeContents is decrypted first and its count refused."""
    key, cert = pkcs8_and_der(material)
    (folder / "hidden.p12").write_bytes(hostile.pfx_with_hidden_key_bag(key, cert, KS_PASSWORD, 2**31 - 1))
    line = assert_finding(check(folder, "hidden.p12"), "hidden.p12", "2,147,483,647 iterations", "5,000,000")
    assert "which the JDK refuses too" in line
    keystore = mtls("keystore", "hidden.p12", "--out", "out.jks", *P12_PASSWORD, cwd=folder, env=P12_ENV)
    assert_one_line_error(keystore.done, "hidden.p12", "2,147,483,647 iterations")


def test_hidden_key_bag_within_the_limits_reads_and_is_read_by_keytool(
    folder: Path, material: Path, keytool: str
) -> None:
    key, cert = pkcs8_and_der(material)
    (folder / "hidden.p12").write_bytes(hostile.pfx_with_hidden_key_bag(key, cert, KS_PASSWORD, 2048))
    listing = subprocess.run(
        [keytool, "-list", "-keystore", "hidden.p12", "-storetype", "PKCS12", "-storepass", KS_PASSWORD],
        cwd=folder, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "PrivateKeyEntry" in listing.stdout, listing.stdout + listing.stderr
    keystore = mtls("keystore", "hidden.p12", "--out", "out.jks", *P12_PASSWORD, cwd=folder, env=P12_ENV)
    assert keystore.done.returncode == 0, keystore.done.stderr
    assert read_store(folder / "out.jks", Secret(KS_PASSWORD), "keystore").key_entries[0].key is not None


def test_counts_summed_above_the_work_limit_are_refused(folder: Path, material: Path) -> None:
    """Each count within the JDK's 5,000,000, together above PKCS12_WORK (10,000,000): refused, raisable."""
    pfx = hostile.pfx_with_iterations((folder / "keystore.p12").read_bytes(), 4_000_000)
    (folder / "slow.p12").write_bytes(pfx)
    assert_finding(check(folder, "slow.p12"), "slow.p12", "iteration counts, summed", "MTLS_MAX_PKCS12_ITERATIONS")


# -- JCEKS: secret-key entries are never deserialized ------------------------------------------------------


@pytest.fixture(scope="module")
def jceks(material: Path) -> tuple[bytes, bytes]:
    """(a JCEKS with one AES secret-key entry, a JCEKS with a private-key entry then a secret-key entry): keytool."""
    keytool = require_tool("keytool")
    folder = material / "jceks"
    folder.mkdir(exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([keytool, *args], cwd=folder, check=True, capture_output=True, timeout=120)

    run("-genseckey", "-alias", "aes", "-keyalg", "AES", "-keysize", "128", "-storetype", "JCEKS",
        "-keystore", "secret.jceks", "-storepass", KS_PASSWORD, "-keypass", KS_PASSWORD)  # fmt: skip
    run("-importkeystore", "-srckeystore", str(material / "keystore.p12"), "-srcstoretype", "PKCS12",
        "-srcstorepass", KS_PASSWORD, "-destkeystore", "mixed.jceks", "-deststoretype", "JCEKS",
        "-deststorepass", KS_PASSWORD, "-noprompt")  # fmt: skip
    run("-genseckey", "-alias", "aes", "-keyalg", "AES", "-keysize", "128", "-storetype", "JCEKS",
        "-keystore", "mixed.jceks", "-storepass", KS_PASSWORD, "-keypass", KS_PASSWORD)  # fmt: skip
    return (folder / "secret.jceks").read_bytes(), (folder / "mixed.jceks").read_bytes()


def test_jceks_secret_key_of_nested_references_is_skipped_not_deserialized(
    folder: Path, jceks: tuple[bytes, bytes]
) -> None:
    """~630 bytes that javaobj (pyjks) expands exponentially: skipped in one pass, the store read as empty."""
    data = hostile.jceks_with_nested_references(jceks[0], KS_PASSWORD, 30)
    assert len(data) < 800
    (folder / "nested.jceks").write_bytes(data)
    run = check(folder, "nested.jceks")
    assert run.done.returncode == 1, run.done.stdout
    assert "Traceback" not in run.done.stderr
    assert "nested.jceks: JCEKS, 0 key entries" in run.done.stdout
    contents = read_store(folder / "nested.jceks", Secret(KS_PASSWORD), "keystore")
    assert contents.type == "jceks"
    assert not contents.key_entries


def test_jceks_whose_secret_key_is_not_a_sealed_object_is_a_damaged_entry(
    folder: Path, jceks: tuple[bytes, bytes]
) -> None:
    data = bytearray(hostile.jceks_with_nested_references(jceks[0], KS_PASSWORD, 30))
    head = 18 + int.from_bytes(data[16:18], "big") + 8 + 4  # the stream's magic, then TC_OBJECT
    data[head] = 0x75  # TC_ARRAY: the JDK writes an object here
    (folder / "array.jceks").write_bytes(bytes(data))
    # Python's reader names the entry without deserializing it ...
    with pytest.raises(StoreError, match="not a serialized object") as caught:
        read_store(folder / "array.jceks", Secret(KS_PASSWORD), "keystore")
    assert caught.value.entry == "aes"
    # ... and check, where the platform's JDK decides, says what the JDK says of a JCEKS keystoreFile.
    assert_finding(check(folder, "array.jceks"), "array.jceks", "JCEKS")


def test_genuine_jceks_twin_reads_the_key_entry_past_its_secret_key(folder: Path, jceks: tuple[bytes, bytes]) -> None:
    (folder / "mixed.jceks").write_bytes(jceks[1])
    contents = read_store(folder / "mixed.jceks", Secret(KS_PASSWORD), "keystore")
    assert [(e.alias, e.locked) for e in contents.key_entries] == [("client", False)]
    run = check(folder, "mixed.jceks")
    assert "mixed.jceks: JCEKS, 1 key entries" in run.done.stdout, run.done.stdout
    assert "Traceback" not in run.done.stderr
    with pytest.raises(Exception, match="integrity check failed"):
        read_store(folder / "mixed.jceks", Secret("not-" + KS_PASSWORD), "keystore")


# -- PEM: unterminated blocks ----------------------------------------------------------------------------------


def test_pem_of_unterminated_begin_lines_is_refused_in_one_pass(folder: Path) -> None:
    cert_pem = (folder / "cert.pem").read_bytes()
    (folder / "unterminated.pem").write_bytes(hostile.pem_unterminated(cert_pem, 4_999))
    with pytest.raises(StoreError, match="line 1: BEGIN CERTIFICATE without its END line"):
        read_store(folder / "unterminated.pem", Secret(TS_PASSWORD), "truststore")
    # check: the JDK's verdict on a PEM truststoreFile (it cannot open PEM as a keystore), in bounded time.
    assert_finding(check(folder, "keystore.p12", "unterminated.pem"), "unterminated.pem")


def test_genuine_pem_bundle_twin_reads(folder: Path) -> None:
    (folder / "bundle.pem").write_bytes(hostile.pem_bundle((folder / "cert.pem").read_bytes(), 150))
    run = check(folder, "keystore.p12", "bundle.pem")
    assert "bundle.pem: PEM, 0 key entries, 150 trusted certificates" in run.done.stdout, run.done.stdout
    assert "Traceback" not in run.done.stderr


# -- unsupported curves ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd_curve(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    return hostile.odd_curve_material(tmp_path_factory.mktemp("odd"))


def test_keystore_key_on_secp112r1_is_a_finding(folder: Path, odd_curve: tuple[Path, Path, Path, Path]) -> None:
    ca, ca_key = odd_curve[0], odd_curve[1]
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-in", ca, "-inkey", ca_key, "-name", "odd", "-out", folder / "odd.p12",
         "-passout", f"pass:{KS_PASSWORD}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert_finding(check(folder, "odd.p12"), "odd.p12", "store-unreadable", "1.3.132.0.6", "JDK 16+")


def test_keystore_with_a_leaf_on_secp112r1_and_an_rsa_key_is_a_damaged_entry(
    folder: Path, material: Path, odd_curve: tuple[Path, Path, Path, Path]
) -> None:
    """A JKS key entry whose key (RSA) and leaf (secp112r1) differ: named at reading, not raised by the judge."""
    key, _ = pkcs8_and_der(material)
    odd = x509.load_pem_x509_certificate(odd_curve[0].read_bytes())
    loaded = serialization.load_der_private_key(key, None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    (folder / "odd.jks").write_bytes(jks_bytes([("client", loaded, [odd])], [], Secret(KS_PASSWORD)))
    with pytest.raises(StoreError, match=r"1\.3\.132\.0\.6") as caught:
        read_store(folder / "odd.jks", Secret(KS_PASSWORD), "keystore")
    assert caught.value.entry == "client"
    # The JDK opens it (its key is RSA): Python's failure is an info line naming the curve, Java's verdict stands.
    run = check(folder, "odd.jks")
    assert run.done.returncode == 1, run.done.stdout + run.done.stderr
    assert "Traceback" not in run.done.stdout + run.done.stderr
    info = [line for line in run.done.stdout.splitlines() if line.startswith("info") and "odd.jks" in line]
    assert len(info) == 1, run.done.stdout
    assert "1.3.132.0.6" in info[0]


def test_capture_lists_a_server_chain_with_a_secp112r1_ca(
    tmp_path: Path, odd_curve: tuple[Path, Path, Path, Path]
) -> None:
    ca, _, leaf, key = odd_curve
    (tmp_path / "chain.pem").write_bytes(leaf.read_bytes() + ca.read_bytes())
    run = capture_against(tmp_path, tmp_path / "chain.pem", key)
    assert run.done.returncode == 0, run.done.stdout + run.done.stderr
    assert "CN=odd-curve CA  (EC on secp112r1 (unsupported)" in run.done.stdout
    assert "Traceback" not in run.done.stderr


def test_capture_twin_without_the_odd_ca_lists_rsa(tmp_path: Path, odd_curve: tuple[Path, Path, Path, Path]) -> None:
    _, _, leaf, key = odd_curve
    run = capture_against(tmp_path, leaf, key)
    assert run.done.returncode == 0, run.done.stdout + run.done.stderr
    assert "CN=127.0.0.1  (RSA-2048" in run.done.stdout


def capture_against(folder: Path, chain: Path, key: Path) -> hostile.Bounded:
    """``capture`` against a TLS server on 127.0.0.1 sending ``chain`` (OpenSSL at security level 0, so it
    accepts the 112-bit CA in its chain)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(chain, key)

    def behave(conn: socket.socket) -> None:
        conn.settimeout(10)
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1 << 16)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    with hostile.HostileServer(behave) as server:
        return mtls("capture", f"https://127.0.0.1:{server.port}/", cwd=folder)


# -- symbolic link loops ----------------------------------------------------------------------------------------


def test_keystore_file_that_is_a_symlink_loop_is_a_finding(folder: Path) -> None:
    (folder / "loop.p12").symlink_to("loop.p12")
    assert_finding(check(folder, "loop.p12"), "loop.p12", "store-unreadable", "symbolic link loop")


def test_keystore_file_that_is_a_symlink_to_the_store_reads(folder: Path) -> None:
    (folder / "link.p12").symlink_to("keystore.p12")
    assert_clean(check(folder, "link.p12"), "PKCS12, 1 key entries")


# -- scenarios found through a folder: `run DIR` ----------------------------------------------------------------


def scenario_folder(tmp_path: Path, extra: Callable[[Path], None]) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    shutil.copy(REPO / "scenarios" / "ok-rsa.toml", folder / "ok-rsa.toml")
    extra(folder)
    return folder


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("digits.toml", "serial = " + "9" * 5_000 + "\n", ("digits.toml", "too many digits")),
        ("deep.toml", hostile.deep_toml(5_000), ("deep.toml", "nested too deeply", "5,000 levels")),
    ],
    ids=["integer-of-5000-digits", "nested-5000-deep"],
)
def test_run_dir_with_a_hostile_scenario_is_one_line(tmp_path: Path, name: str, text: str, words: tuple[str]) -> None:
    genuine = (REPO / "scenarios" / "ok-rsa.toml").read_text()
    folder = scenario_folder(tmp_path, lambda f: (f / name).write_text(genuine + text))
    run = mtls("run", str(folder), "--engine", "python", cwd=tmp_path)
    assert_one_line_error(run.done, *words)


def test_run_dir_with_a_fifo_named_like_a_scenario_is_one_line(tmp_path: Path) -> None:
    folder = scenario_folder(tmp_path, lambda f: os.mkfifo(f / "x.toml"))
    run = mtls("run", str(folder), "--engine", "python", cwd=tmp_path)
    assert_one_line_error(run.done, "x.toml", "FIFO")


def test_run_dir_twin_runs_the_genuine_scenario(tmp_path: Path) -> None:
    folder = scenario_folder(tmp_path, lambda f: None)
    run = mtls("run", str(folder), "--engine", "python", cwd=tmp_path)
    assert run.done.returncode == 0, run.done.stdout[-2000:] + run.done.stderr
    assert "1 passed" in run.done.stdout


def test_toml_depth_is_counted_past_strings_and_comments() -> None:
    text = 'a = [[1, [2]], {x = [1]}]\nb = "[[[[\\"[[["  # [[[\nc = \'[[[\'\nd = """[[[\n[[["""\n[[e]]\n'
    assert toml_depth(text) == 3
    assert toml_depth(hostile.deep_toml(TOML_DEPTH.value)) == TOML_DEPTH.value
    shipped = [toml_depth(p.read_text()) for p in sorted((REPO / "scenarios").glob("*.toml"))]
    assert max(shipped) < TOML_DEPTH.value


def test_every_raisable_limit_is_documented() -> None:
    from harness import limits

    documented = (REPO / "docs" / "limits.md").read_text()
    for name in limits.__all__:
        limit = getattr(limits, name)
        if isinstance(limit, limits.Limit) and limit.env is not None:
            assert f"`{limit.env}`" in documented, limit.env
