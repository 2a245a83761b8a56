"""harness.server.tls_context against real clients over loopback: Python ssl, openssl s_client, JSSE.

The reference is what ``openssl s_server -Verify 2 -verify_return_error`` makes
clients see. Each rejection has an accepted twin, so a server that accepts
everything, or rejects everything, fails here.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.errors import ServerError
from harness.server import HandshakeRecord, ca_names
from harness.server.tls_context import make_server_context

VERSIONS = ["1.2", "1.3"]
HANDSHAKE_TIMEOUT = 5.0
KEYSTORE_PASSWORD = b"changeit-test"


# --- PKI: server identity from trustme, client PKI from cryptography ----------


@dataclass(frozen=True)
class Client:
    cert: Path
    key: Path
    p12: Path
    der: bytes


@dataclass(frozen=True)
class Pki:
    server_chain: Path
    server_key: Path
    server_ca: Path
    client_cas: Path
    client_ca_cn: str
    clients: dict[str, Client]


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mtls-harness tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    *,
    expired: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(days=30), now - timedelta(days=1))
        if expired
        else (
            now - timedelta(days=1),
            now + timedelta(days=30),
        )
    )
    ca_cert, ca_key = issuer
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_client(out: Path, alias: str, leaf: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> Client:
    cert, key = leaf
    (out / f"{alias}.crt").write_bytes(_pem(cert))
    (out / f"{alias}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(KEYSTORE_PASSWORD)
    )
    (out / f"{alias}.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(alias.encode(), key, cert, None, encryption)
    )
    return Client(
        out / f"{alias}.crt",
        out / f"{alias}.key",
        out / f"{alias}.p12",
        cert.public_bytes(serialization.Encoding.DER),
    )


def make_pki(out: Path) -> Pki:
    server_ca = trustme.CA()
    server = server_ca.issue_cert("127.0.0.1")
    server.private_key_pem.write_to_path(str(out / "server.key"))
    (out / "server.pem").write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server_ca.cert_pem.write_to_path(str(out / "server-ca.pem"))
    good_ca, other_ca = _ca("Good Client CA"), _ca("Other Client CA")
    (out / "client-cas.pem").write_bytes(_pem(good_ca[0]))
    clients = {
        "good": _write_client(out, "good", _leaf("good client", good_ca)),
        "untrusted": _write_client(out, "untrusted", _leaf("untrusted client", other_ca)),
        "expired": _write_client(out, "expired", _leaf("expired client", good_ca, expired=True)),
    }
    return Pki(
        out / "server.pem",
        out / "server.key",
        out / "server-ca.pem",
        out / "client-cas.pem",
        "Good Client CA",
        clients,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# --- A plain asyncio server in a thread of its own ----------------------------


@dataclass
class Server:
    port: int
    records: queue.Queue[HandshakeRecord]
    # handshake_record of each connection the application saw, read from the SSLObject.
    seen: list[HandshakeRecord | None] = field(default_factory=list)
    loop_errors: list[dict[str, Any]] = field(default_factory=list)

    def record(self, timeout: float = 5.0) -> HandshakeRecord:
        return self.records.get(timeout=timeout)


def settings(pki: Pki, **options: Any) -> dict[str, Any]:
    """``make_server_context`` arguments: required client auth, CA names, TLS 1.2 and 1.3."""
    defaults: dict[str, Any] = {
        "cert_chain": pki.server_chain,
        "key": pki.server_key,
        "client_cas": pki.client_cas,
        "client_auth": "required",
        "tls_versions": ("1.2", "1.3"),
        "advertise_ca_names": True,
        "on_record": lambda record: None,
    }
    return defaults | options


@contextmanager
def serving(pki: Pki, *, handshake_timeout: float = HANDSHAKE_TIMEOUT, **options: Any) -> Iterator[Server]:
    """A server on 127.0.0.1:0 with the fidelity context, stopped cleanly on exit.

    The loop's exception handler collects instead of logging: a context that
    makes asyncio report anything fails the test, and so does a record left
    unread (each connection must give exactly one).
    """
    records: queue.Queue[HandshakeRecord] = queue.Queue()
    ctx = make_server_context(**settings(pki, on_record=records.put, handshake_timeout=handshake_timeout, **options))
    started: queue.Queue[Server | Exception] = queue.Queue()
    control: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.seen.append(getattr(writer.get_extra_info("ssl_object"), "handshake_record", None))
        try:
            if await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT):
                writer.write(b"pong\n")
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # a TLS 1.3 client rejected after its handshake: it never writes
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: server.loop_errors.append(context))
        stop = asyncio.Event()
        listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, ssl_handshake_timeout=handshake_timeout)
        control.update(loop=loop, stop=stop)
        server.port = listener.sockets[0].getsockname()[1]
        started.put(server)
        await stop.wait()
        listener.close()
        await listener.wait_closed()
        # Connections still lingering or in their handshake end at the client's
        # EOF or at the handshake timeout; leave none for asyncio.run to cancel.
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=handshake_timeout + 1)

    def run() -> None:
        try:
            # Debug mode (python -X dev) reports every failed handshake to the
            # exception handler, which this fixture treats as a failure.
            asyncio.run(main(), debug=False)
        except Exception as exc:  # noqa: BLE001 -- surfaced to the test, re-raised there
            started.put(exc)

    server = Server(port=0, records=records)
    thread = threading.Thread(target=run, name="fidelity-server", daemon=True)
    thread.start()
    ready = started.get(timeout=10)  # start-up deadline
    if isinstance(ready, Exception):
        raise ready
    try:
        yield server
    finally:
        control["loop"].call_soon_threadsafe(control["stop"].set)
        thread.join(timeout=handshake_timeout + 5)
        assert not thread.is_alive(), "server thread did not stop"
        while not started.empty():
            failure = started.get()
            if isinstance(failure, Exception):
                raise failure
    assert not server.loop_errors, server.loop_errors
    assert records.empty(), f"records no test expected: {list(records.queue)}"


# --- Clients ------------------------------------------------------------------

PY_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def python_client(pki: Pki, port: int, version: str, client: str | None) -> str:
    """``reply <line>`` or the OpenSSL reason the Python client failed with.

    It always writes and reads after the handshake: a TLS 1.3 client learns of
    its rejection only then (the server checks the client certificate after the
    client has finished its handshake).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.server_ca)
    ctx.minimum_version = ctx.maximum_version = PY_VERSIONS[version]
    if client is not None:
        ctx.load_cert_chain(pki.clients[client].cert, pki.clients[client].key)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
            ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"ping\n")
            reply = tls.recv(100)
    except ssl.SSLError as exc:
        return exc.reason or type(exc).__name__
    except OSError as exc:
        return type(exc).__name__
    return f"reply {reply.decode().strip()}" if reply else "EOF"


