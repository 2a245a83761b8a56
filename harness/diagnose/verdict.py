"""Outcome codes, in one place: from what the client saw, what the server recorded, and the material.

Inputs: an engine's :class:`~harness.engines.Outcome` (raw errors, alerts),
the server's :class:`~harness.server.records.HandshakeRecord` of the same connection
when the server is ours, and :class:`Evidence` (the stores, the server chain,
the CAs the server trusts or names). Output: a :class:`Verdict` with the
outcome code, the side that rejected, and an explanation and fix in the
platform's terms (keystoreFile, keystorePass, key entry, truststore).

Static checks of certificates (expiry, usage, key size, signature, chain)
use ``cryptography.x509.verification`` for path validation, never our own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from harness.engines import Outcome
from harness.knowledge.codes import SUMMARIES
from harness.pki import Material
from harness.scenario import Scenario
from harness.server import HandshakeRecord
from harness.stores import KeyEntry, StoreContents

__all__ = [
    "Evidence",
    "Verdict",
    "diagnose",
    "name_of",
    "reaches_ca_names",
    "scenario_evidence",
    "usage_problem",
    "verify_client_chain",
    "verify_server_chain",
    "weak_key",
    "weak_signature",
]

Side = Literal["server", "client", "none"]


@dataclass(frozen=True)
class Evidence:
    """What is known besides the engine's outcome. Every field may be unknown (None)."""

    keystore: StoreContents | None = None
    truststore: StoreContents | None = None
    # The server's certificate chain as it sends it, leaf first.
    server_chain: tuple[x509.Certificate, ...] | None = None
    # The CAs the server trusts for client certificates (known for our own server).
    client_cas: tuple[x509.Certificate, ...] | None = None
    # The acceptable client CA names the server advertises (empty: none sent).
    ca_names: tuple[x509.Name, ...] | None = None
    # The server's record of this connection (our own server only).
    handshake: HandshakeRecord | None = None
    # Every certificate known to exist (a scenario's whole PKI): lets the
    # diagnosis name the intermediate missing from a chain.
    known: tuple[x509.Certificate, ...] = ()
    host: str = "127.0.0.1"
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def key_entry(self) -> KeyEntry | None:
        entries = self.keystore.key_entries if self.keystore else ()
        return entries[0] if len(entries) == 1 else None


@dataclass(frozen=True)
class Verdict:
    code: str
    side: Side
    explanation: str
    fix: str = ""

    def text(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.code}: {self.explanation}{fix}"


def scenario_evidence(
    scenario: Scenario,
    material: Material,
    *,
    keystore: StoreContents | None,
    truststore: StoreContents | None,
    handshake: HandshakeRecord | None,
) -> Evidence:
    """Everything a scenario's own material tells: the server's chain, trusted CAs, names, the whole PKI."""
    return Evidence(
        keystore=keystore,
        truststore=truststore,
        server_chain=material.server_chain,
        client_cas=material.client_cas,
        ca_names=tuple(c.subject for c in material.client_cas) if scenario.server.ca_names else (),
        handshake=handshake,
        known=tuple(i.cert for i in material.issued.values()),
        host="127.0.0.1",
        now=material.now,
    )


def name_of(name: x509.Name | x509.Certificate) -> str:
    """A certificate's subject (or a name) as people write it: ``CN=Acme Root,O=Acme``."""
    if isinstance(name, x509.Certificate):
        name = name.subject
    return name.rfc4514_string() or "(empty name)"


# -- the raw-error table -----------------------------------------------------------
#
# OpenSSL verify codes (X509_V_ERR_*, include/openssl/x509_vfy.h) as the server
# reports them about the client certificate, and as the Python client reports
# them about the server certificate.
_UNTRUSTED = {2, 18, 19, 20, 21}  # issuer unknown / self-signed / cannot verify leaf
_VERIFY_CLIENT = {
    9: "client-cert-not-yet-valid",  # CERT_NOT_YET_VALID
    10: "client-cert-expired",  # CERT_HAS_EXPIRED
    26: "client-cert-wrong-usage",  # INVALID_PURPOSE: no clientAuth EKU / KU
    66: "weak-key",  # EE_KEY_TOO_SMALL at the server's security level
    67: "weak-key",  # CA_KEY_TOO_SMALL
    68: "weak-signature",  # CA_MD_TOO_WEAK: SHA-1 / MD5 signature at security level >= 1
}
_VERIFY_SERVER = {
    9: "server-cert-expired",  # not yet valid: same remedy, renew/fix the server certificate
    10: "server-cert-expired",
    62: "server-name-mismatch",  # HOSTNAME_MISMATCH
    64: "server-name-mismatch",  # IP_ADDRESS_MISMATCH
    66: "weak-key",
    67: "weak-key",
    68: "weak-signature",
}
# Alerts a rejecting server sends (OpenSSL's ssl_x509err2alert, JSSE's
# CertificateMessage / X509TrustManagerImpl), as received by the client.
_ALERT_CODES = {
    "unknown_ca": "client-cert-untrusted",
    "bad_certificate": "client-cert-untrusted",
    "certificate_unknown": "client-cert-untrusted",
    "certificate_expired": "client-cert-expired",
    "unsupported_certificate": "client-cert-wrong-usage",
    "certificate_required": "client-cert-missing",
    "protocol_version": "protocol-mismatch",
}
# JSSE exception texts (JDK 17) for the platform rejecting the server, in the
# order to test them: the most specific first. Each row was seen in this
# project's tests (tests/test_jsse.py, the catalogue).
_JSSE_PATTERNS: tuple[tuple[str, str], ...] = (
    # sun.security.util.HostnameChecker
    (r"No subject alternative (DNS )?names? matching|No name matching", "server-name-mismatch"),
    # sun.security.provider.certpath: validity is checked after the path is built
    (r"CertificateExpiredException|validity check failed", "server-cert-expired"),
    # sun.security.validator.PKIXValidator: no path to a truststore anchor;
    # "trustAnchors parameter must be non-empty": the truststore has no certificate
    (
        r"PKIX path building failed|unable to find valid certification path|trustAnchors parameter must be non-empty",
        "server-cert-untrusted",
    ),
    # sun.security.validator: a CA whose keyUsage lacks keyCertSign (tests/test_jdk_check.py)
    (r"does not have keyCertSign bit set|KeyUsage does not allow", "server-cert-untrusted"),
    # jdk.tls.disabledAlgorithms / jdk.certpath.disabledAlgorithms
    (r"Algorithm constraints check failed on keysize|key size", "weak-key"),
    (r"Algorithm constraints check failed on signature|disabled algorithm", "weak-signature"),
    # SSLContext / SSLSocket with no protocol in common
    (r"No appropriate protocol|protocol is disabled|Unsupported protocol", "protocol-mismatch"),
)
# OpenSSL reasons meaning "no TLS version in common".
_PROTOCOL_REASONS = {
    "UNSUPPORTED_PROTOCOL",
    "NO_PROTOCOLS_AVAILABLE",
    "WRONG_SSL_VERSION",
    "TLSV1_ALERT_PROTOCOL_VERSION",
    "VERSION_TOO_LOW",
    "VERSION_TOO_HIGH",
}
_ALERT_TEXT = re.compile(r"Received fatal alert: (\w+)")


