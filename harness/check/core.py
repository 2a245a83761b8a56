"""``check``: judge a real destination — its JSON, its stores, and (with a URL) the live server.

Static checks read the stores as the platform would and look at every
certificate; with a URL, the server's chain and client CA names are fetched
and checked against the stores, then a real handshake and one request (HEAD
by default: nothing is sent that changes anything; ``--post FILE``: that
body, once) run through every chosen engine, diagnosed with the outcome codes.
Ready only when the JSSE engine verified it (or the user chose OpenSSL only). A broken store is a
finding here (exit 1), not bad input: judging the input is this command's job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509

from harness.diagnose import (
    Evidence,
    Verdict,
    diagnose,
    name_of,
    reaches_ca_names,
    usage_problem,
    verify_server_chain,
    weak_key,
    weak_signature,
)
from harness.engines import Engine, Outcome, Probe
from harness.errors import StoreError, UsageError
from harness.secret import Secret
from harness.stores import KeyEntry, Role, StoreContents, read_store
from harness.wire.inspect import ServerView, inspect_server, split_url

__all__ = [
    "CHECKS",
    "Destination",
    "Finding",
    "Report",
    "Request",
    "load_destination",
    "render_text",
    "run_check",
    "write_report_junit",
]

Severity = Literal["error", "warning", "info"]
_SEVERITY_ORDER: tuple[Severity, ...] = ("error", "warning", "info")

# The checks, in order; each becomes one JUnit testcase.
CHECKS = ("keystore", "client-certificate", "truststore", "server-chain", "client-ca-names", "handshake")
_LIVE_CHECKS = ("server-chain", "client-ca-names", "handshake")  # they need a URL
_EXPIRING_DAYS = 30
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "jks": (".jks", ".keystore", ".truststore", ".ks", ".ts"),
    "pkcs12": (".p12", ".pfx", ".pkcs12"),
    "jceks": (".jceks",),
}


@dataclass(frozen=True)
class Request:
    """What ``check`` sends once the handshake is done.

    By default ``HEAD`` on the URL's path and query, no body: a request that
    changes nothing (RFC 9110 9.2.1: safe), routed by servers as GET is, with no
    answer body to download. ``--post FILE`` sends exactly that file's bytes with
    POST and ``content_type``, as the platform does.
    """

    method: str = "GET"
    body: bytes | None = None
    content_type: str = "application/json"
    source: Path | None = None  # the --post file

    def describe(self, url: str) -> str:
        target = split_url(url)[2] + (f"?{urlsplit(url).query}" if urlsplit(url).query else "")
        if self.body is None:
            return f"{self.method} {target} (no body)"
        name = self.source.name if self.source else "the body"
        return f"{self.method} {target} with {name} ({len(self.body)} bytes, Content-Type: {self.content_type})"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    check: str
    subject: str  # the file, entry or certificate concerned
    message: str
    fix: str = ""
    # The engines whose live handshake gave this same finding (one finding per cause).
    engines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Destination:
    """The platform's destination attributes. Passwords are Secrets; paths are resolved."""

    source: Path
    keystore: Path
    keystore_password: Secret = field(repr=False)
    truststore: Path
    truststore_password: Secret = field(repr=False)
    url: str | None = None
    # Where each password came from, for messages: "the destination JSON" or the option that gave it.
    origins: dict[str, str] = field(default_factory=dict)


def is_jsse(engine_name: str) -> bool:
    """The platform's stack: ``jsse``, or ``jsse-VERSION`` when a JDK was chosen with ``--jdk``."""
    return engine_name == "jsse" or engine_name.startswith("jsse-")


@dataclass
class Report:
    destination: Destination
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)  # what was seen, for the summary
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))  # the time validity was judged for
    at_given: bool = False  # --at was given (the go-live date), rather than now
    engine_choice: str = "all"
    verified_with: list[str] = field(default_factory=list)  # engines whose live handshake the server accepted
    # The days until the first certificate (key entry's, truststore's or server's) expires, from ``at``.
    first_expiry: tuple[int, str] | None = None

    def add(self, code: str, severity: Severity, check: str, subject: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(code, severity, check, subject, message, fix))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ready(self) -> bool:
        """Ready for go-live: tried live, no error, and the platform's stack (JSSE) verified it.

        Only when the user chose ``--engine python`` does an OpenSSL-only verification count.
        """
        if self.destination.url is None or self.errors:
            return False
        return bool(self.jsse_verified) or (self.engine_choice == "python" and "python" in self.verified_with)

    @property
    def jsse_verified(self) -> list[str]:
        """The JSSE engines (one per ``--jdk``: ``jsse-21.0.8``) whose live handshake the server accepted."""
        return [name for name in self.verified_with if is_jsse(name)]

    @property
    def exit_code(self) -> int:
        """0: ready, or (no URL) stores without an error; 1 otherwise."""
        if self.errors:
            return 1
        return 0 if self.ready or self.destination.url is None else 1

    def verdict(self) -> str:
        if self.errors:
            return "NOT ready for go-live"
        if self.destination.url is None:
            return "stores look right (no URL: not tried live)"
        if not self.ready:
            return "NOT ready for go-live: no engine verified the handshake"
        if self.jsse_verified:
            return f"ready for go-live (verified with JSSE, the platform's TLS stack: {', '.join(self.jsse_verified)})"
        return "ready for go-live, verified with OpenSSL only (the platform's JSSE was not tried)"

    def first_finding(self) -> Finding | None:
        for severity in ("error", "warning"):
            for finding in self.findings:
                if finding.severity == severity:
                    return finding
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "destination": str(self.destination.source),
            "url": self.destination.url,
            "ok": not self.errors,
            "ready": self.ready,
            "verified_with": list(self.verified_with),
            "at": self.at.isoformat(timespec="seconds"),
            "first_expiry_days": self.first_expiry[0] if self.first_expiry else None,
            "findings": [{**asdict(f), "engines": list(f.engines)} for f in self.findings],
            "facts": self.facts,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


