"""The judge of the stores as each JDK read them: the JDKs' store verdicts replace Python's.

``harness.check.judge.jdk`` calls these per run: every JDK's reading of each store
becomes a verdict (``harness.diagnose.store_failures.java_store_verdict``); Python's
finding with the same code stays, confirmed and naming the versions that agree;
Python's that no JDK confirms goes; a JDK's own verdict is added per version. A store
only Python could not read gets an info line and the policy findings on the
certificates Java returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from cryptography import x509

from harness.check.judge.stores import check_client_certificate
from harness.check.report import Report
from harness.check.stores import PythonReading
from harness.destination import Destination
from harness.diagnose import name_of
from harness.diagnose.store_failures import StoreVerdict, java_store_verdict
from harness.engines.jsse_stores import JavaCert, JavaStore, StoreReading
from harness.knowledge.java import version_order
from harness.stores import KeyEntry
from harness.stores.entries import parsed

__all__ = ["facts_line", "first_opened", "python_could_not", "take_the_jdks_word", "verdicts_of"]


# Python's verdicts on whether a store opens and what it holds: a JDK that read the store replaces them.
_STORE_VERDICTS = {
    "keystore": frozenset(
        {
            "store-unreadable",
            "keystore-password-wrong",
            "key-password-mismatch",
            "keystore-no-key-entry",
            "client-cert-missing",
            "keystore-format-unsupported",
        }
    ),
    "truststore": frozenset(
        {"store-unreadable", "truststore-password-wrong", "truststore-empty", "keystore-format-unsupported"}
    ),
}


def take_the_jdks_word(report: Report, role: str, path: Path, said: Sequence[tuple[str, StoreVerdict | None]]) -> None:
    """The store verdicts of ``role`` become the JDKs': Python's finding stays where a JDK reports the same
    code (confirmed, naming the versions), goes where none does; a JDK's other verdict is added per version."""
    store_codes = _STORE_VERDICTS[role]
    kept: set[str] = set()
    findings = []
    for finding in report.findings:
        verdict_like = finding.check == role and (
            finding.code in store_codes or (finding.code == "store-type-mismatch" and finding.severity == "error")
        )
        if not verdict_like:
            findings.append(finding)
            continue
        agree = sorted(
            (version for version, verdict in said if verdict is not None and verdict.code == finding.code),
            key=version_order,
        )  # oldest first, whatever order --jdk gave
        if agree:
            kept.add(finding.code)
            verb = "agrees" if len(agree) == 1 else "agree"
            findings.append(replace(finding, message=f"{finding.message} (Java {', '.join(agree)} {verb})"))
    report.findings[:] = findings
    for version, verdict in said:
        if verdict is None or verdict.code in kept:
            continue
        fields = {"alias": verdict.alias} if verdict.alias else {}
        fields["store_file"] = path.name
        if verdict.code == "store-type-mismatch":
            # Python's warning on the same file (a name that does not match its type) is superseded.
            report.findings[:] = [
                f
                for f in report.findings
                if not (f.code == verdict.code and f.check == role and f.subject == path.name)
            ]
        entry = f" (entry {verdict.alias!r})" if verdict.alias else ""
        subject = f"{path.name}{entry} on Java {version}"
        report.add(verdict.code, role, subject, verdict.message, severity=verdict.severity, **fields)


def verdicts_of(
    destination: Destination, reading: StoreReading, readings: Sequence[StoreReading]
) -> list[StoreVerdict]:
    """What this JDK's reading of each store means (the other JDKs of the run tell whether a PKCS#12
    it calls password-protected opens elsewhere with the same password)."""
    out = []
    for role, path in (("keystore", destination.keystore), ("truststore", destination.truststore)):
        store = getattr(reading, role)
        if store is None or store.refused is not None:
            continue  # not given to the JVM: Python's own finding says why
        opened_by = [
            other.java_version
            for other in readings
            if other is not reading and (seen := getattr(other, role)) is not None and seen.opened
        ]
        found = java_store_verdict(store, reading.java_version, path.name, opened_by)
        if found is not None:
            out.append(found)
    return out


def first_opened(readings: Sequence[StoreReading], role: str) -> JavaStore | None:
    for reading in readings:
        store = getattr(reading, role)
        if store is not None and store.opened:
            return cast("JavaStore", store)
    return None


def python_could_not(report: Report, python: PythonReading, store: JavaStore, expiring_days: int) -> None:
    """Python failed on a store a JDK opened: say so, and judge the certificates Java returned."""
    assert python.error is not None
    label = python.path.name
    report.add(
        "store-read-by-jdk-only",
        python.role,
        label,
        f"Python could not read it ({python.error.problem()}); the JDK opened it: the JDK's verdict stands",
        store_file=label,
    )
    now = report.at
    for entry in store.key_entries:
        chain = _certificates(entry.chain)
        if python.role == "keystore" and chain:
            check_client_certificate(
                report, KeyEntry(entry.alias, chain), f"{label} (entry {entry.alias!r})", now, expiring_days
            )
    if python.role == "truststore":
        for entry in store.entries:
            for cert in _certificates(entry.chain[:1]) if entry.kind == "cert" else ():
                if cert.not_valid_after_utc < now:
                    report.add(
                        "truststore-cert-expired",
                        "truststore",
                        f"{label} (entry {entry.alias!r})",
                        f"the trusted certificate {name_of(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
                        alias=entry.alias,
                    )


def _certificates(chain: Sequence[JavaCert]) -> tuple[x509.Certificate, ...]:
    """The certificates Java returned, as cryptography parses them (those it cannot are left out)."""
    out = []
    for cert in chain:
        try:
            out.append(parsed(x509.load_der_x509_certificate(cert.der)))
        except ValueError:
            continue
    return tuple(out)


def facts_line(reading: StoreReading, verdicts: Sequence[StoreVerdict]) -> str:
    """What this JDK saw: what the stores hold, or per store its true type and what stopped it."""
    if reading.loaded and not verdicts:
        keys = "?" if reading.key_aliases is None else len(reading.key_aliases)
        anchors = "?" if reading.trust_anchors is None else reading.trust_anchors
        return f"opened: {keys} key entries, {anchors} trust anchors"
    parts = []
    for store in (reading.keystore, reading.truststore):
        if store is None:
            continue
        verdict = next((v for v in verdicts if v.role == store.role), None)
        if store.refused is not None:
            parts.append(f"{store.role} not given to the JVM")
        elif store.opened:
            held = (
                f"{len(store.key_entries)} key entries"
                if store.role == "keystore"
                else f"{'?' if store.trust_anchors is None else store.trust_anchors} trust anchors"
            )
            parts.append(f"{store.role} {store.true_type} opened: {held}" + (f" ({verdict.code})" if verdict else ""))
        else:
            parts.append(f"{store.role} {store.true_type}: {verdict.code if verdict else 'failed'}")
    return "; ".join(parts) or f"{'loaded' if reading.loaded else 'failed'} at the {reading.stage}"
