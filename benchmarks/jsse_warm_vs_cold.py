"""Warm JVM vs one JVM per probe: what the long-lived JSSE engine saves.

Makes a PKCS#12 keystore and truststore, starts a local MTLS server (stdlib
``ssl``, client certificate required), then times N probes through the warm
``JsseEngine`` and N cold ``java -cp <cache> MtlsProbe --once`` runs, each one a
fresh JVM, as a naive harness would do.

    python benchmarks/jsse_warm_vs_cold.py [-n 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from harness.engines import Probe
from harness.engines.jsse import JsseEngine, encode_request
from harness.java.launch import find_jdk, launch_command
from harness.secret import Secret

PASSWORD = "bench-pass"
TARGET = 0.2


def make_stores(root: Path, server_ca: trustme.CA) -> tuple[Path, Path, Path]:
    """Keystore and truststore (PKCS#12) and the client CA's PEM."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench client")])

    def cert(subject: x509.Name, public: ec.EllipticCurvePublicKey, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )

    ca = cert(ca_name, ca_key.public_key(), True)
    leaf = cert(leaf_name, key.public_key(), False)
    enc = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(10000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(PASSWORD.encode())
    )
    keystore, truststore, ca_pem = root / "ks.p12", root / "ts.p12", root / "client-ca.pem"
    keystore.write_bytes(pkcs12.serialize_key_and_certificates(b"client", key, leaf, [ca], enc))
    server_cert = x509.load_pem_x509_certificate(server_ca.cert_pem.bytes())
    truststore.write_bytes(
        pkcs12.serialize_java_truststore(
            [pkcs12.PKCS12Certificate(server_cert, b"server-ca")],
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return keystore, truststore, ca_pem


def serve(sock: socket.socket, ctx: ssl.SSLContext, stop: threading.Event) -> None:
    """Handshake, read one request (headers and body), answer 200 with JSON, close."""
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            continue
        conn.settimeout(5)
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(65536) or b"\r\n\r\n"
                head, _, rest = data.partition(b"\r\n\r\n")
                length = [v for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                          if k.lower() == b"content-length"]  # fmt: skip
                # Closing with the body unread would make the kernel send a reset.
                while len(rest) < int(length[0] if length else 0):
                    rest += s.recv(65536) or b"\0" * 65536
                body = json.dumps({"client": {"subject": "CN=bench client"}}).encode()
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                s.sendall(head.encode() + body)
        except OSError:
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="probes per mode (default 20)")
    n = parser.parse_args().n
    jdk = find_jdk()
    if jdk is None:
        print("no JDK found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        server_ca = trustme.CA()
        keystore, truststore, client_ca = make_stores(Path(tmp), server_ca)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ca.issue_cert("127.0.0.1").configure_cert(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(client_ca))
        stop = threading.Event()
        with socket.create_server(("127.0.0.1", 0), backlog=64) as sock:
            thread = threading.Thread(target=serve, args=(sock, ctx, stop), daemon=True)
            thread.start()
            probe = Probe(
                url=f"https://127.0.0.1:{sock.getsockname()[1]}/",
                keystore=keystore,
                keystore_password=Secret(PASSWORD),
                truststore=truststore,
                truststore_password=Secret(PASSWORD),
            )
            try:
                rows = run(probe, n, launch_command(jdk, once=True))
            finally:
                stop.set()
                thread.join(5)
    print_table(rows, n)
    return 0 if rows["warm"][1] / rows["cold"][1] <= TARGET else 1


def run(probe: Probe, n: int, once: list[str]) -> dict[str, tuple[float, float]]:
    """Seconds per mode: (first probe or JVM start, total for the n timed probes)."""
    rows: dict[str, tuple[float, float]] = {}
    with JsseEngine() as engine:
        t0 = time.perf_counter()
        first = engine.probe(probe)  # starts the JVM; timed apart from the warm runs
        start = time.perf_counter() - t0
        assert first.completed, first.error
        t0 = time.perf_counter()
        for _ in range(n):
            out = engine.probe(probe)
            assert out.completed, out.error
        rows["warm"] = (start, time.perf_counter() - t0)
    line = json.dumps(encode_request(probe, 1)).encode() + b"\n"
    t0 = time.perf_counter()
    for _ in range(n):
        done = subprocess.run(once, input=line, capture_output=True, check=True, timeout=60)
        assert json.loads(done.stdout)["stage"] == "done", done.stdout
    total = time.perf_counter() - t0
    rows["cold"] = (total / n, total)
    return rows


def print_table(rows: dict[str, tuple[float, float]], n: int) -> None:
    print(f"{'mode':<6} {'probes':>6} {'first s':>8} {'total s':>8} {'per probe ms':>13}")
    for mode, (first, total) in rows.items():
        print(f"{mode:<6} {n:>6} {first:>8.3f} {total:>8.3f} {total / n * 1000:>13.1f}")
    ratio = rows["warm"][1] / rows["cold"][1]
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"warm/cold = {ratio:.3f} (target <= {TARGET}: {verdict})")


if __name__ == "__main__":
    sys.exit(main())