# -- static checks ---------------------------------------------------------------------


def weak_key(cert: x509.Certificate) -> str | None:
    """ "RSA-1024" when the key is below what current stacks accept (RSA < 2048, EC < 256)."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        return f"EC-{key.curve.key_size}"
    return None


def weak_signature(cert: x509.Certificate) -> str | None:
    """ "SHA-1" or "MD5" when the certificate is signed with a broken hash."""
    oid = cert.signature_algorithm_oid.dotted_string
    weak = {
        "1.2.840.113549.1.1.4": "MD5",
        "1.2.840.113549.1.1.5": "SHA-1",
        "1.2.840.10045.4.1": "SHA-1",
        "1.2.840.10040.4.3": "SHA-1",
    }
    return weak.get(oid)


def _is_self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def _eku_validator(purpose: x509.ObjectIdentifier) -> object:
    def check(_policy: object, _cert: x509.Certificate, ext: x509.ExtendedKeyUsage | None) -> None:
        if ext is not None and purpose not in ext and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ext:
            raise ValueError(f"extended key usage lacks {purpose._name}")

    return check


def _ca_key_usage(_policy: object, cert: x509.Certificate, ext: x509.KeyUsage | None) -> None:
    # As the JDK's PKIX validator (and OpenSSL): a CA without keyUsage may sign
    # certificates (RFC 5280 4.2.1.3 makes the extension optional); one that has
    # it must allow keyCertSign. The web PKI profile would require it on every CA.
    if ext is not None and not ext.key_cert_sign:
        raise ValueError(f"key usage of {cert.subject.rfc4514_string()} lacks keyCertSign")


def _jsse_ca_policy() -> ExtensionPolicy:
    return ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.KeyUsage,
        Criticality.AGNOSTIC,
        _ca_key_usage,
    )


def verify_client_chain(
    chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate], now: dt.datetime
) -> str | None:
    """None when ``chain`` (leaf first) validates for client authentication to one of ``anchors``.

    The web PKI defaults, except that a client certificate needs no subject
    alternative name (the JDK and OpenSSL servers do not ask for one).
    """
    if not anchors:
        return "no trusted CA"
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(now)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
        .build_client_verifier()
    )
    try:
        verifier.verify(chain[0], list(chain[1:]))
    except VerificationError as exc:
        return _short(exc)
    return None


def verify_server_chain(
    chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate], host: str, now: dt.datetime
) -> str | None:
    """None when the server's ``chain`` validates for ``host`` against the truststore's ``anchors``.

    Criticality of SAN and EKU is not held against the server: many CAs (and
    trustme) mark them critical, and neither the JDK nor OpenSSL object.
    """
    if not anchors:
        return "the truststore holds no certificate"
    try:
        subject: x509.verification.Subject = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = x509.DNSName(host)
    ee = (
        ExtensionPolicy.webpki_defaults_ee()
        .require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _eku_validator(ExtendedKeyUsageOID.SERVER_AUTH))  # type: ignore[arg-type]
    )
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(now)
        .extension_policies(ca_policy=_jsse_ca_policy(), ee_policy=ee)
        .build_server_verifier(subject)
    )
    try:
        verifier.verify(chain[0], list(chain[1:]))
    except VerificationError as exc:
        return _short(exc)
    return None


def _short(exc: VerificationError) -> str:
    return str(exc).split(" (encountered processing")[0].removeprefix("validation failed: ")


# -- the diagnosis --------------------------------------------------------------------


def diagnose(outcome: Outcome, evidence: Evidence) -> Verdict:
    """The outcome code of one probe, the side that rejected, and what to do."""
    if outcome.completed:
        status = outcome.http_status or 0
        if status >= 400 and (rejected := _http_rejection(outcome, evidence)) is not None:
            return rejected
        if _sent_none_when_asked(outcome):
            # Optional client auth (nginx `ssl_verify_client optional`, JSSE
            # setWantClientAuth): served, but the platform meant to authenticate.
            said = (
                f"the server asked for a client certificate, got none and answered the request anyway "
                f"(HTTP {status}: optional client authentication)"
            )
            return _refine_client_cert("client-cert-missing", evidence, said)
        if status >= 400:
            return Verdict(
                "http-error",
                "server",
                f"the handshake succeeded ({outcome.protocol}) and the server accepted the client certificate, "
                f"but answered HTTP {status}",
                "the MTLS set-up is right; look at the server's answer (wrong URL path, message format, authorisation)",
            )
        return Verdict(
            "ok", "none", f"handshake ({outcome.protocol}, {outcome.cipher}) and request succeeded, HTTP {status}"
        )
    if outcome.code_hint:
        return _from_hint(outcome, evidence)
    if outcome.error_type == "ServerTooSlow":
        # The whole-answer deadline (issue 15): the python engine knows it got to
        # the HTTP answer, the jsse engine cannot tell how far the JVM got; the
        # verdict is the same for both, whatever the stage.
        return Verdict(
            "handshake-failed",
            "server",
            f"the server did not finish answering in time: {outcome.error}",
            "the server, or something in front of it, sends its answer a little at a time or never ends it: "
            "see whether it answers a plain request promptly (curl -v); if it is merely slow, raise `check --timeout`",
        )
    if outcome.stage in ("keystore", "handshake", "http") and (mismatch := key_cert_mismatch(evidence)) is not None:
        return mismatch
    if outcome.stage == "connect":
        return Verdict(
            "connection-failed", "none", f"no connection: {outcome.error}", "check the URL, the port and any firewall"
        )
    record = evidence.handshake
    if record is not None and not record.accepted:
        return _server_rejected(record, outcome, evidence)
    if (client_side := _client_rejected(outcome, evidence)) is not None:
        return client_side
    # A server that is not ours: only its alert and the material tell the story.
    alert = outcome.alert_received or _alert_in(outcome.error)
    said = f"the server sent the alert {alert}"
    if alert == "internal_error" and _asked_and_sent(outcome):
        return _chain_too_long(outcome, evidence, said)
    if alert is None and _broken(outcome) and outcome.details.get("client_cert_requested") == "true":
        return _rejected_after_certificate(outcome, evidence)
    if alert in ("bad_certificate", "certificate_unknown", "handshake_failure") and _sent_none_when_asked(outcome):
        # JSSE servers (JDK 17 too) answer an empty client chain with bad_certificate.
        return _refine_client_cert("client-cert-missing", evidence, said)
    if alert in ("bad_certificate", "certificate_unknown") and (found := _chain_problem(evidence)):
        # OpenSSL and JSSE servers send these for a certificate that is not yet
        # valid, weak or of the wrong use as well as for an unknown issuer
        # (ssl_x509err2alert): the certificate itself tells which.
        return _refine_client_cert(found, evidence, said)
    if alert == "protocol_version":
        return _protocol(evidence, said)  # not a certificate matter (seen with check --client-tls 1.2)
    entry = evidence.key_entry
    if (
        alert == "certificate_unknown"
        and entry is not None
        and entry.chain
        and evidence.ca_names
        and reaches_ca_names(entry.chain, evidence.ca_names)
    ):
        # A JSSE server's answer to any CertificateException. Its CA names are
        # its truststore's subjects, so a sound certificate under one of them is
        # trusted: untrusted would be a wrong guess with a wrong fix.
        return _jsse_refusal(entry, evidence, said)
    if alert in _ALERT_CODES:
        return _refine_client_cert(_ALERT_CODES[alert], evidence, said)
    if alert == "handshake_failure" and _sent_no_certificate(outcome, evidence):
        # TLS 1.2 servers answer a missing client certificate with handshake_failure.
        return _refine_client_cert("client-cert-missing", evidence, said)
    return Verdict(
        "handshake-failed",
        "none",
        f"the handshake failed and the harness cannot tell why: {outcome.error}",
        "reproduce with `openssl s_client` and report the output",
    )


# -- real servers: what they say after the handshake, and connections that break -------------
#
# nginx 1.22 completes the handshake and answers HTTP 400 with one of its own
# pages (ngx_http_special_response.c: "No required SSL certificate was sent",
# "The SSL certificate error"); its internal statuses 495/496 show when a site
# turns those pages off or maps them. Apache httpd answers 403 with "Cannot
# perform Post-Handshake Authentication" when a <Location> asks for the
# certificate after a TLS 1.3 handshake the client allowed no PHA in (AH10158).
# Gateways write similar texts. Each row: (pattern on status line + body, kind).
_HTTP_REJECTIONS: tuple[tuple[str, str], ...] = (
    (r"Post-Handshake Auth", "post-handshake"),
    (r"^HTTP 496\b|No required SSL certificate|(client )?certificate (is )?required", "missing"),
    (
        r"^HTTP 495\b|SSL certificate error|certificate (was )?(rejected|invalid)|invalid (client )?certificate",
        "rejected",
    ),
)
_TAG = re.compile(r"<[^>]*>")
# What a Java or OpenSSL client reports when the server closed (with an alert it
# never read) while the client was still writing: measured against nginx,
# Apache and HAProxy (docs/servers.md).
_BROKEN = re.compile(
    r"Broken pipe|Connection reset|Error writing to server|EOF occurred in violation of protocol|"
    r"Remote host terminated|SSLEOFError|Connection or outbound has closed|Unexpected end of file"
)


def _first_line(body: str) -> str:
    """The first line of a body that says something: tags stripped, so an HTML page gives its title."""
    for line in _TAG.sub("\n", body).splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def _http_rejection(outcome: Outcome, evidence: Evidence) -> Verdict | None:
    """A 4xx whose status or body says the client certificate was missing or rejected, as a client-cert verdict."""
    status = outcome.http_status or 0
    reason = outcome.details.get("http_reason", "")
    status_line = f"HTTP {status}" + (f" {reason}" if reason else "")
    body = outcome.details.get("response_body", "")
    first = _first_line(body)
    text = f"{status_line}\n{_TAG.sub(' ', body)}"
    kind = next((k for pattern, k in _HTTP_REJECTIONS if re.search(pattern, text, re.IGNORECASE | re.MULTILINE)), None)
    if kind is None:
        return None
    said = f"the handshake succeeded ({outcome.protocol}) but the server answered {status_line}" + (
        f' "{first}"' if first else ""
    )
    if kind == "post-handshake":
        return _post_handshake(outcome, said)
    if kind == "missing" or not _asked_and_sent(outcome):
        return _refine_client_cert("client-cert-missing", evidence, said)
    return _why_rejected(outcome, evidence, said)


def _post_handshake(outcome: Outcome, said: str) -> Verdict:
    if outcome.engine == "jsse":
        cannot = "the JDK does not implement TLS 1.3 post-handshake authentication, so the platform cannot answer"
    else:
        cannot = "this client did not offer TLS 1.3 post-handshake authentication (the JDK cannot)"
    return Verdict(
        "renegotiation-failed",
        "server",
        f"{said}: the server asks for the client certificate only for this path, after the handshake; {cannot}",
        "ask the server's operator to request the client certificate in the handshake (Apache: SSLVerifyClient "
        "require for the whole virtual host, not in <Location>), or pin the destination to TLS 1.2 where the "
        "server renegotiates and the JDK answers",
    )


def _sent_none_when_asked(outcome: Outcome) -> bool:
    """The engine says the server asked for a certificate and the client sent none."""
    details = outcome.details
    if details.get("client_cert_requested") != "true":
        return False
    if outcome.engine == "jsse":
        return details.get("chosen_alias") == ""
    return details.get("client_cert_sent") == "false"


def _asked_and_sent(outcome: Outcome) -> bool:
    details = outcome.details
    return details.get("client_cert_requested") == "true" and not _sent_none_when_asked(outcome)


def _broken(outcome: Outcome) -> bool:
    return outcome.stage in ("handshake", "http") and bool(_BROKEN.search(outcome.error or ""))


def _rejected_after_certificate(outcome: Outcome, evidence: Evidence) -> Verdict:
    """The connection broke after the server asked for a certificate: the alert was lost, the material tells why."""
    said = (
        f"the server closed the connection right after the client's certificate and the client reported "
        f"{outcome.error!r} (what the platform prints too; the server's alert was lost because it closed at once)"
    )
    if _sent_none_when_asked(outcome) or not (evidence.keystore is None or evidence.keystore.key_entries):
        return _refine_client_cert("client-cert-missing", evidence, said)
    return _why_rejected(outcome, evidence, said)


def _why_rejected(outcome: Outcome, evidence: Evidence, said: str) -> Verdict:
    """A sent certificate rejected without the reason: the material's own fault if it has one, else the candidates."""
    if (found := _chain_problem(evidence)) is not None:
        return _refine_client_cert(found, evidence, f"{said}; most likely cause")
    entry = evidence.key_entry
    if entry is not None and entry.chain and evidence.ca_names and not reaches_ca_names(entry.chain, evidence.ca_names):
        return _untrusted(evidence, entry, f"{said}; most likely cause")
    if entry is not None and entry.chain and not evidence.ca_names and not _is_self_signed(entry.chain[-1]):
        # A right certificate whose CA the server does not name (HAProxy
        # no-ca-names): an untrusted issuer is by far the likeliest refusal.
        return _untrusted(evidence, entry, f"{said}; most likely cause (the server names no CAs, so unconfirmed)")
    return _candidates(evidence, said)


