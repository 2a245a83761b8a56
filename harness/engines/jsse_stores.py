"""The JDK's reading of the stores, as the platform opens them: the bytes handed over, the typed facts back.

The JVM never opens a path: :func:`read_store_bytes` reads each store as Python reads any
store (a regular file under the size cap, ``harness.limits.read_bounded``) and the bytes
go in the request. ``MtlsProbe.java``'s load-only answer (``StoreFacts``) comes back per
store, per stage, per entry: :func:`reading_of` turns it into :class:`StoreReading`.
What it means is ``harness.diagnose``'s to say.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from harness.engines import StoreFailure
from harness.knowledge.java import Pkcs12Algorithms, pkcs12_algorithms
from harness.limits import STORE_BYTES, TooLarge, read_bounded

__all__ = [
    "JavaCert",
    "JavaEntry",
    "JavaStore",
    "StageFailure",
    "StoreReading",
    "StoreRefused",
    "read_store_bytes",
    "reading_of",
]

_KINDS = frozenset({"key", "cert", "secret", "none"})


class StoreRefused(Exception):
    """A store Python would not hand to the JVM: not a regular file, above the size cap, or not readable."""

    def __init__(self, store: Literal["keystore", "truststore"], path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.store = store
        self.path = path
        self.reason = reason


def read_store_bytes(path: Path, store: Literal["keystore", "truststore"]) -> bytes:
    """The bytes of a store, read as Python reads any store (a regular file under the size cap).

    The JVM gets these bytes, never the path: a FIFO, a device, a sparse giant or a symlink
    loop is refused here (:class:`StoreRefused`) before the JVM could block on it or fill its heap.
    """
    try:
        return read_bounded(Path(path), STORE_BYTES)
    except TooLarge as exc:
        raise StoreRefused(store, Path(path), str(exc)) from None
    except OSError as exc:  # NotARegularFile, FileNotFoundError, ELOOP ...
        raise StoreRefused(store, Path(path), exc.strerror or str(exc)) from None


@dataclass(frozen=True)
class JavaCert:
    """A certificate as the JDK returned it from a store."""

    subject: str  # RFC 2253, as X500Principal writes it
    issuer: str
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    key_algorithm: str
    key_size: int  # bits (RSA modulus, EC order, DSA p); -1 when Java does not say
    signature_algorithm: str
    eku: tuple[str, ...] | None  # OIDs; None: no extendedKeyUsage extension
    der: bytes = field(repr=False)


@dataclass(frozen=True)
class JavaEntry:
    """One entry as the JDK sees it: the alias it lists, its kind, its chain, whether getKey opened it."""

    alias: str
    kind: Literal["key", "cert", "secret", "none"]  # "none": listed, but Java finds it under no kind
    chain: tuple[JavaCert, ...] = ()
    key_opened: bool | None = None  # getKey with the store password (None: not a key entry)
    key_algorithm: str | None = None
    key_error: str | None = None  # the exception chain of getKey, one per line
    key_why: str | None = None  # "algorithm" / "password" / "format" / "other"


@dataclass(frozen=True)
class StageFailure:
    """A stage of opening a store that failed: load, entries, keyManager or trustManager."""

    stage: str
    why: str  # "algorithm" (this JDK lacks one), "password", "format" (not this type), "other"
    error: str  # the exception chain, outermost first, one per line


@dataclass(frozen=True)
class JavaStore:
    """One store as a JDK opened it the platform's way (``KeyStore.getInstance("JKS")``).

    ``refused``: Python would not hand the file to the JVM (why); then nothing else is known.
    """

    role: Literal["keystore", "truststore"]
    true_type: str  # JKS, JCEKS, PKCS12, BKS, UBER, BCFKS, PEM, unknown (from the content)
    opened: bool = False  # load succeeded
    usable: bool = False  # and the key / trust manager was made
    failures: tuple[StageFailure, ...] = ()
    entries: tuple[JavaEntry, ...] = ()
    trust_anchors: int | None = None  # the truststore's PKIX trust anchors
    refused: str | None = None
    pkcs12: Pkcs12Algorithms | None = None  # a PKCS#12's algorithms, read from the file by Python

    @property
    def key_entries(self) -> tuple[JavaEntry, ...]:
        return tuple(e for e in self.entries if e.kind == "key")

    def failure(self, stage: str) -> StageFailure | None:
        return next((f for f in self.failures if f.stage == stage), None)


@dataclass(frozen=True)
class StoreReading:
    """The JDK's own reading of a keystore and truststore (``JsseEngine.load_stores``), as facts.

    What it means (an outcome code) is ``harness.diagnose.store_reading_verdict``'s to say.
    """

    java_version: str
    loaded: bool  # both stores opened and the key and trust managers were made
    stage: str  # "keystore" / "truststore" where it failed, "loaded" otherwise
    error: str | None  # the JDK's exception chain, one per line
    store_failure: StoreFailure | None = None  # the store that would not open, and why
    internal_error: bool = False  # the probe program itself failed on these files (not a store's fault it named)
    key_aliases: tuple[str, ...] | None = None  # the keystore's key entries (None: not opened)
    trust_anchors: int | None = None  # what its TrustManagerFactory accepts (None: not got that far)
    keystore: JavaStore | None = None  # per entry, per stage (None: an internal error)
    truststore: JavaStore | None = None


def reading_of(
    reply: Mapping[str, Any], java_version: str, data: Mapping[str, bytes], refused: Mapping[str, JavaStore]
) -> StoreReading:
    """The JVM's load-only answer as typed facts: each store, its stages and entries."""
    internal = reply.get("internalError")
    stores = {
        role: refused.get(role) or _java_store(role, reply.get(f"{role}Facts"), data[role])
        for role in ("keystore", "truststore")
    }
    keystore, truststore = stores["keystore"], stores["truststore"]
    failed = next((s for s in (keystore, truststore) if s is not None and not s.usable), None)
    errors = internal or []
    if failed is not None and not errors:
        errors = [failed.refused] if failed.refused else [f.error for f in failed.failures][:1]
    problem: StoreFailure | None = None
    if failed is not None:
        load = failed.failure("load")
        manager = failed.failure("keyManager")
        if failed.refused or (load is not None and load.why != "password"):
            problem = StoreFailure(failed.role, "unreadable")
        elif load is not None:
            problem = StoreFailure(failed.role, "password", failed.pkcs12)
        elif manager is not None and manager.why == "password":
            problem = StoreFailure(failed.role, "key-password")
    return StoreReading(
        java_version=java_version,
        loaded=failed is None and not internal,
        stage="loaded" if failed is None else failed.role,
        error="\n".join(map(str, errors)) or None,
        store_failure=problem,
        internal_error=bool(internal),
        key_aliases=None
        if keystore is None or not keystore.opened
        else tuple(sorted(e.alias for e in keystore.key_entries)),
        trust_anchors=truststore.trust_anchors if truststore is not None else None,
        keystore=keystore,
        truststore=truststore,
    )