# -- the destination JSON ------------------------------------------------------------


KEYS = ("url", "keystoreFile", "keystorePass", "truststoreFile", "truststorePass")
_PLAIN_HTTP_PORTS = frozenset({80, 8000, 8008, 8080, 8081, 8888})


def _did_you_mean(key: str) -> str:
    import difflib

    folded = {k.lower().replace("_", "").replace("-", ""): k for k in KEYS}
    close = folded.get(key.lower().replace("_", "").replace("-", "")) or next(
        iter(difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)), None
    )
    return f" (did you mean {close!r}?)" if close else ""


def load_destination(
    path: Path,
    *,
    url: str | None = None,
    keystore_password: Secret | None = None,
    truststore_password: Secret | None = None,
) -> Destination:
    """Read the platform's destination JSON, strictly. Unusable input raises UsageError (exit 2).

    A UTF-8 byte-order mark is accepted; an unknown key (``URL`` for ``url``) is
    refused with the key it most likely meant.
    """
    from harness.limits import DESTINATION_BYTES, NotARegularFile, TooLarge, read_bounded

    if path.is_dir():
        raise UsageError(
            str(path), "is a folder", "give the destination's JSON file (a fleet: check DIR checks every *.json in it)"
        )
    try:
        doc = json.loads(read_bounded(path, DESTINATION_BYTES).decode("utf-8-sig"))
    except FileNotFoundError:
        raise UsageError(str(path), "no such file", "give the destination's JSON file") from None
    except (NotARegularFile, TooLarge) as exc:
        raise UsageError(str(path), f"not read: {exc}", "give the destination's JSON file") from None
    except OSError as exc:
        raise UsageError(str(path), f"cannot read: {exc.strerror or exc}", "give the destination's JSON file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            str(path), f"not UTF-8 text (byte {exc.start})", "save the destination's JSON as UTF-8"
        ) from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            str(path), f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", "fix the JSON"
        ) from None
    except RecursionError:
        raise UsageError(str(path), "not valid JSON (nested too deeply)", "fix the JSON") from None
    if not isinstance(doc, dict):
        raise UsageError(str(path), "is not a JSON object", "give the destination's JSON object")
    unknown = [k for k in doc if k not in KEYS]
    if unknown:
        named = "; ".join(f"{k!r}{_did_you_mean(k)}"[:120] for k in unknown[:3]) + ("; ..." if len(unknown) > 3 else "")
        raise UsageError(
            str(path),
            f"unknown key{'s' if len(unknown) > 1 else ''} {named}",
            f"the keys are {', '.join(KEYS)} (names are case-sensitive)",
        )

    def text(key: str) -> str | None:
        value = doc.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageError(str(path), f"{key} must be a string", f"fix {key}")
        return value

    files = {}
    for key in ("keystoreFile", "truststoreFile"):
        value = text(key)
        if not value:
            raise UsageError(str(path), f"no {key}", f"add {key} (a path, relative to the JSON file's folder)")
        if not value.isprintable():
            # A NUL (ValueError when opened), a lone surrogate from a "\ud800" escape (UnicodeEncodeError), or a
            # control character or line break, which would break the one-line messages that name the file.
            raise UsageError(str(path), f"{key} holds a control character or line break", f"fix {key}")
        files[key] = (path.parent / value).resolve() if not Path(value).is_absolute() else Path(value)
    passwords: dict[str, Secret] = {}
    origins: dict[str, str] = {}
    for key, given in (("keystorePass", keystore_password), ("truststorePass", truststore_password)):
        value = text(key)
        option = "--keystore-password" if key == "keystorePass" else "--truststore-password"
        if given is None and value is None:
            raise UsageError(str(path), f"no {key}", f"add it, or pass {option}-env VAR / -file FILE")
        passwords[key] = given if given is not None else Secret(value or "")
        origins[key] = f"the {option}-env/-file option" if given is not None else f"{path.name}"
    given_url = url is not None
    if url is None:
        url = text("url")
    if url is not None:
        check_url(url, "--url" if given_url else str(path))
    return Destination(
        path,
        files["keystoreFile"],
        passwords["keystorePass"],
        files["truststoreFile"],
        passwords["truststorePass"],
        url,
        origins,
    )


