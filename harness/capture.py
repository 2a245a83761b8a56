"""``capture``: a server's MTLS profile, read without a client certificate and without application data.

What goes over the wire, and nothing else:
- TLS handshakes without a client certificate: one through
  :func:`harness.wire.inspect.inspect_server` (the chain and the CertificateRequest's
  CA names), one pinned to each TLS version (1.3, 1.2, 1.1, 1.0) to learn
  which it accepts (answers with a ServerHello at that version; an alert,
  silence or another version is a refusal) and with which cipher, and, for a
  host name, one without SNI to compare.
- When a handshake without a certificate completes and the server sends no
  alert within a short wait, at most one ``HEAD <path> HTTP/1.1`` request
  (``Host`` and ``Connection: close`` headers, never a body) to learn whether
  the server rejects the missing certificate at the HTTP level (nginx answers
  400). ``request=False`` sends no request at all. A redirect is reported
  (its Location, credentials masked), never followed.
"""

from __future__ import annotations

import json
import socket
import ssl
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.destination import split_url
from harness.diagnose.certificates import key_label
from harness.engines import redirect_location
from harness.errors import UsageError
from harness.files import refuse_symlink, write_atomic
from harness.knowledge.alerts import alert_name
from harness.knowledge.tls import TLS_VERSIONS, refusal_statuses, tls_version
from harness.text import inert
from harness.wire.contexts import look_only_context
from harness.wire.inspect import ServerView, inspect_server, server_hello_version

__all__ = ["Profile", "capture", "check_out", "server_table", "write_profile"]

# Newest first: the first accepted version is the one a default client negotiates.
_VERSIONS = tuple((v.name, v.version) for v in reversed(TLS_VERSIONS))
HEAD_BYTES = 16384  # the HEAD answer's status line and headers are read up to this many bytes
ALERT_WAIT = 1.0  # a TLS 1.3 server judges the certificate after the client's Finished


@dataclass(frozen=True)
class Attempt:
    """One handshake without a client certificate."""

    version: str | None
    completed: bool
    answered: str | None  # the version of the server's ServerHello; None when none came
    cipher: str | None
    alert: str | None  # alert the server sent, as its RFC name
    error: str | None
    certificate_requested: bool
    subject: str | None  # the leaf the server presented


@dataclass(frozen=True)
class Profile:
    url: str
    host: str
    port: int
    tls_versions: list[str]
    tls_versions_refused: list[str]
    tls_versions_untested: list[str]
    ciphers: dict[str, str]
    chain: list[dict[str, Any]]
    intermediates_sent: bool
    client_auth: str  # required | optional | none
    ca_names: list[str]
    rejects_missing_cert_with: str | None  # "alert certificate_required", "HTTP 400", "connection closed", None
    sni: str
    request_sent: str  # what capture sent besides handshakes
    notes: list[str] = field(default_factory=list)
    # Why each refused version counts as refused: "alert <name>", "no answer" or "answered <version>".
    refusals: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def render(self) -> str:
        lines = [f"server {self.host}:{self.port}"]
        lines.append(f"  TLS versions accepted: {', '.join(self.tls_versions) or 'none'}")
        for version in self.tls_versions_refused:
            lines.append(f"  {version}: refused ({self.refusals.get(version, 'no answer')})")
        if self.tls_versions_untested:
            lines.append(f"  not tested (this OpenSSL cannot offer them): {', '.join(self.tls_versions_untested)}")
        for version, cipher in self.ciphers.items():
            lines.append(f"  cipher with {version}: {cipher}")
        lines.append(f"  chain sent ({len(self.chain)} certificate(s), intermediates sent: {self.intermediates_sent}):")
        for cert in self.chain:
            lines.append(f"    {cert['subject']}  ({cert['key']}, {cert['not_before']} .. {cert['not_after']})")
            lines.append(f"      issued by {cert['issuer']}")
        lines.append(f"  client certificate: {self.client_auth}")
        if self.client_auth != "none":
            names = "; ".join(self.ca_names) if self.ca_names else "none (any issuer)"
            lines.append(f"  acceptable client CA names: {names}")
        lines.append(f"  a missing client certificate is rejected with: {self.rejects_missing_cert_with or 'nothing'}")
        lines.append(f"  SNI: {self.sni}")
        lines.append(f"  sent besides handshakes: {self.request_sent}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(inert(line) for line in lines)  # subjects and CA names are the server's: inert


def _key(cert: x509.Certificate) -> str:
    return key_label(cert)  # a key on a curve cryptography cannot load (secp112r1) is named, not raised


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "key": _key(cert),
        "signature_hash": cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "self_signed": cert.subject == cert.issuer,
    }