def _java_store(role: Literal["keystore", "truststore"], raw: object, data: bytes) -> JavaStore | None:
    if not isinstance(raw, Mapping):
        return None
    stages = raw.get("stages") if isinstance(raw.get("stages"), Mapping) else {}
    assert isinstance(stages, Mapping)
    failures = tuple(
        StageFailure(str(stage), str(f.get("why") or "other"), "\n".join(map(str, f.get("errors") or [])))
        for stage, f in stages.items()
        if isinstance(f, Mapping)
    )
    entries = tuple(_entry(e) for e in raw.get("entries") or () if isinstance(e, Mapping))
    anchors = raw.get("trustAnchors")
    true_type = str(raw.get("trueType") or "unknown")
    return JavaStore(
        role=role,
        true_type=true_type,
        opened="load" in stages and stages["load"] is None,
        usable=raw.get("usable") is True,
        failures=failures,
        entries=entries,
        trust_anchors=anchors if isinstance(anchors, int) else None,
        pkcs12=pkcs12_algorithms(data) if true_type == "PKCS12" else None,
    )


def _entry(raw: Mapping[str, Any]) -> JavaEntry:
    kind = raw.get("kind")
    error = raw.get("keyError") if isinstance(raw.get("keyError"), Mapping) else None
    opened = raw.get("keyOpened")
    return JavaEntry(
        alias=str(raw.get("alias")),
        kind=cast(Literal["key", "cert", "secret", "none"], kind if kind in _KINDS else "none"),
        chain=tuple(_cert(c) for c in raw.get("chain") or () if isinstance(c, Mapping)),
        key_opened=opened if isinstance(opened, bool) else None,
        key_algorithm=raw["keyAlgorithm"] if isinstance(raw.get("keyAlgorithm"), str) else None,
        key_error="\n".join(map(str, error.get("errors") or [])) if error else None,
        key_why=str(error.get("why")) if error else None,
    )


def _cert(raw: Mapping[str, Any]) -> JavaCert:
    eku = raw.get("eku")
    size = raw.get("keySize")
    return JavaCert(
        subject=str(raw.get("subject") or ""),
        issuer=str(raw.get("issuer") or ""),
        not_before=_instant(raw.get("notBefore")),
        not_after=_instant(raw.get("notAfter")),
        key_algorithm=str(raw.get("keyAlgorithm") or ""),
        key_size=size if isinstance(size, int) else -1,
        signature_algorithm=str(raw.get("signatureAlgorithm") or ""),
        eku=tuple(map(str, eku)) if isinstance(eku, list) else None,
        der=base64.b64decode(str(raw.get("der") or "")),
    )


def _instant(value: object) -> dt.datetime | None:
    """java.time.Instant's ISO text ("2026-12-07T10:00:00Z") as an aware datetime."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
