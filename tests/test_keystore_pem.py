"""``keystore --cert CERT.pem --key KEY.pem [--chain CHAIN.pem]``: the keystore from the PEM files a CA delivers.

The material is made by the ``openssl`` command line (tests/openssl_pki.py);
each keystore written is read back by ``keytool`` of every JDK of the matrix
(``--mtls-jdk``, default 11.0.10, 17, 21), and its key recovered with the store
password alone (``keytool -certreq`` signs with it): key password = store password.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from harness.java import runtimes as jdks
from harness.knowledge.java import has_feature
from tests.conftest import assert_one_line_error, cli, jdk_matrix
from tests.openssl_pki import Issued, OpenSslPki

OUT_PASSWORD = "out-Pw-pem-83c1"
KEY_FORMS = ("pkcs8", "pkcs8-encrypted", "traditional", "traditional-encrypted")


@pytest.fixture(scope="module")
def keytools(request: pytest.FixtureRequest) -> list[jdks.Runtime]:
    """keytool of each JDK of --mtls-jdk (default 11.0.10, 17, 21); a missing one fails under CI=true."""
    return jdk_matrix(request.config, "to read the keystore back")


@pytest.fixture
def pki(tmp_path: Path, openssl: str) -> OpenSslPki:
    return OpenSslPki(tmp_path, openssl)


def _ca_chain(pki: OpenSslPki) -> tuple[Issued, Issued]:
    root = pki.root("root", "PEM Test Root CA")
    return root, pki.issue("issuing", "PEM Test Issuing CA", root, ca=True)


def keystore(pki: OpenSslPki, *args: str | Path, out: str = "keystore.jks") -> subprocess.CompletedProcess[str]:
    env = {"OUT_PW": OUT_PASSWORD, "KEY_PW": pki.key_password, "WRONG_PW": "not-the-key-password"}
    return cli(
        "keystore", *map(str, args), "--out", out, "--password-env", "OUT_PW", cwd=pki.folder, env=env
    )  # fmt: skip


def no_secret(done: subprocess.CompletedProcess[str], pki: OpenSslPki) -> None:
    text = done.stdout + done.stderr
    assert OUT_PASSWORD not in text
    assert pki.key_password not in text
    assert not re.search(r"PRIVATE KEY-----\s+[A-Za-z0-9+/]{16}", text)  # no key material


def warnings_of(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.strip().removeprefix("warning: ") for line in done.stdout.splitlines() if "warning:" in line]


def read_back(runtime: jdks.Runtime, store: Path) -> tuple[list[x509.Certificate], str]:
    """The key entry's chain as keytool lists it, and a CSR keytool signs with the key (store password only)."""
    env = {"OUT_PW": OUT_PASSWORD, "PATH": "/usr/bin:/bin"}
    common = ["-keystore", str(store), "-storepass:env", "OUT_PW", "-alias", "client"]
    listed = subprocess.run(
        [runtime.keytool, "-list", "-rfc", *common], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "PrivateKeyEntry" in listed.stdout, listed.stdout
    signed = subprocess.run(
        [runtime.keytool, "-certreq", *common], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert signed.returncode == 0, (
        f"Java {runtime.version}: the key does not open with the store password: {signed.stderr}"
    )
    chain = x509.load_pem_x509_certificates(listed.stdout.encode())
    return chain, signed.stdout


def names(chain: list[x509.Certificate]) -> list[str]:
    return [c.subject.rfc4514_string() for c in chain]


def same_key(pki: OpenSslPki, csr: str, cert: Path) -> bool:
    """The CSR keytool signed holds the certificate's public key, and its signature verifies (openssl req -verify;
    cryptography refuses the explicit NULL parameters JDK 11 writes in an ECDSA CSR)."""
    (pki.folder / "keytool.csr").write_text(csr, "ascii")
    from_csr = pki.run("req", "-in", "keytool.csr", "-noout", "-verify", "-pubkey")
    return from_csr == pki.run("x509", "-in", cert, "-noout", "-pubkey")


FULL = ["CN=pem-client", "CN=PEM Test Issuing CA", "CN=PEM Test Root CA"]


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("form", KEY_FORMS)
def test_keystore_from_pem_cert_key_and_chain(
    form: str, kind: str, pki: OpenSslPki, keytools: list[jdks.Runtime]
) -> None:
    root, issuing = _ca_chain(pki)
    client = pki.issue("client", "pem-client", issuing, kind=kind)
    key = pki.key_as(client.key, form)
    chain = pki.bundle("chain", [root.cert, issuing.cert])  # root first: keystore orders it leaf -> issuer
    password = ["--key-password-env", "KEY_PW"] if form.endswith("encrypted") else []
    done = keystore(pki, "--cert", client.cert, "--key", key, "--chain", chain, *password)
    assert done.returncode == 0, done.stdout + done.stderr
    assert warnings_of(done) == []
    assert "chain of 3" in done.stdout
    no_secret(done, pki)
    store = pki.folder / "keystore.jks"
    assert (store.stat().st_mode & 0o777) == 0o600
    for runtime in keytools if form == "pkcs8-encrypted" else keytools[:1]:
        chain_read, csr = read_back(runtime, store)
        assert names(chain_read) == FULL
        assert same_key(pki, csr, client.cert)


@pytest.mark.parametrize("fmt", ["jks", "pkcs12"])
def test_the_cert_file_may_carry_the_chain_in_any_order(
    fmt: str, pki: OpenSslPki, keytools: list[jdks.Runtime]
) -> None:
    root, issuing = _ca_chain(pki)
    client = pki.issue("client", "pem-client", issuing, kind="ec")
    fullchain = pki.bundle("fullchain", [client.cert, root.cert, issuing.cert])
    out = "keystore.jks" if fmt == "jks" else "keystore.p12"
    done = keystore(pki, "--cert", fullchain, "--key", client.key, "--format", fmt, out=out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert warnings_of(done) == []
    # The note names the first Java of each line that opens it: only for a PKCS#12, the model each keytool proves.
    assert ("Java 8u301 / 11.0.12 / 12 and newer open it" in done.stdout) == (fmt == "pkcs12"), done.stdout
    for runtime in keytools:
        if fmt == "pkcs12" and not has_feature("pkcs12-pbes2", runtime.version):
            # Documented (docs/engines.md): OpenSSL 3's PKCS#12 algorithms open from 11.0.12 on; JKS everywhere.
            with pytest.raises(AssertionError, match="keystore password was incorrect"):
                read_back(runtime, pki.folder / out)
            continue
        chain_read, csr = read_back(runtime, pki.folder / out)
        assert names(chain_read) == FULL
        assert same_key(pki, csr, client.cert)


def test_a_chain_that_does_not_link_is_a_warning_and_strict_refuses_it(pki: OpenSslPki) -> None:
    root, issuing = _ca_chain(pki)
    client = pki.issue("client", "pem-client", issuing)
    stranger = pki.root("stranger", "Unrelated CA")
    chain = pki.bundle("chain", [stranger.cert, root.cert])  # the issuing CA is missing
    strict = keystore(pki, "--cert", client.cert, "--key", client.key, "--chain", chain, "--strict")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "not written (--strict)" in strict.stdout
    assert not (pki.folder / "keystore.jks").exists()
    done = keystore(pki, "--cert", client.cert, "--key", client.key, "--chain", chain)
    assert done.returncode == 0, done.stdout + done.stderr
    found = warnings_of(done)
    assert found == warnings_of(strict)
    assert any("the chain does not link: CN=Unrelated CA" in w for w in found), found
    assert any("the chain does not link: CN=PEM Test Root CA" in w for w in found), found
    assert any(w.startswith("client-chain-incomplete: client.pem and chain.pem hold no CA") for w in found), found
    assert "chain of 1" in done.stdout
    # The twin: the same chain with the issuing CA links, and --strict writes it.
    good = pki.bundle("good", [root.cert, issuing.cert])
    twin = keystore(pki, "--cert", client.cert, "--key", client.key, "--chain", good, "--strict", out="twin.jks")
    assert twin.returncode == 0, twin.stdout + twin.stderr
    assert warnings_of(twin) == []


def _expired_copy(pki: OpenSslPki, client: Issued, issuing: Issued) -> Path:
    """The client certificate re-issued by the same CA, valid last year (openssl 3.0's x509 has no -not_before)."""
    ca_key = serialization.load_pem_private_key(issuing.key.read_bytes(), None)
    ca = x509.load_pem_x509_certificate(issuing.cert.read_bytes())
    cert = x509.load_pem_x509_certificate(client.cert.read_bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(ca.subject)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=35))
    )
    for extension in cert.extensions:
        if not isinstance(extension.value, x509.SubjectKeyIdentifier | x509.AuthorityKeyIdentifier):
            builder = builder.add_extension(extension.value, extension.critical)
    out = pki.folder / "expired.pem"
    out.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))  # type: ignore[arg-type]
    return out