class _Requested:
    """What passed the message callback: a CertificateRequest (type 13), the ServerHello (type 2).

    Of the ServerHello: its cipher suite and the version it chose (a TLS 1.3 ServerHello
    says 1.2 in its legacy_version and 1.3 in its supported_versions extension, RFC 8446 4.2.1).
    """

    def __init__(self) -> None:
        self.seen = False
        self.cipher_id: int | None = None
        self.version: str | None = None

    def message(self, _conn: object, direction: str, _v: object, content_type: int, _m: object, data: bytes) -> None:
        # Must not raise: CPython re-raises a callback's exception from the SSL call.
        if direction != "read" or content_type != 22:
            return
        if data[:1] == b"\x0d":
            self.seen = True
        elif data[:1] == b"\x02" and len(data) > 39:
            # ServerHello (RFC 8446 4.1.3): version(2) random(32) session_id<1> cipher_suite(2)
            at = 4 + 2 + 32
            at += 1 + data[at]
            if at + 2 <= len(data):
                self.cipher_id = int.from_bytes(data[at : at + 2], "big")
            self.version = server_hello_version(data[4:])


def _attempt(
    host: str, port: int, timeout: float, version: ssl.TLSVersion | None, sni: bool, address: str | None = None
) -> Attempt | None:
    """A handshake without certificate; None when this OpenSSL cannot offer the version."""
    requested = _Requested()
    try:
        # Security level 0 below TLS 1.2: this OpenSSL must offer what an old client offers.
        context = look_only_context(
            version, seclevel0=version is not None and version < ssl.TLSVersion.TLSv1_2, on_message=requested.message
        )
    except (ValueError, ssl.SSLError):
        return None
    name = known.name if version is not None and (known := tls_version(version)) is not None else None
    with socket.create_connection((address or host, port), timeout=timeout) as raw:
        try:
            tls = context.wrap_socket(raw, server_hostname=host if sni else None)
        except ssl.SSLError as exc:
            text = f"{exc.reason or ''} {exc}"
            suite = _cipher_name(context, requested.cipher_id)
            return Attempt(name, False, requested.version, suite, alert_name(text), text.strip(), requested.seen, None)
        except OSError as exc:
            return Attempt(
                name, False, requested.version, None, None, f"connection closed: {exc}", requested.seen, None
            )
        with tls:
            cipher = tls.cipher()
            der = tls.getpeercert(binary_form=True)
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else None
            alert, error = _await_verdict(tls)
            return Attempt(
                tls.version() or name,
                alert is None and error is None,
                requested.version or tls.version(),
                cipher[0] if cipher else None,
                alert,
                error,
                requested.seen,
                subject,
            )


def _cipher_name(context: ssl.SSLContext, cipher_id: int | None) -> str | None:
    if cipher_id is None:
        return None
    names = {c["id"] & 0xFFFF: c["name"] for c in context.get_ciphers()}
    return names.get(cipher_id, f"0x{cipher_id:04X}")


def _await_verdict(tls: ssl.SSLSocket) -> tuple[str | None, str | None]:
    """Read without sending: a TLS 1.3 server's alert about the missing certificate arrives now."""
    tls.settimeout(ALERT_WAIT)
    try:
        data = tls.recv(1)
    except TimeoutError:
        return None, None  # silent: it waits for a request
    except ssl.SSLError as exc:
        text = f"{exc.reason or ''} {exc}"
        return alert_name(text), text.strip()
    except OSError as exc:
        return None, f"connection closed: {exc}"
    return (None, "connection closed") if not data else (None, None)


