"""``reproduce``: a customer's destination turned into a sanitized regression scenario of the same shape.

Read from the customer's stores (never copied): chain depth and which
certificates the key entry carries, key types and sizes, signature hashes,
EKU/KU, validity relative to now, key entries and their order, store types
and PKCS#12 algorithms, whether the key password equals the store password,
what the truststore trusts; from a ``capture`` profile, the server's client
auth, CA names, TLS versions and whether it sends its intermediate.

Written: one scenario file whose keys are fresh, whose subjects, aliases,
passwords, host and path are neutral (``keep_names`` keeps subjects and
aliases for internal use). Before returning, the folder is searched for every
customer string, password and certificate byte; one found is an error.
Nothing is sent to the customer's server: ``check`` runs on the stores only.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness.errors import HarnessError, ScenarioError, StoreError, UsageError
from harness.files import write_atomic
from harness.limits import STORE_BYTES, read_bounded

if TYPE_CHECKING:
    from harness.secret import Secret
    from harness.stores import Role, StoreContents

__all__ = ["Reproduction", "reproduce"]

_EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
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
# PKCS#12 PBE algorithm OIDs, DER-encoded: the legacy 3DES / RC2 ones (old JDKs,
# openssl -legacy) against PBES2 (AES-256 + PBKDF2, OpenSSL 3 and JDK 11.0.12+).
_P12_LEGACY = (bytes.fromhex("2a864886f70d010c0103"), bytes.fromhex("2a864886f70d010c0106"))
_P12_PBES2 = bytes.fromhex("2a864886f70d01050d")
# Neutral, published passwords of the reproduced scenario (never the customer's).
KS_PASSWORD = "reproduce-keystore-pw"  # noqa: S105
TS_PASSWORD = "reproduce-truststore-pw"  # noqa: S105
KEY_PASSWORD = "reproduce-key-pw"  # noqa: S105
WRONG_KS_PASSWORD = "not-the-keystore-password"  # noqa: S105
WRONG_TS_PASSWORD = "not-the-truststore-password"  # noqa: S105


@dataclass
class Reproduction:
    folder: Path
    scenario_file: Path
    got: str
    check_code: str
    explain_code: str | None
    shape: list[str] = field(default_factory=list)  # what was reproduced
    not_reproduced: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return self.got == self.check_code and (self.explain_code is None or self.explain_code == self.got)

    def render(self) -> str:
        lines = [f"wrote {self.scenario_file}"]
        lines += [f"  {s}" for s in self.shape]
        lines.append(f"ran it: {self.got}")
        lines.append(
            f"check on the customer's stores: {self.check_code} -> "
            f"{'same' if self.got == self.check_code else 'DIFFERENT'}"
        )
        if self.explain_code is not None:
            same = "same" if self.explain_code == self.got else "DIFFERENT"
            lines.append(f"explain on the customer's error: {self.explain_code} -> {same}")
        for note in self.not_reproduced:
            lines.append(f"  not reproduced: {note}")
        lines.append(
            "reproduces the customer's failure" if self.matches else "does NOT reproduce the customer's failure"
        )
        return "\n".join(lines)


# -- reading the customer's material ------------------------------------------------------


def _key_spec(cert: x509.Certificate) -> tuple[str, str | None]:
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


def _signature(cert: x509.Certificate) -> str:
    algorithm = cert.signature_hash_algorithm
    name = algorithm.name if algorithm is not None else "sha256"
    return name if name in ("sha256", "sha384", "sha512", "sha1", "md5") else "sha256"


def _relative(moment: dt.datetime, now: dt.datetime) -> str:
    # Whole hours, so that a validity that starts "now" stays in the past when run later.
    hours = int((moment - now).total_seconds() // 3600)
    return f"{'+' if hours >= 0 else '-'}{abs(hours)}h"


def _ekus(cert: x509.Certificate) -> list[str] | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return [_EKU_NAMES[o] for o in ext if o in _EKU_NAMES]


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


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def _open_store(
    path: Path, password: Secret, role: Role, doc: dict[str, Any], shape: list[str]
) -> StoreContents | None:
    """The customer's store as the platform opens it, its format and PKCS#12 profile noted in ``doc``; None when
    it does not open (the scenario then reproduces why: a wrong password or a damaged file)."""
    from harness.stores import read_store

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


def _p12_encryption(data: bytes) -> str:
    if any(oid in data for oid in _P12_LEGACY) and _P12_PBES2 not in data:
        return "legacy"
    return "aes"


@dataclass
class _Pki:
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
        fp = _fingerprint(cert)
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
        key, note = _key_spec(cert)
        if note:
            self.notes.append(f"{name}: {note}")
        table: dict[str, Any] = {"kind": kind, "key": key, "signature": _signature(cert)}
        if self.keep_names:
            table["subject"] = cert.subject.rfc4514_string()
        else:
            label = {"root": "Example Root CA", "intermediate": "Example Issuing CA", "leaf": "example-client"}[kind]
            table["subject"] = f"CN={label} {name.rsplit('-', 1)[1]},O=Example Org"
        table["not_before"] = _relative(cert.not_valid_before_utc, self.now)
        table["not_after"] = _relative(cert.not_valid_after_utc, self.now)
        if kind == "leaf" or (self_signed and not _is_ca(cert)):
            ekus = _ekus(cert)
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
            name = self.names[_fingerprint(cert)]
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


# -- writing ------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


def _table(header: str, values: dict[str, Any]) -> list[str]:
    lines = [f"[{header}]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, dict | list) or k != "entries"]
    return lines


def _render(doc: dict[str, Any]) -> str:
    lines = [f"description = {_toml_value(doc['description'])}", f"tags = {_toml_value(doc['tags'])}", ""]
    for name, table in doc["pki"].items():
        lines += _table(f"pki.{name}", table)
        lines.append("")
    keystore = {k: v for k, v in doc["keystore"].items() if k != "entries"}
    lines += _table("keystore", keystore)
    lines.append("")
    for entry in doc["keystore"].get("entries", []):
        lines += ["[[keystore.entries]]"] + [f"{k} = {_toml_value(v)}" for k, v in entry.items()] + [""]
    lines += _table("truststore", doc["truststore"])
    lines.append("")
    server = {k: v for k, v in doc["server"].items() if k != "identity"}
    lines += _table("server", server)
    if "identity" in doc["server"]:
        lines += ["", *_table("server.identity", doc["server"]["identity"])]
    lines.append("")
    lines += _table("expect", doc["expect"])
    return "\n".join(lines) + "\n"


# -- the run --------------------------------------------------------------------------------


def _run_scenario(path: Path, engine_name: str) -> str:
    from harness.build import probe_for, write_scenario_files
    from harness.diagnose.verdict import diagnose, scenario_evidence
    from harness.engines.jsse import JsseEngine
    from harness.engines.python import PythonEngine
    from harness.pki import build_material
    from harness.scenario import load_scenario
    from harness.server.local import LocalServer
    from harness.stores import read_store

    scenario = load_scenario(path)
    material = build_material(scenario)
    folder = Path(tempfile.mkdtemp(prefix="mtls-reproduce-"))
    engine: Any = JsseEngine() if engine_name == "jsse" else PythonEngine()
    reason = engine.unavailable_reason()
    if reason is not None:
        raise UsageError("--engine", f"{engine_name} engine unavailable: {reason}", "install a JDK or --engine python")
    try:
        built = write_scenario_files(scenario, folder, material=material)
        with LocalServer(built.server, handshake_timeout=5.0) as server:
            outcome = engine.probe(probe_for(scenario, built, server.url))
            record = None
            if outcome.stage in ("handshake", "http", "done"):
                records = server.wait_for_handshakes(1, timeout=5.0)
                record = records[0] if records else None

        def contents(p: Path, password: Any, role: Any) -> Any:
            try:
                return read_store(p, password, role)
            except StoreError:
                return None

        evidence = scenario_evidence(
            scenario,
            material,
            keystore=contents(built.keystore, scenario.keystore.password, "keystore"),
            truststore=contents(built.truststore, scenario.truststore.password, "truststore"),
            handshake=record,
        )
        return diagnose(outcome, evidence).code
    finally:
        engine.close()
        shutil.rmtree(folder, ignore_errors=True)


def _check_code(destination: Any) -> str:
    """The code ``check`` gives on the customer's stores (no live part: nothing is sent)."""
    from harness.check import run_check
    from harness.knowledge.codes import OUTCOME_CODES

    report = run_check(destination)
    if report.errors:
        return report.errors[0].code
    warnings = [f.code for f in report.findings if f.code in OUTCOME_CODES]
    return warnings[0] if warnings else "ok"


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(str(out), "exists and is not a folder", "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(str(out), "is not empty", "choose another --out, or pass --force to replace it")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(str(out), f"{parent} is not a folder", "choose a writable --out")


def _load_profile(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(str(path), f"cannot read: {exc}", "give a profile written by `capture --out X.json`") from None
    except json.JSONDecodeError as exc:
        raise UsageError(str(path), f"not valid JSON (line {exc.lineno})", "give a profile from `capture`") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("client_auth"), str):
        raise UsageError(str(path), "is not a capture profile (no client_auth)", "run `capture URL --out X.json`")
    return doc


def _strings_of(cert: x509.Certificate) -> Iterator[str]:
    for name in (cert.subject, cert.issuer):
        for attr in name:
            value = attr.value if isinstance(attr.value, str) else ""
            if len(value) >= 3:
                yield value
    try:
        for general in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value:
            value = str(general.value)
            if len(value) >= 3:
                yield value
    except x509.ExtensionNotFound:
        pass


def reproduce(
    destination_path: Path,
    *,
    out: Path,
    profile: Path | None = None,
    error: str | None = None,
    keep_names: bool = False,
    force: bool = False,
    engine: str = "jsse",
) -> Reproduction:
    from harness.destination import load_destination, split_url

    _prepare_out(out, force)
    captured = _load_profile(profile) if profile is not None else None
    destination = load_destination(destination_path)
    static = replace(destination, url=None, origins={})
    check_code = _check_code(static)
    now = dt.datetime.now(dt.UTC)
    pki = _Pki(now, keep_names)
    shape: list[str] = []
    missing: list[str] = list(pki.notes)
    secrets = {destination.keystore_password.reveal(), destination.truststore_password.reveal()}
    customer_strings: set[str] = set()
    customer_bytes: list[bytes] = []

    keystore_doc: dict[str, Any] = {"password": KS_PASSWORD}
    truststore_doc: dict[str, Any] = {"password": TS_PASSWORD}
    # -- keystore
    keystore = _open_store(destination.keystore, destination.keystore_password, "keystore", keystore_doc, shape)
    if keystore is None:
        missing.append("the keystore could not be opened: its entries are stood in for by one good key entry")
    entries_doc: list[dict[str, Any]] = []
    roots: list[str] = []
    if keystore is not None:
        locked = any(e.locked for e in keystore.key_entries)
        if locked:
            keystore_doc["key_password"] = KEY_PASSWORD
        shape.append(
            f"keystore: {keystore_doc['format'].upper()}, {len(keystore.key_entries)} key entr"
            f"{'y' if len(keystore.key_entries) == 1 else 'ies'}, key password "
            f"{'differs from' if locked else 'equals'} the store password"
            + (f", PKCS#12 {keystore_doc['pkcs12_encryption']}" if keystore_doc["format"] == "pkcs12" else "")
        )
        all_certs: list[x509.Certificate] = []
        for index, entry in enumerate(keystore.key_entries, 1):
            chain_names = [pki.add(c) for c in entry.chain]
            all_certs += list(entry.chain)
            customer_strings.add(entry.alias)
            alias = entry.alias if keep_names else f"client-{index}"
            entries_doc.append({"alias": alias, "key": chain_names[0], "chain": chain_names})
            leaf = entry.chain[0]
            key, _ = _key_spec(leaf)
            shape.append(
                f"  entry {index}: chain of {len(entry.chain)}, {key}, {_signature(leaf)}, "
                f"EKU {_ekus(leaf)}, valid {_relative(leaf.not_valid_before_utc, now)} .. "
                f"{_relative(leaf.not_valid_after_utc, now)}"
            )
        for entry in keystore.key_entries:
            for cert in entry.chain:
                customer_strings.update(_strings_of(cert))
                customer_bytes.append(cert.public_bytes(Encoding.DER))
        pki.link(all_certs)
        for entry_doc in entries_doc:
            root = pki.root_of(entry_doc["key"])
            if root not in roots:
                roots.append(root)
        for cert_entry in keystore.cert_entries:
            customer_strings.update(_strings_of(cert_entry.cert))
    if not entries_doc and keystore is None:
        pki.tables["root-ca-1"] = {"kind": "root", "subject": "CN=Example Root CA 1,O=Example Org"}
        pki.tables["client-1"] = {"kind": "leaf", "issuer": "root-ca-1", "subject": "CN=example-client 1,O=Example Org"}
        entries_doc.append({"alias": "client-1", "key": "client-1"})
        roots.append("root-ca-1")
    keystore_doc["entries"] = entries_doc
    # -- truststore
    truststore = _open_store(
        destination.truststore, destination.truststore_password, "truststore", truststore_doc, shape
    )
    trust = ["server.root"]
    if truststore is not None:
        for cert in truststore.certificates:
            customer_strings.update(_strings_of(cert))
            customer_bytes.append(cert.public_bytes(Encoding.DER))
        trust, note = _truststore_relation(truststore.certificates, captured, pki)
        shape.append(f"truststore: {len(truststore.certificates)} trusted certificate(s); {note}")
        if captured is None:
            missing.append("what the truststore trusts of the server's chain (no --profile): it trusts the root")
    truststore_doc["trust"] = trust
    # -- server
    host, _, path = split_url(destination.url) if destination.url else ("", 0, "/")
    customer_strings.update(s for s in (host, path) if len(s) >= 3)
    server: dict[str, Any] = {"client_auth": "required", "trust": roots, "path": path if keep_names else "/inbound"}
    if captured is not None:
        server.update(_server_from_profile(captured, pki, keystore))
        shape.append(
            f"server (from the profile): client auth {server['client_auth']}, CA names "
            f"{'listed' if server.get('ca_names', True) else 'none'}, TLS {', '.join(server['tls_versions'])}"
        )
    else:
        missing.append(
            "the server's client-auth profile (no --profile): it requires a certificate from the key "
            "entries' root CA and lists its name"
        )
    doc = {
        "description": "Reproduced from a support case with `mtls-harness reproduce` (fresh keys, neutral names).",
        "tags": ["support", "reproduced"],
        "pki": pki.tables,
        "keystore": keystore_doc,
        "truststore": truststore_doc,
        "server": server,
        "expect": {"outcome": "handshake-failed"},  # replaced by what the run gives
    }
    explain_code = None
    if error:
        from harness.explain.ranking import explain

        explain_code = explain(error).codes()[0]
    with tempfile.TemporaryDirectory(prefix="mtls-reproduce-") as scratch:
        draft = Path(scratch) / "draft.toml"
        draft.write_text(_render(doc), "utf-8")
        try:
            got = _run_scenario(draft, engine)
        except ScenarioError as exc:
            raise HarnessError(
                "reproduce", f"the scenario written for this case is not valid ({exc.what})", "report this"
            ) from None
        if got == "ok" and check_code == "keystore-ambiguous" and len(roots) > 1 and captured is None:
            # With CA names the JDK picks the entry the server trusts. A server
            # that lists none and trusts one of the CAs shows the ambiguity:
            # the JDK picks by itself, and one of the two choices fails.
            for only in roots:
                server["trust"], server["ca_names"] = [only], False
                draft.write_text(_render(doc), "utf-8")
                got = _run_scenario(draft, engine)
                if got != "ok":
                    shape.append("server: lists no CA names and trusts one key entry's CA, not the one the JDK sends")
                    break
    doc["expect"] = {"outcome": got, "why": f"reproduced {now:%Y-%m-%d}; check on the originals gave {check_code}"}
    name = out.name or "reproduced"
    scenario_file = out / f"{name}.toml"
    text = _render(doc)
    if not keep_names:
        _assert_sanitized(text, customer_strings, secrets, customer_bytes)
    out.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(scenario_file, text.encode("utf-8"), private=False, overwrite=True)
    except OSError as exc:
        raise UsageError(str(out), f"cannot write: {exc.strerror}", "choose a writable --out") from None
    missing += [n for n in pki.notes if n not in missing]
    return Reproduction(out, scenario_file, got, check_code, explain_code, shape, missing)


def _truststore_relation(
    trusted: tuple[x509.Certificate, ...], captured: dict[str, Any] | None, pki: _Pki
) -> tuple[list[str], str]:
    """Which of the (local, reproduced) server's chain the truststore trusts, as the customer's does."""
    extra = [pki.names[_fingerprint(c)] for c in trusted if _fingerprint(c) in pki.names]
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
    if not trusted:
        return extra, "holds nothing the server presents"
    # Trusts something else: an unrelated CA stands in for it.
    pki.tables.setdefault("unrelated-ca", {"kind": "root", "subject": "CN=Unrelated Root CA,O=Example Org"})
    return ["unrelated-ca", *extra], "trusts none of the server's chain"


def _server_from_profile(captured: dict[str, Any], pki: _Pki, keystore: Any) -> dict[str, Any]:
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
                    name = pki.names.get(_fingerprint(cert))
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
    versions = [v.removeprefix("TLSv") for v in captured.get("tls_versions") or [] if v in ("TLSv1.2", "TLSv1.3")]
    if versions:
        server["tls_versions"] = sorted(versions)
    server["send_chain"] = bool(captured.get("intermediates_sent", True))
    chain = captured.get("chain") or []
    if chain and isinstance(chain[0], dict):
        server["identity"] = {"key": "rsa-2048" if str(chain[0].get("key", "")).startswith("RSA") else "ec-p256"}
    return server


# Words the neutral scenario itself is made of: a customer value that is one of
# them (CN=client, O=Example) is a coincidence, not a leak.
_VOCABULARY = (
    "reproduced from a support case with `mtls-harness reproduce` (fresh keys, neutral names). support reproduced "
    "client-1 client_auth issuing-ca root-ca example-client example root ca example issuing ca example org "
    "unrelated-ca partner-ca partner root ca example partner /inbound server.root server.intermediate server.leaf "
    "reproduce-keystore-pw reproduce-truststore-pw reproduce-key-pw not-the-keystore-password "
    "not-the-truststore-password required optional none pkcs12 legacy garbage serveraut clientauth "
    "digitalsignature keyencipherment keycertsign crlsign sha256 rsa-2048 ec-p256 handshake-failed"
)


def _assert_sanitized(text: str, strings: set[str], secrets: set[str], blobs: list[bytes]) -> None:
    lowered = text.lower()
    suspicious = {s for s in strings if len(s) >= 4 and s.lower() not in _VOCABULARY}
    for value in sorted(suspicious | {s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        if value.lower() in lowered:
            label = "a password" if value in secrets else repr(value)
            raise HarnessError(
                "reproduce",
                f"the scenario would contain {label} from the customer's material",
                "report this: nothing was written",
            )
    data = text.encode("utf-8")
    for blob in blobs:
        for start in range(0, max(1, len(blob) - 32), 256):
            if blob[start : start + 32] in data:
                raise HarnessError("reproduce", "the scenario would contain certificate bytes", "report this")