def test_strict_refuses_an_expired_certificate(pki: OpenSslPki) -> None:
    root, issuing = _ca_chain(pki)
    client = pki.issue("client", "pem-client", issuing)
    chain = pki.bundle("chain", [issuing.cert, root.cert])
    expired = _expired_copy(pki, client, issuing)
    done = keystore(pki, "--cert", expired, "--key", client.key, "--chain", chain, "--strict")
    assert done.returncode == 1, done.stdout + done.stderr
    assert [w for w in warnings_of(done) if w.startswith("client-cert-expired: CN=pem-client expired on ")]
    assert not (pki.folder / "keystore.jks").exists()
    relaxed = keystore(pki, "--cert", expired, "--key", client.key, "--chain", chain)
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    assert [w for w in warnings_of(relaxed) if w.startswith("client-cert-expired: ")]
    # The twin: the valid certificate of the same key passes --strict.
    valid = keystore(pki, "--cert", client.cert, "--key", client.key, "--chain", chain, "--strict", out="ok.jks")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert warnings_of(valid) == []


def _bad(pki: OpenSslPki, case: str) -> tuple[list[str | Path], str, str]:
    """(arguments, the file the error names, words of the error) for one kind of unusable input."""
    _, issuing = _ca_chain(pki)
    client = pki.issue("client", "pem-client", issuing)
    chain = ["--chain", issuing.cert]
    if case == "wrong-key":
        other = pki.key("other")
        return ["--cert", client.cert, "--key", other, *chain], "client.pem", "key-cert-mismatch: the private key"
    if case == "wrong-password":
        key = pki.key_as(client.key, "pkcs8-encrypted")
        args: list[str | Path] = ["--cert", client.cert, "--key", key, "--key-password-env", "WRONG_PW", *chain]
        return args, key.name, "the password does not open the private key"
    if case == "wrong-password-traditional":
        key = pki.key_as(client.key, "traditional-encrypted")
        args = ["--cert", client.cert, "--key", key, "--key-password-env", "WRONG_PW", *chain]
        return args, key.name, "the password does not open the private key"
    if case == "no-password":
        key = pki.key_as(client.key, "pkcs8-encrypted")
        return ["--cert", client.cert, "--key", key, *chain], key.name, "the private key is encrypted"
    if case == "two-keys":
        both = pki.bundle("both", [client.key, pki.key("second")])
        return ["--cert", client.cert, "--key", both, *chain], "both.pem", "holds 2 private keys"
    if case == "corrupt-key":
        lines = client.key.read_text("ascii").splitlines()
        lines[3] = lines[3][:10] + "!!!!" + lines[3][14:]
        damaged = pki.folder / "damaged.key"
        damaged.write_text("\n".join(lines) + "\n", "ascii")
        return ["--cert", client.cert, "--key", damaged, *chain], "damaged.key", "the private key is damaged"
    if case == "corrupt-cert":
        damaged = pki.folder / "damaged.pem"
        damaged.write_bytes(client.cert.read_bytes()[:-60] + b"\n-----END CERTIFICATE-----\n")
        return ["--cert", damaged, "--key", client.key, *chain], "damaged.pem", "certificate 1 is damaged"
    if case == "truncated-chain":
        cut = pki.folder / "cut.pem"
        cut.write_bytes(issuing.cert.read_bytes()[:200])
        return ["--cert", client.cert, "--key", client.key, "--chain", cut], "cut.pem", "without its END line"
    if case == "key-as-cert":
        return ["--cert", client.key, "--key", client.key], client.key.name, "holds no PEM certificate"
    assert case == "cert-as-key"
    return ["--cert", client.cert, "--key", client.cert], "client.pem", "holds no PEM private key"


