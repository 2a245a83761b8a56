"""Stores the platform cannot use: what a store that would not open means, as the probe and as ``check`` read it.

The engines report facts (:class:`~harness.engines.StoreFailure`: which store,
what stood in the way, a PKCS#12's algorithms; the JDK's raw error); the
outcome code is decided here. A PKCS#12 whose algorithms this Java lacks
reads as a wrong password ("keystore password was incorrect"): with the
file's algorithms and the Java version that becomes keystore-format-unsupported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.diagnose.certificates import name_of
from harness.diagnose.evidence import Evidence, Verdict
from harness.diagnose.raw_errors import TRUST_ANCHORS_EMPTY
from harness.engines import Outcome, StoreFailure
from harness.engines.jsse import JavaStore, StoreReading
from harness.knowledge import codes
from harness.knowledge.codes import Severity
from harness.knowledge.java import has_feature

__all__ = [
    "StoreVerdict",
    "java_store_verdict",
    "key_cert_mismatch",
    "store_failure_code",
    "store_reading_verdict",
    "store_verdict",
]

_CODES = {
    "unreadable": "store-unreadable",
    "key-password": "key-password-mismatch",
    "several-key-entries": "keystore-ambiguous",
}


def store_failure_code(failure: StoreFailure, java_version: str | None, error: str | None) -> tuple[str, str | None]:
    """The outcome code of a store that would not open, and the error to show: the stack's own words, or for
    a PKCS#12 this Java cannot read, why (with the words it used instead)."""
    if failure.problem != "password":
        return _CODES[failure.problem], error
    if _unreadable_pkcs12(failure, java_version):
        assert failure.pkcs12 is not None
        said = "; ".join((error or "").split("\n")) if error else ""
        return "keystore-format-unsupported", (
            f"Java {java_version} cannot read this {failure.store}'s PKCS#12 algorithms "
            f"({failure.pkcs12.describe()}); it reports: {said}"
        )
    return f"{failure.store}-password-wrong", error


def _unreadable_pkcs12(failure: StoreFailure, java_version: str | None) -> bool:
    """A PKCS#12 with the modern algorithms (PBES2, AES) on a Java without them (before 8u301 / 11.0.12 / 12)."""
    if failure.pkcs12 is None or not java_version or not failure.pkcs12.modern:
        return False
    with contextlib.suppress(ValueError):  # a version the rules cannot place: no claim
        return not has_feature("pkcs12-pbes2", java_version)
    return False


def store_verdict(outcome: Outcome, evidence: Evidence) -> Verdict | None:
    """The verdict when the client could not use a store, as the engine reported it; None otherwise."""
    failure = outcome.store_failure
    if failure is None:
        if TRUST_ANCHORS_EMPTY in (outcome.error or ""):
            return Verdict("truststore-empty", "client", outcome.error or "", evidence.fix("truststore-empty"))
        return None
    code, error = store_failure_code(failure, outcome.java_version, outcome.error)
    error = error or ""
    if code == "key-password-mismatch":
        said = f"the key entry does not open with keystorePass: {error}"
        return Verdict(code, "client", said, evidence.fix(code))
    return Verdict(code, "client", error, evidence.fix(code))


@dataclass(frozen=True)
class StoreVerdict:
    """What one JDK's reading of one store means: a code, a message naming what Java saw, its severity."""

    role: Literal["keystore", "truststore"]
    code: str
    message: str
    severity: Severity | None = None  # None: the registry's first
    alias: str | None = None


# The types the platform's KeyStore.getInstance("JKS") cannot read, and what each is.
_FOREIGN_TYPES = {
    "JCEKS": "a JCEKS store",
    "BKS": "a BouncyCastle BKS store",
    "UBER": "a BouncyCastle UBER store",
    "BCFKS": "a BouncyCastle BCFKS (FIPS) store",
    "PEM": "a PEM file",
}


def java_store_verdict(
    store: JavaStore, java_version: str, file: str, opened_by: Sequence[str] = ()
) -> StoreVerdict | None:
    """What Java ``java_version``'s reading of ``store`` (named ``file``) means; None when it is content.

    ``opened_by``: the other Java versions in this run that opened the same file with the same
    password, so a "password was incorrect" here is this JDK lacking an algorithm, not the password.
    """
    role = store.role
    if store.refused is not None:
        return StoreVerdict(role, "store-unreadable", f"{role}File {store.refused}: not given to the JVM")
    lacks = _lacks(store, java_version)
    load = store.failure("load")
    said = _last(load.error) if load is not None else ""
    if load is not None:
        kind = _FOREIGN_TYPES.get(store.true_type)
        if kind is not None:
            return StoreVerdict(
                role, "store-type-mismatch", _foreign(kind, store.true_type, file, java_version, said), "error"
            )
        if store.true_type == "unknown":
            return StoreVerdict(
                role,
                "store-unreadable",
                f"not a store Java reads (neither JKS nor PKCS#12): Java {java_version} reports: {said}",
            )
        if load.why == "algorithm" or lacks or (store.true_type == "PKCS12" and load.why == "format"):
            return StoreVerdict(
                role, "keystore-format-unsupported", _unsupported(store, java_version, lacks, said, opened_by)
            )
        if load.why == "password":
            if opened_by:
                return StoreVerdict(
                    role, "keystore-format-unsupported", _unsupported(store, java_version, lacks, said, opened_by)
                )
            return StoreVerdict(role, f"{role}-password-wrong", f"Java {java_version} reports: {said}")
        return StoreVerdict(role, "store-unreadable", f"Java {java_version} reports: {said}")
    if role == "keystore":
        return _keystore_verdict(store, java_version, lacks, opened_by)
    return _truststore_verdict(store, java_version)