def check_url(url: str, where: str) -> tuple[str, int, bool]:
    """(host, port, port given) of the destination's https URL; UsageError naming ``where`` otherwise."""
    if not url or not url.isprintable():
        raise UsageError(where, "the URL is empty or holds a line break or control character", "fix the URL")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # urlsplit: a bad IPv6 literal, or a host name that NFKC changes
        raise UsageError(where, f"not a valid URL ({exc})", "fix the URL") from None
    if parts.scheme.lower() == "http":
        raise UsageError(
            f"{where}: {url}",
            "a plain http:// URL (port 80 when none is given): MTLS needs https://",
            "use https:// (port 443 when none is given)",
        )
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise UsageError(
            f"{where}: {url}", "not an https:// URL", "give the destination's URL, e.g. https://host:8443/path"
        )
    port_text = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    if not port_text:
        port, given = 443, False
    elif not port_text.isdigit():
        raise UsageError(f"{where}: {url}", f"the port {port_text!r} is not a number", "fix the URL's port (1-65535)")
    elif not 1 <= int(port_text) <= 65535:
        raise UsageError(
            f"{where}: {url}",
            f"the port {int(port_text)} is out of range (1-65535)",
            "fix the URL's port, or leave it out for https's default 443",
        )
    else:
        port, given = int(port_text), True
    try:
        split_url(url)  # what the live checks will use must take it too
    except ValueError as exc:
        raise UsageError(where, f"not a valid URL ({exc})", "fix the URL") from None
    return parts.hostname, port, given


# -- the checks ------------------------------------------------------------------------


def run_check(
    destination: Destination,
    *,
    engines: Sequence[Engine] = (),
    at: dt.datetime | None = None,
    expiring_days: int = _EXPIRING_DAYS,
    timeout: float = 10.0,
    jdks: tuple[Sequence[Any], Sequence[str]] = ((), ()),
    client_tls: tuple[str, ...] | None = None,
    request: Request | None = None,
    engine_choice: str = "all",
) -> Report:
    """``jdks``: the jsse engines whose JDKs judge the stores, and versions with no runtime here (issue 11)."""
    from harness.check.jdk import check_key_entries, check_missing_versions, check_with_jdks

    now = at or dt.datetime.now(dt.UTC)
    report = Report(destination, at=now, at_given=at is not None, engine_choice=engine_choice)
    keystore = _open(report, destination.keystore, destination.keystore_password, "keystore")
    if keystore is not None:
        _check_keystore(report, keystore, now, expiring_days)
        check_key_entries(report, keystore)
        for entry in keystore.key_entries:
            _note_expiry(report, entry.chain, f"client certificate chain ({entry.alias!r})")
    truststore = _open(report, destination.truststore, destination.truststore_password, "truststore")
    if truststore is not None:
        _check_truststore(report, truststore, now)
    check_with_jdks(report, destination, keystore, truststore, *jdks)
    if destination.url is None:
        report.facts["url"] = "none given: live checks skipped (pass --url)"
        return report
    try:
        view = inspect_server(destination.url, timeout=timeout)
    except OSError as exc:
        host, port, port_given = check_url(destination.url, destination.url)
        where = f"{host}:{port}" + ("" if port_given else " (no port in the URL: https's default 443)")
        if _NOT_TLS.search(str(exc)) and speaks_plain_http(host, port, timeout):
            report.add(
                "connection-failed",
                "error",
                "server-chain",
                destination.url,
                f"{where} answers in plain HTTP, not TLS: this is an http port",
                "use the server's https port in the URL (ask its operator which one)",
            )
        else:
            report.add(
                "connection-failed",
                "error",
                "server-chain",
                destination.url,
                f"cannot reach the server at {where}: {exc}",
                "check the URL, DNS, the port and any firewall between here and the server",
            )
        check_missing_versions(report, destination.url, (), jdks[1], timeout, client_tls)  # a TLS 1.0-only server
        return report
    _note_expiry(report, view.chain, "server chain")
    _check_server_chain(report, view, truststore, now, expiring_days)
    _check_ca_names(report, view, keystore)
    check_missing_versions(report, destination.url, view.chain, jdks[1], timeout, client_tls)  # no runtime here
    _check_live(report, destination, view, keystore, truststore, engines, timeout, request or Request(), client_tls)
    return report


# OpenSSL's words for an answer that is not a TLS record at all.
_NOT_TLS = re.compile(r"wrong.version.number|record.layer.failure|packet.length.too.long|http.request", re.I)


