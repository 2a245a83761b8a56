"""Hostile inputs, made from real ones: shared by tests/test_hardening.py and benchmarks/attacks.py.

Each maker takes a genuine file (written by openssl, keytool or the harness)
and changes only what the attack needs, so a refusal proves the limit and not
some unrelated damage. At the end, hostile servers (127.0.0.1 only, every loop
bounded) for tests/test_hardening.py and tests/test_jsse_deadline.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.build import Built

__all__ = [
    "Bounded",
    "HostileServer",
    "answer_then",
    "deep_json",
    "deep_toml",
    "drip",
    "jceks_with_nested_references",
    "jks_declaring_entries",
    "jks_with_huge_certificate_length",
    "odd_curve_material",
    "pem_bundle",
    "pem_unterminated",
    "pfx_with_hidden_key_bag",
    "pfx_with_iterations",
    "pfx_with_nested_ber",
    "read_request",
    "run_bounded",
    "scenario_chain",
    "scenario_with_certs",
    "tls_server",
]


# -- DER, definite lengths (what openssl and the JDK write) ---------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _elements(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        else:
            length = first
        if pos + length > len(data):
            raise ValueError("overruns")
        yield tag, data[pos : pos + length]
        pos += length


def _rewrite(data: bytes, count: int) -> bytes:
    """``data`` (a run of DER elements) with every INTEGER that follows an OCTET STRING set to ``count``."""
    out = []
    previous = -1
    for tag, content in _elements(data):
        if tag == 0x02 and previous == 0x04:
            content = count.to_bytes((count.bit_length() + 8) // 8, "big")
        elif tag & 0x20:
            content = _rewrite(content, count)
        elif tag == 0x04 and content[:1] == b"\x30":
            with contextlib.suppress(ValueError, IndexError):  # opaque bytes that merely start like a SEQUENCE
                content = _rewrite(content, count)
        out.append(bytes([tag]) + _length(len(content)) + content)
        previous = tag
    return b"".join(out)


def pfx_with_iterations(pfx: bytes, count: int) -> bytes:
    """A PKCS#12 file whose MAC and every PBE/PBKDF2 iteration count say ``count`` (as ``openssl -iter`` would).

    The MAC no longer matches, which does not matter: a reader must refuse the
    count before computing anything with it.
    """
    return _rewrite(pfx, count)


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def pfx_with_nested_ber(pfx: bytes, depth: int) -> bytes:
    """``pfx`` with ``depth`` nested BER indefinite-length SEQUENCEs put after its version (old exporters write
    indefinite lengths; nothing but the nesting is changed)."""
    (tag, body), *_ = _elements(pfx)
    version_end = 3  # INTEGER 3
    nested = b"\x30\x80" * depth + b"\x00\x00" * depth
    return _der(tag, body[:version_end] + nested + body[version_end:])


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([parts[0] * 40 + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def _pbes2(password: bytes, plain: bytes, declared: int, run: int) -> tuple[bytes, bytes]:
    """(AlgorithmIdentifier, ciphertext): PBES2, PBKDF2-HMAC-SHA256 declaring ``declared`` iterations, AES-256-CBC,
    encrypted with ``run`` iterations (the same when the file is genuine)."""
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    salt, iv = os.urandom(16), os.urandom(16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, run).derive(password)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    cipher = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    prf = _der(0x30, _oid("1.2.840.113549.2.9") + b"\x05\x00")
    kdf_params = _der(0x30, _der(0x04, salt) + _der(0x02, declared.to_bytes(4, "big").lstrip(b"\0") or b"\0") + prf)
    kdf = _der(0x30, _oid("1.2.840.113549.1.5.12") + kdf_params)
    scheme = _der(0x30, _oid("2.16.840.1.101.3.4.1.42") + _der(0x04, iv))
    return _der(0x30, _oid("1.2.840.113549.1.5.13") + _der(0x30, kdf + scheme)), cipher


def pfx_with_hidden_key_bag(key_pkcs8: bytes, cert_der: bytes, password: str, key_iterations: int) -> bytes:
    """A PKCS#12 file whose shrouded key bag sits inside the encrypted SafeContents, next to the certificate bag.

    RFC 7292 allows it (Java's PKCS12KeyStore reads it); OpenSSL and keytool put the key bag in a plain one. The
    key bag's PBKDF2 declares ``key_iterations``; the key is really encrypted with 2,048 (so a file declaring
    2,048 is genuine: cryptography and keytool read it). The MAC (HMAC-SHA1, 2,048 iterations) is right.
    """
    from cryptography.hazmat.primitives import hmac
    from cryptography.hazmat.primitives.hashes import SHA1

    from harness.stores.pkcs12_safes import _pkcs12_kdf

    secret = password.encode("utf-8")
    run = min(key_iterations, 2048)
    local_id = _der(0x30, _oid("1.2.840.113549.1.9.21") + _der(0x31, _der(0x04, b"\x01\x02\x03\x04")))
    name = _der(0x30, _oid("1.2.840.113549.1.9.20") + _der(0x31, _der(0x1E, "hidden".encode("utf-16-be"))))
    attributes = _der(0x31, name + local_id)
    algorithm, encrypted_key = _pbes2(secret, key_pkcs8, key_iterations, run)
    key_bag = _der(
        0x30,
        _oid("1.2.840.113549.1.12.10.1.2") + _der(0xA0, _der(0x30, algorithm + _der(0x04, encrypted_key))) + attributes,
    )
    x509_cert = _der(0x30, _oid("1.2.840.113549.1.9.22.1") + _der(0xA0, _der(0x04, cert_der)))
    cert_bag = _der(0x30, _oid("1.2.840.113549.1.12.10.1.3") + _der(0xA0, x509_cert) + attributes)
    safe_contents = _der(0x30, cert_bag + key_bag)
    safe_algorithm, encrypted_safe = _pbes2(secret, safe_contents, 2048, 2048)
    encrypted_info = _der(0x30, _oid("1.2.840.113549.1.7.1") + safe_algorithm + _der(0x80, encrypted_safe))
    encrypted_data = _der(0x30, _der(0x02, b"\x00") + encrypted_info)
    content_info = _der(0x30, _oid("1.2.840.113549.1.7.6") + _der(0xA0, encrypted_data))
    auth_safe = _der(0x30, content_info)
    salt = os.urandom(8)
    mac_key = _pkcs12_kdf(password.encode("utf-16-be") + b"\0\0", salt, 3, 2048, 20)
    signer = hmac.HMAC(mac_key, SHA1())  # noqa: S303 - the PKCS#12 MAC as OpenSSL 1.x wrote it
    signer.update(auth_safe)
    digest = _der(0x30, _der(0x30, _oid("1.3.14.3.2.26") + b"\x05\x00") + _der(0x04, signer.finalize()))
    mac_data = _der(0x30, digest + _der(0x04, salt) + _der(0x02, (2048).to_bytes(2, "big")))
    outer = _der(0x30, _oid("1.2.840.113549.1.7.1") + _der(0xA0, _der(0x04, auth_safe)))
    return _der(0x30, _der(0x02, b"\x03") + outer + mac_data)


# -- JKS (sun.security.provider.JavaKeyStore layout) ------------------------------------


def jks_declaring_entries(jks: bytes, count: int) -> bytes:
    """A JKS whose header declares ``count`` entries (magic, version, count)."""
    return jks[:8] + struct.pack(">I", count) + jks[12:]


def jks_with_huge_certificate_length(jks: bytes) -> bytes:
    """A JKS with one trusted-certificate entry whose certificate declares 2^31-1 bytes."""
    pos = 12
    tag = struct.unpack(">I", jks[pos : pos + 4])[0]
    if tag != 2:
        raise ValueError("give a JKS whose first entry is a trusted certificate")
    pos += 4
    alias_length = struct.unpack(">H", jks[pos : pos + 2])[0]
    pos += 2 + alias_length + 8  # alias, timestamp
    type_length = struct.unpack(">H", jks[pos : pos + 2])[0]
    pos += 2 + type_length  # "X.509"
    return jks[:pos] + struct.pack(">I", 0x7FFFFFFF) + jks[pos + 4 :]


def jceks_with_nested_references(jceks: bytes, password: str, levels: int) -> bytes:
    """A JCEKS store (keytool -genseckey: one secret-key entry) whose SealedObject is replaced by an array of
    ``levels`` arrays, each holding two references to the one before: javaobj formats every element it reads,
    so its work doubles per level. The integrity hash is recomputed with ``password``: otherwise intact."""
    alias_length = struct.unpack(">H", jceks[16:18])[0]
    if struct.unpack(">I", jceks[8:12])[0] != 1 or struct.unpack(">I", jceks[12:16])[0] != 3:
        raise ValueError("give a JCEKS holding one secret-key entry (keytool -genseckey)")
    head = jceks[: 18 + alias_length + 8]
    array_class = b"\x72" + struct.pack(">H", 19) + b"[Ljava.lang.Object;" + b"\x90\xce\x58\x9f\x10\x73\x29\x6c"
    array_class += b"\x02\x00\x00\x78\x70"  # SC_SERIALIZABLE, no fields, no annotation, no superclass
    # A SealedObject-like object whose one field holds the arrays. Handles: 0x7e0000 its class, 0x7e0001 the
    # field's type name, 0x7e0002 the object, 0x7e0003 the array class, 0x7e0004 the outer array, then the
    # inner arrays from 0x7e0005.
    sealed = b"\x72" + struct.pack(">H", 25) + b"javax.crypto.SealedObject" + b"\x3e\x36\xa6\xc3\xb7\x54\x70\x70"
    sealed += b"\x02\x00\x01" + b"L" + struct.pack(">H", 1) + b"x" + b"\x74" + struct.pack(">H", 18)
    sealed += b"Ljava/lang/Object;" + b"\x78\x70"
    stream = b"\xac\xed\x00\x05" + b"\x73" + sealed
    stream += b"\x75" + array_class + struct.pack(">i", levels)
    stream += b"\x75\x71\x00\x7e\x00\x03" + struct.pack(">i", 2) + b"\x70\x70"
    for level in range(2, levels + 1):
        previous = b"\x71" + struct.pack(">I", 0x7E0003 + level)
        stream += b"\x75\x71\x00\x7e\x00\x03" + struct.pack(">i", 2) + previous + previous
    body = head + stream
    whitened = password.encode("utf-16-be") + b"Mighty Aphrodite"
    return body + hashlib.sha1(whitened + body).digest()  # noqa: S324 - the format's hash


# -- text formats ------------------------------------------------------------------------


def pem_bundle(cert_pem: bytes, count: int) -> bytes:
    return cert_pem * count


def pem_unterminated(cert_pem: bytes, count: int) -> bytes:
    """``count`` copies of a certificate's BEGIN line and base64, without its END line: no END anywhere."""
    return cert_pem.split(b"-----END", 1)[0] * count