def s_client(pki: Pki, port: int, version: str, client: str | None) -> str:
    args = [
        "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki.server_ca),
        "-verify_return_error", "-ign_eof", "-tls1_2" if version == "1.2" else "-tls1_3",
    ]  # fmt: skip
    if client is not None:
        args += ["-cert", str(pki.clients[client].cert), "-key", str(pki.clients[client].key)]
    done = subprocess.run(args, input=b"ping\n", capture_output=True, timeout=30, check=False)
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


JAVA_PROBE = """
import java.io.*;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import javax.net.ssl.*;

public class MtlsProbe {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        KeyManager[] keyManagers = null;
        if (args.length > 3) {
            char[] password = System.getenv("PROBE_KEYSTORE_PASSWORD").toCharArray();
            KeyStore keystore = KeyStore.getInstance("PKCS12");
            try (InputStream in = new FileInputStream(args[3])) { keystore.load(in, password); }
            KeyManagerFactory kmf =
                KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keystore, password);
            keyManagers = kmf.getKeyManagers();
        }
        KeyStore truststore = KeyStore.getInstance(KeyStore.getDefaultType());
        truststore.load(null, null);
        try (InputStream in = new FileInputStream(args[2])) {
            int i = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                truststore.setCertificateEntry("ca" + i++, c);
            }
        }
        TrustManagerFactory tmf =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(truststore);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(keyManagers, tmf.getTrustManagers(), null);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port)) {
            s.setSoTimeout(10000);
            s.setEnabledProtocols(new String[] {args[1]});
            s.startHandshake();
            s.getOutputStream().write("ping\\n".getBytes("US-ASCII"));
            s.getOutputStream().flush();
            BufferedReader r =
                new BufferedReader(new InputStreamReader(s.getInputStream(), "US-ASCII"));
            System.out.println("reply " + r.readLine());
        } catch (IOException e) {
            System.out.println(e.getClass().getName() + ": " + e.getMessage());
        }
    }
}
"""