def speaks_plain_http(host: str, port: int, timeout: float) -> bool:
    """True when the server answers a TLS ClientHello with an HTTP response: a plain-HTTP port.

    Asked only after the server answered the handshake with something that is not
    TLS. Sends the ClientHello any TLS client sends, then an empty line (which
    ends a request line for a server reading HTTP: it answers 400 at once, with
    no request made), and reads the first bytes back.
    """
    import socket
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()  # writes the ClientHello into ``outgoing``, then wants the answer
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 5.0)) as raw:
            raw.sendall(outgoing.read() + b"\r\n\r\n")
            answer = b""
            while len(answer) < 5:
                chunk = raw.recv(5 - len(answer))
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return False
    # A status line; or, from a server that took the bytes for an HTTP/0.9 request, a bare HTML error page.
    return answer.startswith(b"HTTP/") or answer.lstrip()[:1] == b"<"


def _note_expiry(report: Report, chain: Sequence[x509.Certificate], side: str) -> None:
    for cert in chain:
        days = (cert.not_valid_after_utc - report.at).days
        if report.first_expiry is None or days < report.first_expiry[0]:
            report.first_expiry = (days, f"{name_of(cert)} ({side})")


def _open(report: Report, path: Path, password: Secret, role: Role) -> StoreContents | None:
    check = role
    label = path.name
    key = f"{role}File"
    if path.is_dir():
        report.add(
            "store-unreadable",
            "error",
            check,
            label,
            f"{path}: {key} names a folder, not a {role} file",
            f"point {key} at the {role} file itself",
        )
        return None
    try:
        contents = read_store(path, password, role)
    except StoreError as exc:
        if exc.code == f"{role}-password-wrong" and not password.reveal():
            origin = report.destination.origins.get(f"{role}Pass", "the destination JSON")
            report.add(
                exc.code,
                "error",
                check,
                label,
                f"{path}: {role}Pass is empty (from {origin}), and the {role} does not open without a password",
                f"set {role}Pass to the {role}'s password (an empty environment variable counts as empty)",
            )
            return None
        report.add(exc.code, "error", check, label, exc.problem(), exc.fix)
        return None
    report.facts[role] = (
        f"{label}: {contents.type.upper()}, {len(contents.key_entries)} key entries, "
        f"{len(contents.cert_entries)} trusted certificates"
    )
    kind, suffix = contents.type, path.suffix.lower()
    if kind == "pem":
        report.add(
            "store-type-mismatch",
            "error",
            check,
            label,
            "this is a PEM file; the JDK cannot open PEM as a keystore",
            f"convert it: `mtls-harness {role} ...` builds a JKS",
        )
    elif kind == "jceks":
        report.add(
            "store-type-mismatch",
            "warning",
            check,
            label,
            "this is a JCEKS store; the platform expects JKS (the JDK reads JCEKS, other tools may not)",
            "convert it with `keytool -importkeystore -deststoretype JKS`",
        )
    elif suffix not in _EXTENSIONS.get(kind, ()) and any(suffix in exts for exts in _EXTENSIONS.values()):
        report.add(
            "store-type-mismatch",
            "warning",
            check,
            label,
            f"the file is {kind.upper()} but named {suffix}; the JDK opens it by content, other tools by name",
            "rename it, or convert it with `keytool -importkeystore -deststoretype "
            f"{'JKS' if suffix == '.jks' else 'PKCS12'}`",
        )
    return contents


def _check_keystore(report: Report, keystore: StoreContents, now: dt.datetime, expiring_days: int) -> None:
    label = keystore.path.name
    entries = keystore.key_entries
    if not entries:
        report.add(
            "client-cert-missing",
            "error",
            "keystore",
            label,
            "the keystore holds no key entry: the platform would send no client certificate",
            "import your key pair: `mtls-harness keystore KeyPair.p12 --out keystore.jks`",
        )
        return
    if len(entries) > 1:
        aliases = ", ".join(repr(e.alias) for e in entries)
        report.add(
            "keystore-ambiguous",
            "error",
            "keystore",
            label,
            f"the keystore holds {len(entries)} key entries ({aliases}): the JDK chooses one per handshake, "
            "by the server's CA names if it lists any, else by its own order",
            "keep exactly one key entry (keytool -delete -alias OLD)",
        )
    for entry in entries:
        subject = f"{label} (entry {entry.alias!r})"
        if entry.locked:
            report.add(
                "key-password-mismatch",
                "error",
                "keystore",
                subject,
                "keystorePass does not open this key entry: its key password differs (the JDK reports: Cannot "
                "recover key)",
                "set the key password equal to keystorePass: keytool -keypasswd -alias ALIAS -keystore FILE",
            )
        if not entry.chain:
            continue
        _check_client_certificate(report, entry, subject, now, expiring_days)


