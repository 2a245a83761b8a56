"""Reading the customer's stores into a shape: what a reproduced scenario keeps of them.

From the customer's stores (never copied): chain depth and which certificates
the key entry carries, key types and sizes, signature hashes, EKU/KU,
validity relative to now, key entries and their order, store types and
PKCS#12 algorithms, whether the key password equals the store password, what
the truststore trusts; from a ``capture`` profile, the server's client auth,
CA names, TLS versions and whether it sends its intermediate. Each becomes a
value of the scenario's tables (``harness.reproduce.render`` writes them) with
neutral names and the neutral passwords below.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.engines.jsse import JsseEngine
from harness.errors import HarnessError, StoreError
from harness.knowledge.java import pkcs12_algorithms
from harness.knowledge.tls import EKU_BY_NAME, EKU_NAMES, tls_version
from harness.limits import STORE_BYTES, read_bounded
from harness.secret import Secret
from harness.stores import Role, StoreContents, read_store
from harness.stores.jks import read_jks

__all__ = [
    "KEY_PASSWORD",
    "KS_PASSWORD",
    "TS_PASSWORD",
    "WRONG_KS_PASSWORD",
    "WRONG_TS_PASSWORD",
    "Pki",
    "eku_names",
    "every_key_entry",
    "fingerprint",
    "key_spec",
    "open_store",
    "relative",
    "server_from_profile",
    "signature",
    "truststore_relation",
]

_KU_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
_KU_SCENARIO = {
    "digital_signature": "digitalSignature",
    "content_commitment": "nonRepudiation",
    "key_encipherment": "keyEncipherment",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
}
# PKCS#12 PBE algorithms (knowledge.java.PKCS12_OIDS): the legacy 3DES / RC2 ones (old JDKs,
# openssl -legacy) against PBES2 (AES-256 + PBKDF2, OpenSSL 3 and JDK 11.0.12+).
_P12_LEGACY = frozenset({"PBE-SHA1-3DES", "PBE-SHA1-RC2-40"})
# Neutral, published passwords of the reproduced scenario (never the customer's).
KS_PASSWORD = "reproduce-keystore-pw"  # noqa: S105
TS_PASSWORD = "reproduce-truststore-pw"  # noqa: S105
KEY_PASSWORD = "reproduce-key-pw"  # noqa: S105
WRONG_KS_PASSWORD = "not-the-keystore-password"  # noqa: S105
WRONG_TS_PASSWORD = "not-the-truststore-password"  # noqa: S105


def key_spec(cert: x509.Certificate) -> tuple[str, str | None]:
    """The scenario key type for the certificate's key, and a note when it had to be approximated."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        size = key.key_size
        allowed = (1024, 2048, 3072, 4096)
        nearest = min(allowed, key=lambda s: abs(s - size))
        return f"rsa-{nearest}", None if nearest == size else f"RSA-{size} approximated as RSA-{nearest}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name == "secp384r1":
            return "ec-p384", None
        note = None if key.curve.name == "secp256r1" else f"curve {key.curve.name} approximated as P-256"
        return "ec-p256", note
    return "rsa-2048", f"{type(key).__name__} key approximated as RSA-2048"


def signature(cert: x509.Certificate) -> str:
    algorithm = cert.signature_hash_algorithm
    name = algorithm.name if algorithm is not None else "sha256"
    return name if name in ("sha256", "sha384", "sha512", "sha1", "md5") else "sha256"