@pytest.fixture(scope="session")
def java_probe(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    java, javac = shutil.which("java"), shutil.which("javac")
    if not (java and javac):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no JDK (java, javac) on PATH")
        pytest.skip("no JDK (java, javac) on PATH")
    classes = tmp_path_factory.mktemp("java")
    (classes / "MtlsProbe.java").write_text(JAVA_PROBE)
    subprocess.run(
        [javac, "-d", str(classes), str(classes / "MtlsProbe.java")],
        check=True,
        capture_output=True,
        timeout=120,
    )

    def run(pki: Pki, port: int, version: str, client: str | None) -> str:
        args = [
            java,
            "-cp",
            str(classes),
            "MtlsProbe",
            str(port),
            f"TLSv{version}",
            str(pki.server_ca),
        ]
        if client is not None:
            args.append(str(pki.clients[client].p12))
        env = os.environ | {"PROBE_KEYSTORE_PASSWORD": KEYSTORE_PASSWORD.decode()}
        done = subprocess.run(args, capture_output=True, timeout=60, env=env, check=True)
        return done.stdout.decode().strip()

    return run


# --- Python ssl client --------------------------------------------------------

# case -> (client key entry, what the client reports per TLS version, server reason,
#          verify code, alert sent per TLS version)
REJECTIONS = {
    "untrusted": (
        "untrusted",
        {"1.2": "TLSV1_ALERT_UNKNOWN_CA", "1.3": "TLSV1_ALERT_UNKNOWN_CA"},
        "CERTIFICATE_VERIFY_FAILED",
        20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        {"1.2": "unknown_ca", "1.3": "unknown_ca"},
    ),
    "expired": (
        "expired",
        {"1.2": "SSLV3_ALERT_CERTIFICATE_EXPIRED", "1.3": "SSLV3_ALERT_CERTIFICATE_EXPIRED"},
        "CERTIFICATE_VERIFY_FAILED",
        10,  # X509_V_ERR_CERT_HAS_EXPIRED
        {"1.2": "certificate_expired", "1.3": "certificate_expired"},
    ),
    "no-cert": (
        None,
        # TLS 1.3 has an alert for it (RFC 8446, section 4.4.2.4); TLS 1.2 does not.
        {"1.2": "SSLV3_ALERT_HANDSHAKE_FAILURE", "1.3": "TLSV13_ALERT_CERTIFICATE_REQUIRED"},
        "PEER_DID_NOT_RETURN_A_CERTIFICATE",
        None,
        {"1.2": "handshake_failure", "1.3": "certificate_required"},
    ),
}


@pytest.mark.parametrize("version", VERSIONS)
def test_python_client_with_a_trusted_certificate_is_accepted_and_recorded(pki: Pki, version: str) -> None:
    with serving(pki) as server:
        assert python_client(pki, server.port, version, "good") == "reply pong"
        record = server.record()
    assert record.accepted
    assert record.protocol == f"TLSv{version}"
    assert record.cipher
    assert record.client_cert_der == pki.clients["good"].der
    assert (record.reason, record.alert_sent, record.error) == (None, None, None)
    # The application finds the same record on the connection's SSLObject.
    assert server.seen == [record]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(REJECTIONS))