def _needed_depth(evidence: Evidence) -> int:
    """The verify depth a server needs for the key entry's chain: CA certificates above the leaf, root included."""
    entry = evidence.key_entry
    if entry is None or not entry.chain:
        return 0
    path = _with_ancestors(entry.chain, evidence)
    return len(path) - (1 if _is_self_signed(path[-1]) else 0)


def _chain_too_long(outcome: Outcome, evidence: Evidence, said: str) -> Verdict:
    depth = _needed_depth(evidence)
    if depth < 2:
        return _candidates(evidence, f"{said} after receiving the client certificate")
    also = _chain_problem(evidence)
    return Verdict(
        "client-cert-rejected",
        "server",
        f"{said} after receiving the client certificate, whose chain has {depth} CA level(s) above it: Apache httpd "
        f"does this when the chain is longer than its SSLVerifyDepth (default 1; its log says AH02040: "
        "Certificate Chain too long)"
        + (f"; the certificate has a fault of its own as well ({also}), found next" if also else ""),
        _depth_fix(depth),
    )


def _depth_fix(depth: int) -> str:
    # Apache counts the root (the leaf is depth 0); nginx's OpenSSL limit counts intermediates only.
    return (
        f"ask the server's operator to raise SSLVerifyDepth (Apache) to at least {depth}, "
        f"or ssl_verify_depth (nginx) to at least {depth - 1}"
    )


