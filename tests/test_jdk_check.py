"""`check` judges the stores as the chosen JDK does: fixtures made by keytool, openssl and the JDK's KeyStore API.

Every expectation here is also proven against the JDK itself: the same file is
listed by that runtime's own ``keytool`` (the witness), so a static rule that
drifts from Java fails here, not at go-live.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from harness.java.runtimes import Runtime, discover
from harness.secret import Secret
from tests.conftest import REPO, cli, require_tool

FIXTURES = REPO / "fixtures"
DESTINATIONS = FIXTURES / "destinations"
pytestmark = pytest.mark.jdk


def _check(case: str, *jdks: str, cwd: Path) -> tuple[int, list[dict[str, Any]], dict[str, str]]:
    args = ["check", str(DESTINATIONS / f"{case}.json"), "--at", "+1h", "--json"]
    for jdk in jdks:
        args += ["--jdk", jdk]
    done = cli(*args, cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)
    return done.returncode, doc["findings"], doc["facts"]


def _errors(findings: list[dict[str, Any]]) -> set[str]:
    return {f["code"] for f in findings if f["severity"] == "error"}


def _destination(case: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DESTINATIONS / f"{case}.json").read_text("utf-8"))
    return doc


def _keytool(runtime: Runtime, store: Path, password: str, *more: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MTLS_TEST_PW": password}
    argv = [
        str(runtime.keytool),
        "-J-XX:+UseSerialGC",
        *more,
        "-keystore",
        str(store),
        "-storepass:env",
        "MTLS_TEST_PW",
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL, check=False
    )


def _store(case: str, which: str) -> tuple[Path, str]:
    doc = _destination(case)
    return (DESTINATIONS / doc[f"{which}File"]).resolve(), doc[f"{which}Pass"]


@pytest.fixture(scope="module")
def debian() -> Runtime:
    found = [r for r in discover({"PATH": os.environ.get("PATH", "")}, python_package=False) if r.origin == "PATH"]
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and no java on PATH", pytrace=False)
        pytest.skip("no java on PATH")
    return found[0]


def test_openssl3_keystore_per_jdk(real_jdks: dict[str, Runtime], debian: Runtime, tmp_path: Path) -> None:
    """The done-when check: keystore-format-unsupported for 11.0.10 and 8u292, not for 21 (nor 17)."""
    code, findings, facts = _check("keystore-openssl3-pkcs12", "11.0.10", "8u292", "21", cwd=tmp_path)
    assert code == 1
    unsupported = {f["subject"] for f in findings if f["code"] == "keystore-format-unsupported"}
    assert unsupported == {"keystore.p12 on Java 11.0.10", "keystore.p12 on Java 8u292"}
    not_run = [f for f in findings if f["code"] == "jdk-not-run"]
    assert [f["subject"] for f in not_run] == ["Java 8u292"]
    assert "no live JSSE verdict was run" in not_run[0]["message"]
    assert facts["stores on Java 21.0.8"] == "opened: 1 key entries, 2 trust anchors"
    # The negative twin: the default JDK (17) and 21 alone find nothing wrong.
    code, findings, _ = _check("keystore-openssl3-pkcs12", "21", cwd=tmp_path)
    assert (code, _errors(findings)) == (0, set())
    # The witness: each runtime's own keytool.
    store, password = _store("keystore-openssl3-pkcs12", "keystore")
    old = _keytool(real_jdks["11.0.10"], store, password, "-list")
    assert old.returncode != 0
    assert "keystore password was incorrect" in old.stdout + old.stderr
    for runtime in (real_jdks["21.0.8"], debian):
        assert "1 entry" in _keytool(runtime, store, password, "-list").stdout


def test_pkcs12_key_password_is_the_keys_not_the_stores(debian: Runtime, tmp_path: Path) -> None:
    code, findings, _ = _check("keystore-pkcs12-key-password-differs", cwd=tmp_path)
    assert code == 1
    assert _errors(findings) == {"key-password-mismatch"}  # not keystore-password-wrong
    store, password = _store("keystore-pkcs12-key-password-differs", "keystore")
    listed = _keytool(debian, store, password, "-list")
    assert listed.returncode == 0, listed.stderr  # the store password opens the store
    key = _keytool(debian, store, password, "-exportcert", "-alias", "client", "-rfc")
    assert key.returncode == 0  # certificates too; only the key fails:
    csr = _keytool(debian, store, password, "-certreq", "-alias", "client", "-keypass", password, "-file", "/dev/null")
    assert "Get Key failed" in csr.stdout + csr.stderr


def test_openssl_pkcs12_truststore_is_empty_for_java(
    real_jdks: dict[str, Runtime], debian: Runtime, tmp_path: Path
) -> None:
    code, findings, _ = _check("truststore-openssl-pkcs12", cwd=tmp_path)
    assert code == 1
    assert _errors(findings) == {"truststore-empty"}
    store, password = _store("truststore-openssl-pkcs12", "truststore")
    for runtime in (debian, real_jdks["21.0.8"]):
        assert "Your keystore contains 0 entries" in _keytool(runtime, store, password, "-list").stdout
    # The negative twin: keytool's own PKCS#12 truststore is not empty.
    code, findings, _ = _check("good-pkcs12", cwd=tmp_path)
    assert "truststore-empty" not in _errors(findings)


def test_no_key_entry_and_key_cert_mismatch(debian: Runtime, tmp_path: Path) -> None:
    code, findings, _ = _check("client-cert-missing", cwd=tmp_path)
    assert (code, _errors(findings)) == (1, {"keystore-no-key-entry"})
    store, password = _store("client-cert-missing", "keystore")
    listed = _keytool(debian, store, password, "-list").stdout
    assert "trustedCertEntry" in listed
    assert "PrivateKeyEntry" not in listed
    code, findings, _ = _check("key-cert-mismatch", cwd=tmp_path)
    assert (code, _errors(findings)) == (1, {"key-cert-mismatch"})  # not client-cert-wrong-usage
    code, findings, _ = _check("good", cwd=tmp_path)
    assert not _errors(findings) & {"keystore-no-key-entry", "key-cert-mismatch"}


def test_several_key_entries_in_a_pkcs12(debian: Runtime, tmp_path: Path) -> None:
    code, findings, _ = _check("keystore-ambiguous-pkcs12", cwd=tmp_path)
    assert (code, _errors(findings)) == (1, {"keystore-ambiguous"})
    store, password = _store("keystore-ambiguous-pkcs12", "keystore")
    assert _keytool(debian, store, password, "-list").stdout.count("PrivateKeyEntry") == 2


def test_store_reading_through_the_probe(real_jdks: dict[str, Runtime]) -> None:
    """JsseEngine.load_stores: the JDK's own reading, no network, no password in the answer."""
    from harness.diagnose import store_reading_verdict
    from harness.engines import Probe
    from harness.engines.jsse import JsseEngine
    from harness.java.launch import jdk_of

    store, password = _store("keystore-openssl3-pkcs12", "keystore")
    trust, trust_password = _store("keystore-openssl3-pkcs12", "truststore")
    probe = Probe("https://stores-only.invalid/", store, Secret(password), trust, Secret(trust_password))
    for version, want in (("11.0.10", "keystore-format-unsupported"), ("21.0.8", None)):
        with JsseEngine(jdk=jdk_of(real_jdks[version])) as engine:
            reading = engine.load_stores(probe)
        assert reading.java_version == version
        verdict = store_reading_verdict(reading)
        assert (verdict.code if verdict is not None else None) == want
        assert reading.loaded is (want is None)
        assert password not in repr(reading)