def _keystore_verdict(
    store: JavaStore, java_version: str, lacks: tuple[str, ...], opened_by: Sequence[str]
) -> StoreVerdict | None:
    for entry in store.key_entries:
        if entry.key_opened is False:
            said = _last(entry.key_error)
            if entry.key_why == "algorithm" or lacks:
                return StoreVerdict(
                    "keystore", "keystore-format-unsupported", _unsupported(store, java_version, lacks, said, opened_by)
                )
            return StoreVerdict(
                "keystore",
                "key-password-mismatch",
                f"Java {java_version} opens the keystore but not key entry {entry.alias!r} with keystorePass: "
                f"its key password differs ({said})",
                alias=entry.alias,
            )
    manager = store.failure("keyManager")
    if manager is not None:
        code = "key-password-mismatch" if manager.why == "password" else "store-unreadable"
        return StoreVerdict(
            "keystore", code, f"Java {java_version}'s KeyManagerFactory SunX509 fails: {_last(manager.error)}"
        )
    if not store.key_entries:
        return StoreVerdict("keystore", "keystore-no-key-entry", _no_key_entry(store, java_version))
    return None


def _truststore_verdict(store: JavaStore, java_version: str) -> StoreVerdict | None:
    manager = store.failure("trustManager")
    if store.trust_anchors == 0 or (manager is not None and TRUST_ANCHORS_EMPTY in manager.error):
        certs = sum(1 for e in store.entries if e.kind == "cert")
        return StoreVerdict(
            "truststore",
            "truststore-empty",
            f"Java {java_version} opens the truststore and finds 0 trust anchors ({len(store.entries)} entries, "
            f"{certs} trusted-certificate entries): certificates without Java's trusted-certificate attribute "
            "(a PKCS#12 made by OpenSSL) trust nothing (on the platform: the trustAnchors parameter must be "
            "non-empty)",
        )
    if manager is not None:
        return StoreVerdict(
            "truststore",
            "store-unreadable",
            f"Java {java_version}'s TrustManagerFactory PKIX fails: {_last(manager.error)}",
        )
    return None


def _no_key_entry(store: JavaStore, java_version: str) -> str:
    kinds = [e.kind for e in store.entries]
    text = (
        f"Java {java_version} opens the keystore and finds 0 key entries ({kinds.count('cert')} trusted-certificate "
        f"entries, {kinds.count('secret')} secret-key entries): the platform sends no client certificate"
    )
    hidden = [e.alias for e in store.entries if e.kind == "none"]
    if hidden:
        names = ", ".join(repr(a) for a in hidden)
        text += (
            f"; Java lists the aliases {names} but finds no entry under them (JKS looks aliases up in lower case: "
            "an upper-case alias written by another tool cannot be found); re-import the key with keytool"
        )
    return text


def _lacks(store: JavaStore, java_version: str) -> tuple[str, ...]:
    if store.pkcs12 is None:
        return ()
    try:
        return store.pkcs12.missing_in(java_version)
    except ValueError:  # a version the rules cannot place: no claim
        return ()


def _unsupported(
    store: JavaStore, java_version: str, lacks: tuple[str, ...], said: str, opened_by: Sequence[str]
) -> str:
    what = ", ".join(lacks) if lacks else store.pkcs12.describe() if store.pkcs12 is not None else "its algorithms"
    text = f"Java {java_version} cannot read this {store.role}'s PKCS#12 algorithms ({what}); it reports: {said}"
    if opened_by:
        text += f"; Java {', '.join(opened_by)} open it with the same password"
    return text


def _foreign(kind: str, true_type: str, file: str, java_version: str, said: str) -> str:
    if true_type == "PEM":
        return f"this is {kind}; the JDK cannot open PEM as a keystore (Java {java_version} reports: {said})"
    provider = (
        " -providerpath bcprov.jar -provider org.bouncycastle.jce.provider.BouncyCastleProvider"
        if true_type != "JCEKS"
        else ""
    )
    return (
        f'this is {kind}: the platform opens stores as KeyStore.getInstance("JKS"), which reads JKS and PKCS#12 '
        f"only (Java {java_version} reports: {said}); convert it: keytool -importkeystore -srckeystore {file} "
        f"-srcstoretype {true_type}{provider} -destkeystore {Path(file).stem}.jks -deststoretype JKS"
    )


def _last(error: str | None) -> str:
    """The innermost cause of an exception chain (one per line), which names what went wrong."""
    lines = [line for line in (error or "").splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else f"{lines[0]} (cause: {lines[-1]})" if lines else ""


def store_reading_verdict(reading: StoreReading) -> Verdict | None:
    """What the JDK's own reading of the stores (``JsseEngine.load_stores``) means, as one verdict:
    the keystore's, else the truststore's (``check`` takes each store's: :func:`java_store_verdict`).

    None when the JDK is content; else the code, the JDK's words or why it cannot read the store, and the fix.
    """
    for store in (reading.keystore, reading.truststore):
        if store is None:
            continue
        found = java_store_verdict(store, reading.java_version, store.role)
        if found is not None:
            return Verdict(found.code, "client", found.message, codes.fix(found.code))
    if reading.internal_error:
        return Verdict("store-unreadable", "client", reading.error or "", codes.fix("store-unreadable"))
    return None


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
        evidence.fix("key-cert-mismatch"),
    )