def _jsse_refusal(entry: KeyEntry, evidence: Evidence, said: str) -> Verdict:
    """certificate_unknown for a sound certificate under a CA the (JSSE) server names."""
    leaf = entry.chain[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        addresses = san.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        addresses = []
    if addresses:
        return _candidates(evidence, said, jsse_server=True)
    names = ", ".join(_san_names(leaf)) or "no subject alternative names"
    return Verdict(
        "client-cert-name-mismatch",
        "server",
        f"{said} for your certificate {name_of(leaf)}, which is sound and issued under a CA the server names "
        f"(so trusted by it); most likely the server checks the certificate's names against the client's address "
        f"(endpoint identification of the client, e.g. Jetty), and it has {names}, no IP address. Unconfirmed: "
        "a JSSE server sends this alert for any certificate problem, e.g. also a failed revocation check",
        "ask the server's operator whether client endpoint identification is on (Jetty: "
        "setEndpointIdentificationAlgorithm(null) on the server's SslContextFactory turns it off), or get a "
        "certificate whose subject alternative names include the platform's outgoing address",
    )


def _candidates(evidence: Evidence, said: str, *, jsse_server: bool = False) -> Verdict:
    depth = _needed_depth(evidence)
    causes = []
    entry = evidence.key_entry
    if jsse_server and entry is not None and entry.chain:
        names = ", ".join(_san_names(entry.chain[0])) or "no subject alternative names"
        causes.append(
            "the server (a JSSE one, by its certificate_unknown) checks your certificate's names against your "
            f"address, and your certificate has {names} (client-cert-name-mismatch)"
        )
    if entry is not None and entry.chain and not evidence.ca_names:
        # No CA names: nothing here tells which CAs the server trusts.
        causes.append(f"the server does not trust {_top_ca(entry.chain)}, the CA your certificate chains to")
    if depth >= 2:
        causes.append(
            f"the server's verify depth is too small for your chain's {depth} CA levels "
            f"(Apache SSLVerifyDepth below {depth}, its default is 1; nginx ssl_verify_depth below {depth - 1})"
        )
    causes += [
        "the server's client-CA file differs from the CA names it advertises",
        "the certificate is revoked (the server checks a CRL or OCSP)",
        "the server restricts which client certificates it accepts (subject, fingerprint)",
    ]
    if not jsse_server:
        causes.append("a JSSE server checks your certificate's names against your address (client-cert-name-mismatch)")
    listed = "; ".join(f"({i}) {c}" for i, c in enumerate(causes, 1))
    return Verdict(
        "client-cert-rejected",
        "server",
        f"{said}: the server rejected the client certificate without saying why, and the certificate itself looks "
        f"right; candidate causes: {listed}",
        "ask the server's operator for the reason in their error log (nginx error.log, Apache ssl log, HAProxy log)"
        + (f"; if it is the verify depth: {_depth_fix(depth)}" if depth >= 2 else ""),
    )


def _chain_problem(evidence: Evidence) -> str | None:
    """The outcome code a server's judgement of the key entry's chain would give, if the chain itself is at fault."""
    entry = evidence.key_entry
    if entry is None or not entry.chain:
        return None
    path = _with_ancestors(entry.chain, evidence)
    faults = _chain_faults(entry.chain[0], evidence.now)
    return next((code for code, failing in faults.items() if any(failing(c) for c in path)), None)


def _chain_faults(leaf: x509.Certificate, now: dt.datetime) -> dict[str, Callable[[x509.Certificate], bool]]:
    """Outcome code -> whether a certificate of the client's chain has that fault, in the order to test them."""
    return {
        "client-cert-expired": lambda c: c.not_valid_after_utc < now,
        "client-cert-not-yet-valid": lambda c: c.not_valid_before_utc > now,
        "weak-key": lambda c: weak_key(c) is not None,
        # A root's self-signature is never checked.
        "weak-signature": lambda c: weak_signature(c) is not None and not _is_self_signed(c),
        "client-cert-wrong-usage": lambda c: c is leaf and usage_problem(c) is not None,
    }


def _sent_no_certificate(outcome: Outcome, evidence: Evidence) -> bool:
    """Whether the client sent no certificate: none to send, or none matching the server's CA names."""
    if outcome.details.get("client_cert_requested") == "true" and outcome.details.get("chosen_alias") == "":
        return True  # the JDK says so itself
    keystore = evidence.keystore
    if keystore is not None and not keystore.key_entries:
        return True
    entry = evidence.key_entry
    if entry is None or not entry.chain or not evidence.ca_names or outcome.engine != "jsse":
        return False
    # Only the JDK filters by CA names (docs/engines.md); OpenSSL sends its certificate anyway.
    return not reaches_ca_names(entry.chain, evidence.ca_names)


def _alert_in(text: str | None) -> str | None:
    match = _ALERT_TEXT.search(text or "")
    return match[1] if match else None


JDK_FIXES = {
    "keystore-format-unsupported": "re-export the store in the legacy PKCS#12 format "
    "(`openssl pkcs12 -export -legacy`, or `keytool -importkeystore -deststoretype JKS`), "
    "or run the platform on Java 8u301 / 11.0.12 / 17+",
    "truststore-empty": "create the truststore with keytool (`keytool -importcert -trustcacerts`), which marks "
    "certificates as trusted; a PKCS#12 made by OpenSSL has no trusted entries for Java",
    "keystore-no-key-entry": "import the private key with its certificate chain (`keytool -importkeystore` from "
    "the PKCS#12 key pair), not only the certificate",
    "key-cert-mismatch": "import the private key together with the certificate issued for it (the CSR's key)",
}


def key_cert_mismatch(evidence: Evidence) -> Verdict | None:
    """A key entry whose private key is not its certificate's: the handshake signature cannot verify."""
    entry = evidence.key_entry
    if entry is None or entry.key is None or not entry.chain or entry.key.public_key() == entry.chain[0].public_key():
        return None
    return Verdict(
        "key-cert-mismatch",
        "client",
        f"the private key of key entry {entry.alias!r} does not belong to its certificate {name_of(entry.chain[0])}: "
        "the server cannot verify the handshake signature made with it",
        JDK_FIXES["key-cert-mismatch"],
    )


def _from_hint(outcome: Outcome, evidence: Evidence) -> Verdict:
    code = outcome.code_hint or ""
    error = outcome.error or ""
    if code == "key-password-mismatch":
        return Verdict(
            code,
            "client",
            f"the key entry does not open with keystorePass: {error}",
            "set the key password equal to keystorePass (the platform assumes they match)",
        )
    if code == "keystore-ambiguous":
        return Verdict(
            code, "client", error, "keep exactly one key entry in the keystore (delete the others with keytool -delete)"
        )
    if code == "connection-failed":
        return Verdict(code, "none", f"no connection: {error}", "check the URL, the port and any firewall")
    fixes = {
        "keystore-password-wrong": "set keystorePass to the password the keystore was saved with",
        "truststore-password-wrong": "set truststorePass to the password the truststore was saved with",
        "store-unreadable": "re-create the store (see README, Before go-live) and check keystoreFile/truststoreFile",
        # The JDK-matrix codes (issue 11): knowledge/java.py and harness/check/jdk.py find them.
        **JDK_FIXES,
    }
    return Verdict(code, "client", error, fixes.get(code, ""))


def _server_rejected(record: HandshakeRecord, outcome: Outcome, evidence: Evidence) -> Verdict:
    said = f"the server rejected the handshake ({record.reason}"
    said += f", verify error {record.verify_code}: {record.verify_message})" if record.verify_code is not None else ")"
    if record.reason == "JSSE":
        return _jsse_server_rejected(record, outcome, evidence)
    if any("chain too long" in e for e in record.verify_errors):
        # The apache persona's SSLVerifyDepth refusal (harness.server.personas).
        return _chain_too_long(outcome, evidence, f"{said}; {record.verify_errors[0]}")
    if record.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return _refine_client_cert("client-cert-missing", evidence, said)
    if record.reason in _PROTOCOL_REASONS or (record.reason or "").startswith("VERSION_TOO"):
        return _protocol(evidence, said)
    if record.reason == "NO_SHARED_CIPHER":
        return Verdict(
            "cipher-mismatch",
            "server",
            f"{said}: the server supports none of the cipher suites the client offered",
            "enable a cipher suite the server supports (jdk.tls.client.cipherSuites, or the platform's TLS "
            "settings), or ask the server's operator which suites it accepts",
        )
    if record.verify_code in _VERIFY_CLIENT:
        return _refine_client_cert(_VERIFY_CLIENT[record.verify_code], evidence, said)
    if record.verify_code in _UNTRUSTED:
        return _refine_client_cert("client-cert-untrusted", evidence, said)
    if record.verify_code is None and (client_side := _client_rejected(outcome, evidence)) is not None:
        # The client aborted first (it rejected the server); the server only saw the alert.
        return client_side
    return Verdict(
        "handshake-failed",
        "server",
        f"{said}; the client saw: {outcome.error}",
        "compare with `openssl s_client` against the server",
    )


# What a JSSE server (the java persona) reports when it refuses the client, JDK 17:
# sun.security.util.HostnameChecker, PKIXValidator, CertificateMessage; most specific first.
_JSSE_SERVER_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"No subject alternative (DNS |IP )?names? (matching|present)|No name matching", "client-cert-name-mismatch"),
    (r"Empty client certificate chain|Empty server certificate chain", "client-cert-missing"),
    (r"CertificateExpiredException|validity check failed", "client-cert-expired"),
    (r"CertificateNotYetValidException", "client-cert-not-yet-valid"),
    (r"KeyUsage|ExtendedKeyUsage|Extended key usage", "client-cert-wrong-usage"),
    (r"PKIX path building failed|unable to find valid certification path", "client-cert-untrusted"),
    (r"No appropriate protocol|protocol is disabled|Unsupported protocol", "protocol-mismatch"),
)


