"""The ``python`` engine: the stdlib ``ssl`` module (OpenSSL) used the way the platform uses its stores.

The keystore is opened with keystorePass and its key entry must open with the
same password (the platform's rule: a differing key password is a failure,
never worked around). The truststore's certificates, and the certificates of
its key entries (as the JDK's TrustManagerFactory does), are the trust
anchors. Hostname verification is on.
"""

from __future__ import annotations

import http.client
import secrets
import select
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.destination import request_target, split_url
from harness.engines import Outcome, Probe, Stage, StoreFailure, StoreProblem, redirect_location, server_seen
from harness.errors import StoreError
from harness.files import scratch_dir
from harness.knowledge.alerts import CERTIFICATE, CERTIFICATE_REQUEST, RECORD_ALERT, RECORD_HANDSHAKE, alert_from_reason
from harness.knowledge.tls import tls_version
from harness.stores import KeyEntry, read_store_as_written
from harness.wire.deadlines import BODY_BYTES, ServerTooSlow, exchange_deadline, read_body

__all__ = ["PythonEngine"]

# How long, at most, a TLS 1.3 client waits after its Finished for the server's
# verdict on its certificate before it sends the request (see _await_verdict).
VERDICT_WAIT = 1.0


class PythonEngine:
    name = "python"

    def unavailable_reason(self) -> str | None:
        return None

    def warm_up(self) -> None:
        pass

    def close(self) -> None:
        pass

    def probe(self, probe: Probe) -> Outcome:
        started = time.perf_counter()
        outcome = self._probe(probe)
        return _with_elapsed(outcome, started)

    def _probe(self, probe: Probe) -> Outcome:
        # What is seen so far, by Outcome's field names: every outcome carries it.
        facts: dict[str, Any] = {}
        try:
            # A store this process wrote plainly is taken from memory while its file is unchanged (issue 26).
            keystore = read_store_as_written(
                probe.keystore, probe.keystore_password, "keystore", probe.keystore_written
            )
        except StoreError as exc:
            return _failed("keystore", exc, facts)
        facts["keystore_type"] = keystore.type
        facts["key_aliases"] = tuple(e.alias for e in keystore.key_entries)
        if len(keystore.key_entries) > 1:
            # The JDK picks a key entry per handshake from the server's
            # acceptable CA names; OpenSSL offers no such choice, so this
            # engine refuses to guess which certificate the platform would send.
            aliases = ", ".join(repr(e.alias) for e in keystore.key_entries)
            return Outcome(
                self.name,
                "keystore",
                error=f"{probe.keystore}: the keystore holds {len(keystore.key_entries)} key entries ({aliases})",
                error_type="AmbiguousKeystore",
                store_failure=StoreFailure("keystore", "several-key-entries"),
                **facts,
            )
        entry = keystore.key_entries[0] if keystore.key_entries else None
        if entry is not None and entry.locked:
            return Outcome(
                self.name,
                "keystore",
                error=f"{probe.keystore} (entry {entry.alias!r}): keystorePass does not open the key entry "
                "(the JDK reports: Cannot recover key)",
                error_type="UnrecoverableKey",
                store_failure=StoreFailure("keystore", "key-password"),
                **facts,
            )
        try:
            truststore = read_store_as_written(
                probe.truststore, probe.truststore_password, "truststore", probe.truststore_written
            )
        except StoreError as exc:
            return _failed("truststore", exc, facts)
        facts["truststore_type"] = truststore.type
        anchors = [*truststore.certificates, *(e.chain[0] for e in truststore.key_entries if e.chain)]
        try:
            context = _client_context(probe, anchors, entry)
        except ssl.SSLError as exc:
            return _ssl_failure("keystore", exc, facts)
        _watch_handshake(context, facts)
        if entry is not None:
            facts["chosen_alias"] = entry.alias
        return self._exchange(probe, context, facts)

    def _exchange(self, probe: Probe, context: ssl.SSLContext, facts: dict[str, Any]) -> Outcome:
        host, port, _ = split_url(probe.url)
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=probe.timeout)
        stage: Stage = "connect"
        try:
            try:
                conn.connect()
            except ssl.SSLError as exc:
                return _ssl_failure("handshake", exc, facts)
            except OSError as exc:
                return _os_failure("connect", exc, facts)
            stage = "handshake"
            assert isinstance(conn.sock, ssl.SSLSocket)
            facts["handshake_completed"] = True
            received = _count_received(conn.sock)
            protocol, cipher = conn.sock.version(), conn.sock.cipher()
            cipher_name = cipher[0] if cipher else None
            # In TLS 1.3 the client finishes its handshake before the server has
            # judged the client certificate: a rejection arrives as an alert on
            # the first read, which is why it still counts as the handshake.
            if protocol == "TLSv1.3" and facts.get("client_cert_requested"):
                _await_verdict(conn.sock, min(VERDICT_WAIT, probe.timeout), facts)
            headers = {"Connection": "close"}
            body_out = probe.message if probe.method == "POST" else None  # HEAD / GET: no body, no Content-Type
            if body_out is not None:
                headers["Content-Type"] = probe.content_type
            target = request_target(probe.url)
            # The timeout holds per read; the deadline for the whole answer (a server dripping bytes) and the
            # body cap are harness.wire.inspect's (issue 15).
            with exchange_deadline(conn.sock, probe.timeout) as deadline:
                try:
                    conn.request(probe.method, target, body=body_out, headers=headers)
                    response = conn.getresponse()
                    stage = "http"
                    body, cut = read_body(response)
                except (OSError, http.client.HTTPException) as exc:
                    if not received() and (deadline.fired or isinstance(exc, TimeoutError)):
                        # Not one byte of an answer: the application is silent, not slow (issue 24).
                        return _silent(probe.timeout, protocol, cipher_name, facts)
                    if not deadline.fired:
                        raise
                    raise ServerTooSlow(probe.timeout) from None
            if deadline.fired:
                raise ServerTooSlow(probe.timeout)
            if cut:
                facts["body_cut_at"] = BODY_BYTES
        except ssl.SSLError as exc:
            return _ssl_failure("handshake", exc, facts)
        except (OSError, http.client.HTTPException) as exc:
            return _os_failure(stage, exc, facts)
        finally:
            conn.close()
        seen = server_seen(body)
        facts["http_reason"] = response.reason or ""
        # http.client never follows a redirect: a 3xx is the answer, its Location only reported (issue 22).
        facts["location"] = redirect_location(response.getheader("Location"))
        if seen is None:
            # A real destination's answer: kept (bounded) for diagnose to read,
            # as the jsse engine keeps it.
            facts["response_body"] = body[:500].decode("utf-8", "replace")
        return Outcome(
            self.name,
            "done",
            protocol=protocol,
            cipher=cipher_name,
            http_status=response.status,
            server_seen=seen,
            **facts,
        )


