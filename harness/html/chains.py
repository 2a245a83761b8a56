"""Certificates as the boxes a chain diagram draws: subject, issuer, validity bar, key, EKU.

A chain is drawn leaf first, each box issued by the one below it. The validity
bar spans the certificate's notBefore..notAfter; the mark on it is the moment
validity is judged for (``--at``, or now). Every name is passed through
``harness.text.shown`` (control characters escaped) and is escaped again as
HTML by the template.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from harness.diagnose import name_of, reaches_ca_names
from harness.knowledge.tls import EKU_NAMES
from harness.pki.keys import key_description
from harness.text import shown

__all__ = ["CertBox", "ClientChain", "cert_boxes", "client_chains"]

# Longer names are cut in the diagram (SVG text does not wrap); the full name is the box's tooltip.
NAME_WIDTH = 80


@dataclass(frozen=True)
class CertBox:
    """One certificate as drawn: full names (tooltips, data attributes) and cut ones (the box's lines)."""

    subject: str
    issuer: str
    not_before: str
    not_after: str
    key: str
    eku: str
    state: str  # "valid", "expiring", "expired", "not-yet-valid" at the moment judged
    days_left: int  # from the moment judged to notAfter
    at_fraction: float  # where the moment judged falls on the bar, 0..1 (clamped)

    @property
    def subject_cut(self) -> str:
        return _cut(self.subject)

    @property
    def issuer_cut(self) -> str:
        return _cut(self.issuer)


@dataclass(frozen=True)
class ClientChain:
    """A key entry's chain, and the server's CA names beside it: which of them the chain reaches."""

    alias: str
    boxes: tuple[CertBox, ...]
    reaches: bool  # the chain reaches one of the server's CA names (the JDK offers this entry)
    ca_names: tuple[tuple[str, bool], ...]  # each CA name the server lists, and whether this chain reaches it


def _cut(text: str) -> str:
    return text if len(text) <= NAME_WIDTH else text[: NAME_WIDTH - 1] + "…"


def _eku(cert: x509.Certificate) -> str:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "no EKU (any use)"
    except ValueError:
        return "EKU unreadable"
    return ", ".join(EKU_NAMES.get(oid, oid.dotted_string) for oid in usages) or "empty EKU"


def _key(cert: x509.Certificate) -> str:
    try:
        return key_description(cert.public_key())
    except (ValueError, TypeError):  # a key type cryptography cannot load (an unusual curve)
        return cert.public_key_algorithm_oid.dotted_string


def cert_box(cert: x509.Certificate, at: dt.datetime, expiring_days: int = 30) -> CertBox:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    span = (end - start).total_seconds()
    fraction = (at - start).total_seconds() / span if span > 0 else 1.0
    days_left = (end - at).days
    if at < start:
        state = "not-yet-valid"
    elif at > end:
        state = "expired"
    elif days_left < expiring_days:
        state = "expiring"
    else:
        state = "valid"
    return CertBox(
        subject=shown(name_of(cert)),
        issuer=shown(name_of(cert.issuer)),
        not_before=f"{start:%Y-%m-%d}",
        not_after=f"{end:%Y-%m-%d}",
        key=shown(_key(cert)),
        eku=shown(_eku(cert)),
        state=state,
        days_left=days_left,
        at_fraction=min(1.0, max(0.0, fraction)),
    )


def cert_boxes(chain: Sequence[x509.Certificate], at: dt.datetime, expiring_days: int = 30) -> tuple[CertBox, ...]:
    """The chain's boxes in its order (leaf first, as the peer sends it)."""
    return tuple(cert_box(cert, at, expiring_days) for cert in chain)


def client_chains(
    chains: dict[str, tuple[x509.Certificate, ...]],
    ca_names: Sequence[x509.Name] | None,
    at: dt.datetime,
    expiring_days: int = 30,
) -> list[ClientChain]:
    """Each key entry's chain, with the server's CA names marked where this chain reaches them."""
    out = []
    for alias, chain in chains.items():
        listed = tuple((shown(name_of(name)), reaches_ca_names(chain, [name])) for name in ca_names or ())
        out.append(
            ClientChain(
                alias=shown(alias),
                boxes=cert_boxes(chain, at, expiring_days),
                reaches=bool(ca_names) and reaches_ca_names(chain, ca_names or ()),
                ca_names=listed,
            )
        )
    return out