def _check_client_certificate(
    report: Report, entry: KeyEntry, subject: str, now: dt.datetime, expiring_days: int
) -> None:
    leaf = entry.chain[0]
    who = name_of(leaf)
    check = "client-certificate"
    report.facts[f"client certificate {entry.alias}"] = (
        f"{who}, issued by {name_of(leaf.issuer)}, valid until {leaf.not_valid_after_utc:%Y-%m-%d}, chain of "
        f"{len(entry.chain)}"
    )
    if leaf.not_valid_after_utc < now:
        report.add(
            "client-cert-expired",
            "error",
            check,
            subject,
            f"the certificate {who} expired on {leaf.not_valid_after_utc:%Y-%m-%d}",
            "get a renewed certificate from your CA and rebuild the keystore",
        )
    elif leaf.not_valid_before_utc > now:
        report.add(
            "client-cert-not-yet-valid",
            "error",
            check,
            subject,
            f"the certificate {who} is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            "wait, or check that the certificate and the clocks are right",
        )
    elif leaf.not_valid_after_utc < now + dt.timedelta(days=expiring_days):
        days = (leaf.not_valid_after_utc - now).days
        report.add(
            "expiring-soon",
            "warning",
            check,
            subject,
            f"the certificate {who} expires on {leaf.not_valid_after_utc:%Y-%m-%d}, in {days} days",
            "order the renewal now and plan the keystore swap",
        )
    usage = usage_problem(leaf)
    if usage:
        report.add(
            "client-cert-wrong-usage",
            "error",
            check,
            subject,
            f"the certificate {who} {usage}",
            "ask your CA for a certificate with extended key usage clientAuth and key usage digitalSignature",
        )
    if leaf.subject == leaf.issuer:
        report.add(
            "self-signed-client-cert",
            "warning",
            check,
            subject,
            f"the certificate {who} is self-signed: the server must trust this very certificate",
            "prefer a certificate issued by a CA the server trusts; otherwise send the server's operator this "
            "certificate",
        )
    elif len(entry.chain) == 1:
        report.add(
            "client-chain-incomplete",
            "warning",
            check,
            subject,
            f"the key entry holds only {who}, not its issuer {name_of(leaf.issuer)}: unless the server trusts "
            "that very issuer, it cannot link the certificate (and the JDK sends it only if the server names "
            "that issuer)",
            "import the full chain from your CA's PKCS#12 / PEM bundle",
        )
    for cert in entry.chain:
        if cert.subject == cert.issuer and cert is not leaf:
            continue  # a root's self-signature is never checked
        if weak := weak_key(cert):
            report.add(
                "weak-key",
                "error",
                check,
                subject,
                f"{name_of(cert)} has a {weak} key; current servers refuse keys under RSA-2048 / EC P-256",
                "get a certificate with an RSA-2048 (or stronger) or EC P-256 key",
            )
        if weak := weak_signature(cert):
            report.add(
                "weak-signature",
                "error",
                check,
                subject,
                f"{name_of(cert)} is signed with {weak}; current servers refuse it",
                "get a certificate (and CA chain) signed with SHA-256 or better",
            )
    if len(entry.chain) > 1:
        _check_chain_order(report, entry, subject)


def _check_chain_order(report: Report, entry: KeyEntry, subject: str) -> None:
    """The JDK sends the key entry's chain as stored, in any order: a warning, never an error.

    OpenSSL-based servers (the local server, nginx, Apache, HAProxy) link the
    certificates in any order, as TLS 1.3 (RFC 8446 4.4.2) asks; TLS 1.2 (RFC
    5246 7.4.2) required leaf first, each certifying the one before, and some
    servers still insist. A certificate that links to nothing is sent for nothing.
    """
    chain = entry.chain
    if all(lower.issuer == upper.subject for upper, lower in zip(chain[1:], chain, strict=False)):
        return
    leaf = chain[0]
    linked = [leaf]
    rest = list(chain[1:])
    while (nxt := next((c for c in rest if c.subject == linked[-1].issuer and c is not linked[-1]), None)) is not None:
        linked.append(nxt)
        rest.remove(nxt)
    if rest:
        what = (
            f"holds {', '.join(name_of(c) for c in rest)}, which is not on the path from {name_of(leaf)} up: "
            "the JDK sends it anyway, servers ignore it"
        )
    else:
        what = (
            f"is out of order ({' -> '.join(name_of(c) for c in chain)}): the JDK sends it as stored; "
            "OpenSSL-based servers accept any order (TLS 1.3 allows it), some TLS 1.2 servers refuse it"
        )
    report.add(
        "client-chain-incomplete",
        "warning",
        "client-certificate",
        subject,
        f"the key entry's chain {what}",
        "re-import the key pair with its own chain, leaf first, each certificate followed by its issuer",
    )