def test_python_client_reads_the_alert_the_server_sent(pki: Pki, case: str, version: str) -> None:
    client, seen_by_client, reason, verify_code, alert = REJECTIONS[case]
    with serving(pki) as server:
        assert python_client(pki, server.port, version, client) == seen_by_client[version]
        record = server.record()
        # The negative twin, on the same server: a trusted client still gets in.
        assert python_client(pki, server.port, version, "good") == "reply pong"
        assert server.record().accepted
    assert not record.accepted
    assert (record.reason, record.verify_code, record.alert_sent) == (
        reason,
        verify_code,
        alert[version],
    )
    assert record.client_cert_der is None
    assert record.error is not None
    assert reason in record.error
    assert (record.verify_message is None) == (verify_code is None)
    assert len(server.seen) == 1  # the rejected connection never reached the application


@pytest.mark.parametrize("version", VERSIONS)
def test_optional_client_auth_accepts_a_client_without_certificate(pki: Pki, version: str) -> None:
    with serving(pki, client_auth="optional") as server:
        assert python_client(pki, server.port, version, None) == "reply pong"
        without = server.record()
        # Optional still verifies a certificate that is sent.
        assert python_client(pki, server.port, version, "untrusted") == "TLSV1_ALERT_UNKNOWN_CA"
        untrusted = server.record()
    assert without.accepted
    assert without.client_cert_der is None
    assert not untrusted.accepted
    assert untrusted.alert_sent == "unknown_ca"


def test_no_client_auth_asks_for_no_certificate(pki: Pki) -> None:
    with serving(pki, client_auth="none", client_cas=None) as server:
        assert python_client(pki, server.port, "1.3", "untrusted") == "reply pong"
        record = server.record()
    assert record.accepted
    assert record.client_cert_der is None


def test_protocol_version_mismatch_is_recorded_with_its_alert(pki: Pki) -> None:
    with serving(pki, tls_versions=("1.3",)) as server:
        assert python_client(pki, server.port, "1.2", "good") == "TLSV1_ALERT_PROTOCOL_VERSION"
        record = server.record()
        assert python_client(pki, server.port, "1.3", "good") == "reply pong"
        assert server.record().accepted
    assert (record.reason, record.alert_sent) == ("UNSUPPORTED_PROTOCOL", "protocol_version")


# --- openssl s_client ---------------------------------------------------------

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl command line tool is not on PATH"
)


@pytest.mark.openssl
@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("advertise", [True, False], ids=["ca-names", "no-ca-names"])
def test_s_client_sees_the_client_ca_names_only_when_advertised(pki: Pki, version: str, advertise: bool) -> None:
    with serving(pki, advertise_ca_names=advertise) as server:
        out = s_client(pki, server.port, version, "good")
        assert server.record().accepted
    assert "pong" in out
    listed = f"Acceptable client certificate CA names\nO = mtls-harness tests, CN = {pki.client_ca_cn}\n"
    if advertise:
        assert listed in out
        assert "No client certificate CA names sent" not in out
    else:
        assert "No client certificate CA names sent" in out
        assert "Acceptable client certificate CA names" not in out


@pytest.mark.openssl
@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_s_client_reads_the_alert_for_an_untrusted_certificate(pki: Pki, version: str) -> None:
    with serving(pki) as server:
        rejected = s_client(pki, server.port, version, "untrusted")
        record = server.record()
        accepted = s_client(pki, server.port, version, "good")
        assert server.record().accepted
    assert "tlsv1 alert unknown ca" in rejected
    assert "SSL alert number 48" in rejected
    assert "pong" not in rejected
    assert record.alert_sent == "unknown_ca"
    assert "alert" not in accepted
    assert "pong" in accepted


# --- JSSE ---------------------------------------------------------------------