def _jsse_server_rejected(record: HandshakeRecord, outcome: Outcome, evidence: Evidence) -> Verdict:
    error = record.error or ""
    said = f"the server (JSSE) rejected the handshake: {error.split(' <- ')[-1]}"
    code = next((c for pattern, c in _JSSE_SERVER_PATTERNS if re.search(pattern, error)), None)
    if code == "client-cert-name-mismatch":
        entry = evidence.key_entry
        names = _san_names(entry.chain[0]) if entry is not None and entry.chain else []
        return Verdict(
            code,
            "server",
            f"{said}: the server checks the client certificate's subject alternative names against the address "
            f"the client connects from ({evidence.host} here), and your certificate names "
            f"{', '.join(names) or 'none'}",
            "ask the server's operator to turn off endpoint identification of clients "
            "(Jetty: setEndpointIdentificationAlgorithm(null) on the server's SslContextFactory), or get a "
            "certificate whose subject alternative names include the platform's outgoing address",
        )
    if code == "protocol-mismatch":
        return _protocol(evidence, said)
    if code is not None:
        return _refine_client_cert(code, evidence, said)
    if (client_side := _client_rejected(outcome, evidence)) is not None:
        return client_side
    return Verdict("handshake-failed", "server", f"{said}; the client saw: {outcome.error}", "")