def deep_toml(depth: int) -> str:
    return "a = " + "[" * depth + "]" * depth + "\n"


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


# The rest of a valid scenario around a [pki] whose leaf is "client" and whose root is "ca0".
_REST = """
[keystore]
password = "ks-Pw-hostile"
[[keystore.entries]]
alias = "client"
key = "client"

[truststore]
password = "ts-Pw-hostile"

[server]
trust = ["ca0"]

[expect]
outcome = "ok"
"""


def scenario_with_certs(count: int) -> str:
    """A valid scenario TOML declaring ``count`` certificates: a root and leaves under it."""
    lines = ['[pki.ca0]\nkind = "root"\n', '[pki.client]\nkind = "leaf"\nissuer = "ca0"\n']
    for i in range(count - 2):
        lines.append(f'[pki.leaf{i}]\nkind = "leaf"\nissuer = "ca0"\n')
    return "\n".join(lines) + _REST


def scenario_chain(depth: int) -> str:
    """A valid scenario TOML whose client chain is ``depth`` certificates long, leaf to root."""
    lines = ['[pki.ca0]\nkind = "root"\n']
    for i in range(1, depth - 1):
        lines.append(f'[pki.ca{i}]\nkind = "intermediate"\nissuer = "ca{i - 1}"\n')
    lines.append(f'[pki.client]\nkind = "leaf"\nissuer = "ca{depth - 2}"\n')
    return "\n".join(lines) + _REST


