"""What ``keystore`` warns about in the key pair it is given, before the platform finds out live.

Each warning is one line, with the outcome code the platform would meet
(``client-cert-expired``, ``client-cert-wrong-usage``, ...), so ``check`` and
``keystore`` speak the same terms. None stops the keystore from being written:
the user may be preparing a store for a renewal, or for a server that accepts
more; they only must not find out on go-live day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from harness.diagnose import name_of, usage_problem, weak_key, weak_signature
from harness.errors import UsageError
from harness.stores import KeyEntry

__all__ = ["key_pair_warnings", "refuse_misnamed_output"]

_NAMES = {"jks": (".jks", ".keystore", ".ks"), "pkcs12": (".p12", ".pfx", ".pkcs12")}


def refuse_misnamed_output(out: Path, fmt: str, force: bool) -> None:
    """A PKCS#12 file named .jks (or JKS named .p12): other tools open by name. Refused unless --force."""
    suffix = out.suffix.lower()
    other = "jks" if fmt == "pkcs12" else "pkcs12"
    if suffix in _NAMES[other] and not force:
        raise UsageError(
            str(out),
            f"a {fmt.upper()} store would be written under a {suffix} name (tools that go by the name would "
            f"read it as {other.upper()})",
            f"name it {out.with_suffix(_NAMES[fmt][0]).name}, use --format {other}, or pass --force",
        )


def key_pair_warnings(entry: KeyEntry, alias: str, written_alias: str, now: dt.datetime) -> list[str]:
    leaf = entry.chain[0]
    who = name_of(leaf)
    warnings: list[str] = []
    if leaf.not_valid_after_utc < now:
        warnings.append(f"client-cert-expired: {who} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    elif leaf.not_valid_before_utc > now:
        warnings.append(
            f"client-cert-not-yet-valid: {who} is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    if usage := usage_problem(leaf):
        warnings.append(f"client-cert-wrong-usage: {who} {usage}: servers refuse it as a client certificate")
    for cert in entry.chain:
        if cert is not leaf and cert.subject == cert.issuer:
            continue
        if weak := weak_key(cert):
            warnings.append(
                f"weak-key: {name_of(cert)} has a {weak} key; current servers refuse under RSA-2048 / EC P-256"
            )
        if weak := weak_signature(cert):
            warnings.append(f"weak-signature: {name_of(cert)} is signed with {weak}; current servers refuse it")
    if len(entry.chain) == 1 and leaf.subject != leaf.issuer:
        warnings.append(
            f"client-chain-incomplete: the PKCS#12 file holds no CA certificate: the chain is {who} only, "
            f"without its issuer {name_of(leaf.issuer)}"
        )
    if written_alias != alias:
        warnings.append(f"alias: JKS keeps aliases in lower case: {alias!r} is written as {written_alias!r}")
    return warnings
