"""``check``'s judge: all the evidence in, the findings out — the one place they get codes and severities.

The stages before it only look (``stores``, ``jdk``, ``server``, ``probes``);
this package weighs what they saw, in the order the report reads: the
destination JSON's key names (``destination``), the stores
as Python reads them (``stores``), as the JDKs read them (``jdk``), the server
(``server``), the live handshakes (``handshake``, with ``harness.diagnose``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from cryptography import x509

from harness.check.jdk import JdkEvidence
from harness.check.judge.causes import fold_causes
from harness.check.judge.destination import judge_destination
from harness.check.judge.handshake import condense_error, judge_handshakes
from harness.check.judge.jdk import judge_jdks, judge_missing_versions
from harness.check.judge.keychoice import judge_key_choice
from harness.check.judge.pins import check_leaf_pin, holds_keystore_certificates
from harness.check.judge.server import check_ca_names, check_server_chain, judge_unreachable
from harness.check.judge.stores import check_key_entries, check_keystore, check_truststore, judge_store
from harness.check.keychoice import KeyChoice
from harness.check.probes import EngineResult
from harness.check.report import Report
from harness.check.server import ServerEvidence
from harness.check.stores import PythonReading
from harness.destination import Destination
from harness.diagnose import Evidence, name_of

__all__ = ["condense_error", "judge", "raw_error_line"]


def judge(
    destination: Destination,
    stores: tuple[PythonReading, PythonReading],
    jdks: JdkEvidence,
    server: ServerEvidence | None,
    results: Sequence[EngineResult],
    *,
    at: dt.datetime,
    at_given: bool,
    expiring_days: int,
    engine_choice: str,
    pinned: bool,
    key_choices: Sequence[KeyChoice] = (),
) -> Report:
    """The report of one destination. ``server`` None: no URL; ``pinned``: --client-tls was given;
    ``key_choices``: each JDK's answer to which key entry it sends (``harness.check.keychoice``)."""
    report = Report(destination, at=at, at_given=at_given, engine_choice=engine_choice)
    judge_destination(report, destination)
    keystore = judge_store(report, stores[0])
    if keystore is not None:
        check_keystore(report, keystore, at, expiring_days)
        check_key_entries(report, keystore)
        report.client_chains = {entry.alias: tuple(entry.chain) for entry in keystore.key_entries}
        for entry in keystore.key_entries:
            _note_expiry(report, entry.chain, f"client certificate chain ({entry.alias!r})")
    truststore = judge_store(report, stores[1])
    report.truststore_adds_keystore = holds_keystore_certificates(keystore, truststore)  # its fixes keep that
    if truststore is not None:
        check_truststore(report, truststore, at)
    judge_jdks(report, destination, jdks, keystore, stores, expiring_days)
    if destination.url is None or server is None:
        report.facts["url"] = "none given: live checks skipped (pass --url)"
        judge_key_choice(report, destination, keystore, jdks, None, key_choices)
        fold_causes(report)
        return report
    view = server.view
    if view is None:
        judge_unreachable(report, destination.url, server)
        judge_missing_versions(report, (), jdks.missing, server.asks, server.accepted, pinned=pinned)
        judge_key_choice(report, destination, keystore, jdks, None, key_choices)
        fold_causes(report)
        return report
    _note_expiry(report, view.chain, "server chain")
    report.server_chain, report.ca_names = tuple(view.chain), view.ca_names
    check_server_chain(report, view, truststore, at, expiring_days)
    check_leaf_pin(report, view, truststore)
    check_ca_names(report, view, keystore)
    judge_missing_versions(report, view.chain, jdks.missing, server.asks, server.accepted, pinned=pinned)
    evidence = Evidence(
        keystore=keystore,
        truststore=truststore,
        server_chain=view.chain,
        ca_names=view.ca_names or (),
        host=view.host,
        url=destination.url,
    )
    judge_handshakes(report, results, evidence)
    report.raw_errors = {r.engine: line for r in results if r.outcome and (line := raw_error_line(r.outcome.error))}
    judge_key_choice(report, destination, keystore, jdks, view, key_choices)
    fold_causes(report)  # one finding per cause, once every stage judged
    return report


# A cause in the JDK's chain: ``javax.net.ssl.SSLHandshakeException: ...``, one per line (MtlsProbe).
_CAUSE = re.compile(r"^(?:[a-z_$][\w$]*\.)*[A-Z][\w$]*(?:Exception|Error)\b")
# CPython's source location in OpenSSL errors, "(_ssl.c:1006)": the interpreter's, not the handshake's.
_SOURCE_LOCATION = re.compile(r"\s*\(_ssl\.c:\d+\)")
RAW_LIMIT = 300


def raw_error_line(error: str | None) -> str:
    """The exception an engine saw, as the platform would log it, on one line of at most ~300 characters.

    The first line of each cause, in order, joined by `` / caused by: ``; a cause whose message the line
    already holds (the JDK repeats ``PKIX path building failed: ...`` down the chain) is left out. Not
    escaped here: every renderer shows it with ``harness.text.shown``.
    """
    if not error:
        return ""
    lines = [_SOURCE_LOCATION.sub("", line).strip() for line in error.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    parts = [lines[0]]
    for line in lines[1:]:
        if not _CAUSE.match(line):
            continue  # a message's own further lines: the first line of each cause is enough
        message = line.split(": ", 1)[1] if ": " in line else line
        if message not in " ".join(parts):
            parts.append(line)
    text = " / caused by: ".join(parts)
    return text if len(text) <= RAW_LIMIT else text[: RAW_LIMIT - 1] + "…"


def _note_expiry(report: Report, chain: Sequence[x509.Certificate], side: str) -> None:
    for cert in chain:
        days = (cert.not_valid_after_utc - report.at).days
        if report.first_expiry is None or days < report.first_expiry[0]:
            report.first_expiry = (days, f"{name_of(cert)} ({side})")
            report.first_expiry_at = cert.not_valid_after_utc
