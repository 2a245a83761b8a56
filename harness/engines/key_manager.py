"""Two questions to the JDK about a keystore, beyond a probe: which key entry it sends, and its bytes as JKS.

``JsseEngine.choose_alias`` asks the platform's own key manager (SunX509, the
default ``KeyManagerFactory``) which alias ``chooseClientAlias`` returns for a
CertificateRequest (key types and CA names), and which aliases it could have
returned. ``JsseEngine.convert_pkcs12`` has the JDK read a PKCS#12 that only it
can read (BER, legacy encodings) and write it as JKS, as ``keytool
-importkeystore`` does. Here: the request lines and the typed answers
(MtlsProbe.java's ``chooseAlias`` and ``convert``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from harness.secret import Secret

__all__ = [
    "AliasAsk",
    "AliasChoice",
    "AliasChoices",
    "Converted",
    "choices",
    "choose_request",
    "convert_request",
    "converted",
    "reply_error",
]


@dataclass(frozen=True)
class AliasAsk:
    """One CertificateRequest as JSSE hands it to the key manager: key types in order, CA names (None: none)."""

    key_types: tuple[str, ...]
    issuers: tuple[x509.Name, ...] | None


@dataclass(frozen=True)
class AliasChoice:
    """The key manager's answer to one :class:`AliasAsk`."""

    alias: str | None  # what chooseClientAlias returns: the entry JSSE sends (None: it sends no certificate)
    candidates: tuple[str, ...]  # every alias it offers for those key types and names (several: its own order)


@dataclass(frozen=True)
class AliasChoices:
    """One JDK's answers, one per ask; ``choices`` None when it could not load the keystore (``error`` says why)."""

    java_version: str
    choices: tuple[AliasChoice, ...] | None
    error: str | None = None


@dataclass(frozen=True)
class Converted:
    """A PKCS#12 as the JDK read it, written as JKS (key passwords = the store password)."""

    jks: bytes
    key_aliases: tuple[str, ...]


def choose_request(keystore: bytes, password: Secret, asks: Sequence[AliasAsk], request_id: int) -> dict[str, Any]:
    """The request line for the keystore's bytes (it holds the password: never log it)."""
    return {
        "id": request_id,
        "op": "chooseAlias",
        "keystoreB64": base64.b64encode(keystore).decode("ascii"),
        "keystorePass": password.reveal(),
        "asks": [
            {
                "keyTypes": list(ask.key_types),
                "issuers": None
                if ask.issuers is None
                else [base64.b64encode(name.public_bytes()).decode("ascii") for name in ask.issuers],
            }
            for ask in asks
        ],
    }


def choices(reply: Mapping[str, Any]) -> tuple[AliasChoice, ...] | None:
    """The answers, one per ask; None when the JDK could not load the keystore (``reply["errors"]`` says why)."""
    found = reply.get("choices")
    if not isinstance(found, list):
        return None
    out = []
    for item in found:
        alias = item.get("alias") if isinstance(item, dict) else None
        listed = item.get("candidates") if isinstance(item, dict) else None
        out.append(
            AliasChoice(
                alias if isinstance(alias, str) else None,
                tuple(str(a) for a in listed) if isinstance(listed, list) else (),
            )
        )
    return tuple(out)


def convert_request(data: bytes, password: Secret, request_id: int) -> dict[str, Any]:
    """The request line (it holds the password and the store: never log it)."""
    return {
        "id": request_id,
        "op": "convert",
        "storeB64": base64.b64encode(data).decode("ascii"),
        "storePass": password.reveal(),
    }


def converted(reply: Mapping[str, Any]) -> Converted | None:
    """The JKS the JDK wrote; None when it could not read the PKCS#12."""
    store = reply.get("storeB64")
    if not isinstance(store, str):
        return None
    aliases = reply.get("keyAliases")
    return Converted(base64.b64decode(store), tuple(str(a) for a in aliases) if isinstance(aliases, list) else ())


def reply_error(reply: Mapping[str, Any]) -> str:
    """The JDK's exception chain in an answer, on one line."""
    errors = reply.get("internalError") or reply.get("errors") or []
    return " <- ".join(map(str, errors)) or "no answer"