def _check_truststore(report: Report, truststore: StoreContents, now: dt.datetime) -> None:
    label = truststore.path.name
    if truststore.key_entries:
        aliases = ", ".join(repr(e.alias) for e in truststore.key_entries)
        report.add(
            "truststore-has-private-key",
            "warning",
            "truststore",
            label,
            f"the truststore holds private key entries ({aliases}): a truststore needs only certificates, and "
            "the key is exposed wherever it is copied",
            "build the truststore from certificates only (`mtls-harness truststore URL`)",
        )
    anchors = [*truststore.certificates, *(e.chain[0] for e in truststore.key_entries if e.chain)]
    if not anchors:
        report.add(
            "truststore-empty",
            "error",
            "truststore",
            label,
            "the truststore holds no certificate: the platform trusts no server at all (Java: the "
            "trustAnchors parameter must be non-empty)",
            "add the server's CA certificates: `mtls-harness truststore URL --out truststore.jks`",
        )
    for entry in truststore.cert_entries:
        if entry.cert.not_valid_after_utc < now:
            report.add(
                "truststore-cert-expired",
                "warning",
                "truststore",
                f"{label} (entry {entry.alias!r})",
                f"the trusted certificate {name_of(entry.cert)} expired on {entry.cert.not_valid_after_utc:%Y-%m-%d}",
                "remove it, and add the server's current CA if it was renewed",
            )


def _check_server_chain(
    report: Report, view: ServerView, truststore: StoreContents | None, now: dt.datetime, expiring_days: int
) -> None:
    leaf = view.chain[0]
    report.facts["server"] = (
        f"{view.host}:{view.port} {view.protocol}: {name_of(leaf)}, issued by {name_of(leaf.issuer)}, "
        f"{len(view.chain)} certificate(s) sent, valid until {leaf.not_valid_after_utc:%Y-%m-%d}"
    )
    subject = f"server {view.host}:{view.port}"
    expired = [c for c in view.chain if c.not_valid_after_utc < now]
    if expired:
        report.add(
            "server-cert-expired",
            "error",
            "server-chain",
            subject,
            f"the server sends {name_of(expired[0])}, which expired on {expired[0].not_valid_after_utc:%Y-%m-%d}",
            "the server's operator must renew it",
        )
    elif soon := [c for c in view.chain if c.not_valid_after_utc < now + dt.timedelta(days=expiring_days)]:
        first = min(soon, key=lambda c: c.not_valid_after_utc)
        report.add(
            "expiring-soon",
            "warning",
            "server-chain",
            subject,
            f"the server sends {name_of(first)}, which expires on {first.not_valid_after_utc:%Y-%m-%d}, in "
            f"{(first.not_valid_after_utc - now).days} days",
            "ask the server's operator for the renewal date, and whether the new chain needs a truststore change",
        )
    if truststore is None:
        return
    anchors = [*truststore.certificates, *(e.chain[0] for e in truststore.key_entries if e.chain)]
    problem = verify_server_chain(view.chain, anchors, view.host, now)
    if problem is None or expired:
        return
    if "subjectAltName" in problem or ("name" in problem.lower() and "match" in problem.lower()):
        report.add(
            "server-name-mismatch",
            "error",
            "server-chain",
            subject,
            f"the server certificate {name_of(leaf)} does not name {view.host} ({problem})",
            f"use the host name the certificate names, or have the server's certificate include {view.host}",
        )
        return
    top = view.chain[-1]
    missing = top.issuer if top.subject != top.issuer else top.subject
    report.add(
        "server-cert-untrusted",
        "error",
        "server-chain",
        subject,
        f"the truststore cannot verify the server's chain ({problem}): the server sends {len(view.chain)} "
        f"certificate(s) up to {name_of(top)}; the truststore trusts "
        f"{', '.join(name_of(c) for c in anchors) or 'nothing'}",
        f"add {name_of(missing)} to the truststore: `mtls-harness truststore {report.destination.url} --out "
        "truststore.jks`",
    )


def _check_ca_names(report: Report, view: ServerView, keystore: StoreContents | None) -> None:
    subject = f"server {view.host}:{view.port}"
    if view.ca_names is None:
        report.add(
            "client-cert-not-requested",
            "warning",
            "client-ca-names",
            subject,
            "the server did not ask for a client certificate in the handshake (it may ask later, per path, or "
            "not use MTLS at all)",
            "confirm with the server's operator that MTLS is on for this URL",
        )
        return
    if not view.ca_names:
        report.add(
            "no-ca-names",
            "info",
            "client-ca-names",
            subject,
            "the server lists no acceptable CA names: the JDK sends its key entry whatever its issuer",
        )
        return
    listed = ", ".join(name_of(n) for n in view.ca_names)
    report.facts["client CA names"] = listed
    if keystore is None:
        return
    for entry in keystore.key_entries:
        if not entry.chain:
            continue
        if not reaches_ca_names(entry.chain, view.ca_names):
            report.add(
                "client-cert-missing",
                "error",
                "client-ca-names",
                f"{keystore.path.name} (entry {entry.alias!r})",
                f"the server accepts certificates issued by {listed}; the key entry's chain "
                f"({name_of(entry.chain[0])}, up to {name_of(entry.chain[-1])}) reaches none of them, so the "
                "JDK will send no certificate",
                "use the certificate issued for this partner, or import the intermediate that links yours to "
                "one of those CAs",
            )


