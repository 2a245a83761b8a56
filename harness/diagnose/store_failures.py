"""Stores the platform cannot use: what a store that would not open means, as the probe and as ``check`` read it.

The engines report facts (:class:`~harness.engines.StoreFailure`: which store,
what stood in the way, a PKCS#12's algorithms; the JDK's raw error); the
outcome code is decided here. A PKCS#12 whose algorithms this Java lacks
reads as a wrong password ("keystore password was incorrect"): with the
file's algorithms and the Java version that becomes keystore-format-unsupported.
"""

from __future__ import annotations

import contextlib

from harness.diagnose.certificates import name_of
from harness.diagnose.evidence import Evidence, Verdict
from harness.diagnose.raw_errors import TRUST_ANCHORS_EMPTY
from harness.engines import Outcome, StoreFailure
from harness.engines.jsse import StoreReading
from harness.knowledge import codes
from harness.knowledge.java import has_feature

__all__ = ["key_cert_mismatch", "store_failure_code", "store_reading_verdict", "store_verdict"]

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


def store_reading_verdict(reading: StoreReading) -> Verdict | None:
    """What the JDK's own reading of the stores (``JsseEngine.load_stores``) means for ``check``.

    None when the JDK is content; else the code, the error to show (the JDK's,
    or why this Java cannot read the store) as the explanation, and the fix.
    """
    code: str | None = None
    error = reading.error
    if reading.store_failure is not None:
        code, error = store_failure_code(reading.store_failure, reading.java_version, reading.error)
    elif TRUST_ANCHORS_EMPTY in (reading.error or "") or (reading.loaded and reading.trust_anchors == 0):
        code = "truststore-empty"
    elif reading.loaded and reading.key_aliases == ():
        code = "keystore-no-key-entry"
    elif reading.internal_error:
        code = "store-unreadable"
    if code is None:
        return None
    return Verdict(code, "client", error or "", codes.fix(code))


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
