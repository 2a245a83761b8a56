"""The judge of what the JDKs said: their reading of the stores, and the rules of the versions not here.

Where the chosen JDK reads the stores otherwise than Python does, the JDK's
verdict stands (the platform's JDK decides): a static finding it contradicts
is dropped, one it adds is added. A Java version with no runtime here
(``--jdk 8u292``) gets the static rules of ``harness.knowledge.java``:
its reading of the stores' bytes, its certificate path rules on the server's
chain, its TLS versions and suites against the server's answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.check.jdk import JdkEvidence
from harness.check.judge.jdk_stores import facts_line, first_opened, python_could_not, take_the_jdks_word, verdicts_of
from harness.check.report import Report
from harness.check.server import VersionAsk
from harness.check.stores import PythonReading
from harness.destination import Destination
from harness.diagnose import name_of
from harness.diagnose.certificates import public_key_of
from harness.diagnose.store_failures import StoreVerdict
from harness.engines.jsse import StoreReading
from harness.knowledge.java import CERT_RULES, has_feature, parse_version, pkcs12_algorithms, store_readable
from harness.knowledge.tls import TLS_VERSION_NAMES
from harness.stores import StoreContents

__all__ = ["judge_jdks", "judge_missing_versions"]


def judge_jdks(
    report: Report,
    destination: Destination,
    jdks: JdkEvidence,
    keystore: StoreContents | None,
    stores: tuple[PythonReading, PythonReading] | None = None,
    expiring_days: int = 30,
) -> None:
    """Every JDK's reading of the stores; the static version rules for the versions with no runtime here.

    The store findings are the JDKs' (per version): Python's own store verdicts for a store a JDK
    judged are dropped, its policy findings (expiry, usage, weak keys) stay. A store only Python
    could not read gets an info line, and its policy findings from the certificates Java returned.
    """
    readings = [found.reading for found in jdks.readings if found.reading is not None]
    for found in jdks.readings:
        if found.failure is not None:
            report.add("engine-unavailable", "handshake", "jsse engine", str(found.failure), severity="warning")
    verdicts = {id(reading): verdicts_of(destination, reading, readings) for reading in readings}
    for role, path in (("keystore", destination.keystore), ("truststore", destination.truststore)):
        said = [
            (reading.java_version, next((v for v in verdicts[id(reading)] if v.role == role), None))
            for reading in readings
            if (store := getattr(reading, role)) is not None and store.refused is None
        ]
        if said:
            take_the_jdks_word(report, role, path, said)
    for reading in readings:
        _apply(report, destination, reading, keystore, verdicts[id(reading)])
    if stores is not None:
        for python in stores:
            judged_java = first_opened(readings, python.role)
            if python.error is not None and judged_java is not None:
                python_could_not(report, python, judged_java, expiring_days)
    if not readings:
        report.facts["stores judged by"] = "no JDK: the static rules only (the JDK did not judge the stores)"
    stores_bytes = ((destination.keystore, jdks.keystore_bytes), (destination.truststore, jdks.truststore_bytes))
    for version in jdks.missing:
        _static(report, destination, version, stores_bytes)


def judge_missing_versions(
    report: Report,
    chain: Sequence[x509.Certificate],
    missing: Sequence[str],
    asks: Sequence[VersionAsk],
    accepted: Mapping[str, bool | None],
    *,
    pinned: bool,
) -> None:
    """The rules of ``missing`` versions that need the server: its chain's algorithms, its TLS versions.

    ``pinned``: ``--client-tls`` set the platform's protocols (jdk.tls.client.protocols) for these versions too.
    """
    if not missing:
        return
    for version in missing:
        if parse_version(version) is None:
            continue
        _chain_rules(report, chain, version)
    for ask in asks:
        version, answers = ask.version, ask.accepted
        _protocol_rule(report, version, ask.on, ask.off, answers, pinned=pinned)
        # A TLS 1.2-only server that refused a hello with forward-secret key exchange only: TLS_RSA only.
        if (
            has_feature("tls-rsa-kx-disabled", version)
            and not answers.get("TLSv1.3")
            and answers.get("TLSv1.2")
            and ask.forward_secret is False
        ):
            report.add(
                "cipher-mismatch",
                "handshake",
                f"Java {version}",
                f"the server speaks TLS 1.2 with TLS_RSA_* suites only (no ECDHE/DHE key exchange), which "
                f"Java {version} disables (`TLS_RSA_*` in jdk.tls.disabledAlgorithms, JDK 24+) (static "
                "rule, no runtime run)",
            )
    report.facts["server TLS versions (asked for --jdk)"] = (
        ", ".join(t for t in TLS_VERSION_NAMES if accepted.get(t)) or "none answered" if accepted else "not probed"
    )


def _label(path: Path, version: str) -> str:
    return f"{path.name} on Java {version}"


def _apply(
    report: Report,
    destination: Destination,
    reading: StoreReading,
    keystore: StoreContents | None,
    verdicts: Sequence[StoreVerdict] = (),
) -> None:
    version = reading.java_version
    if reading.internal_error:
        report.add(
            "store-unreadable",
            "keystore",
            _label(destination.keystore, version),
            f"Java {version}: {_first(reading.error)}",
        )
    report.facts[f"stores on Java {version}"] = facts_line(reading, verdicts)


def _first(text: str | None) -> str:
    return (text or "").splitlines()[0] if text else ""


def _static(report: Report, destination: Destination, version: str, stores: Sequence[tuple[Path, bytes]]) -> None:
    """The version rules for a Java that is not installed here."""
    report.add(
        "jdk-not-run",
        "handshake",
        f"Java {version}",
        f"no Java {version} runtime here: only the static rules for that version were applied, "
        "no live JSSE verdict was run for it",
        jdk=version,
    )
    for path, data in stores:
        try:
            readable = store_readable(data, version)
        except ValueError:
            return
        if data and not readable:
            report.add(
                "keystore-format-unsupported",
                "keystore" if path == destination.keystore else "truststore",
                _label(path, version),
                f"Java {version} cannot read this PKCS#12 ({pkcs12_algorithms(data).describe()}; readable from "
                "8u301 / 11.0.12 / 12 on): it reports `keystore password was incorrect` or `Integrity check "
                "failed` (static rule, no runtime run)",
                store_file=path.name,
            )


def _protocol_rule(
    report: Report,
    version: str,
    on: frozenset[str],
    off: frozenset[str],
    accepted: Mapping[str, bool | None],
    *,
    pinned: bool = False,
) -> None:
    if any(accepted.get(t) for t in on):
        return
    if any(accepted.get(t) is None for t in on):
        return  # could not tell: say nothing
    asked = [t for t in TLS_VERSION_NAMES if t in accepted]
    server = (
        f"accepts {', '.join(t for t in asked if accepted[t])}"
        if any(accepted[t] for t in asked)
        else f"refuses {', '.join(asked)}"
    )
    note = ""
    if any(accepted.get(t) for t in off):
        note = (
            "; TLS 1.3 is in that update but off by default for clients (JDK-8245485): "
            "-Djdk.tls.client.protocols=TLSv1.3,TLSv1.2 turns it on"
        )
    report.add(
        "protocol-mismatch",
        "handshake",
        f"Java {version}",
        f"the server {server}; Java {version} offers {', '.join(sorted(on)) or 'nothing'} "
        + ("(--client-tls, as jdk.tls.client.protocols) " if pinned else "by default ")
        + f"(TLS 1.3 from 8u261 / 11, TLS 1.0/1.1 disabled from 8u291 / 11.0.11 / 16){note} (static rule, "
        "no runtime run)",
    )


def _chain_rules(report: Report, chain: Sequence[x509.Certificate], version: str) -> None:
    """jdk.certpath.disabledAlgorithms on the server's chain, as Java ``version`` validates it."""
    for rule in CERT_RULES:
        if not has_feature(rule.feature, version):
            continue
        for cert in chain:
            key = public_key_of(cert)  # None on a curve cryptography cannot load: not an RSA key either
            if rule.code == "weak-key" and isinstance(key, rsa.RSAPublicKey) and key.key_size < 1024:
                what = f"{name_of(cert)} has an RSA-{key.key_size} key"
            elif rule.code == "weak-signature" and cert.subject != cert.issuer and _hash(cert) == "md5":
                what = f"{name_of(cert)} is signed with MD5"
            else:
                continue
            report.add(
                rule.code,
                "server-chain",
                f"server chain on Java {version}",
                f"{what}: Java {version} refuses it (`{rule.constraint}` in jdk.certpath.disabledAlgorithms) "
                "(static rule, no runtime run)",
            )
            break
    if has_feature("certpath-sha1-jdkca-tlsserver", version) and any(
        cert.subject != cert.issuer and _hash(cert) == "sha1" for cert in chain
    ):
        report.facts[f"SHA-1 on Java {version}"] = (
            "the server chain has SHA-1 signatures: Java refuses them only in chains anchored in its own "
            "cacerts (`SHA1 jdkCA & usage TLSServer`), not with the destination's private truststore"
        )


def _hash(cert: x509.Certificate) -> str | None:
    algorithm = cert.signature_hash_algorithm
    return algorithm.name if algorithm is not None else None
