"""``check``'s question to the JDK about a keystore with several key entries: which one it will send.

JSSE does not choose the client certificate itself: it hands the server's
CertificateRequest to the platform's key manager (SunX509, the default
KeyManagerFactory), one key type at a time, in the order of the server's
signature schemes, with the CA names the server listed, and sends the first
alias ``chooseClientAlias`` returns. So each JDK is asked, through the probe,
for the key types and CA names captured from the live server
(``harness.wire.inspect``), as that JDK would pass them (Java before
11.0.12 ignores TLS 1.3's CA names), and for the same request with no CA names
(a server that stops listing them). The judge (``judge/keychoice.py``) reads
the answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.destination import Destination
from harness.engines.jsse import JsseEngine, StoreRefused
from harness.engines.key_manager import AliasAsk, AliasChoice
from harness.errors import HarnessError
from harness.knowledge.java import has_feature
from harness.knowledge.tls import CERTIFICATE_TYPE_KEY_TYPES, DEFAULT_CLIENT_KEY_TYPES, SIGNATURE_SCHEME_KEY_TYPES
from harness.wire.inspect import ServerView

__all__ = ["KeyChoice", "ask_key_choices", "jsse_key_types"]


@dataclass(frozen=True)
class KeyChoice:
    """One JDK's answer: the entry it sends to this server, and to one that lists no CA names."""

    java_version: str
    key_types: tuple[str, ...]  # what it asks its key manager for, in order
    live: AliasChoice | None = None  # for the server's CertificateRequest (None: no server asked for one)
    no_names: AliasChoice | None = None  # for the same request without CA names
    names_honoured: bool = True  # False: this JDK ignores the CA names on the protocol the server speaks
    error: str | None = None  # the JDK could not load the keystore (its store findings say why)


def jsse_key_types(view: ServerView | None) -> tuple[str, ...]:
    """The key types JSSE passes to ``chooseClientAlias`` for the server's CertificateRequest, in order."""
    if view is None or view.ca_names is None or not view.signature_schemes:
        return DEFAULT_CLIENT_KEY_TYPES
    allowed = {t for c in view.certificate_types for t in CERTIFICATE_TYPE_KEY_TYPES.get(c, ())}
    found: list[str] = []
    for scheme in view.signature_schemes:
        key_type = SIGNATURE_SCHEME_KEY_TYPES.get(scheme)
        if key_type is None or key_type in found or (view.certificate_types and key_type not in allowed):
            continue
        found.append(key_type)
    return tuple(found) or DEFAULT_CLIENT_KEY_TYPES


def ask_key_choices(
    destination: Destination, engines: Sequence[JsseEngine], view: ServerView | None, timeout: float = 30.0
) -> tuple[KeyChoice, ...]:
    """Every available JDK's key choice for the destination's keystore (``view`` None: no server looked at)."""
    key_types = jsse_key_types(view)
    asked = view is not None and view.ca_names is not None
    names = view.ca_names if view is not None and view.ca_names else None
    asks = (AliasAsk(key_types, names), AliasAsk(key_types, None))
    out = []
    for engine in engines:
        if engine.unavailable_reason() is not None:
            continue
        try:
            answer = engine.choose_alias(destination.keystore, destination.keystore_password, asks, timeout)
        except (HarnessError, StoreRefused) as exc:
            out.append(KeyChoice("?", key_types, error=str(exc)))
            continue
        version = answer.java_version
        if answer.choices is None or len(answer.choices) != len(asks):
            out.append(KeyChoice(version, key_types, error=answer.error or "no answer"))
            continue
        with_names, without = answer.choices
        # Before JDK-8206925 (11.0.12, 16) the client passes no CA names on TLS 1.3.
        honoured = not (view is not None and view.protocol == "TLSv1.3" and not has_feature("tls13-ca-names", version))
        live = (with_names if honoured else without) if asked else None
        out.append(KeyChoice(version, key_types, live, without, honoured))
    return tuple(out)