JAVA_ALERT = "javax.net.ssl.SSLHandshakeException: Received fatal alert: "
# What a JDK 17 client must never report: the symptoms of a dropped alert.
LOST_ALERT = ("Broken pipe", "Connection reset", "Remote host terminated", "SocketException")


@pytest.mark.jdk
@pytest.mark.parametrize("version", VERSIONS)
def test_java_client_reads_unknown_ca_for_an_untrusted_certificate(
    pki: Pki, java_probe: Callable[..., str], version: str
) -> None:
    # Without CA names JSSE sends whatever key entry it has.
    with serving(pki, advertise_ca_names=False) as server:
        rejected = java_probe(pki, server.port, version, "untrusted")
        record = server.record()
        accepted = java_probe(pki, server.port, version, "good")
        assert server.record().accepted
    assert rejected == f"{JAVA_ALERT}unknown_ca"
    assert not any(symptom in rejected for symptom in LOST_ALERT)
    assert (record.reason, record.alert_sent) == ("CERTIFICATE_VERIFY_FAILED", "unknown_ca")
    assert accepted == "reply pong"


@pytest.mark.jdk
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("case", "alert"),
    [
        ("expired", {"1.2": "certificate_expired", "1.3": "certificate_expired"}),
        (None, {"1.2": "handshake_failure", "1.3": "certificate_required"}),
    ],
    ids=["expired", "no-keystore"],
)
def test_java_client_reads_the_alert_for_other_rejections(
    pki: Pki,
    java_probe: Callable[..., str],
    version: str,
    case: str | None,
    alert: dict[str, str],
) -> None:
    with serving(pki) as server:
        rejected = java_probe(pki, server.port, version, case)
        record = server.record()
    assert rejected == f"{JAVA_ALERT}{alert[version]}"
    assert record.alert_sent == alert[version]


@pytest.mark.jdk
@pytest.mark.parametrize("version", VERSIONS)
def test_java_client_sends_no_certificate_whose_issuer_is_not_listed(
    pki: Pki, java_probe: Callable[..., str], version: str
) -> None:
    # The CA names are what JSSE chooses its key entry by: the same keystore is
    # sent without them (previous test) and withheld with them.
    with serving(pki, advertise_ca_names=True) as server:
        withheld = java_probe(pki, server.port, version, "untrusted")
        record = server.record()
        listed = java_probe(pki, server.port, version, "good")
        accepted = server.record()
    alert = {"1.2": "handshake_failure", "1.3": "certificate_required"}[version]
    assert withheld == f"{JAVA_ALERT}{alert}"
    assert (record.reason, record.alert_sent) == ("PEER_DID_NOT_RETURN_A_CERTIFICATE", alert)
    assert listed == "reply pong"
    assert accepted.client_cert_der == pki.clients["good"].der


# --- Silent, early-closing and lingering clients ------------------------------


def test_silent_client_is_dropped_at_the_timeout_without_blocking_others(pki: Pki) -> None:
    with (
        serving(pki, handshake_timeout=1.0) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as silent,
    ):
        start = time.monotonic()
        assert python_client(pki, server.port, "1.3", "good") == "reply pong"
        assert time.monotonic() - start < 0.5
        assert server.record().accepted
        assert silent.recv(1) == b""
        assert 0.9 <= time.monotonic() - start < 3
        record = server.record()
    assert record.reason == "handshake-incomplete"
    assert record.error is not None
    assert "sent nothing within 1.0 s" in record.error