# -- hostile servers (127.0.0.1 only, every loop bounded) -----------------------------


class HostileServer:
    """A TCP server on 127.0.0.1 that runs ``behave(conn)`` for each connection, in a thread."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self._behave = behave
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> HostileServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self._behave(conn)


def drip(conn: socket.socket, data: bytes, server: Callable[[], bool], pause: float = 0.05, limit: int = 600) -> None:
    """Send ``data`` (repeated) one byte per ``pause``, at most ``limit`` bytes, until the client leaves."""
    for i in range(limit):
        if server():
            return
        conn.sendall(data[i % len(data) : i % len(data) + 1])
        time.sleep(pause)


def tls_server(built: Built) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(built.server.chain, built.server.key)
    assert built.server.client_cas is not None
    context.load_verify_locations(built.server.client_cas)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def answer_then(built: Built, head: bytes, then: Callable[[ssl.SSLSocket], None]) -> Callable[[socket.socket], None]:
    context = tls_server(built)

    def behave(conn: socket.socket) -> None:
        conn.settimeout(10)
        with context.wrap_socket(conn, server_side=True) as tls:
            read_request(tls)
            tls.sendall(head)
            then(tls)
            # Until the client leaves: closing first could reset the connection under unread answer bytes.
            for _ in range(1_000):
                if not tls.recv(1 << 16):
                    break

    return behave


def read_request(tls: ssl.SSLSocket) -> bytes:
    """The whole request: headers, then Content-Length bytes of body."""
    data = b""
    for _ in range(1_000):
        if b"\r\n\r\n" in data:
            break
        data += tls.recv(1 << 16)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
    )
    for _ in range(1_000):
        if len(body) >= length:
            break
        body += tls.recv(1 << 16)
    return data


# -- secp112r1: a curve OpenSSL signs with, cryptography cannot load, JDK 16+ removed -----------------


def odd_curve_material(folder: Path, openssl: str = "openssl") -> tuple[Path, Path, Path, Path]:
    """(CA cert, CA key, leaf cert, leaf key) in ``folder``: a secp112r1 CA, made by the real openssl, that
    issued an RSA-2048 leaf (CN=127.0.0.1, SAN IP:127.0.0.1)."""
    ca_key, ca, key, leaf = folder / "odd-ca.key", folder / "odd-ca.pem", folder / "leaf.key", folder / "leaf.pem"

    def run(*args: str | Path) -> None:
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True, timeout=60)

    run("ecparam", "-name", "secp112r1", "-genkey", "-noout", "-out", ca_key)
    run("req", "-x509", "-key", ca_key, "-out", ca, "-subj", "/CN=odd-curve CA", "-days", "30", "-sha256",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", folder / "leaf.csr", "-subj", "/CN=127.0.0.1")
    (folder / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    run("x509", "-req", "-in", folder / "leaf.csr", "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", leaf,
        "-days", "20", "-sha256", "-extfile", folder / "leaf.ext")  # fmt: skip
    return ca, ca_key, leaf, key


# -- a command run within a budget ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bounded:
    """A finished command: its result, wall time and the peak resident memory of its process tree."""

    done: subprocess.CompletedProcess[str]
    seconds: float
    peak_mib: float


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and its descendants (the warm JVM included), from /proc."""
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return total


