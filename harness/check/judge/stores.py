"""The judge of the stores as Python reads them: the keystore, its key entries and certificates, the truststore.

Every finding about a store's content that needs no JDK and no server: it
does not open (and why), its type is not the one the platform expects, its key
entries are missing, several, locked or mismatched, its certificates expired,
weak, self-signed, mis-ordered or without their issuer; the truststore holds
keys or nothing. What the JDK itself says follows (``harness.check.judge.jdk``).
"""

from __future__ import annotations

import datetime as dt

from harness.check.report import Report
from harness.check.stores import PythonReading
from harness.diagnose import name_of, usage_problem, weak_key, weak_signature
from harness.stores import KeyEntry, StoreContents

__all__ = [
    "STORE_EXTENSIONS",
    "check_client_certificate",
    "check_key_entries",
    "check_keystore",
    "check_truststore",
    "drop",
    "judge_store",
]

# The file name extensions each store type goes by; another type's name misleads the tools that go by name.
STORE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "jks": (".jks", ".keystore", ".truststore", ".ks", ".ts"),
    "pkcs12": (".p12", ".pfx", ".pkcs12"),
    "jceks": (".jceks",),
}


def judge_store(report: Report, reading: PythonReading) -> StoreContents | None:
    """Python's reading of one store: why it does not open, or what is odd about its type; its contents."""
    role, path, password = reading.role, reading.path, reading.password
    check = role
    label = path.name
    key = f"{role}File"
    if reading.folder:
        report.add("store-unreadable", check, label, f"{path}: {key} names a folder, not a {role} file")
        return None
    exc = reading.error
    if exc is not None:
        if exc.code == f"{role}-password-wrong" and not password.reveal():
            origin = report.destination.origins.get(f"{role}Pass", "the destination JSON")
            report.add(
                exc.code,
                check,
                label,
                f"{path}: {role}Pass is empty (from {origin}), and the {role} does not open without a password",
            )
            return None
        report.add(exc.code, check, label, exc.problem(), store_file=label)
        return None
    contents = reading.contents
    assert contents is not None
    report.facts[role] = (
        f"{label}: {contents.type.upper()}, {len(contents.key_entries)} key entries, "
        f"{len(contents.cert_entries)} trusted certificates"
    )
    kind, suffix = contents.type, path.suffix.lower()
    if kind == "pem":
        report.add(
            "store-type-mismatch",
            check,
            label,
            "this is a PEM file; the JDK cannot open PEM as a keystore",
            severity="error",
            store_file=label,
        )
    elif kind == "jceks":
        report.add(
            "store-type-mismatch",
            check,
            label,
            'this is a JCEKS store: the platform opens stores as KeyStore.getInstance("JKS"), which reads JKS and '
            "PKCS#12 but not JCEKS (`Invalid keystore format` on Java 11, 17 and 21); convert it: keytool "
            f"-importkeystore -srckeystore {label} -srcstoretype JCEKS -destkeystore {path.stem}.jks "
            "-deststoretype JKS",
            severity="error",
            store_file=label,
        )
    elif suffix not in STORE_EXTENSIONS.get(kind, ()) and any(suffix in exts for exts in STORE_EXTENSIONS.values()):
        report.add(
            "store-type-mismatch",
            check,
            label,
            f"the file is {kind.upper()} but named {suffix}; the JDK opens it by content, other tools by name",
            severity="warning",
            store_file=label,
        )
    return contents


def check_keystore(report: Report, keystore: StoreContents, now: dt.datetime, expiring_days: int) -> None:
    label = keystore.path.name
    entries = keystore.key_entries
    if not entries:
        report.add(
            "client-cert-missing",
            "keystore",
            label,
            "the keystore holds no key entry: the platform would send no client certificate",
        )
        return
    # Several key entries: judged once, after the handshakes, by the JDK's own choice (judge/keychoice.py).
    for entry in entries:
        subject = f"{label} (entry {entry.alias!r})"
        if entry.locked:
            report.add(
                "key-password-mismatch",
                "keystore",
                subject,
                "keystorePass does not open this key entry: its key password differs (the JDK reports: Cannot "
                "recover key)",
                alias=entry.alias,
            )
        if not entry.chain:
            continue
        check_client_certificate(report, entry, subject, now, expiring_days)