def _head_status(
    host: str, port: int, path: str, timeout: float, address: str | None = None
) -> tuple[int | None, str | None]:
    """One bodyless HEAD request after a handshake without certificate: the HTTP status (or None) and Location.

    The Location (credentials masked) is only reported: capture never follows a redirect (issue 22).
    """
    context = look_only_context()
    with socket.create_connection((address or host, port), timeout=timeout) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=None if _is_ip(host) else host) as tls:
                tls.sendall(f"HEAD {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii"))
                head = b""
                while b"\r\n\r\n" not in head and len(head) < HEAD_BYTES:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    head += chunk
        except (ssl.SSLError, OSError):
            return None, None
    lines = head[:HEAD_BYTES].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    location = next(
        (line.split(b":", 1)[1].decode("latin-1") for line in lines[1:] if line.lower().startswith(b"location:")),
        None,
    )
    return status, redirect_location(location)


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def capture(url: str, *, timeout: float = 10.0, request: bool = True) -> Profile:
    """The server's profile; UsageError for a bad or unreachable URL."""
    host, port, path = split_url(url)
    address = None
    try:
        view: ServerView = inspect_server(url, timeout=timeout)
    except OSError as exc:
        raise UsageError(
            url, f"cannot reach the server: {exc}", "check the URL, DNS, the port and any firewall"
        ) from None
    accepted: list[str] = []
    refused: list[str] = []
    untested: list[str] = []
    refusals: dict[str, str] = {}
    ciphers: dict[str, str] = {}
    attempts: dict[str, Attempt] = {}
    for name, version in _VERSIONS:
        try:
            attempt = _attempt(host, port, timeout, version, sni=not _is_ip(host), address=address)
        except OSError:
            attempt = Attempt(name, False, None, None, None, "no connection", False, None)
        if attempt is None or (attempt.error is not None and "NO_PROTOCOLS_AVAILABLE" in attempt.error):
            untested.append(name)  # this OpenSSL cannot offer it: nothing was learnt about the server
            continue
        attempts[name] = attempt
        # Accepted only when the server answered this ClientHello with a ServerHello at this
        # version: an alert instead (OpenSSL 3 at its default security level answers TLS 1.0
        # with internal_error), silence, or another version is a refusal.
        if attempt.answered != name:
            refused.append(name)
            refusals[name] = _refusal(attempt)
            continue
        accepted.append(name)
        if attempt.cipher:
            ciphers[name] = attempt.cipher
    asked = view.asks_for_client_certificate or any(a.certificate_requested for a in attempts.values())
    best = next((attempts[v] for v in accepted), None)
    rejects: str | None = None
    request_sent = "nothing"
    notes: list[str] = []
    if best is not None and best.alert:
        rejects = f"alert {best.alert}"
    elif best is not None and best.error:
        rejects = "connection closed"
    elif best is not None and best.completed:
        if request:
            status, location = _head_status(host, port, path, timeout, address)
            request_sent = f"one HEAD {path} request without a body"
            # A gateway's refusal of the certificate (knowledge.tls); anything else (404, 405,
            # 200) means the request reached the application.
            if status in refusal_statuses():
                rejects = f"HTTP {status}"
            elif status is None:
                notes.append("the HEAD request got no HTTP answer")
            elif 300 <= status < 400:
                notes.append(
                    f"HEAD answered {status}, a redirect to {location or '(no Location header)'}: "
                    "capture does not follow redirects (nothing was sent there); `check` says whether the "
                    "platform's HttpsURLConnection would"
                )
            else:
                notes.append(f"without a certificate the request reached the application (HEAD answered {status})")
        else:
            notes.append("no request sent (--no-request): an HTTP-level rejection would not show")
    if not asked:
        client_auth = "none"
    elif rejects is None:
        client_auth = "optional"
    else:
        client_auth = "required"
    if not asked and rejects is not None and rejects.startswith("HTTP"):
        notes.append(
            "the server did not ask for a certificate in the handshake but refused the request:"
            " it may ask after the handshake (renegotiation / post-handshake authentication)"
        )
    sni = _sni(host, port, timeout, best, address)
    return Profile(
        url=url,
        host=host,
        port=port,
        tls_versions=accepted,
        tls_versions_refused=refused,
        tls_versions_untested=untested,
        ciphers=ciphers,
        chain=[_describe(c) for c in view.chain],
        intermediates_sent=len(view.chain) > 1,
        client_auth=client_auth,
        ca_names=[n.rfc4514_string() for n in view.ca_names or ()],
        rejects_missing_cert_with=rejects,
        sni=sni,
        request_sent=request_sent,
        notes=notes,
        refusals=refusals,
    )