def _check_live(
    report: Report,
    destination: Destination,
    view: ServerView,
    keystore: StoreContents | None,
    truststore: StoreContents | None,
    engines: Sequence[Engine],
    timeout: float,
    request: Request,
    client_tls: tuple[str, ...] | None = None,
) -> None:
    assert destination.url is not None
    evidence = Evidence(
        keystore=keystore, truststore=truststore, server_chain=view.chain, ca_names=view.ca_names or (), host=view.host
    )
    available = [e for e in engines if e.unavailable_reason() is None]
    # A body the user gave goes to the server once, through the platform's stack when it is here;
    # the other engines send the default request, which changes nothing.
    poster = next((e for e in available if is_jsse(e.name)), available[0] if available else None)
    live: list[tuple[str, Severity, str, str, str]] = []  # (engine, severity, code, message, fix)
    for engine in engines:
        reason = engine.unavailable_reason()
        if reason is not None:
            platform = is_jsse(engine.name)
            report.add(
                "engine-unavailable",
                "error" if platform else "warning",
                "handshake",
                f"{engine.name} engine",
                reason + (": the platform's own TLS stack (JSSE) was not tried, so check cannot say ready" * platform),
                "install a JDK 11+ or set JAVA_HOME; or pass --engine python to accept a check with OpenSSL only"
                if platform
                else "",
            )
            continue
        sent = request if request.body is None or engine is poster else Request()
        outcome = engine.probe(
            Probe(
                url=destination.url,
                keystore=destination.keystore,
                keystore_password=destination.keystore_password,
                truststore=destination.truststore,
                truststore_password=destination.truststore_password,
                method=sent.method,
                once=True,
                message=sent.body or b"",
                content_type=sent.content_type,
                timeout=timeout,
                tls_versions=client_tls,  # --client-tls: the platform's jdk.tls.client.protocols
            )
        )
        report.facts[f"request {engine.name}"] = sent.describe(destination.url)
        verdict = diagnose(outcome, evidence)
        code, severity, message, fix = _interpret(verdict, outcome, sent)
        java = outcome.java_version
        report.facts[f"handshake {engine.name}"] = (
            f"{code}: {outcome.protocol or '-'} {outcome.cipher or ''} HTTP {outcome.http_status or '-'}"
            + (f" (Java {java})" if java else "")
        )
        if code == "ok" or (code == "http-error" and severity == "warning"):
            report.verified_with.append(engine.name)
        live.append((engine.name, severity, code, message, fix))
    _merge_live(report, live)


# HTTP answers that can mean the client certificate itself was refused (400 nginx, 401/403 per-path checks,
# 421 misdirected, 495/496 nginx's certificate codes when not mapped to 400).
_REFUSED = frozenset({400, 401, 403, 421, 495, 496})


def _interpret(verdict: Verdict, outcome: Outcome, sent: Request) -> tuple[str, Severity, str, str]:
    """(code, severity, message, fix) of one engine's probe: the HTTP answer read for what was sent."""
    status = outcome.http_status or 0
    what = f"{sent.method} answered HTTP {status}"
    if verdict.code == "ok":
        redirect = " (a redirect: the platform's JDK follows it)" if 300 <= status < 400 else ""
        return "ok", "info", f"handshake ({outcome.protocol}, {outcome.cipher}) and {what}{redirect}", ""
    if verdict.code == "http-error" and status in (404, 405) and sent.body is None:
        return (
            "ok",
            "info",
            f"handshake ({outcome.protocol}, {outcome.cipher}) done, TLS and the client certificate accepted; "
            f"{what}: the path or method is the application's business, not MTLS's",
            "",
        )
    if verdict.code == "http-error" and status in _REFUSED:
        # nginx answers a missing or rejected certificate with 400, Apache's per-path checks with 403: the
        # certificate may well be what was refused, so this verifies nothing.
        return (
            "http-error",
            "error",
            f"the handshake succeeded ({outcome.protocol}) but the server refused the {sent.method} with HTTP "
            f"{status}: servers answer a client certificate they reject at the HTTP level this way, so the "
            "certificate is not shown to be accepted",
            "ask the server's operator what its log says for this request (client certificate, path, method)",
        )
    if verdict.code == "http-error":
        return "http-error", "warning", verdict.explanation + f" to {sent.method}", verdict.fix
    raw = condense_error(outcome.error)
    # The stacks' raw text inside an explanation (e.g. "no connection: ...") is condensed too: one line.
    explanation = verdict.explanation.replace(outcome.error, raw) if outcome.error else verdict.explanation
    explanation = " ".join(explanation.split())
    detail = f" [{outcome.engine}: {raw}]" if raw and raw not in explanation else ""
    return verdict.code, "error", explanation + detail, verdict.fix