def _protocol(evidence: Evidence, said: str) -> Verdict:
    return Verdict(
        "protocol-mismatch",
        "server",
        f"{said}: client and server share no TLS version",
        "enable a TLS version both support (TLS 1.2 or 1.3)",
    )


def _client_rejected(outcome: Outcome, evidence: Evidence) -> Verdict | None:
    """The platform's side refused the server (its certificate, name or protocol), if it did."""
    code = None
    if outcome.verify_code is not None:
        code = _VERIFY_SERVER.get(outcome.verify_code)
        if code is None and outcome.verify_code in _UNTRUSTED:
            code = "server-cert-untrusted"
    if code is None and outcome.error:
        code = next((c for pattern, c in _JSSE_PATTERNS if re.search(pattern, outcome.error)), None)
    if code is None and outcome.details.get("reason") in _PROTOCOL_REASONS:
        code = "protocol-mismatch"
    if code is None:
        return None
    if code == "protocol-mismatch":
        return Verdict(
            code,
            "client",
            f"client and server share no TLS version: {outcome.error}",
            "enable a TLS version both support (TLS 1.2 or 1.3)",
        )
    if code in ("weak-key", "weak-signature"):
        return Verdict(
            code,
            "client",
            f"the platform refused the server certificate: {outcome.error}",
            "the server must use a stronger certificate",
        )
    return _refine_server_cert(code, evidence, outcome)