def _watch_handshake(context: ssl.SSLContext, facts: dict[str, Any]) -> None:
    """Record, as the jsse engine does, whether the server asked for a certificate and whether one was sent.

    OpenSSL's message callback (CPython's debugging hook ``_msg_callback``, the
    one harness.server.tls_context uses on the server side) sees each handshake message
    in clear, TLS 1.3 included. It must never raise.
    """

    def note(conn: object, direction: str, version: object, content_type: int, msg_type: object, data: bytes) -> None:
        if content_type == RECORD_ALERT and direction == "read" and len(data) >= 2:
            facts["alert_number"] = data[1]
        if content_type != RECORD_HANDSHAKE or not data:
            return
        kind = data[0]
        if kind == CERTIFICATE_REQUEST and direction == "read":
            facts["client_cert_requested"] = True
        elif kind == CERTIFICATE and direction == "write" and len(data) >= 7:
            # TLS 1.3 puts a certificate_request_context before the list (RFC 8446, 4.4.2).
            start = 4 + 1 + data[4] if version == ssl.TLSVersion.TLSv1_3 else 4
            empty = data[start : start + 3] == b"\0\0\0"
            facts["client_cert_sent"] = not empty

    facts["client_cert_requested"] = False
    context._msg_callback = note  # type: ignore[attr-defined]


def _await_verdict(sock: ssl.SSLSocket, bound: float, facts: dict[str, Any]) -> None:
    """Wait (at most ``bound`` s) for the TLS 1.3 server's answer to the client's certificate.

    A TLS 1.3 server judges the client certificate after the client's Finished
    (RFC 8446, 4.4.2.4) and answers with an alert, or goes on with its session
    tickets. Real servers close right after the alert; a client that writes its
    request first gets a reset that discards the alert ("EOF occurred in
    violation of protocol", Java's "Broken pipe"). Reading first lets the alert
    surface as the ``SSLError`` it is; tickets end the wait at once. Nothing is
    sent meanwhile.
    """
    deadline = time.monotonic() + bound
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([sock], [], [], left)
            if not readable:
                break
            try:
                data = sock.recv(1)
            except ssl.SSLWantReadError:
                facts["server_after_handshake"] = "session tickets"
                return  # the server went on: it accepted the certificate
            facts["server_after_handshake"] = "data before the request" if data else "closed"
            return
        facts["server_after_handshake"] = f"nothing within {bound:g} s"
    finally:
        sock.settimeout(timeout)


