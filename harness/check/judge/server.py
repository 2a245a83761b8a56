"""The judge of the one look at the server: could it be reached, its chain, the client CA names it asks for.

The server's chain is verified against the destination's truststore as the
platform will (expired, soon expiring, the wrong name, an issuer the truststore
does not hold); its CertificateRequest's CA names against the keystore's key
entries, as the JDK chooses the certificate to send.
"""

from __future__ import annotations

import datetime as dt

from harness.check.judge.pins import truststore_url
from harness.check.report import Report
from harness.check.server import ServerEvidence
from harness.diagnose import name_of, reaches_ca_names, verify_server_chain
from harness.stores import StoreContents
from harness.wire.inspect import ServerView

__all__ = ["check_ca_names", "check_server_chain", "judge_unreachable"]


def judge_unreachable(report: Report, url: str, server: ServerEvidence) -> None:
    """The server could not be looked at: an http port, or no server there."""
    where = f"{server.host}:{server.port}" + ("" if server.port_given else " (no port in the URL: https's default 443)")
    if server.plain_http:
        report.add(
            "connection-failed",
            "server-chain",
            url,
            f"{where} answers in plain HTTP, not TLS: this is an http port",
        )
    else:
        report.add(
            "connection-failed",
            "server-chain",
            url,
            f"cannot reach the server at {where}: {server.failure}",
        )


def check_server_chain(
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
            "server-chain",
            subject,
            f"the server sends {name_of(expired[0])}, which expired on {expired[0].not_valid_after_utc:%Y-%m-%d}",
        )
    elif soon := [c for c in view.chain if c.not_valid_after_utc < now + dt.timedelta(days=expiring_days)]:
        first = min(soon, key=lambda c: c.not_valid_after_utc)
        report.add(
            "expiring-soon",
            "server-chain",
            subject,
            f"the server sends {name_of(first)}, which expires on {first.not_valid_after_utc:%Y-%m-%d}, in "
            f"{(first.not_valid_after_utc - now).days} days",
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
            "server-chain",
            subject,
            f"the server certificate {name_of(leaf)} does not name {view.host} ({problem})",
            host=view.host,
        )
        return
    top = view.chain[-1]
    missing = top.issuer if top.subject != top.issuer else top.subject
    report.add(
        "server-cert-untrusted",
        "server-chain",
        subject,
        f"the truststore cannot verify the server's chain ({problem}): the server sends {len(view.chain)} "
        f"certificate(s) up to {name_of(top)}; the truststore trusts "
        f"{', '.join(name_of(c) for c in anchors) or 'nothing'}",
        issuer=name_of(missing),
        url=truststore_url(report, view),
    )


def check_ca_names(report: Report, view: ServerView, keystore: StoreContents | None) -> None:
    subject = f"server {view.host}:{view.port}"
    if view.ca_names is None:
        report.add(
            "client-cert-not-requested",
            "client-ca-names",
            subject,
            "the server did not ask for a client certificate in the handshake (it may ask later, per path, or "
            "not use MTLS at all)",
        )
        return
    if not view.ca_names:
        report.add(
            "no-ca-names",
            "client-ca-names",
            subject,
            "the server lists no acceptable CA names: the JDK sends its key entry whatever its issuer",
        )
        return
    listed = ", ".join(name_of(n) for n in view.ca_names)
    report.facts["client CA names"] = listed
    if keystore is None:
        return
    # Every key entry: the JDK's key manager offers whichever one the names reach, so one that misses them
    # is no finding while another reaches them (judge/keychoice.py says which one Java sends).
    entries = [entry for entry in keystore.key_entries if entry.chain]
    if not entries or any(reaches_ca_names(entry.chain, view.ca_names) for entry in entries):
        return
    missed = "; ".join(
        f"{entry.alias!r}: {name_of(entry.chain[0])}, up to {name_of(entry.chain[-1])}" for entry in entries
    )
    one = len(entries) == 1
    report.add(
        "client-cert-missing",
        "client-ca-names",
        f"{keystore.path.name} (entry {entries[0].alias!r})" if one else keystore.path.name,
        f"the server accepts certificates issued by {listed}; "
        + ("the key entry's chain" if one else "the chains of the key entries")
        + f" ({missed}) reach{'es' if one else ''} none of them, so the JDK will send no "
        "certificate",
    )