def _refine_server_cert(code: str, evidence: Evidence, outcome: Outcome) -> Verdict:
    chain = evidence.server_chain or ()
    anchors = evidence.truststore.certificates if evidence.truststore else ()
    said = f"the platform rejected the server's certificate ({outcome.error})"
    if not chain:
        return Verdict(code, "client", said, _SERVER_FIXES[code])
    leaf = chain[0]
    if code == "server-name-mismatch":
        names = _san_names(leaf)
        return Verdict(
            code,
            "client",
            f"the server certificate {name_of(leaf)} names {', '.join(names) or 'no host'} "
            f"but the URL's host is {evidence.host}",
            f"use a URL with one of those names, or have the server's certificate include {evidence.host}",
        )
    expired = [c for c in chain if c.not_valid_after_utc < evidence.now]
    if code == "server-cert-expired" or expired:
        cert = expired[0] if expired else leaf
        return Verdict(
            "server-cert-expired",
            "client",
            f"the server certificate {name_of(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
            "the server's operator must renew it; nothing in the platform's stores can fix this",
        )
    trusted = ", ".join(name_of(c) for c in anchors) or "nothing"
    top = chain[-1]
    if not _is_self_signed(top) and not any(c.subject == top.issuer for c in anchors):
        missing = name_of(top.issuer)
        sent = "only its certificate" if len(chain) == 1 else f"{len(chain)} certificates"
        return Verdict(
            code,
            "client",
            f"the server sends {sent} (up to {name_of(top)}, issued by {missing}); the truststore trusts {trusted}, "
            f"which does not include {missing}",
            f"add {missing} (and any CA above it) to the truststore, e.g. `mtls-harness truststore URL`; "
            "or have the server send its full chain",
        )
    return Verdict(
        code,
        "client",
        f"the server's chain ends at {name_of(top)}, which the truststore does not hold (it trusts {trusted})",
        f"add {name_of(top)} to the truststore (`mtls-harness truststore URL` builds one)",
    )


_SERVER_FIXES = {
    "server-name-mismatch": "use a URL whose host the server certificate names",
    "server-cert-expired": "the server's operator must renew its certificate",
    "server-cert-untrusted": "add the server's CA certificates to the truststore (`mtls-harness truststore URL`)",
}


def _san_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for n in san]


def _refine_client_cert(code: str, evidence: Evidence, said: str) -> Verdict:
    """Name the client certificate, its issuer and what the server trusts; tell chain gaps from untrusted CAs."""
    keystore = evidence.keystore
    entries = keystore.key_entries if keystore else ()
    if code == "client-cert-missing":
        return _missing(evidence, said)
    if len(entries) > 1:
        return Verdict(
            "keystore-ambiguous",
            "server",
            f"{said}; the keystore holds {len(entries)} key entries ({', '.join(e.alias for e in entries)}) "
            "and the platform presented one the server does not accept",
            "keep exactly one key entry: the one issued by a CA the server trusts",
        )
    entry = evidence.key_entry
    if entry is None or not entry.chain:
        return Verdict(code, "server", said, _CLIENT_FIXES.get(code, ""))
    leaf = entry.chain[0]
    path = _with_ancestors(entry.chain, evidence)
    tests = _chain_faults(leaf, evidence.now)
    if code not in tests:
        return _untrusted(evidence, entry, said)
    # The server names the failure, not the certificate: find which one it is,
    # in the key entry's chain or above it, so the fix goes to the right CA.
    culprit = next((c for c in path if tests[code](c)), leaf)
    if culprit is leaf:
        who = f"your certificate {name_of(leaf)} (key entry {entry.alias!r})"
    elif culprit in entry.chain:
        who = f"the CA certificate {name_of(culprit)} in key entry {entry.alias!r}"
    else:
        who = f"the CA certificate {name_of(culprit)} above your certificate {name_of(leaf)}"
    if code == "client-cert-expired":
        return Verdict(
            code,
            "server",
            f"{said}: {who} expired on {culprit.not_valid_after_utc:%Y-%m-%d}",
            "get a renewed certificate from your CA and rebuild the keystore"
            if culprit is leaf
            else f"the CA {name_of(culprit)} must be renewed; rebuild the keystore with the renewed chain",
        )
    if code == "client-cert-not-yet-valid":
        return Verdict(
            code,
            "server",
            f"{said}: {who} is valid only from {culprit.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            "wait until then, or check the clocks; the certificate was issued for the future",
        )
    if code == "client-cert-wrong-usage":
        return Verdict(
            code,
            "server",
            f"{said}: {who} {usage_problem(leaf) or 'is not allowed for client authentication'}",
            "ask your CA for a certificate with extended key usage clientAuth (TLS Web Client Authentication)",
        )
    if code == "weak-key":
        return Verdict(
            code,
            "server",
            f"{said}: {who} has an {weak_key(culprit) or 'undersized'} key, below what the server accepts",
            "get certificates (and a CA chain) with RSA-2048 or stronger, or EC P-256 keys",
        )
    return Verdict(
        code,
        "server",
        f"{said}: {who} is signed with {weak_signature(culprit) or 'a weak hash'}",
        "get a certificate (and CA chain) signed with SHA-256 or better",
    )


def _with_ancestors(chain: Sequence[x509.Certificate], evidence: Evidence) -> list[x509.Certificate]:
    """The key entry's chain, then the CAs above it that the evidence knows, up to a root."""
    path = list(chain)
    pool = [*evidence.known, *(evidence.client_cas or ())]
    while not _is_self_signed(path[-1]) and len(path) < 10:
        parent = next((c for c in pool if c.subject == path[-1].issuer and c not in path), None)
        if parent is None:
            break
        path.append(parent)
    return path


_CLIENT_FIXES = {
    "client-cert-untrusted": "use a certificate issued by a CA the server trusts, "
    "or send the server's operator your CA certificate",
    "client-cert-expired": "get a renewed certificate and rebuild the keystore",
    "client-cert-wrong-usage": "get a certificate with extended key usage clientAuth",
}


