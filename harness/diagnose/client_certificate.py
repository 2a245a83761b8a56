"""The client certificate at fault, named: which one of the key entry's chain, its issuer, what the server trusts.

The server names a failure (an alert, a verify code), never the certificate:
these find which one it is, in the key entry's chain or above it, so that the
fix goes to the right CA; and they tell a chain gap from an untrusted CA.
"""

from __future__ import annotations

from harness.diagnose.certificates import (
    is_self_signed,
    name_of,
    reaches_ca_names,
    top_ca,
    usage_problem,
    weak_key,
    weak_signature,
)
from harness.diagnose.evidence import Evidence, Verdict, chain_faults, path_to_trusted, with_ancestors
from harness.stores import KeyEntry

__all__ = ["client_cert_verdict", "incomplete_chain", "missing_certificate", "untrusted"]


def client_cert_verdict(code: str, evidence: Evidence, said: str) -> Verdict:
    """Name the client certificate, its issuer and what the server trusts; tell chain gaps from untrusted CAs."""
    keystore = evidence.keystore
    entries = keystore.key_entries if keystore else ()
    if code == "client-cert-missing":
        return missing_certificate(evidence, said)
    if len(entries) > 1:
        return Verdict(
            "keystore-ambiguous",
            "server",
            f"{said}; the keystore holds {len(entries)} key entries ({', '.join(e.alias for e in entries)}) "
            "and the platform presented one the server does not accept",
            evidence.fix("keystore-ambiguous"),
        )
    entry = evidence.key_entry
    if entry is None or not entry.chain:
        return Verdict(code, "server", said, evidence.fix(code))
    leaf = entry.chain[0]
    path = with_ancestors(entry.chain, evidence)
    tests = chain_faults(leaf, evidence.now)
    if code not in tests:
        return untrusted(evidence, entry, said)
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
            f"{said}: {who} expired on {culprit.not_valid_after_utc:%Y-%m-%d}"
            + ("" if culprit is leaf else f": the CA {name_of(culprit)} must be renewed first"),
            evidence.fix(code),
        )
    if code == "client-cert-not-yet-valid":
        return Verdict(
            code,
            "server",
            f"{said}: {who} is valid only from {culprit.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            evidence.fix(code),
        )
    if code == "client-cert-wrong-usage":
        return Verdict(
            code,
            "server",
            f"{said}: {who} {usage_problem(leaf) or 'is not allowed for client authentication'}",
            evidence.fix(code),
        )
    if code == "weak-key":
        return Verdict(
            code,
            "server",
            f"{said}: {who} has an {weak_key(culprit) or 'undersized'} key, below what the server accepts",
            evidence.fix(code),
        )
    return Verdict(
        code,
        "server",
        f"{said}: {who} is signed with {weak_signature(culprit) or 'a weak hash'}",
        evidence.fix(code),
    )


def untrusted(evidence: Evidence, entry: KeyEntry, said: str) -> Verdict:
    leaf, top = entry.chain[0], entry.chain[-1]
    cas = evidence.client_cas
    trusted_names = [name_of(c) for c in cas] if cas else [name_of(n) for n in evidence.ca_names or ()]
    trusted = ", ".join(trusted_names) or "(unknown CAs)"
    incomplete = incomplete_chain(entry, evidence, f"{said}: the server trusts {trusted}, but")
    if incomplete is not None:
        return incomplete
    # Without the issuer's certificate nobody can tell whether it is a root the
    # server does not trust, or an intermediate the key entry lacks.
    maybe_gap = (
        f"; if {name_of(top.issuer)} is an intermediate CA under one of those, the key entry lacks it "
        "(import the full chain)"
        if not is_self_signed(top) and cas is None
        else ""
    )
    return Verdict(
        "client-cert-untrusted",
        "server",
        f"{said}: the server trusts {trusted} but your certificate {name_of(leaf)} is issued by {name_of(leaf.issuer)}"
        + (f" (chain up to {name_of(top)})" if len(entry.chain) > 1 else "")
        + maybe_gap,
        evidence.fix("client-cert-untrusted", issuer=top_ca(entry.chain), trusted_cas=trusted),
    )


def incomplete_chain(entry: KeyEntry, evidence: Evidence, said: str, consequence: str = "") -> Verdict | None:
    """client-chain-incomplete when the chain stops below a root and known intermediates lead to a trusted CA."""
    top = entry.chain[-1]
    missing = [] if is_self_signed(top) else path_to_trusted(top, evidence)
    if not missing:
        return None
    between = ", ".join(name_of(c) for c in missing)
    return Verdict(
        "client-chain-incomplete",
        "server",
        f"{said} the key entry {entry.alias!r} holds {len(entry.chain)} certificate(s) ending at {name_of(top)}, "
        f"without the intermediate {between}{consequence}",
        evidence.fix("client-chain-incomplete"),
    )


def missing_certificate(evidence: Evidence, said: str) -> Verdict:
    keystore = evidence.keystore
    code = "client-cert-missing"
    if keystore is not None and not keystore.key_entries and keystore.cert_entries:
        # The certificate was imported without its private key (issue 11).
        return Verdict(
            "keystore-no-key-entry",
            "client",
            f"{said}: the keystore holds {len(keystore.cert_entries)} certificate(s) but no private key entry, "
            "so the platform has no client certificate to send",
            evidence.fix("keystore-no-key-entry"),
        )
    if keystore is not None and not keystore.key_entries:
        return Verdict(
            code,
            "server",
            f"{said}: the keystore holds no key entry, so the platform sends no certificate",
            evidence.fix(code),
        )
    entry = evidence.key_entry
    names = evidence.ca_names
    if entry is not None and entry.chain and names and not reaches_ca_names(entry.chain, names):
        listed = ", ".join(name_of(n) for n in names)
        # The JDK matches the whole key-entry chain against the server's CA
        # names: a chain cut short of the named CA is never offered.
        incomplete = incomplete_chain(
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
            if not is_self_signed(top) and evidence.client_cas is None
            else ""
        )
        return Verdict(
            code,
            "server",
            f"{said}: the server asks for a certificate issued by {listed}; your key entry {entry.alias!r} "
            f"({name_of(entry.chain[0])}) is issued by {name_of(entry.chain[0].issuer)}, "
            f"so the JDK sends no certificate{maybe_gap}",
            evidence.fix(code, issuer=top_ca(entry.chain)),
        )
    return Verdict(
        code,
        "server",
        f"{said}: the client sent no certificate",
        evidence.fix(code),
    )