# "sun.security.provider.certpath.SunCertPathBuilderException: " inside a message: the class, once is enough.
_QUALIFIED = re.compile(r"\b(?:[a-z_$][\w$]*\.)+([A-Z][\w$]*(?:Exception|Error))\b")
_EMBEDDED = re.compile(r"(?<=: )(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error): ")


def condense_error(error: str | None) -> str:
    """An engine's raw error as one line: the first line that says something, with its exception class.

    The JDK's text is the exception chain, one ``class: message`` per line (often
    with nested class names inside a message); OpenSSL's is one line already.
    """
    if not error:
        return ""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    meaningful = next((line for line in lines if ": " in line), lines[0] if lines else "")
    meaningful = _EMBEDDED.sub("", meaningful)
    meaningful = _QUALIFIED.sub(lambda m: m[1], meaningful)
    return meaningful[:300]


def _merge_live(report: Report, live: Sequence[tuple[str, Severity, str, str, str]]) -> None:
    """One finding per cause: engines that agree share one; a static finding with the same code absorbs them."""
    by_code: dict[str, list[tuple[str, Severity, str, str, str]]] = {}
    for item in live:
        by_code.setdefault(item[2], []).append(item)
    for code, items in by_code.items():
        names = tuple(sorted(item[0] for item in items))
        agreed = f" ({' and '.join(names)} agreed)" if len(names) > 1 else ""
        # The platform's engine speaks first.
        _, severity, _, message, fix = next((i for i in items if i[0].startswith("jsse")), items[0])
        static = next(
            (i for i, f in enumerate(report.findings) if f.code == code and not f.engines and "Java " not in f.subject),
            None,
        )  # a finding of one Java version (``Java 8u292``, ``… on Java 21.0.8``) is not a live engine's
        if static is not None and code != "ok":
            found = report.findings[static]
            report.findings[static] = replace(
                found,
                severity=min(found.severity, severity, key=_SEVERITY_ORDER.index),
                engines=names,
                message=f"{found.message}; live, the {' and '.join(names)} engine(s) found the same",
            )
            continue
        subject = " and ".join(names) + (" engines" if len(names) > 1 else " engine")
        report.findings.append(Finding(code, severity, "handshake", subject, message + agreed, fix, names))


# -- output ------------------------------------------------------------------------------

_MARK = {"error": "ERROR  ", "warning": "WARNING", "info": "info   "}


def render_text(report: Report) -> str:
    """The readable summary: what was seen, then every finding with its fix, then the result."""
    dest = report.destination
    lines = [f"check {dest.source}" + (f" against {dest.url}" if dest.url else "")]
    lines += [f"  {key}: {value}" for key, value in report.facts.items()]
    for finding in report.findings:
        lines.append(f"{_MARK[finding.severity]} {finding.code}: {finding.subject}: {finding.message}")
        if finding.fix:
            lines.append(f"        fix: {finding.fix}")
    errors = len(report.errors)
    warnings = sum(1 for f in report.findings if f.severity == "warning")
    lines.append(f"result: {errors} error(s), {warnings} warning(s): {report.verdict()}; {judged_for(report)}")
    return "\n".join(lines)


def judged_for(report: Report) -> str:
    """Which moment the certificates were judged for (the live handshake itself always runs now)."""
    when = f"{report.at:%Y-%m-%d %H:%M} UTC"
    return f"validity judged for {when} (--at)" if report.at_given else f"validity judged for now, {when}"


def write_report_junit(report: Report, path: Path) -> None:
    """One testcase per check; a check fails when it has an error finding."""
    from harness.junit import Case, write_junit

    cases = []
    for check in CHECKS:
        # A static finding the live handshake confirmed (one finding per cause) fails the handshake case too.
        found = [f for f in report.findings if f.check == check or (check == "handshake" and f.engines)]
        errors = [f for f in found if f.severity == "error"]
        text = "\n".join(
            f"{f.severity} {f.code}: {f.subject}: {f.message}" + (f" (fix: {f.fix})" if f.fix else "") for f in found
        )
        skipped = None
        if check in _LIVE_CHECKS and report.destination.url is None and not found:
            skipped = "no URL given: the live checks did not run (pass --url)"
        cases.append(
            Case(
                name=check,
                classname="mtls-harness.check.core",
                failure=text if errors else None,
                output="" if errors else text,
                skipped=skipped,
            )
        )
    facts = {
        "destination": str(report.destination.source),
        **({"url": report.destination.url} if report.destination.url else {}),
        **report.facts,
    }
    write_junit(path, "mtls-harness check", cases, facts)
