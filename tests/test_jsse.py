"""The JSSE engine against real loopback TLS.

Stores are made by the real ``keytool`` and ``openssl`` (as a user would make
them), certificates by ``cryptography`` and ``trustme``; the server is a small
stdlib ``ssl`` server in a thread that requires a client certificate and answers
the client identity it saw as JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.diagnose import Evidence, diagnose
from harness.engines import Outcome, Probe, StoreFailure
from harness.engines.jsse import JsseEngine, encode_request
from harness.errors import EngineUnavailable
from harness.java.launch import NO_JDK, SOURCE, Jdk, find_jdk, launch_command
from harness.secret import Secret

# Distinctive, so a leak anywhere is found by a substring search.
KS_PASS = "ks-Pw-7f3a91"
TS_PASS = "ts-Pw-c04e2d"
KEY_PASS = "key-Pw-5b8e17"
WRONG = "not-the-Pw-0000"
SECRETS = (KS_PASS, TS_PASS, KEY_PASS, WRONG)


def _tool(name: str) -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).is_file():
        return str(Path(home) / "bin" / name)
    return shutil.which(name)


def _require_jdk() -> None:
    jdk = find_jdk()
    missing = NO_JDK if jdk is None or jdk.javac is None or _tool("keytool") is None else None
    if missing is None and shutil.which("openssl") is None:
        missing = "no openssl command: the test stores are made with `openssl pkcs12`"
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {missing}")  # a CI image without a JDK proves nothing
    pytest.skip(missing)


@pytest.fixture(autouse=True)
def _jdk_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("jdk"):
        _require_jdk()


# ---------------------------------------------------------------- material


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey]
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    ca = issuer[0] == subject
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
        b = b.add_extension(eku, critical=False)
    return b.sign(issuer[1], hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# keytool is a JVM: these flags halve its start-up, which dominates the fixture.
FAST_JVM = ["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-J-XX:-UsePerfData"]


def _run(argv: list[str], **env: str) -> None:
    # Passwords go through the environment (`:env` / `env:`), never argv.
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env}, check=False)
    assert done.returncode == 0, f"{argv[0]} failed: {done.stderr}"


@dataclass
class Material:
    root: Path
    server_ca: trustme.CA
    client_ca_pem: Path
    stores: dict[str, Path] = field(default_factory=dict)


def _client(root: Path, tag: str, ca_cn: str) -> tuple[Path, Path, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(ca_cn, ca_key, (ca_cn, ca_key))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(f"{tag} client", key, (ca_cn, ca_key))
    paths = root / f"{tag}-key.pem", root / f"{tag}-cert.pem", root / f"{tag}-ca.pem"
    paths[0].write_bytes(_key_pem(key))
    paths[1].write_bytes(_pem(leaf))
    paths[2].write_bytes(_pem(ca))
    return paths


def _p12(root: Path, name: str, pems: tuple[Path, Path, Path], alias: str) -> Path:
    out = root / name
    _run(
        ["openssl", "pkcs12", "-export", "-inkey", str(pems[0]), "-in", str(pems[1]),
         "-certfile", str(pems[2]), "-name", alias, "-out", str(out), "-passout", "env:P"],
        P=KS_PASS,
    )  # fmt: skip
    return out


def _jks_import(p12: Path, dest: Path, alias: str, keypass: str = KS_PASS) -> Path:
    _run(
        [str(_tool("keytool")), *FAST_JVM, "-importkeystore", "-noprompt",
         "-srckeystore", str(p12), "-srcstoretype", "PKCS12", "-srcstorepass:env", "S",
         "-srcalias", alias, "-destalias", alias,
         "-destkeystore", str(dest), "-deststoretype", "JKS", "-deststorepass:env", "D",
         "-destkeypass:env", "K"],
        S=KS_PASS, D=KS_PASS, K=keypass,
    )  # fmt: skip
    return dest


def _truststore(dest: Path, ca_pem: Path, storetype: str = "JKS") -> Path:
    _run(
        [str(_tool("keytool")), *FAST_JVM, "-importcert", "-noprompt", "-alias", "ca",
         "-file", str(ca_pem),
         "-keystore", str(dest), "-storetype", storetype, "-storepass:env", "P"],
        P=TS_PASS,
    )  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    _require_jdk()
    root = tmp_path_factory.mktemp("jsse")
    server_ca = trustme.CA()
    (root / "server-ca.pem").write_bytes(server_ca.cert_pem.bytes())
    good = _client(root, "good", "Client CA")
    rogue = _client(root, "rogue", "Rogue CA")
    other = _client(root, "other", "Other CA")
    good_p12 = _p12(root, "good.p12", good, "client")
    s = {
        "p12": good_p12,
        "jks": _jks_import(good_p12, root / "good.jks", "client"),
        "p12-named-jks": Path(shutil.copy(good_p12, root / "really-pkcs12.jks")),
        "rogue": _jks_import(_p12(root, "r.p12", rogue, "client"), root / "rogue.jks", "client"),
        "keypass": _jks_import(good_p12, root / "keypass.jks", "client", keypass=KEY_PASS),
        "garbage": root / "garbage.jks",
        "trust": _truststore(root / "trust.jks", root / "server-ca.pem"),
        "trust-p12": _truststore(root / "trust.p12", root / "server-ca.pem", "PKCS12"),
        "trust-other": _truststore(root / "trust-other.jks", other[2]),
    }
    s["garbage"].write_bytes(os.urandom(2048))
    two = _jks_import(good_p12, root / "two.jks", "client")
    _jks_import(_p12(root, "other.p12", other, "second"), two, "second")
    s["two"] = two
    return Material(root, server_ca, good[2], s)


# ---------------------------------------------------------------- server


@dataclass
class Seen:
    ok: bool
    error: str = ""
    reused: bool = False


class MtlsServer:
    """Requires a client certificate; answers 200 with the identity it saw."""

    def __init__(
        self,
        material: Material,
        *,
        hostnames: tuple[str, ...] = ("127.0.0.1", "localhost"),
        tls: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
        status: int = 200,
    ) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        material.server_ca.issue_cert(*hostnames).configure_cert(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(material.client_ca_pem))
        if tls:
            ctx.minimum_version, ctx.maximum_version = tls
        self.ctx = ctx
        self.status = status
        self.requests: list[tuple[bytes, bytes]] = []  # (header block, body) as received
        self.seen: list[Seen] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}/mtls"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> MtlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sock.close()

    def wait_seen(self, n: int) -> list[Seen]:
        """The first ``n`` connections; the server thread may lag the client by a moment."""
        deadline = time.monotonic() + 5
        while len(self.seen) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.seen[:n]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            with self.ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as s:
                self._one(s)

    def _one(self, s: ssl.SSLSocket) -> None:
        try:
            s.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.seen.append(Seen(False, str(e)))
            # Linger like a production server: half-close, drain until the
            # client's EOF, so the alert is read before any reset.
            try:
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except OSError:
                pass
            return
        self.seen.append(Seen(True, reused=s.session_reused))
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(65536)
                if not chunk:
                    return
                head += chunk
            header, _, body = head.partition(b"\r\n\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in header.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")),
                0,
            )  # fmt: skip
            while len(body) < length:
                body += s.recv(65536)
            der = s.getpeercert(binary_form=True)
            assert der is not None
            cert = x509.load_der_x509_certificate(der)
            client = {
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "serial": format(cert.serial_number, "x"),
                "sha256": hashlib.sha256(der).hexdigest(),
                "ignored": 7,
            }
            self.requests.append((header, body))
            cipher = s.cipher()
            if self.status == 200:
                answer = json.dumps({"client": client, "protocol": s.version(), "cipher": cipher and cipher[0]})
                head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            else:
                answer, head = "no entry", f"HTTP/1.1 {self.status} Nope\r\nContent-Type: text/plain\r\n"
            data = answer.encode()
            s.sendall(f"{head}Connection: close\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        except OSError as e:
            self.seen.append(Seen(False, f"after handshake: {e}"))


@pytest.fixture(scope="module")
def server(material: Material) -> Iterator[MtlsServer]:
    with MtlsServer(material) as srv:
        yield srv


@pytest.fixture(scope="module")
def engine() -> Iterator[JsseEngine]:
    eng = JsseEngine()
    yield eng
    eng.close()


def _probe(
    material: Material,
    url: str,
    keystore: str = "jks",
    truststore: str = "trust",
    ks_pass: str = KS_PASS,
    ts_pass: str = TS_PASS,
    **kw: object,
) -> Probe:
    return Probe(
        url=url,
        keystore=material.stores.get(keystore, Path(keystore)),
        keystore_password=Secret(ks_pass),
        truststore=material.stores.get(truststore, Path(truststore)),
        truststore_password=Secret(ts_pass),
        **kw,
    )


def _code(outcome: Outcome) -> str:
    """The outcome code these facts mean, from the outcome alone (the engine names none itself)."""
    return diagnose(outcome, Evidence()).code


def _assert_no_secret(outcome: Outcome, engine: JsseEngine) -> None:
    facts = [str(getattr(outcome, f.name)) for f in dataclasses.fields(outcome)]
    texts = [repr(outcome), str(outcome.error), *facts, engine.stderr_tail()]
    for secret in SECRETS:
        assert not any(secret in t for t in texts), "a password leaked into the outcome"


# ---------------------------------------------------------------- outcomes


@pytest.mark.jdk
@pytest.mark.parametrize(("store", "kind"), [("jks", "JKS"), ("p12", "PKCS12")])
def test_ok(material: Material, server: MtlsServer, engine: JsseEngine, store: str, kind: str) -> None:
    out = engine.probe(_probe(material, server.url, store, message=b'{"n": 1}'))
    assert out.stage == "done", out.error
    assert out.completed
    assert out.engine == "jsse"
    assert out.http_status == 200
    assert out.protocol == "TLSv1.3"
    assert out.cipher is not None
    assert out.cipher.startswith("TLS_")
    assert out.server_seen is not None
    assert out.server_seen["subject"] == "CN=good client"
    assert out.server_seen["issuer"] == "CN=Client CA"
    assert "ignored" not in out.server_seen  # only string fields
    assert out.error is None
    assert out.store_failure is None
    assert out.alert_received is None
    assert out.keystore_type == kind
    assert out.truststore_type == "JKS"
    assert out.key_entries == 1
    assert out.chosen_alias == "client"
    assert out.handshake_completed is True
    assert out.ca_names_seen == ()  # the stdlib server cannot send CA names
    assert out.java_version
    assert out.elapsed_ms > 0
    assert out.response_body is None  # the answer was understood
    header, body = server.requests[-1]
    assert header.startswith(b"POST /mtls HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in header
    assert body == b'{"n": 1}'


@pytest.mark.jdk
def test_http_error_is_done_with_status(material: Material, engine: JsseEngine) -> None:
    with MtlsServer(material, status=403) as srv:
        out = engine.probe(_probe(material, srv.url, message=b"<x/>", content_type="application/xml"))
        header, body = srv.requests[-1]
    assert out.stage == "done"
    assert out.completed  # the TLS side worked: the status is diagnose's business
    assert out.http_status == 403
    assert out.error is None
    assert out.server_seen is None
    assert out.response_body == "no entry"
    assert b"\r\nContent-Type: application/xml\r\n" in header
    assert body == b"<x/>"


@pytest.mark.jdk
def test_type_from_content_not_name(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    out = engine.probe(_probe(material, server.url, "p12-named-jks", truststore="trust-p12"))
    assert out.stage == "done", out.error
    assert out.keystore_type == "PKCS12"
    assert out.truststore_type == "PKCS12"


TLS12 = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
TLS13 = (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)


@pytest.mark.jdk
@pytest.mark.parametrize(
    ("tls", "completed", "connections"),
    [
        # TLS 1.2: the server checks the client certificate before its Finished.
        (TLS12, "false", "1"),
        # TLS 1.3: the client's handshake is over before the server has checked
        # it; the alert comes on the first read, and HttpURLConnection retries
        # the POST once on a failed read, so the server sees two handshakes.
        (TLS13, "true", "2"),
    ],
    ids=["tls1.2", "tls1.3"],
)
def test_untrusted_client_cert(
    material: Material,
    engine: JsseEngine,
    tls: tuple[ssl.TLSVersion, ssl.TLSVersion],
    completed: str,
    connections: str,
) -> None:
    with MtlsServer(material, tls=tls) as srv:
        bad = engine.probe(_probe(material, srv.url, "rogue"))
        good = engine.probe(_probe(material, srv.url, "jks"))
        seen = srv.wait_seen(int(connections) + 1)
    assert bad.stage == "handshake"
    assert not bad.completed
    assert bad.error_type == "SSLHandshakeException"
    assert bad.error == "javax.net.ssl.SSLHandshakeException: Received fatal alert: unknown_ca"
    assert bad.alert_received == "unknown_ca"  # the test server lingers, so the alert arrives
    assert bad.http_status is None
    assert bad.server_seen is None
    assert bad.store_failure is None  # a diagnosis, not a certainty
    assert bad.chosen_alias == "client"  # the JDK did send it
    assert bad.client_cert_sent is True
    assert str(bad.handshake_completed).lower() == completed
    assert bad.connections == int(connections)
    assert [s.ok for s in seen] == [False] * int(connections) + [True]
    assert "certificate verify failed" in seen[0].error
    assert good.stage == "done"
    assert good.alert_received is None
    assert good.error is None
    assert good.connections == 1
    assert good.protocol == ("TLSv1.2" if tls == TLS12 else "TLSv1.3")


def _s_server(material: Material, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    leaf = material.server_ca.issue_cert("127.0.0.1")
    key, pem = material.root / "s_server.key", material.root / "s_server.pem"
    leaf.private_key_pem.write_to_path(str(key))
    leaf.cert_chain_pems[0].write_to_path(str(pem))
    argv = ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(pem), "-key", str(key)]
    argv += ["-CAfile", str(material.client_ca_pem), "-Verify", "2", "-verify_return_error"]
    proc = subprocess.Popen(
        [*argv, "-www", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ACCEPT 127.0.0.1:"):
            return proc, f"https://127.0.0.1:{line.split(':')[1].strip()}/"
    proc.wait()
    proc.stdout.close()
    pytest.fail("openssl s_server did not start")


@pytest.mark.jdk
@pytest.mark.openssl
@pytest.mark.parametrize(("extra", "alert"), [([], "certificate_required"), (["-tls1_2"], "handshake_failure")])
def test_ca_names_decide_which_key_is_sent(
    material: Material, engine: JsseEngine, extra: list[str], alert: str
) -> None:
    # openssl s_server advertises its -CAfile as acceptable client CA names, as
    # production servers do; the stdlib server cannot (see test_ok: "").
    proc, url = _s_server(material, extra)
    try:
        rogue = engine.probe(_probe(material, url, "rogue"))
        # -www answers GET only: a POST that got through the handshake waits
        # for the read timeout, which is all this test needs.
        good = engine.probe(_probe(material, url, "jks", timeout=1.0))
    finally:
        proc.terminate()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert rogue.ca_names_seen == ("CN=Client CA",)
    assert rogue.chosen_alias is None  # no key from an advertised CA: none sent
    assert rogue.client_cert_sent is False
    assert rogue.alert_received == alert
    assert good.ca_names_seen == ("CN=Client CA",)
    assert good.chosen_alias == "client"
    assert good.handshake_completed is True
    assert good.stage == "http"  # past the handshake: the server accepted the key


@pytest.mark.jdk
@pytest.mark.parametrize("store", ["jks", "p12"])
def test_wrong_keystore_password(material: Material, server: MtlsServer, engine: JsseEngine, store: str) -> None:
    out = engine.probe(_probe(material, server.url, store, ks_pass=WRONG))
    assert out.stage == "keystore"
    assert out.store_failure is not None
    assert (out.store_failure.store, out.store_failure.problem) == ("keystore", "password")
    assert _code(out) == "keystore-password-wrong"
    assert out.error is not None
    assert "password was incorrect" in out.error
    assert out.error_type == "IOException"
    _assert_no_secret(out, engine)


@pytest.mark.jdk
@pytest.mark.parametrize("store", ["trust", "trust-p12"])
def test_wrong_truststore_password(material: Material, server: MtlsServer, engine: JsseEngine, store: str) -> None:
    out = engine.probe(_probe(material, server.url, truststore=store, ts_pass=WRONG))
    assert out.stage == "truststore"
    assert _code(out) == "truststore-password-wrong"
    right = engine.probe(_probe(material, server.url, truststore=store))
    assert right.stage == "done"
    assert right.store_failure is None


@pytest.mark.jdk
def test_key_password_differs(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    out = engine.probe(_probe(material, server.url, "keypass"))
    assert out.stage == "keystore"
    assert out.store_failure == StoreFailure("keystore", "key-password")
    assert _code(out) == "key-password-mismatch"
    assert out.error_type == "UnrecoverableKeyException"
    assert out.error is not None
    assert "Cannot recover key" in out.error
    # The store password itself is right: the store opened and was described.
    assert out.keystore_type == "JKS"
    assert out.key_entries == 1
    _assert_no_secret(out, engine)


@pytest.mark.jdk
@pytest.mark.parametrize("where", ["keystore", "truststore"])
@pytest.mark.parametrize("what", ["garbage", "missing"])
def test_unreadable_store(material: Material, server: MtlsServer, engine: JsseEngine, where: str, what: str) -> None:
    bad = str(material.root / "no-such.jks") if what == "missing" else "garbage"
    kw = {"keystore": bad} if where == "keystore" else {"truststore": bad}
    out = engine.probe(_probe(material, server.url, **kw))
    assert out.stage == where
    assert out.store_failure == StoreFailure(where, "unreadable")  # type: ignore[arg-type]
    assert _code(out) == "store-unreadable"
    assert out.error


@pytest.mark.jdk
def test_server_ca_not_trusted(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    out = engine.probe(_probe(material, server.url, truststore="trust-other"))
    assert out.stage == "handshake"
    assert out.error is not None
    assert "PKIX path building failed" in out.error
    assert out.error_type == "SSLHandshakeException"
    assert out.alert_received is None  # the client aborted; the server said nothing
    assert out.store_failure is None


@pytest.mark.jdk
def test_hostname_mismatch(material: Material, engine: JsseEngine) -> None:
    with MtlsServer(material, hostnames=("example.invalid",)) as srv:
        out = engine.probe(_probe(material, srv.url))
    assert out.stage == "handshake"
    assert out.error is not None
    assert "No subject alternative names" in out.error
    assert "127.0.0.1" in out.error


@pytest.mark.jdk
def test_tls_version_restriction(material: Material, engine: JsseEngine) -> None:
    with MtlsServer(material, tls=TLS13) as srv:
        pinned = engine.probe(_probe(material, srv.url, tls_versions=("1.2",)))
        free = engine.probe(_probe(material, srv.url))
    assert pinned.stage == "handshake"
    assert pinned.alert_received == "protocol_version"
    assert free.stage == "done"
    assert free.protocol == "TLSv1.3"


@pytest.mark.jdk
def test_tls_version_pin_negotiates_it(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    out = engine.probe(_probe(material, server.url, tls_versions=("1.2",)))
    assert out.stage == "done", out.error
    assert out.protocol == "TLSv1.2"
    assert out.server_seen is not None
    assert out.server_seen["subject"] == "CN=good client"


@pytest.mark.jdk
def test_unsupported_protocol_name(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    out = engine.probe(_probe(material, server.url, tls_versions=("9.9",)))
    assert out.stage == "handshake"
    assert out.error is not None
    assert "Unsupported protocol: 9.9" in out.error


@pytest.mark.jdk
def test_two_key_entries(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    out = engine.probe(_probe(material, server.url, "two"))
    assert out.key_entries == 2
    assert out.key_aliases == ("client", "second")
    assert out.chosen_alias in {"client", "second"}
    # The JDK picks without looking at which CA the server trusts: with no CA
    # names advertised, whichever it chose decides the outcome.
    assert (out.stage == "done") == (out.chosen_alias == "client")


@pytest.mark.jdk
def test_connection_refused(material: Material, engine: JsseEngine) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    out = engine.probe(_probe(material, f"https://127.0.0.1:{port}/"))
    assert out.stage == "connect"
    assert out.error_type == "ConnectException"
    assert out.handshake_completed is False


@pytest.mark.jdk
def test_silent_server_times_out(material: Material, engine: JsseEngine) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:  # accepts TCP, never speaks TLS
        url = f"https://127.0.0.1:{s.getsockname()[1]}/"
        t0 = time.monotonic()
        out = engine.probe(_probe(material, url, timeout=1.0))
    assert out.stage == "handshake"
    assert out.error is not None
    assert "Read timed out" in out.error
    assert time.monotonic() - t0 < 10


@pytest.mark.jdk
def test_json_round_trip_of_odd_text(material: Material, engine: JsseEngine) -> None:
    # The JVM gets store bytes, never a path (issue 22): an odd name is Python's to report, verbatim.
    odd = str(material.root / 'sp\u00e9cial "quoted" \\ \t\u2603 \U0001f512.jks')
    out = engine.probe(_probe(material, "https://127.0.0.1:1/", keystore=odd))
    assert _code(out) == "store-unreadable"
    assert out.error == f"{odd}: No such file or directory"


# ---------------------------------------------------------------- the JVM


@pytest.mark.jdk
def test_one_jvm_many_probes_fresh_handshakes(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    engine.probe(_probe(material, server.url))
    pid = engine.pid
    before = len(server.seen)
    outs = [engine.probe(_probe(material, server.url)) for _ in range(20)]
    assert engine.pid == pid
    assert all(o.stage == "done" for o in outs)
    seen = server.wait_seen(before + 20)[before:]
    assert len(seen) == 20  # one connection per probe: no keep-alive
    assert not any(s.reused for s in seen)  # and a full handshake each: no resumption


@pytest.mark.jdk
def test_resumption_would_be_seen(material: Material, server: MtlsServer) -> None:
    # Twin of the test above: the server does notice a resumed session.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.2: session known right after handshake
    material.server_ca.configure_trust(ctx)
    pems = material.root / "good-cert.pem", material.root / "good-key.pem"
    ctx.load_cert_chain(*pems)
    session = None
    before = len(server.seen)
    for _ in range(2):
        with (
            socket.create_connection(("127.0.0.1", server.port)) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s,
        ):
            s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            with contextlib.suppress(ssl.SSLEOFError):
                while s.recv(65536):
                    pass
            session = s.session
    assert [s.reused for s in server.wait_seen(before + 2)[before:]] == [False, True]


@pytest.mark.jdk
def test_close_ends_jvm_and_probe_restarts(material: Material, server: MtlsServer) -> None:
    eng = JsseEngine()
    try:
        assert eng.pid is None  # lazy
        assert eng.probe(_probe(material, server.url)).completed
        pid = eng.pid
        assert pid is not None
        os.kill(pid, 0)  # alive
        eng.close()
        assert eng.pid is None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        again = eng.probe(_probe(material, server.url))
        assert again.completed
        assert eng.pid not in (None, pid)
    finally:
        eng.close()


@pytest.mark.jdk
def test_jvm_killed_mid_probe(material: Material, server: MtlsServer) -> None:
    eng = JsseEngine()
    try:
        assert eng.probe(_probe(material, server.url)).completed
        pid = eng.pid
        assert pid is not None
        with socket.create_server(("127.0.0.1", 0)) as silent:
            url = f"https://127.0.0.1:{silent.getsockname()[1]}/"
            threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
            out = eng.probe(_probe(material, url, timeout=20.0))
        assert out.error_type == "EngineFailure"
        assert out.error is not None
        assert "exited" in out.error
        assert eng.pid is None
        after = eng.probe(_probe(material, server.url))
        assert after.completed
        assert eng.pid not in (None, pid)
    finally:
        eng.close()


@pytest.mark.jdk
def test_ctrl_c_kills_the_jvm(material: Material, tmp_path: Path) -> None:
    script = tmp_path / "interrupt.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal, socket, sys, threading
            from pathlib import Path
            from harness.engines import Probe
            from harness.engines.jsse import JsseEngine
            from harness.secret import Secret
            eng = JsseEngine()
            silent = socket.create_server(("127.0.0.1", 0))
            probe = Probe(
                url=f"https://127.0.0.1:{silent.getsockname()[1]}/",
                keystore=Path(sys.argv[1]), keystore_password=Secret(os.environ["KP"]),
                truststore=Path(sys.argv[2]), truststore_password=Secret(os.environ["TP"]),
                timeout=30.0,
            )
            pids = []
            def interrupt():
                while eng.pid is None:
                    threading.Event().wait(0.05)
                pids.append(eng.pid)
                threading.Event().wait(1.0)
                os.kill(os.getpid(), signal.SIGINT)
            threading.Thread(target=interrupt, daemon=True).start()
            try:
                eng.probe(probe)
            except KeyboardInterrupt:
                print(pids[0], eng.pid)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), str(material.stores["jks"]), str(material.stores["trust"])],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KP": KS_PASS, "TP": TS_PASS},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    jvm_pid, after = done.stdout.split()
    assert after == "None"
    with pytest.raises(ProcessLookupError):
        os.kill(int(jvm_pid), 0)


@pytest.mark.jdk
def test_passwords_never_leak(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    outs = [
        engine.probe(_probe(material, server.url)),
        engine.probe(_probe(material, server.url, ks_pass=WRONG)),
        engine.probe(_probe(material, server.url, ts_pass=WRONG)),
        engine.probe(_probe(material, server.url, "keypass")),
        engine.probe(_probe(material, server.url, "rogue")),
        engine.probe(_probe(material, server.url, truststore="trust-other")),
    ]
    # Twin: the passwords were really used (the first probe opened both stores).
    assert outs[0].completed
    for out in outs:
        _assert_no_secret(out, engine)


@pytest.mark.jdk
def test_jvm_debug_output_neither_leaks_nor_breaks_the_pipe(
    material: Material, server: MtlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Full JSSE debug logging, as a support engineer might switch on: it goes
    # to stderr, the protocol on stdout survives, and no password is in it.
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", "-Djavax.net.debug=ssl,handshake,keymanager")
    with JsseEngine() as eng:
        outs = [
            eng.probe(_probe(material, server.url)),
            eng.probe(_probe(material, server.url, "keypass")),
            eng.probe(_probe(material, server.url, ks_pass=WRONG)),
        ]
        log = eng.stderr_tail()
    assert [o.stage for o in outs] == ["done", "keystore", "keystore"]
    # Twin: the capture does hold the JVM's stderr, from its first line on.
    assert log.startswith("Picked up JAVA_TOOL_OPTIONS")
    assert '"ClientHello": {' in log
    for out in outs:
        _assert_no_secret(out, eng)


@pytest.mark.jdk
def test_concurrent_probes_share_one_jvm(material: Material, server: MtlsServer, engine: JsseEngine) -> None:
    engine.probe(_probe(material, server.url))
    pid = engine.pid
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: engine.probe(_probe(material, server.url)), range(12)))
    assert [o.stage for o in outs] == ["done"] * 12
    assert engine.pid == pid


# ---------------------------------------------------------------- setup


@pytest.mark.jdk
def test_compiled_once_into_cache(tmp_path: Path) -> None:
    jdk = find_jdk()
    assert jdk is not None
    # MTLS_HARNESS_PROBE=compile: past the shipped jar, to the javac path.
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "MTLS_HARNESS_PROBE": "compile"}
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(launch_command(jdk, env=env))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({tuple(r) for r in results}) == 1  # racing compilers agree
    cp = Path(results[0][results[0].index("-cp") + 1])
    assert cp.parent == tmp_path / "mtls-harness" / "jsse"
    assert sorted(p.name for p in cp.parent.iterdir()) == [cp.name]  # no build leftovers
    stamp = (cp / "MtlsProbe.class").stat().st_mtime_ns
    assert launch_command(jdk, once=True, env=env)[-2:] == ["MtlsProbe", "--once"]
    assert (cp / "MtlsProbe.class").stat().st_mtime_ns == stamp  # not recompiled


@pytest.mark.jdk
def test_once_mode_answers_one_request(tmp_path: Path) -> None:
    jdk = find_jdk()
    assert jdk is not None
    probe = Probe("https://127.0.0.1:1/", tmp_path / "none.jks", Secret(KS_PASS), tmp_path, Secret(TS_PASS))
    line = json.dumps(encode_request(probe, 7, (b"not a store", b""))) + "\n"
    done = subprocess.run(
        launch_command(jdk, once=True), input=line * 2, capture_output=True, text=True, timeout=60, check=True
    )
    answers = [json.loads(x) for x in done.stdout.splitlines()]
    assert len(answers) == 1  # no ready line, one answer, then exit
    assert answers[0]["id"] == 7
    assert answers[0]["storeProblem"] == "unreadable"
    assert KS_PASS not in done.stdout + done.stderr


@pytest.mark.jdk
def test_java11_compatible(tmp_path: Path) -> None:
    javac = _tool("javac")
    assert javac is not None
    _run([javac, "--release", "11", "-Xlint:all", "-Werror", "-d", str(tmp_path), str(SOURCE)])


@pytest.mark.jdk
def test_jre_without_javac_uses_source_launcher(material: Material, server: MtlsServer, tmp_path: Path) -> None:
    java = find_jdk()
    assert java is not None
    (tmp_path / "java").symlink_to(java.java.resolve())
    jre = find_jdk({"PATH": str(tmp_path)})
    assert jre == Jdk(tmp_path / "java", None)
    env = {"PATH": str(tmp_path), "MTLS_HARNESS_PROBE": "compile"}  # not the shipped jar: no javac, so the source
    assert launch_command(jre, env=env)[-1] == str(SOURCE)
    with JsseEngine(env=env) as eng:
        out = eng.probe(_probe(material, server.url))
    assert out.completed, out.error
    assert launch_command(jre, env={"PATH": str(tmp_path)})[-1] == "MtlsProbe"  # the shipped jar, when fresh


@pytest.mark.parametrize("java_home", [None, "/nonexistent-jdk"])
def test_no_jdk(tmp_path: Path, java_home: str | None) -> None:
    env = {"PATH": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)} | ({"JAVA_HOME": java_home} if java_home else {})
    eng = JsseEngine(env=env)
    reason = eng.unavailable_reason()
    assert reason is not None
    assert "apt install openjdk-17-jdk-headless" in reason
    assert ("JAVA_HOME=/nonexistent-jdk" in reason) == bool(java_home)
    probe = Probe("https://127.0.0.1:1/", tmp_path, Secret(""), tmp_path, Secret(""))
    with pytest.raises(EngineUnavailable):
        eng.probe(probe)
    eng.close()


@pytest.mark.jdk
def test_jdk_found() -> None:
    assert JsseEngine().unavailable_reason() is None
