"""The judge of what the truststore trusts for the server: its CA, or only its own certificate.

A truststore whose one anchor for the server is the server's leaf works until
the server renews that certificate; then every handshake fails. Trusting the
CA that issued it (or any CA of the chain) survives the renewal.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

from harness.check.report import Report
from harness.diagnose import name_of
from harness.stores import StoreContents
from harness.wire.inspect import ServerView

__all__ = ["check_leaf_pin", "holds_keystore_certificates", "truststore_url"]


def holds_keystore_certificates(keystore: StoreContents | None, truststore: StoreContents | None) -> bool:
    """The truststore trusts a key entry's own certificate: built with ``truststore --add-keystore``."""
    if keystore is None or truststore is None:
        return False
    trusted = {cert.fingerprint(hashes.SHA256()) for cert in truststore.certificates}
    return any(entry.chain and entry.chain[0].fingerprint(hashes.SHA256()) in trusted for entry in keystore.key_entries)


def truststore_url(report: Report, view: ServerView) -> str:
    """The URL for the fix's ``mtls-harness truststore`` command, or "" (no command) when the server sends
    only its own certificate, CA-issued: the command then stops and asks for --ca-file, which the fix's
    prose explains."""
    lone_leaf = len(view.chain) == 1 and view.chain[0].issuer != view.chain[0].subject
    return "" if lone_leaf or report.destination.url is None else report.destination.url


def check_leaf_pin(report: Report, view: ServerView, truststore: StoreContents | None) -> None:
    """``truststore-pins-leaf`` when the server's leaf is a trust anchor and no CA of its chain is."""
    if truststore is None or not view.chain:
        return
    leaf = view.chain[0]
    anchors = list(truststore.certificates)
    fingerprint = leaf.fingerprint(hashes.SHA256())
    if not any(a.fingerprint(hashes.SHA256()) == fingerprint for a in anchors):
        return
    chain_issuers = {cert.issuer for cert in view.chain}
    if any(a.fingerprint(hashes.SHA256()) != fingerprint and a.subject in chain_issuers for a in anchors):
        return
    report.add(
        "truststore-pins-leaf",
        "truststore",
        truststore.path.name,
        f"the truststore trusts the server's own certificate {name_of(leaf)} (valid until "
        f"{leaf.not_valid_after_utc:%Y-%m-%d}) and none of the CAs of its chain (issuer "
        f"{name_of(leaf.issuer)}): it breaks when the server renews its certificate",
        url=truststore_url(report, view),
    )