def _refusal(attempt: Attempt) -> str:
    """Why a version counts as refused: the server's alert, another version, or no answer."""
    if attempt.alert is not None and attempt.answered is None:
        return f"alert {attempt.alert}"
    if attempt.answered is not None:
        return f"answered {attempt.answered}"
    return "no answer"


def _sni(host: str, port: int, timeout: float, with_name: Attempt | None, address: str | None) -> str:
    if _is_ip(host):
        return "not sent: the URL names an IP address"
    try:
        without = _attempt(host, port, timeout, None, sni=False, address=address)
    except OSError:
        return "without SNI the connection failed"
    if without is None or with_name is None:
        return "not compared"
    if without.alert == "unrecognized_name":
        return "required: without SNI the server sends unrecognized_name"
    if without.subject is None:
        return f"without SNI the handshake fails ({without.alert or without.error})"
    if without.subject != with_name.subject:
        return f"without SNI the server presents another certificate ({without.subject})"
    return "same certificate with and without SNI"


def server_table(profile: Profile) -> str:
    """The profile as a scenario's ``[server]`` table: shape only, no customer names."""
    local = [v.removeprefix("TLSv") for v in profile.tls_versions if v in ("TLSv1.2", "TLSv1.3")]
    path = urlpath if (urlpath := split_url(profile.url)[2]) else "/"
    leaf_key = profile.chain[0]["key"] if profile.chain else "EC-secp256r1"
    lines = [
        "# [server] as captured by `mtls-harness capture`; names and hosts are left out on purpose.",
        f"# chain sent: {len(profile.chain)} certificate(s); CA names listed: {len(profile.ca_names)};"
        f" a missing certificate is rejected with: {profile.rejects_missing_cert_with or 'nothing'}",
        "[server]",
        f'client_auth = "{profile.client_auth}"',
        f"ca_names = {'true' if profile.ca_names else 'false'}",
        f"send_chain = {'true' if profile.intermediates_sent else 'false'}",
        f"tls_versions = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in sorted(local))}]",
        f'path = "{path}"',
        "",
        "[server.identity]",
        f'key = "{"rsa-2048" if leaf_key.startswith("RSA") else "ec-p256"}"',
        f"intermediate = {'true' if profile.intermediates_sent else 'false'}",
    ]
    return "\n".join(lines) + "\n"


def check_out(out: Path, *, force: bool = False) -> None:
    """Refuse an unusable --out before anything is sent to the server."""
    refuse_symlink(out, "--out")
    if out.is_dir():
        raise UsageError(str(out), "is a folder", "give a file name ending in .json or .toml")
    if out.exists() and not force:
        raise UsageError(str(out), "already exists", "choose another --out, or pass --force to replace it")
    if out.suffix not in (".json", ".toml"):
        raise UsageError(str(out), "is neither .json nor .toml", "use FILE.json (the profile) or FILE.toml ([server])")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(str(out), f"{parent} is not a folder", "choose a writable --out")


def write_profile(profile: Profile, out: Path, *, force: bool = False) -> None:
    check_out(out, force=force)
    data = profile.to_json() + "\n" if out.suffix == ".json" else server_table(profile)
    try:
        write_atomic(out, data.encode("utf-8"), private=False, overwrite=force)
    except OSError as exc:
        raise UsageError(str(out), f"cannot write: {exc.strerror}", "choose a writable --out") from None