BAD = (
    "wrong-key",
    "wrong-password",
    "wrong-password-traditional",
    "no-password",
    "two-keys",
    "corrupt-key",
    "corrupt-cert",
    "truncated-chain",
    "key-as-cert",
    "cert-as-key",
)


@pytest.mark.parametrize("case", BAD)
def test_unusable_pem_is_one_line_naming_the_file_and_nothing_is_written(case: str, pki: OpenSslPki) -> None:
    args, file, words = _bad(pki, case)
    done = keystore(pki, *args)
    assert_one_line_error(done, file, words)
    no_secret(done, pki)
    assert not (pki.folder / "keystore.jks").exists()
    assert not [p for p in os.listdir(pki.folder) if p.startswith("keystore")]


def test_pem_and_pkcs12_options_do_not_mix(pki: OpenSslPki) -> None:
    root, issuing = _ca_chain(pki)
    client = pki.issue("client", "pem-client", issuing)
    p12 = pki.pkcs12(client, [issuing.cert, root.cert], "KeyPair", "p12-Pw-mix-1")
    assert_one_line_error(keystore(pki, p12, "--cert", client.cert, "--key", client.key), "--cert")
    assert_one_line_error(keystore(pki, "--cert", client.cert), "--cert", "needs --key")
    assert_one_line_error(keystore(pki, "--key", client.key), "--key", "needs --cert")
    assert_one_line_error(keystore(pki), "no key pair given")
    assert not (pki.folder / "keystore.jks").exists()