def test_client_closing_mid_handshake_is_recorded_at_the_timeout(pki: Pki) -> None:
    with serving(pki, handshake_timeout=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as early:
            early.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello
        # asyncio ends such a connection without a word to the SSLObject: the
        # record comes from the context's own timer, not at the close.
        with pytest.raises(queue.Empty):
            server.record(timeout=0.2)
        record = server.record()
    assert record.reason == "handshake-incomplete"
    assert record.error is not None
    assert "began its handshake" in record.error


def rejected_tls12_socket(pki: Pki, port: int) -> tuple[socket.socket, str]:
    """A TLS 1.2 client rejected as untrusted, its socket left open after the alert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.server_ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki.clients["untrusted"].cert, pki.clients["untrusted"].key)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    while True:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
        except ssl.SSLError as exc:
            return sock, exc.reason or ""


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize(
    ("bounds", "pause", "junk", "closed"),
    [
        ({}, 0.0, 1, False),  # within both bounds: the server waits for the client's EOF
        ({"linger_bytes": 1024}, 0.0, 4096, True),
        ({"linger_seconds": 0.2}, 0.4, 1, True),
    ],
    ids=["within-bounds", "byte-bound", "time-bound"],
)
def test_linger_after_the_alert_is_bounded(
    pki: Pki, bounds: dict[str, float], pause: float, junk: int, closed: bool
) -> None:
    with serving(pki, **bounds) as server:
        sock, reason = rejected_tls12_socket(pki, server.port)
        with sock:
            assert reason == "TLSV1_ALERT_UNKNOWN_CA"
            time.sleep(pause)
            sock.sendall(b"\0" * junk)
            sock.settimeout(1.0)
            assert closed_by_server(sock) is closed
        assert server.record().alert_sent == "unknown_ca"


# --- Configuration and the CA-names self-check --------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tls_versions": ("1.1",)}, "TLS versions"),
        ({"tls_versions": ()}, "TLS versions"),
        ({"client_auth": "sometimes"}, "client auth 'sometimes' unknown"),
        ({"client_cas": None}, "no client CAs"),
        ({"cert_chain": Path("/nonexistent/server.pem")}, "server certificate"),
    ],
)
def test_unusable_configuration_is_refused(pki: Pki, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ServerError, match=message):
        make_server_context(**settings(pki, **options))


def test_self_check_accepts_only_the_real_ssl_ctx_pointer() -> None:
    libs = ca_names._loaded_libssl()
    assert libs, "the ssl module's libssl is not a loaded shared library"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    right = object.__basicsize__
    assert any(_pointer_or_none(ctx, lib, right) for lib in libs)
    wrong = [o for o in range(0, type(ctx).__basicsize__ - 7, 4) if o != right]
    for offset in wrong:
        for lib in libs:
            with pytest.raises(ServerError, match="cannot advertise client CA names"):
                ca_names._ssl_ctx_pointer(ctx, lib, offset)
    assert ctx.num_tickets == 2  # the read-back probe restored it
    # A client context is a real SSL_CTX, of the wrong kind.
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ServerError, match="not a TLS server context"):
        ca_names._ssl_ctx_pointer(client, libs[0], right)
    foreign: Any = bytearray(200)
    with pytest.raises(ServerError, match="expected layout"):
        ca_names._ssl_ctx_pointer(foreign, libs[0], right)
    with pytest.raises(ServerError, match="expected layout"):
        ca_names._ssl_ctx_pointer(ctx, libs[0], type(ctx).__basicsize__)


def _pointer_or_none(ctx: ssl.SSLContext, lib: Any, offset: int) -> int | None:
    try:
        return ca_names._ssl_ctx_pointer(ctx, lib, offset)
    except ServerError:
        return None


def test_wrong_offset_refuses_to_advertise_with_a_fix(pki: Pki) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ServerError) as refused:
        ca_names.advertise(ctx, pki.client_cas, offset=8)
    assert refused.value.where == "local server"
    assert "set ca_names = false in the scenario's [server] table" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_alert_from_the_client_is_not_taken_for_one_sent(pki: Pki, tmp_path: Path) -> None:
    # A client that does not trust the server sends the alert itself: the
    # record must say the server sent none, not derive one from the reason.
    stranger = tmp_path / "stranger-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(stranger)
    ctx.load_cert_chain(pki.clients["good"].cert, pki.clients["good"].key)
    with serving(pki) as server:
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            ctx.wrap_socket(sock, server_hostname="127.0.0.1")
        record = server.record()
    assert (record.reason, record.alert_sent) == ("TLSV1_ALERT_UNKNOWN_CA", None)
