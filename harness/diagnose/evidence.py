"""A diagnosis's input and output: the :class:`Evidence` besides the engine's outcome, and the :class:`Verdict`.

Also the readings every side of the diagnosis shares: what the outcome says
about the client certificate, and the key entry's chain above what it holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509

from harness.diagnose.certificates import (
    is_self_signed,
    reaches_ca_names,
    usage_problem,
    weak_key,
    weak_signature,
)
from harness.diagnose.raw_errors import BROKEN
from harness.engines import Outcome
from harness.knowledge import codes
from harness.pki import Material
from harness.scenario import Scenario
from harness.server.records import HandshakeRecord
from harness.stores import KeyEntry, StoreContents

__all__ = [
    "Evidence",
    "Side",
    "Verdict",
    "asked_and_sent",
    "chain_faults",
    "chain_problem",
    "connection_broke",
    "needed_depth",
    "path_to_trusted",
    "scenario_evidence",
    "sent_no_certificate",
    "sent_none_when_asked",
    "with_ancestors",
]

Side = Literal["server", "client", "none"]


@dataclass(frozen=True)
class Evidence:
    """What is known besides the engine's outcome. Every field may be unknown (None)."""

    keystore: StoreContents | None = None
    truststore: StoreContents | None = None
    # The server's certificate chain as it sends it, leaf first.
    server_chain: tuple[x509.Certificate, ...] | None = None
    # The CAs the server trusts for client certificates (known for our own server).
    client_cas: tuple[x509.Certificate, ...] | None = None
    # The acceptable client CA names the server advertises (empty: none sent).
    ca_names: tuple[x509.Name, ...] | None = None
    # The server's record of this connection (our own server only).
    handshake: HandshakeRecord | None = None
    # Every certificate known to exist (a scenario's whole PKI): lets the
    # diagnosis name the intermediate missing from a chain.
    known: tuple[x509.Certificate, ...] = ()
    host: str = "127.0.0.1"
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    url: str | None = None  # the destination's URL, when known (check)

    @property
    def key_entry(self) -> KeyEntry | None:
        entries = self.keystore.key_entries if self.keystore else ()
        return entries[0] if len(entries) == 1 else None

    def fix(self, code: str, **fields: str) -> str:
        """The registry's fix of ``code``, filled with what is known here (files, alias, host, URL) and ``fields``."""
        known = {"host": self.host}
        if self.url is not None:
            known["url"] = self.url
        if self.keystore is not None:
            known["keystore_file"] = self.keystore.path.name
        if self.truststore is not None:
            known["truststore_file"] = self.truststore.path.name
        if (entry := self.key_entry) is not None:
            known["alias"] = entry.alias
        return codes.fix(code, **{**known, **fields})


@dataclass(frozen=True)
class Verdict:
    """The outcome code of one probe, the side that rejected, the explanation and the fix in the platform's terms."""

    code: str
    side: Side
    explanation: str
    fix: str = ""

    def text(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.code}: {self.explanation}{fix}"


def scenario_evidence(
    scenario: Scenario,
    material: Material,
    *,
    keystore: StoreContents | None,
    truststore: StoreContents | None,
    handshake: HandshakeRecord | None,
) -> Evidence:
    """Everything a scenario's own material tells: the server's chain, trusted CAs, names, the whole PKI."""
    return Evidence(
        keystore=keystore,
        truststore=truststore,
        server_chain=material.server_chain,
        client_cas=material.client_cas,
        ca_names=tuple(c.subject for c in material.client_cas) if scenario.server.ca_names else (),
        handshake=handshake,
        known=tuple(i.cert for i in material.issued.values()),
        host="127.0.0.1",
        now=material.now,
    )


# -- what the outcome says about the client certificate ------------------------------------


def sent_none_when_asked(outcome: Outcome) -> bool:
    """The engine says the server asked for a certificate and the client sent none."""
    return bool(outcome.client_cert_requested) and outcome.client_cert_sent is False


def asked_and_sent(outcome: Outcome) -> bool:
    return bool(outcome.client_cert_requested) and not sent_none_when_asked(outcome)


def connection_broke(outcome: Outcome) -> bool:
    return outcome.stage in ("handshake", "http") and bool(BROKEN.search(outcome.error or ""))


def sent_no_certificate(outcome: Outcome, evidence: Evidence) -> bool:
    """Whether the client sent no certificate: none to send, or none matching the server's CA names."""
    if sent_none_when_asked(outcome):
        return True  # the client says so itself
    keystore = evidence.keystore
    if keystore is not None and not keystore.key_entries:
        return True
    entry = evidence.key_entry
    if entry is None or not entry.chain or not evidence.ca_names or outcome.engine != "jsse":
        return False
    # Only the JDK filters by CA names (docs/engines.md); OpenSSL sends its certificate anyway.
    return not reaches_ca_names(entry.chain, evidence.ca_names)


# -- the key entry's chain, and the CAs above it ------------------------------------------------


def needed_depth(evidence: Evidence) -> int:
    """The verify depth a server needs for the key entry's chain: CA certificates above the leaf, root included."""
    entry = evidence.key_entry
    if entry is None or not entry.chain:
        return 0
    path = with_ancestors(entry.chain, evidence)
    return len(path) - (1 if is_self_signed(path[-1]) else 0)


def chain_problem(evidence: Evidence) -> str | None:
    """The outcome code a server's judgement of the key entry's chain would give, if the chain itself is at fault."""
    entry = evidence.key_entry
    if entry is None or not entry.chain:
        return None
    path = with_ancestors(entry.chain, evidence)
    faults = chain_faults(entry.chain[0], evidence.now)
    return next((code for code, failing in faults.items() if any(failing(c) for c in path)), None)


def chain_faults(leaf: x509.Certificate, now: dt.datetime) -> dict[str, Callable[[x509.Certificate], bool]]:
    """Outcome code -> whether a certificate of the client's chain has that fault, in the order to test them."""
    return {
        "client-cert-expired": lambda c: c.not_valid_after_utc < now,
        "client-cert-not-yet-valid": lambda c: c.not_valid_before_utc > now,
        "weak-key": lambda c: weak_key(c) is not None,
        # A root's self-signature is never checked.
        "weak-signature": lambda c: weak_signature(c) is not None and not is_self_signed(c),
        "client-cert-wrong-usage": lambda c: c is leaf and usage_problem(c) is not None,
    }


def with_ancestors(chain: Sequence[x509.Certificate], evidence: Evidence) -> list[x509.Certificate]:
    """The key entry's chain, then the CAs above it that the evidence knows, up to a root."""
    path = list(chain)
    pool = [*evidence.known, *(evidence.client_cas or ())]
    while not is_self_signed(path[-1]) and len(path) < 10:
        parent = next((c for c in pool if c.subject == path[-1].issuer and c not in path), None)
        if parent is None:
            break
        path.append(parent)
    return path


def path_to_trusted(top: x509.Certificate, evidence: Evidence) -> list[x509.Certificate]:
    """The known intermediates between ``top`` and a CA the server trusts (empty: no such path)."""
    trusted = {c.subject for c in evidence.client_cas or ()} | set(evidence.ca_names or ())
    path: list[x509.Certificate] = []
    current = top
    for _ in range(8):
        if current.issuer in trusted:
            return path
        parent = next((c for c in evidence.known if c.subject == current.issuer and c != current), None)
        if parent is None or (is_self_signed(parent) and parent.subject not in trusted):
            return []
        path.append(parent)
        current = parent
    return []
