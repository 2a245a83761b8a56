"""What a scenario file describes, as frozen dataclasses: certificates, stores, server, client, expectation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.knowledge.java import parse_version, version_matches
from harness.scenario.times import TimeSpec
from harness.secret import Secret

__all__ = [
    "SERVER_NAMES",
    "CertEntrySpec",
    "CertSpec",
    "ClientSpec",
    "Expectation",
    "KeyEntrySpec",
    "Scenario",
    "ServerIdentitySpec",
    "ServerSpec",
    "StoreFormat",
    "StoreSpec",
    "chain_to_root",
]

# Certificates of the local server's identity (issued by trustme) that stores
# and chains may refer to, besides the names under [pki].
SERVER_NAMES = ("server.root", "server.intermediate", "server.leaf")

StoreFormat = Literal["jks", "pkcs12"]


@dataclass(frozen=True)
class CertSpec:
    name: str
    kind: Literal["root", "intermediate", "leaf"]
    issuer: str | None  # None: self-signed
    key: str
    subject: str
    san: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    ku: tuple[str, ...] = ()
    not_before: TimeSpec = dt.timedelta(days=-1)
    not_after: TimeSpec = dt.timedelta(days=365)
    signature: str = "sha256"
    path_length: int | None = None

    @property
    def is_ca(self) -> bool:
        return self.kind != "leaf"


@dataclass(frozen=True)
class KeyEntrySpec:
    alias: str
    key: str
    chain: tuple[str, ...]
    # Another [pki] name whose private key is stored instead (key-cert-mismatch).
    private_key: str | None = None


@dataclass(frozen=True)
class CertEntrySpec:
    alias: str
    cert: str


@dataclass(frozen=True)
class StoreSpec:
    format: StoreFormat
    password: Secret
    # What destination.json says; differs from ``password`` only to reproduce
    # a wrong password.
    destination_password: Secret
    key_password: Secret
    key_entries: tuple[KeyEntrySpec, ...] = ()
    cert_entries: tuple[CertEntrySpec, ...] = ()
    file: Path | None = None
    corrupt: str | None = None
    pkcs12_encryption: Literal["aes", "legacy"] = "aes"
    # PKCS#12 truststore: certificates carry Java's trusted-certificate attribute
    # (as keytool writes them); False: as OpenSSL writes them, which Java reads as no entry.
    java_trusted: bool = True

    @property
    def extension(self) -> str:
        return ".p12" if self.format == "pkcs12" else ".jks"


@dataclass(frozen=True)
class ServerIdentitySpec:
    key: Literal["rsa-2048", "ec-p256"] = "ec-p256"
    names: tuple[str, ...] = ("127.0.0.1", "localhost")
    intermediate: bool = True
    not_before: TimeSpec | None = None
    not_after: TimeSpec | None = None


@dataclass(frozen=True)
class ServerSpec:
    client_auth: Literal["required", "optional", "none"] = "required"
    trust: tuple[str, ...] = ()
    ca_names: bool = True
    send_chain: bool = True
    tls_versions: tuple[str, ...] = ("1.2", "1.3")
    path: str = "/"
    status: int = 200
    identity: ServerIdentitySpec = field(default_factory=ServerIdentitySpec)
    # Server personas (harness.server.personas, docs/scenarios.md): what the server
    # imitates, and the knobs that override it (None: the persona's own).
    persona: str = "openssl"
    rejection: str | None = None
    client_cert_request: str | None = None
    verify_depth: int | None = None
    check_client_names: bool = False


@dataclass(frozen=True)
class ClientSpec:
    tls_versions: tuple[str, ...] | None = None
    message: str = '{"message": "mtls-harness probe"}'
    content_type: str = "application/json"
    ciphers: tuple[str, ...] | None = None  # jsse: as jdk.tls.client.cipherSuites


@dataclass(frozen=True)
class Expectation:
    outcome: str
    engines: Mapping[str, str] = field(default_factory=dict)
    why: str = ""
    # Java version prefix ("11", "11.0.10", "21") -> outcome, for the jsse engine on that JDK.
    jdk: Mapping[str, str] = field(default_factory=dict)

    def for_engine(self, engine: str, java_version: str | None = None) -> str:
        """The expected code; on jsse, the most specific ``[expect.jdk]`` prefix of ``java_version`` wins."""
        if engine == "jsse" and java_version and self.jdk:
            have = parse_version(java_version)
            keyed = [(parse_version(k), v) for k, v in self.jdk.items()]
            hits = [(k, v) for k, v in keyed if k is not None and have is not None and version_matches(k, have)]
            if hits:
                return max(hits, key=lambda kv: len(kv[0] or ()))[1]
        return self.engines.get(engine, self.outcome)


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    tags: tuple[str, ...]
    pki: Mapping[str, CertSpec]
    keystore: StoreSpec
    truststore: StoreSpec
    server: ServerSpec
    client: ClientSpec
    expect: Expectation

    def chain_to_root(self, name: str) -> tuple[str, ...]:
        return chain_to_root(self.pki, name)


def chain_to_root(pki: Mapping[str, CertSpec], name: str) -> tuple[str, ...]:
    """``name`` and its issuers, leaf first, ending at a self-signed certificate."""
    chain = [name]
    while (issuer := pki[chain[-1]].issuer) is not None:
        chain.append(issuer)
    return tuple(chain)