def run_bounded(
    argv: list[str], *, cwd: Path, seconds: float = 120.0, rss_mib: float = 1024.0, env: dict[str, str] | None = None
) -> Bounded:
    """``argv`` run in its own session, killed (and AssertionError raised) past ``seconds`` of wall time or
    ``rss_mib`` of resident memory summed over its process tree, sampled every 50 ms: a missed bound fails the
    test instead of hanging it or exhausting the machine. RLIMIT_CPU stops a child spinning unseen."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (int(seconds) + 5, int(seconds) + 10))

    start = time.monotonic()
    child = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True, preexec_fn=limits, env=env,
    )  # fmt: skip
    outputs: dict[str, str] = {}
    reader = threading.Thread(
        target=lambda: outputs.update(zip(("out", "err"), child.communicate(), strict=True)), daemon=True
    )
    reader.start()
    peak, why = 0, ""
    while reader.is_alive():
        peak = max(peak, _tree_rss_kib(child.pid))
        if peak > rss_mib * 1024:
            why = f"above {rss_mib:.0f} MiB resident"
        elif time.monotonic() - start > seconds:
            why = f"still running after {seconds:.0f} s"
        if why:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, 9)
            reader.join(10)
            raise AssertionError(f"{' '.join(argv[-3:])}: {why}")
        reader.join(0.05)
    elapsed = time.monotonic() - start
    done = subprocess.CompletedProcess(argv, child.returncode, outputs.get("out", ""), outputs.get("err", ""))
    return Bounded(done, elapsed, peak / 1024)