def usage_problem(cert: x509.Certificate) -> str | None:
    """Why ``cert`` cannot authenticate a TLS client (EKU without clientAuth, KU without digitalSignature)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            names = ", ".join(getattr(u, "_name", u.dotted_string) for u in eku)
            return f"may be used only for {names}, not for client authentication"
    except x509.ExtensionNotFound:
        pass
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            return "has a key usage without digitalSignature, which client authentication needs"
    except x509.ExtensionNotFound:
        pass
    return None


def _untrusted(evidence: Evidence, entry: KeyEntry, said: str) -> Verdict:
    leaf, top = entry.chain[0], entry.chain[-1]
    cas = evidence.client_cas
    trusted_names = [name_of(c) for c in cas] if cas else [name_of(n) for n in evidence.ca_names or ()]
    trusted = ", ".join(trusted_names) or "(unknown CAs)"
    incomplete = _incomplete_chain(entry, evidence, f"{said}: the server trusts {trusted}, but")
    if incomplete is not None:
        return incomplete
    # Without the issuer's certificate nobody can tell whether it is a root the
    # server does not trust, or an intermediate the key entry lacks.
    maybe_gap = (
        f"; if {name_of(top.issuer)} is an intermediate CA under one of those, the key entry lacks it "
        "(import the full chain)"
        if not _is_self_signed(top) and cas is None
        else ""
    )
    return Verdict(
        "client-cert-untrusted",
        "server",
        f"{said}: the server trusts {trusted} but your certificate {name_of(leaf)} is issued by {name_of(leaf.issuer)}"
        + (f" (chain up to {name_of(top)})" if len(entry.chain) > 1 else "")
        + maybe_gap,
        f"use a certificate issued by one of {trusted}, or ask the server's operator to trust {_top_ca(entry.chain)}",
    )


def _incomplete_chain(entry: KeyEntry, evidence: Evidence, said: str, consequence: str = "") -> Verdict | None:
    """client-chain-incomplete when the chain stops below a root and known intermediates lead to a trusted CA."""
    top = entry.chain[-1]
    missing = [] if _is_self_signed(top) else _path_to_trusted(top, evidence)
    if not missing:
        return None
    between = ", ".join(name_of(c) for c in missing)
    return Verdict(
        "client-chain-incomplete",
        "server",
        f"{said} the key entry {entry.alias!r} holds {len(entry.chain)} certificate(s) ending at {name_of(top)}, "
        f"without the intermediate {between}{consequence}",
        f"add the intermediate {between} to the key entry's chain "
        "(import the full chain from your CA's PKCS#12 / PEM bundle)",
    )


def reaches_ca_names(chain: Sequence[x509.Certificate], names: Iterable[x509.Name]) -> bool:
    """Whether a key entry's chain is issued by (or holds) one of the server's acceptable CA names.

    The JDK's X509KeyManager.chooseClientAlias offers a key entry only then.
    """
    return bool(({c.issuer for c in chain} | {c.subject for c in chain}) & set(names))


def _top_ca(chain: Sequence[x509.Certificate]) -> str:
    """The CA at the top of a chain: the root when the chain holds it, else the last issuer named."""
    top = chain[-1]
    return name_of(top if _is_self_signed(top) else top.issuer)


def _path_to_trusted(top: x509.Certificate, evidence: Evidence) -> list[x509.Certificate]:
    """The known intermediates between ``top`` and a CA the server trusts (empty: no such path)."""
    trusted = {c.subject for c in evidence.client_cas or ()} | set(evidence.ca_names or ())
    path: list[x509.Certificate] = []
    current = top
    for _ in range(8):
        if current.issuer in trusted:
            return path
        parent = next((c for c in evidence.known if c.subject == current.issuer and c != current), None)
        if parent is None or (_is_self_signed(parent) and parent.subject not in trusted):
            return []
        path.append(parent)
        current = parent
    return []


def _missing(evidence: Evidence, said: str) -> Verdict:
    keystore = evidence.keystore
    code = "client-cert-missing"
    if keystore is not None and not keystore.key_entries and keystore.cert_entries:
        # The certificate was imported without its private key (issue 11).
        return Verdict(
            "keystore-no-key-entry",
            "client",
            f"{said}: the keystore holds {len(keystore.cert_entries)} certificate(s) but no private key entry, "
            "so the platform has no client certificate to send",
            JDK_FIXES["keystore-no-key-entry"],
        )
    if keystore is not None and not keystore.key_entries:
        return Verdict(
            code,
            "server",
            f"{said}: the keystore holds no key entry, so the platform sends no certificate",
            "import your key pair (`mtls-harness keystore KeyPair.p12 --out keystore.jks`)",
        )
    entry = evidence.key_entry
    names = evidence.ca_names
    if entry is not None and entry.chain and names and not reaches_ca_names(entry.chain, names):
        listed = ", ".join(name_of(n) for n in names)
        # The JDK matches the whole key-entry chain against the server's CA
        # names: a chain cut short of the named CA is never offered.
        incomplete = _incomplete_chain(
            entry,
            evidence,
            f"{said}: the server asks for a certificate under {listed};",
            ", so the JDK finds no matching certificate and sends none",
        )
        if incomplete is not None:
            return incomplete
        top = entry.chain[-1]
        maybe_gap = (
            f"; if {name_of(top.issuer)} is an intermediate CA under one of those, the key entry lacks it "
            "(import the full chain)"
            if not _is_self_signed(top) and evidence.client_cas is None
            else ""
        )
        return Verdict(
            code,
            "server",
            f"{said}: the server asks for a certificate issued by {listed}; your key entry {entry.alias!r} "
            f"({name_of(entry.chain[0])}) is issued by {name_of(entry.chain[0].issuer)}, "
            f"so the JDK sends no certificate{maybe_gap}",
            f"use a certificate issued by {listed}, or ask the server's operator to trust {_top_ca(entry.chain)}",
        )
    return Verdict(
        code,
        "server",
        f"{said}: the client sent no certificate",
        "check that the keystore holds the key entry for this server",
    )


def summary(code: str) -> str:
    return SUMMARIES.get(code, code)
