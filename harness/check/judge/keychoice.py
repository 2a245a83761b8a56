"""The judge of a keystore with several key entries: which one the JDK sends, and whether that is luck.

The answer is the JDK's own key manager's (``harness.check.keychoice``): the
alias it chooses for the live server's CertificateRequest, and for a server
that lists no CA names. ``keystore-ambiguous`` is an error when the choice
rests on the key manager's own order (no CA names to go by, several usable
entries; or CA names that several entries reach) or when the entry it sent was
refused; a warning when the server's CA names select exactly one usable entry:
it works today, and a server that stops listing its CA names may get another.
Without any JDK, the static rule stands: several key entries are an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from harness.check.jdk import JdkEvidence
from harness.check.judge.stores import drop
from harness.check.keychoice import KeyChoice
from harness.check.report import Report, Severity, is_jsse
from harness.destination import Destination
from harness.stores import StoreContents
from harness.wire.inspect import ServerView

__all__ = ["judge_key_choice"]

_CODE = "keystore-ambiguous"


def judge_key_choice(
    report: Report,
    destination: Destination,
    keystore: StoreContents | None,
    jdks: JdkEvidence,
    view: ServerView | None,
    choices: Sequence[KeyChoice],
) -> None:
    """Replace the other stages' several-key-entries findings by the JDK's answer (run after the handshakes)."""
    java_keys = [r.reading.key_aliases for r in jdks.readings if r.reading is not None and r.reading.key_aliases]
    aliases = max([tuple(e.alias for e in keystore.key_entries) if keystore is not None else (), *java_keys], key=len)
    if len(aliases) < 2:
        return
    answered = [c for c in choices if c.error is None]
    rejected = _rejected_live(report)
    # Every other stage's several-key-entries finding (the static rule; the live engines', absorbed into it
    # or not) gives way to this one, which names the engines that saw it live.
    engines = tuple(sorted({e for f in report.findings if f.code == _CODE for e in f.engines}))
    report.findings[:] = [f for f in report.findings if f.code != _CODE]
    listed = ", ".join(repr(a) for a in aliases)
    if not answered:
        severity: Severity = "error"
        why = (
            "the JDK chooses one per handshake, by the server's CA names if it lists any, else by its own order "
            "(no JDK answered which)"
        )
    else:
        worst: tuple[Severity, str] | None = None
        for choice in answered:
            report.facts[f"key choice on Java {choice.java_version}"] = _fact(choice, view)
            found = _verdict(choice, view, rejected)
            if worst is None or (found[0] == "error" and worst[0] != "error"):
                worst = found
        assert worst is not None
        severity, why = worst
    # The python engine (OpenSSL) cannot choose a key entry as the JDK does and refuses to guess: its
    # several-key-entries answer is no verdict on the platform.
    openssl = [e for e in engines if not is_jsse(e)]
    note = (
        f"; the {' and '.join(openssl)} engine (OpenSSL) cannot choose among key entries as the JDK does and did "
        "not try"
        if openssl
        else ""
    )
    report.add(
        _CODE,
        "keystore",
        destination.keystore.name,
        f"the keystore holds {len(aliases)} key entries ({listed}): {why}{note}",
        severity=severity,
    )
    if engines:
        report.findings[-1] = replace(report.findings[-1], engines=engines)
    if any(c.live is not None and c.live.alias for c in answered):
        # The JDK sends a key entry the server's CA names reach: no entry is missing, whatever a
        # reading of one entry at a time said.
        drop(report, "client-cert-missing", "client-ca-names")


def _rejected_live(report: Report) -> str | None:
    """The JDK's live handshake refused over the certificate it sent: the code, else None."""
    refusals = (_CODE, "client-cert-untrusted", "client-cert-rejected", "client-chain-incomplete")
    for f in report.findings:
        live_jsse = any(map(is_jsse, f.engines)) and f.severity == "error"
        if live_jsse and (f.code in refusals or (f.code.startswith("client-cert") and f.code != "client-cert-missing")):
            return f.code
    return None


def _names(view: ServerView | None) -> str:
    if view is None:
        return "no server looked at"
    if view.ca_names is None:
        return "the server asked for no certificate in the handshake"
    return f"{len(view.ca_names)} CA name(s) listed" if view.ca_names else "no CA names listed"


def _fact(choice: KeyChoice, view: ServerView | None) -> str:
    """One line: the alias sent to this server, and to a server with no CA names."""
    parts = []
    if choice.live is not None:
        sent = repr(choice.live.alias) if choice.live.alias else "no certificate"
        ignored = "" if choice.names_honoured else ", ignored by this Java on TLS 1.3"
        parts.append(f"sends {sent} to this server ({_names(view)}{ignored})")
    if choice.no_names is not None:
        sent = repr(choice.no_names.alias) if choice.no_names.alias else "no certificate"
        among = ", ".join(repr(a) for a in choice.no_names.candidates)
        parts.append(f"{sent} to a server that lists no CA names (usable: {among or 'none'})")
    return "; ".join(parts) + f" [key types asked: {', '.join(choice.key_types)}]"


def _verdict(choice: KeyChoice, view: ServerView | None, rejected: str | None) -> tuple[Severity, str]:
    """(severity, why) for one JDK's answer."""
    java = f"Java {choice.java_version}"
    spare = choice.no_names
    other = repr(spare.alias) if spare is not None and spare.alias else "another entry"
    live = choice.live
    if live is not None and rejected is not None:
        return "error", (
            f"{java} sent {live.alias!r} to this server, which refused it ({rejected}): keep only the entry the "
            "server trusts"
        )
    names = view is not None and bool(view.ca_names) and choice.names_honoured
    if live is not None and names:
        if len(live.candidates) == 1:
            return "warning", (
                f"the server's CA names select exactly one of them, so {java} sends {live.alias!r}: it works today; "
                f"a server that stops listing its CA names may get {other} (the key manager's own order)"
            )
        if not live.candidates:
            return "warning", (
                f"the server's CA names select none of them, so {java} sends no certificate; with no CA names it "
                f"would send {other}"
            )
        among = ", ".join(repr(a) for a in live.candidates)
        return "error", (
            f"the server's CA names select {len(live.candidates)} of them ({among}): {java} sends {live.alias!r}, "
            "chosen by its key manager's own order, not by anything in the keystore"
        )
    usable = spare.candidates if spare is not None else ()
    sent = live if live is not None else spare
    chosen = repr(sent.alias) if sent is not None and sent.alias else "no certificate"
    if view is None:
        where = "no server was looked at: as for a server that lists no CA names"
    elif view.ca_names is None:
        where = "the server asked for no certificate in the handshake"
    elif not view.ca_names:
        where = "this server lists no CA names to choose by"
    else:
        where = "this Java ignores the server's CA names on TLS 1.3 (before 11.0.12)"
    if len(usable) > 1:
        return "error", (
            f"{where}: {java} sends {chosen}, chosen by its key manager's own order among "
            f"{', '.join(repr(a) for a in usable)}, not by anything in the keystore"
        )
    return "warning", f"{java} can use only {chosen} for the key types asked ({', '.join(choice.key_types)})"