# -- the platform's TLS settings: --client-tls, [client] ciphers -------------------------------


def test_check_client_tls_pins_the_platforms_protocols(
    live: Any, write_scenario: Any, tmp_path: Path, debian: Runtime
) -> None:
    target = live(write_scenario({"server": {"trust": ["client-root"], "tls_versions": ["1.3"]}}, name="tls13-only"))
    base = ["check", str(target.built.destination), "--url", target.url, "--json", "--engine", "jsse"]
    pinned = json.loads(cli(*base, "--client-tls", "1.2", cwd=tmp_path).stdout)
    handshake = {f["code"] for f in pinned["findings"] if f["check"] == "handshake"}
    assert handshake == {"protocol-mismatch"}  # a TLS 1.2 platform against a TLS 1.3-only server
    free = json.loads(cli(*base, cwd=tmp_path).stdout)
    assert {f["code"] for f in free["findings"] if f["check"] == "handshake"} == {"ok"}  # the twin


def test_client_ciphers_a_shared_suite_is_ok(tmp_path: Path) -> None:
    """The negative twin of scenarios/cipher-mismatch.toml: an ECDSA suite for the server's EC key."""
    text = (REPO / "scenarios" / "cipher-mismatch.toml").read_text("utf-8")
    text = text.replace("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    text = text.replace('outcome = "cipher-mismatch"', 'outcome = "ok"')
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "cipher-shared.toml").write_text(text, "utf-8")
    done = cli("run", str(folder), "--engine", "jsse", "-v", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "tls: TLSv1.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" in done.stdout


# -- a server CA without keyUsage: JSSE accepts it, so must the static check -------------------


def _server_pki(folder: Path, ca_usage: Any) -> tuple[Any, Any]:
    """A root (keyUsage as given, or none) issuing a 127.0.0.1 server certificate, into folder/server."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "No-KU Root")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
    )
    if ca_usage is not None:
        builder = builder.add_extension(ca_usage, critical=True)
    root = builder.sign(root_key, hashes.SHA256())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=20))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    server = folder / "server"
    pem = serialization.Encoding.PEM
    (server / "chain.pem").write_bytes(leaf.public_bytes(pem))
    key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (server / "key.pem").write_bytes(key)
    return root, leaf


@pytest.mark.parametrize(
    ("ca_usage", "static", "jsse"),
    [
        (None, set(), "ok"),  # no keyUsage on the CA: JSSE (PKIX, RFC 5280) accepts it
        ("no-keycertsign", {"server-cert-untrusted"}, "server-cert-untrusted"),  # the twin: JSSE refuses
    ],
)
def test_server_ca_key_usage_as_jsse_judges_it(
    tmp_path: Path, debian: Runtime, ca_usage: str | None, static: set[str], jsse: str
) -> None:
    from cryptography import x509

    from harness.build import build_scenario
    from harness.files import write_atomic
    from harness.scenario import load_scenario
    from harness.server import LocalServer, ServerFiles
    from harness.stores import truststore_bytes

    usage = None
    if ca_usage == "no-keycertsign":
        flags = dict.fromkeys(
            ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only"), False
        )
        usage = x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=True, decipher_only=False, **flags)
    scenario = load_scenario(REPO / "scenarios" / "ok-rsa.toml")
    built = build_scenario(scenario, tmp_path / "built", port=1)
    root, _ = _server_pki(built.folder, usage)
    password = scenario.truststore.password
    data = truststore_bytes([("no-ku-root", root)], "jks", password)
    write_atomic(built.truststore, data, private=True, overwrite=True)
    with LocalServer(ServerFiles.from_dir(built.folder / "server")) as server:
        done = cli("check", str(built.destination), "--url", server.url, "--json", "--engine", "jsse", cwd=tmp_path)
    doc = json.loads(done.stdout)
    assert {f["code"] for f in doc["findings"] if f["check"] == "server-chain" and f["severity"] == "error"} == static
    # The live verdict: its own finding, or folded into the static finding of the same cause (check says which
    # engines found it too).
    live = [f for f in doc["findings"] if f["check"] == "handshake" or "jsse" in (f.get("engines") or [])]
    assert {f["code"] for f in live} == {jsse}, [f["message"] for f in live]


# -- versions with no runtime here: the server's TLS versions and suites (issue 11, point 3) -----------


class _StdlibServer:
    """A TLS server on 127.0.0.1 with the given version and suites (what the harness's server cannot offer:
    TLS 1.0, TLS_RSA only); answers any request with HTTP 200, asks for no client certificate."""

    def __init__(self, folder: Path, version: Any, ciphers: str) -> None:
        import socket
        import ssl
        import threading

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = self.context.maximum_version = version
        self.context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
        self.context.load_cert_chain(folder / "server" / "chain.pem", folder / "server" / "key.pem")
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(1.0)
        self.url = f"https://127.0.0.1:{self.socket.getsockname()[1]}/"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        import ssl

        while not self.stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except OSError:
                continue
            conn.settimeout(5.0)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (OSError, ssl.SSLError):
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.socket.close()


@pytest.fixture
def stdlib_server(tmp_path: Path, write_scenario: Any) -> Any:
    from harness.build import write_scenario_files
    from harness.scenario import load_scenario

    folder = tmp_path / "built"
    folder.mkdir()
    rsa = {"server": {"trust": ["client-root"], "identity": {"key": "rsa-2048"}}}  # TLS_RSA needs an RSA key
    built = write_scenario_files(load_scenario(write_scenario(rsa, name="stdlib")), folder)
    servers: list[_StdlibServer] = []

    def start(version: Any, ciphers: str = "ALL") -> tuple[Any, str]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1: the point of the test
            servers.append(_StdlibServer(folder, version, ciphers))
        return built, servers[-1].url

    yield start
    for server in servers:
        server.close()


def _static_check(built: Any, url: str, *versions: str, cwd: Path, more: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Error codes per ``Java VERSION`` subject of a check with only not-installed versions (no live engine)."""
    args = ["check", str(built.destination), "--url", url, "--json", "--engine", "python", *more]
    for version in versions:
        args += ["--jdk", version]
    doc = json.loads(cli(*args, cwd=cwd).stdout)
    out: dict[str, set[str]] = {v: set() for v in versions}
    for f in doc["findings"]:
        if f["subject"].startswith("Java ") and f["severity"] == "error":
            out[f["subject"].removeprefix("Java ")].add(f["code"])
    assert all(
        f["subject"] != f"Java {v}" or f["code"] != "jdk-not-run" or "no live JSSE" in f["message"]
        for f in doc["findings"]
        for v in versions
    )
    return out


def _live(built: Any, url: str, runtime: Runtime) -> Any:
    from harness.engines import Probe
    from harness.engines.jsse import JsseEngine
    from harness.java.launch import jdk_of

    doc = _destination_of(built)
    probe = Probe(
        url,
        built.keystore,
        Secret(doc["keystorePass"]),
        built.truststore,
        Secret(doc["truststorePass"]),
        method="GET",
        once=True,
    )
    with JsseEngine(jdk=jdk_of(runtime)) as engine:
        return engine.probe(probe)


def _destination_of(built: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(built.destination).read_text("utf-8"))
    return doc


def test_static_tls_versions_tls13_only_server(live: Any, write_scenario: Any, tmp_path: Path) -> None:
    """TLS 1.3 only: protocol-mismatch for 8u252 (none) and 8u292 (off for clients), not for 11.0.9."""
    target = live(write_scenario({"server": {"trust": ["client-root"], "tls_versions": ["1.3"]}}, name="tls13"))
    found = _static_check(target.built, target.url, "8u252", "8u292", "11.0.9", cwd=tmp_path)
    assert found == {"8u252": {"protocol-mismatch"}, "8u292": {"protocol-mismatch"}, "11.0.9": set()}
    # jdk.tls.client.protocols (--client-tls 1.3) turns 8u292's TLS 1.3 on; 8u252 has none to turn on.
    found = _static_check(target.built, target.url, "8u252", "8u292", cwd=tmp_path, more=("--client-tls", "1.3"))
    assert found == {"8u252": {"protocol-mismatch"}, "8u292": set()}
    # A live engine's verdict of the same code stays its own finding, not folded into a version's.
    args = ["check", str(target.built.destination), "--url", target.url, "--json", "--engine", "jsse"]
    doc = json.loads(cli(*args, "--client-tls", "1.2", "--jdk", "17", "--jdk", "8u292", cwd=tmp_path).stdout)
    mismatch = {(f["subject"], tuple(f["engines"] or ())) for f in doc["findings"] if f["code"] == "protocol-mismatch"}
    assert ("Java 8u292", ()) in mismatch
    assert len(mismatch) == 2, mismatch  # and the live jsse engine's own
    # The twin: a TLS 1.2-only server is fine for 8u292 (and for 8u252).
    target = live(write_scenario({"server": {"trust": ["client-root"], "tls_versions": ["1.2"]}}, name="tls12"))
    found = _static_check(target.built, target.url, "8u252", "8u292", cwd=tmp_path)
    assert found == {"8u252": set(), "8u292": set()}


def test_static_tls10_rule_and_the_live_jsse_verdicts(
    stdlib_server: Any, real_jdks: dict[str, Runtime], tmp_path: Path
) -> None:
    """A TLS 1.0-only server: refused from 8u291 / 11.0.11 on; the real 11.0.10 handshakes, the real 21 refuses."""
    import ssl

    built, url = stdlib_server(ssl.TLSVersion.TLSv1)
    found = _static_check(built, url, "8u282", "8u292", "11.0.9", "11.0.11", cwd=tmp_path)
    # 8u292 and 11.0.11 refuse TLS 1.0; the twins, 8u282 and 11.0.9, are before that update.
    assert found == {"8u282": set(), "8u292": {"protocol-mismatch"}, "11.0.9": set(), "11.0.11": {"protocol-mismatch"}}
    # The same rule, live: the data says 11.0.10 offers TLS 1.0 and 21 does not; so do the runtimes.
    old = _live(built, url, real_jdks["11.0.10"])
    assert old.protocol == "TLSv1", old.error
    new = _live(built, url, real_jdks["21.0.8"])
    assert new.protocol is None
    assert "protocol" in (new.error or "").lower(), new.error


def test_static_tls_rsa_rule_and_the_live_jsse_verdicts(
    stdlib_server: Any, real_jdks: dict[str, Runtime], tmp_path: Path
) -> None:
    """A TLS 1.2 server with TLS_RSA suites only: cipher-mismatch for 24+, not for 21; live 25 refuses, 21 connects."""
    import ssl

    from harness.java import runtimes as jdks

    built, url = stdlib_server(ssl.TLSVersion.TLSv1_2, "AES128-GCM-SHA256")
    found = _static_check(built, url, "24", "21.0.3", cwd=tmp_path)
    assert found == {"24": {"cipher-mismatch"}, "21.0.3": set()}
    # The twin of the server: the same with an ECDHE suite is fine for 24.
    built2, url2 = stdlib_server(ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256")
    assert _static_check(built2, url2, "24", cwd=tmp_path) == {"24": set()}
    assert _live(built, url, real_jdks["21.0.8"]).protocol == "TLSv1.2"
    try:
        newest = jdks.resolve("25.0.2", env={"PATH": "", "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", "")})
    except jdks.JdkNotFound:
        newest = jdks.install("25.0.2")
    refused = _live(built, url, newest)
    assert refused.protocol is None, refused.error


def _weak_server_pki(folder: Path, bits: int, digest: str) -> None:
    """openssl: an RSA-2048 root, and a 127.0.0.1 leaf with an RSA-``bits`` key signed with ``digest``
    (cryptography makes neither keys under 1024 bits nor MD5 signatures); the truststore trusts the root."""
    from cryptography import x509

    from harness.files import write_atomic
    from harness.stores import truststore_bytes

    openssl = require_tool("openssl")
    work = folder / "weak"
    work.mkdir()

    def run(*argv: str) -> None:
        done = subprocess.run([openssl, *argv], capture_output=True, text=True, timeout=60, check=False, cwd=work)
        assert done.returncode == 0, done.stderr

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out", "root.pem", "-days", "30",
        "-subj", "/CN=Weak Test Root", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", "leaf.key")
    run("req", "-new", "-key", "leaf.key", "-subj", "/CN=127.0.0.1", "-out", "leaf.csr")
    (work / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", "utf-8")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial",
        f"-{digest}", "-days", "20", "-extfile", "leaf.ext", "-out", "leaf.pem")  # fmt: skip
    (folder / "server" / "chain.pem").write_bytes((work / "leaf.pem").read_bytes())
    (folder / "server" / "key.pem").write_bytes((work / "leaf.key").read_bytes())
    root = x509.load_pem_x509_certificate((work / "root.pem").read_bytes())
    doc = json.loads((folder / "destination.json").read_text("utf-8"))
    data = truststore_bytes([("weak-root", root)], "jks", Secret(doc["truststorePass"]))
    write_atomic(folder / doc["truststoreFile"], data, private=True, overwrite=True)


@pytest.mark.parametrize(
    ("bits", "digest", "static"),
    [
        (768, "sha256", {"weak-key"}),  # RSA keySize < 1024
        (1024, "sha256", set()),  # the threshold's twin: RSA-1024 itself passes (2048 is only a keytool warning)
        (2048, "md5", {"weak-signature"}),  # MD5
        (2048, "sha1", set()),  # SHA-1: refused only under a cacerts root (jdkCA), not with a private truststore
    ],
)
def test_static_server_chain_rules_and_the_live_jsse_verdicts(
    tmp_path: Path, write_scenario: Any, real_jdks: dict[str, Runtime], bits: int, digest: str, static: set[str]
) -> None:
    import ssl

    from harness.build import write_scenario_files
    from harness.scenario import load_scenario

    folder = tmp_path / "built"
    folder.mkdir()
    rsa = {"server": {"trust": ["client-root"], "identity": {"key": "rsa-2048"}}}
    built = write_scenario_files(load_scenario(write_scenario(rsa, name="weak")), folder)
    _weak_server_pki(built.folder, bits, digest)
    server = _StdlibServer(built.folder, ssl.TLSVersion.TLSv1_2, "ALL")
    try:
        args = ["check", str(built.destination), "--url", server.url, "--json", "--engine", "python"]
        doc = json.loads(cli(*args, "--jdk", "8u292", "--jdk", "25.0.1", cwd=tmp_path).stdout)
        for version in ("8u292", "25.0.1"):
            mine = {f["code"] for f in doc["findings"] if f["subject"] == f"server chain on Java {version}"}
            assert mine == static, (version, doc["findings"])
        if digest == "sha1":
            assert "not with the destination's private truststore" in doc["facts"]["SHA-1 on Java 8u292"]
        # The same chain, live: the real runtimes refuse exactly what the rule refuses.
        for version in ("11.0.10", "21.0.8"):
            outcome = _live(built, server.url, real_jdks[version])
            assert (outcome.protocol is None) == bool(static), (version, outcome.error)
    finally:
        server.close()