def _client_context(probe: Probe, anchors: Sequence[x509.Certificate], entry: KeyEntry | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname on
    # The JDK accepts any truststore certificate as a trust anchor, even an
    # intermediate; OpenSSL needs this flag to do the same.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    # Security level 0 lets this client *present* a weak certificate (RSA-1024,
    # SHA-1) as the JDK would; judging it is the server's job, as in production.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if probe.tls_versions:
        versions = sorted(_tls_version(v) for v in probe.tls_versions)
        context.minimum_version, context.maximum_version = versions[0], versions[-1]
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in anchors)
    if pem:
        context.load_verify_locations(cadata=pem)
    if entry is not None and entry.key is not None:
        _load_key_entry(context, entry)
    return context


def _tls_version(name: str) -> ssl.TLSVersion:
    # Probe.tls_versions holds the scenario's and --client-tls's spellings ("1.2", "1.3"); KeyError for none.
    found = tls_version(name)
    if found is None:
        raise KeyError(name)
    return found.version


def _load_key_entry(context: ssl.SSLContext, entry: KeyEntry) -> None:
    """Give OpenSSL the key entry: through a private temporary file, key encrypted with a one-time password.

    ``load_cert_chain`` reads files only; the directory is 0700, the file 0600,
    the key never written in clear, and both are gone before the handshake.
    """
    assert entry.key is not None
    one_time = secrets.token_urlsafe(24).encode()
    # OpenSSL's traditional encrypted PEM (AES-256-CBC, its key from one MD5 round; a KeyEntry's key is RSA or
    # EC, which it holds): the one-time password is 192 random bits, so PKCS#8's PBKDF2 (2,048 rounds to write,
    # 2,048 to read) adds nothing but ~1 ms a probe (measured).
    key_pem = entry.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(one_time),
    )
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in entry.chain)
    with tempfile.TemporaryDirectory(prefix="mtls-harness-key-", dir=scratch_dir()) as folder:
        path = Path(folder) / "entry.pem"
        path.touch(mode=0o600)
        path.write_bytes(chain_pem + key_pem)
        context.load_cert_chain(path, password=one_time)


def _failed(store: Literal["keystore", "truststore"], exc: StoreError, facts: dict[str, Any]) -> Outcome:
    # harness.stores names a wrong password "<role>-password-wrong", anything else it cannot read "store-unreadable".
    problem: StoreProblem = "password" if exc.code.endswith("-password-wrong") else "unreadable"
    return Outcome(
        "python",
        store,
        error=exc.problem(),
        error_type=type(exc).__name__,
        store_failure=StoreFailure(store, problem),
        **facts,
    )


def _ssl_failure(stage: Stage, exc: ssl.SSLError, facts: dict[str, Any]) -> Outcome:
    verify_code = exc.verify_code if isinstance(exc, ssl.SSLCertVerificationError) else None
    return Outcome(
        "python",
        stage,
        error=str(exc),
        error_type=type(exc).__name__,
        alert_received=alert_from_reason(exc.reason),
        verify_code=verify_code,
        openssl_reason=exc.reason or "",
        **facts,
    )


def _count_received(sock: ssl.SSLSocket) -> Callable[[], int]:
    """How many bytes of answer (application data) ``sock`` has given since: http.client reads through recv_into."""
    got = [0]
    real = sock.recv_into

    def counting(buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        n = real(buffer, nbytes, flags)
        got[0] += n
        return n

    sock.recv_into = counting  # type: ignore[method-assign]
    return lambda: got[0]


def _silent(timeout: float, protocol: str | None, cipher: str | None, facts: dict[str, Any]) -> Outcome:
    """The handshake completed and the request went out, but not one byte came back in ``timeout`` s."""
    return Outcome(
        "python",
        "http",
        error=f"timed out: no answer to the request within {timeout:g} s",
        error_type="TimeoutError",
        protocol=protocol,
        cipher=cipher,
        timeout_s=timeout,
        **facts,
    )


def _os_failure(stage: Stage, exc: BaseException, facts: dict[str, Any]) -> Outcome:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, socket.timeout | TimeoutError):
        text = f"timed out ({text})"
    return Outcome("python", stage, error=text, error_type=type(exc).__name__, **facts)


def _with_elapsed(outcome: Outcome, started: float) -> Outcome:
    return replace(outcome, elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