def check_client_certificate(
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
            check,
            subject,
            f"the certificate {who} expired on {leaf.not_valid_after_utc:%Y-%m-%d}",
        )
    elif leaf.not_valid_before_utc > now:
        report.add(
            "client-cert-not-yet-valid",
            check,
            subject,
            f"the certificate {who} is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        )
    elif leaf.not_valid_after_utc < now + dt.timedelta(days=expiring_days):
        days = (leaf.not_valid_after_utc - now).days
        report.add(
            "expiring-soon",
            check,
            subject,
            f"the certificate {who} expires on {leaf.not_valid_after_utc:%Y-%m-%d}, in {days} days",
        )
    usage = usage_problem(leaf)
    if usage:
        report.add(
            "client-cert-wrong-usage",
            check,
            subject,
            f"the certificate {who} {usage}",
        )
    if leaf.subject == leaf.issuer:
        report.add(
            "self-signed-client-cert",
            check,
            subject,
            f"the certificate {who} is self-signed: the server must trust this very certificate",
        )
    elif len(entry.chain) == 1:
        report.add(
            "client-chain-incomplete",
            check,
            subject,
            f"the key entry holds only {who}, not its issuer {name_of(leaf.issuer)}: unless the server trusts "
            "that very issuer, it cannot link the certificate (and the JDK sends it only if the server names "
            "that issuer)",
        )
    for cert in entry.chain:
        if cert.subject == cert.issuer and cert is not leaf:
            continue  # a root's self-signature is never checked
        if weak := weak_key(cert):
            report.add(
                "weak-key",
                check,
                subject,
                f"{name_of(cert)} has a {weak} key; current servers refuse keys under RSA-2048 / EC P-256",
            )
        if weak := weak_signature(cert):
            report.add(
                "weak-signature",
                check,
                subject,
                f"{name_of(cert)} is signed with {weak}; current servers refuse it",
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
        "client-certificate",
        subject,
        f"the key entry's chain {what}",
    )


def check_truststore(report: Report, truststore: StoreContents, now: dt.datetime) -> None:
    label = truststore.path.name
    if truststore.key_entries:
        aliases = ", ".join(repr(e.alias) for e in truststore.key_entries)
        report.add(
            "truststore-has-private-key",
            "truststore",
            label,
            f"the truststore holds private key entries ({aliases}): a truststore needs only certificates, and "
            "the key is exposed wherever it is copied",
        )
    anchors = [*truststore.certificates, *(e.chain[0] for e in truststore.key_entries if e.chain)]
    if not anchors:
        report.add(
            "truststore-empty",
            "truststore",
            label,
            "the truststore holds no certificate: the platform trusts no server at all (Java: the "
            "trustAnchors parameter must be non-empty)",
        )
    for entry in truststore.cert_entries:
        if entry.cert.not_valid_after_utc < now:
            report.add(
                "truststore-cert-expired",
                "truststore",
                f"{label} (entry {entry.alias!r})",
                f"the trusted certificate {name_of(entry.cert)} expired on {entry.cert.not_valid_after_utc:%Y-%m-%d}",
                alias=entry.alias,
            )


def check_key_entries(report: Report, keystore: StoreContents) -> None:
    """JDK-independent: a keystore with no key entry, a key entry whose key does not match its certificate."""
    label = keystore.path.name
    if not keystore.key_entries and keystore.cert_entries:
        # The certificate imported without its key; an empty keystore stays client-cert-missing.
        drop(report, "client-cert-missing", "keystore")
        report.add(
            "keystore-no-key-entry",
            "keystore",
            label,
            f"the keystore holds no private key entry ({len(keystore.cert_entries)} trusted certificates only): "
            "the platform sends no client certificate",
        )
    for entry in keystore.key_entries:
        if entry.key is None or not entry.chain:
            continue
        if entry.key.public_key() != entry.chain[0].public_key():
            report.add(
                "key-cert-mismatch",
                "keystore",
                f"{label} (entry {entry.alias!r})",
                f"the private key of entry {entry.alias!r} does not belong to its certificate "
                f"{entry.chain[0].subject.rfc4514_string()}: the server cannot verify the handshake's signature",
            )


def drop(report: Report, code: str, check: str) -> bool:
    """Remove the static finding ``code`` of ``check`` (the JDK disagrees with it)."""
    before = len(report.findings)
    report.findings[:] = [f for f in report.findings if not (f.code == code and f.check == check)]
    return len(report.findings) != before
