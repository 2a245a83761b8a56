"""``check``'s second look: the destination's stores as each chosen JDK reads them.

The static reading of the stores (``harness.check.stores``, over pyjks and
cryptography) is not the platform's: Java opens a PKCS#12 whose key password
differs from its store password and fails on the key; it sees no trust anchor
in a PKCS#12 truststore made by OpenSSL (no trusted-key-usage attribute);
Java before 8u301 / 11.0.12 cannot read an OpenSSL 3 PKCS#12 at all. So every
JDK named by ``--jdk`` (or the default one) loads the same files through the
probe (KeyStore, KeyManagerFactory, TrustManagerFactory; no network), and the
judge lets its verdict replace the static one where they differ. A version with
no runtime here gets the static rules of ``harness.knowledge.java``, read
off the stores' bytes, and a note that no live JSSE verdict was run for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from harness.destination import Destination
from harness.engines import Probe
from harness.engines.factory import make_engines
from harness.engines.jsse import JsseEngine
from harness.engines.jsse_stores import StoreReading, StoreRefused, read_store_bytes
from harness.errors import HarnessError
from harness.java.runtimes import resolve_jdks

__all__ = ["JdkEvidence", "JdkReading", "jsse_engines", "read_with_jdks"]


def jsse_engines(specs: Sequence[str] | None) -> tuple[list[JsseEngine], list[str]]:
    """One jsse engine per ``--jdk`` runtime found (the default JDK without ``--jdk``), and the versions not found."""
    runtimes, missing = resolve_jdks(specs, missing_ok=True)
    # Without --jdk the default JDK, even when unavailable: the live checks say so, the stores get the static reading.
    engines = make_engines("jsse", runtimes if specs else None)
    return [e for e in engines if isinstance(e, JsseEngine)], missing


@dataclass(frozen=True)
class JdkReading:
    """One JDK's reading of both stores, or the failure that kept it from reading them."""

    reading: StoreReading | None = None
    failure: HarnessError | None = None


@dataclass(frozen=True)
class JdkEvidence:
    """What the JDKs said of the stores, and the bytes the static rules of the versions not here read."""

    readings: tuple[JdkReading, ...] = ()
    missing: tuple[str, ...] = ()  # versions asked for with no runtime here (issue 11)
    keystore_bytes: bytes = b""  # read only when a version is missing
    truststore_bytes: bytes = b""


def read_with_jdks(destination: Destination, engines: Sequence[JsseEngine], missing: Sequence[str] = ()) -> JdkEvidence:
    """Load the stores in every JDK of ``engines``; the stores' bytes for the rules of ``missing`` versions."""
    probe = Probe(
        url="https://stores-only.invalid/",  # never connected to: load-only requests stop after the stores
        keystore=destination.keystore,
        keystore_password=destination.keystore_password,
        truststore=destination.truststore,
        truststore_password=destination.truststore_password,
    )
    readings = []
    for engine in engines:
        if engine.unavailable_reason() is not None:
            continue  # no JDK here: the live checks report it
        try:
            readings.append(JdkReading(reading=engine.load_stores(probe)))
        except HarnessError as exc:
            readings.append(JdkReading(failure=exc))
    stores = [b"", b""]
    if missing:
        for index, (path, role) in enumerate(
            ((destination.keystore, "keystore"), (destination.truststore, "truststore"))
        ):
            with contextlib.suppress(StoreRefused):  # Python's own reading says why
                stores[index] = read_store_bytes(path, role)  # type: ignore[arg-type]
    return JdkEvidence(tuple(readings), tuple(missing), *stores)