def relative(moment: dt.datetime, now: dt.datetime) -> str:
    # Whole hours, so that a validity that starts "now" stays in the past when run later.
    hours = int((moment - now).total_seconds() // 3600)
    return f"{'+' if hours >= 0 else '-'}{abs(hours)}h"


def eku_names(cert: x509.Certificate) -> list[str] | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return [name for o in ext if (name := EKU_NAMES.get(o)) in EKU_BY_NAME]  # scenario names only


def _kus(cert: x509.Certificate) -> list[str] | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    found = []
    for name in _KU_NAMES:
        try:
            if getattr(ext, name):
                found.append(_KU_SCENARIO[name])
        except ValueError:
            continue
    return found


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def open_store(path: Path, password: Secret, role: Role, doc: dict[str, Any], shape: list[str]) -> StoreContents | None:
    """The customer's store as the platform opens it, its format and PKCS#12 profile noted in ``doc``; None when
    it does not open (the scenario then reproduces why: a wrong password or a damaged file)."""
    try:
        store = read_store(path, password, role)
    except StoreError as exc:
        shape.append(f"{role}: {exc.code} ({exc.problem()})")
        if exc.code == f"{role}-password-wrong":
            doc["destination_password"] = WRONG_KS_PASSWORD if role == "keystore" else WRONG_TS_PASSWORD
        elif exc.code == "store-unreadable":
            doc["corrupt"] = "garbage"
        return None
    doc["format"] = store.type if store.type in ("jks", "pkcs12") else "jks"
    if doc["format"] == "pkcs12":
        # read_store has opened it, so it is a regular file within the size limit
        doc["pkcs12_encryption"] = _p12_encryption(read_bounded(path, STORE_BYTES))
    return store


def every_key_entry(store: StoreContents, password: Secret, jdk: JsseEngine | None) -> StoreContents:
    """A PKCS#12's key entries as the JDK reads them (cryptography reads one key per PKCS#12 file): the file
    converted by the JDK (``keytool -importkeystore``) and read back; the store as it was when no JDK can."""
    if store.type != "pkcs12" or jdk is None or jdk.unavailable_reason() is not None:
        return store
    try:
        converted, _, _ = jdk.convert_pkcs12(read_bounded(store.path, STORE_BYTES), password)
        if converted is None or len(converted.key_aliases) <= len(store.key_entries):
            return store
        seen = read_jks(store.path, converted.jks, "jks", password, "keystore", str(store.path))
    except (HarnessError, OSError):
        return store
    return StoreContents(store.path, store.type, seen.key_entries, store.cert_entries)


def _p12_encryption(data: bytes) -> str:
    names = pkcs12_algorithms(data).names
    if names & _P12_LEGACY and "PBES2" not in names:
        return "legacy"
    return "aes"


@dataclass
class Pki:
    """The customer's certificates, renamed; issuers that the stores lack are stood in for."""

    now: dt.datetime
    keep_names: bool
    names: dict[bytes, str] = field(default_factory=dict)  # fingerprint -> pki name
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_subject: dict[bytes, str] = field(default_factory=dict)  # subject DER -> pki name
    counters: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def _name(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{kind}-{self.counters[kind]}"

    def add(self, cert: x509.Certificate, issuer_hint: str | None = None) -> str:
        fp = fingerprint(cert)
        if fp in self.names:
            return self.names[fp]
        self_signed = cert.subject == cert.issuer
        kind = ("root" if self_signed else "intermediate") if _is_ca(cert) else "leaf"
        if kind == "leaf" and self_signed:
            # keytool -genkeypair's default. A scenario's server trusts CAs only:
            # a self-signed root with the leaf's EKU is trusted the same way.
            kind = "root"
            self.notes.append("a self-signed client certificate is reproduced as a self-signed CA certificate")
        name = self._name({"root": "root-ca", "intermediate": "issuing-ca", "leaf": "client"}[kind])
        key, note = key_spec(cert)
        if note:
            self.notes.append(f"{name}: {note}")
        table: dict[str, Any] = {"kind": kind, "key": key, "signature": signature(cert)}
        if self.keep_names:
            table["subject"] = cert.subject.rfc4514_string()
        else:
            label = {"root": "Example Root CA", "intermediate": "Example Issuing CA", "leaf": "example-client"}[kind]
            table["subject"] = f"CN={label} {name.rsplit('-', 1)[1]},O=Example Org"
        table["not_before"] = relative(cert.not_valid_before_utc, self.now)
        table["not_after"] = relative(cert.not_valid_after_utc, self.now)
        if kind == "leaf" or (self_signed and not _is_ca(cert)):
            ekus = eku_names(cert)
            table["eku"] = ekus if ekus is not None else []
        kus = _kus(cert)
        if kus is not None:
            table["ku"] = kus
        self.names[fp] = name
        self.tables[name] = table
        self.by_subject[cert.subject.public_bytes()] = name
        if not self_signed:
            table["issuer"] = issuer_hint or ""
        return name

    def link(self, certs: list[x509.Certificate]) -> None:
        """Point every non-self-signed certificate at its issuer, standing in for issuers not in the stores."""
        for cert in certs:
            name = self.names[fingerprint(cert)]
            table = self.tables[name]
            if cert.subject == cert.issuer:
                table.pop("issuer", None)
                continue
            issuer = self.by_subject.get(cert.issuer.public_bytes())
            if issuer is None:
                issuer = self._stand_in(cert)
            table["issuer"] = issuer

    def _stand_in(self, cert: x509.Certificate) -> str:
        """An issuer the stores do not hold: an intermediate under a root, both new (the usual CA shape)."""
        root = self._name("root-ca")
        self.tables[root] = {"kind": "root", "subject": f"CN=Example Root CA {root.rsplit('-', 1)[1]},O=Example Org"}
        inter = self._name("issuing-ca")
        subject = (
            cert.issuer.rfc4514_string()
            if self.keep_names
            else f"CN=Example Issuing CA {inter.rsplit('-', 1)[1]},O=Example Org"
        )
        self.tables[inter] = {"kind": "intermediate", "issuer": root, "subject": subject}
        self.by_subject[cert.issuer.public_bytes()] = inter
        self.notes.append(f"{inter} and {root} stand in for the issuer the customer's stores do not hold")
        return inter

    def root_of(self, name: str) -> str:
        seen = set()
        while (issuer := self.tables[name].get("issuer")) and name not in seen:
            seen.add(name)
            name = issuer
        return name


def truststore_relation(
    trusted: tuple[x509.Certificate, ...], captured: dict[str, Any] | None, pki: Pki
) -> tuple[list[str], str]:
    """Which of the (local, reproduced) server's chain the truststore trusts, as the customer's does."""
    extra = [pki.names[fingerprint(c)] for c in trusted if fingerprint(c) in pki.names]
    if not trusted:  # with a profile or without: a truststore that holds nothing trusts no server
        return [], "holds no certificate"
    if captured is None:
        return ["server.root", *extra], "trusts the server's root (assumed: no --profile)"
    chain = captured.get("chain") or []
    subjects = {c.subject.rfc4514_string() for c in trusted}
    if not chain:
        return ["server.root", *extra], "the profile holds no chain: trusts the server's root (assumed)"
    leaf, top = chain[0], chain[-1]
    if (top.get("self_signed") and top["subject"] in subjects) or top.get("issuer") in subjects:
        return ["server.root", *extra], "trusts the server's root"
    if len(chain) > 1 and chain[1]["subject"] in subjects:
        return ["server.intermediate", *extra], "trusts the server's intermediate"
    if leaf["subject"] in subjects:
        return ["server.leaf", *extra], "trusts the server's own certificate"
    # Trusts something else: an unrelated CA stands in for it.
    pki.tables.setdefault("unrelated-ca", {"kind": "root", "subject": "CN=Unrelated Root CA,O=Example Org"})
    return ["unrelated-ca", *extra], "trusts none of the server's chain"


def server_from_profile(captured: dict[str, Any], pki: Pki, keystore: Any) -> dict[str, Any]:
    server: dict[str, Any] = {}
    auth = captured.get("client_auth")
    if auth in ("required", "optional", "none"):
        server["client_auth"] = auth
    names = [n for n in captured.get("ca_names") or [] if isinstance(n, str)]
    server["ca_names"] = bool(names)
    if names and keystore is not None:
        # The server trusts the customer's CAs it names; none named: a CA of its own.
        trusted = []
        for entry in keystore.key_entries:
            for cert in entry.chain:
                if cert.subject.rfc4514_string() in names:
                    name = pki.names.get(fingerprint(cert))
                    if name and name not in trusted:
                        trusted.append(name)
            issuer_name = entry.chain[0].issuer.rfc4514_string() if entry.chain else None
            if issuer_name in names:
                stand_in = pki.by_subject.get(entry.chain[0].issuer.public_bytes())
                if stand_in and stand_in not in trusted:
                    trusted.append(stand_in)
        if not trusted:
            pki.tables.setdefault("partner-ca", {"kind": "root", "subject": "CN=Partner Root CA,O=Example Partner"})
            trusted = ["partner-ca"]
        server["trust"] = trusted
    known = (tls_version(v) for v in captured.get("tls_versions") or [] if isinstance(v, str))
    # The scenario's spelling ("TLSv1.2" -> "1.2"), of the versions the local server serves (1.2 and 1.3).
    versions = [v.short for v in known if v is not None and v.short in ("1.2", "1.3")]
    if versions:
        server["tls_versions"] = sorted(versions)
    server["send_chain"] = bool(captured.get("intermediates_sent", True))
    chain = captured.get("chain") or []
    if chain and isinstance(chain[0], dict):
        server["identity"] = {"key": "rsa-2048" if str(chain[0].get("key", "")).startswith("RSA") else "ec-p256"}
    return server
