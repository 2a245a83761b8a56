"""``reproduce``: a customer's destination turned into a sanitized regression scenario of the same shape.

Read from the customer's stores (never copied) into a shape
(``harness.reproduce.shape``). Written: one scenario file whose keys are
fresh, whose subjects, aliases, passwords, host and path are neutral
(``keep_names`` keeps subjects and aliases for internal use). The scenario is
run (``harness.run``) and its outcome compared with what ``check`` says of
the customer's stores (per engine: ``harness.reproduce.agreement``) and
``explain`` of the customer's error. The file is named after the destination's
``name`` (``harness.reproduce.naming``). Before
returning, the text is searched for every customer string, password and
certificate byte (``harness.reproduce.sanitize``); one found is an error.
Nothing is sent to the customer's server: ``check`` runs on the stores only.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.destination import Destination, load_destination, split_url
from harness.engines.jsse import JsseEngine
from harness.errors import HarnessError, ScenarioError, UsageError
from harness.explainer.ranking import explain
from harness.files import claimed_folder, refuse_symlink, write_atomic
from harness.jsonfile import BadJson, read_json
from harness.reproduce.agreement import Agreement, EngineSet, agreements, expectation
from harness.reproduce.naming import scenario_file_name
from harness.reproduce.profile import load_profile
from harness.reproduce.render import render_scenario
from harness.reproduce.sanitize import assert_sanitized, strings_of
from harness.reproduce.shape import (
    KEY_PASSWORD,
    KS_PASSWORD,
    TS_PASSWORD,
    Pki,
    eku_names,
    every_key_entry,
    key_spec,
    open_store,
    relative,
    server_from_profile,
    signature,
    truststore_relation,
)
from harness.text import shown

__all__ = ["Reproduction", "reproduce"]

# The names this module gives certificates and key entries (shape.Pki): a customer alias spelled like
# one is no customer string.
_NEUTRAL = re.compile(r"(client|root-ca|issuing-ca)-\d+")


@dataclass
class Reproduction:
    folder: Path
    scenario_file: Path
    got: str  # the code the written [expect] outcome states (the default JDK's, else python's)
    check_code: str
    explain_code: str | None
    shape: list[str] = field(default_factory=list)  # what was reproduced
    not_reproduced: list[str] = field(default_factory=list)
    engines: list[Agreement] = field(default_factory=list)  # one per engine run

    @property
    def matches(self) -> bool:
        explained = all(a.same or a.explained for a in self.engines)
        return explained and (self.explain_code is None or self.explain_code in {a.got for a in self.engines})

    def render(self) -> str:
        lines = [f"wrote {self.scenario_file}"]
        lines += [f"  {s}" for s in self.shape]
        lines.append("ran it on each engine (scenario's code, check's code on the customer's stores):")
        lines += [f"  {a.line()}" for a in self.engines]
        if self.explain_code is not None:
            same = "same" if self.explain_code in {a.got for a in self.engines} else "DIFFERENT"
            lines.append(f"explain on the customer's error: {self.explain_code} -> {same}")
        for note in self.not_reproduced:
            lines.append(f"  not reproduced: {note}")
        differing = [a.engine for a in self.engines if not a.same]
        if not self.matches:
            unexplained = [a.engine for a in self.engines if not a.same and not a.explained]
            where = f" on {', '.join(unexplained)}" if unexplained else ""
            lines.append(f"does NOT reproduce the customer's failure{where}")
        elif differing:
            lines.append(
                f"reproduces the customer's failure; {', '.join(differing)} differ(s) from check for the reason "
                f"given, and [expect] says so: `run {self.scenario_file}` passes on each engine above"
            )
        else:
            lines.append("reproduces the customer's failure: every engine gives check's code")
        return "\n".join(shown(line) for line in lines)  # aliases and paths from the customer's files: inert


def _above(entry: dict[str, Any], pki: Pki) -> list[str]:
    """The CAs a server trusts to accept this key entry: those above its chain's top, up to the root (stand-ins
    for issuers the customer's stores lack included, so the JDK's CA-name match and the server's path agree)."""
    chain = entry.get("chain") or [entry["key"]]
    found: list[str] = []
    name = pki.tables[chain[-1]].get("issuer")
    while name and name not in found:
        found.append(name)
        name = pki.tables[name].get("issuer")
    root = pki.root_of(entry["key"])
    return found if root in found else [*found, root]


def _show_the_choice(
    doc: dict[str, Any], draft: Path, engines: EngineSet, pki: Pki, shape: list[str], missing: list[str]
) -> str | None:
    """check's keystore-ambiguous (the JDK picks a key entry by its own order) as a run shows it: a server that
    lists no CA names and trusts one entry's CAs only; None when no such server tells the entries apart."""
    server = doc["server"]
    groups: list[list[str]] = []
    for entry in doc["keystore"]["entries"]:
        group = _above(entry, pki)
        if group not in groups:
            groups.append(group)
    if len(groups) < 2:
        # Entries under the same CAs: any server that trusts them takes either, and no run would show the
        # JDK's own choice. The last entry gets a CA of its own, so a server that takes only one shows it.
        entry = doc["keystore"]["entries"][-1]
        pki.tables["separate-root-ca"] = {"kind": "root", "subject": "CN=Example Separate Root CA,O=Example Org"}
        pki.tables[entry["key"]]["issuer"] = "separate-root-ca"
        entry["chain"] = [entry["key"]]
        groups.append(["separate-root-ca"])
        missing.append(
            "the key entries share their CAs; the last one is re-issued under a CA of its own, so that a server "
            "trusting only one entry's CA shows which entry the JDK's own order picks"
        )
    for group in groups:
        server["trust"], server["ca_names"] = group, False
        draft.write_text(render_scenario(doc), "utf-8")
        jdk = engines.jsse[0].name
        got = engines.run(draft, only=[jdk])[jdk].verdict.code
        if got == "keystore-ambiguous":
            shape.append("server: lists no CA names and trusts one key entry's CAs, not the one the JDK sends")
            return got
    return None


def _prepare_out(out: Path, force: bool) -> None:
    refuse_symlink(out, "--out")
    if out.exists() and not out.is_dir():
        raise UsageError(str(out), "exists and is not a folder", "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(str(out), "is not empty", "choose another --out, or pass --force to replace it")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(str(out), f"{parent} is not a folder", "choose a writable --out")


def reproduce(
    destination_path: Path,
    *,
    out: Path,
    profile: Path | None = None,
    error: str | None = None,
    keep_names: bool = False,
    force: bool = False,
    engine: str = "all",
    jdks: list[str] | None = None,
) -> Reproduction:
    """``engine``: python, jsse or all (default), jsse on each of ``jdks`` (default: the default JDK)."""
    _prepare_out(out, force)
    captured = load_profile(profile) if profile is not None else None
    destination = load_destination(destination_path)
    engines = EngineSet(engine, jdks)
    try:
        return _reproduce(destination_path, destination, out, profile, captured, error, keep_names, force, engines)
    finally:
        engines.close()


def _reproduce(
    destination_path: Path,
    destination: Destination,
    out: Path,
    profile: Path | None,
    captured: dict[str, Any] | None,
    error: str | None,
    keep_names: bool,
    force: bool,
    engines: EngineSet,
) -> Reproduction:
    static = replace(destination, url=None, origins={}, near_misses=())  # key names are not the TLS shape
    checks = engines.check_codes(static)
    now = dt.datetime.now(dt.UTC)
    pki = Pki(now, keep_names)
    shape: list[str] = []
    missing: list[str] = list(pki.notes)
    secrets = {destination.keystore_password.reveal(), destination.truststore_password.reveal()}
    customer_strings: set[str] = set()
    customer_bytes: list[bytes] = []

    keystore_doc: dict[str, Any] = {"password": KS_PASSWORD}
    truststore_doc: dict[str, Any] = {"password": TS_PASSWORD}
    # -- keystore
    keystore = open_store(destination.keystore, destination.keystore_password, "keystore", keystore_doc, shape)
    if keystore is not None and keystore.type == "pkcs12":
        with JsseEngine() as jdk:
            keystore = every_key_entry(keystore, destination.keystore_password, jdk)
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
        if keystore_doc["format"] == "pkcs12" and len(keystore.key_entries) > 1:
            # The harness writes one key entry per PKCS#12; the JDK's key manager chooses among a JKS's
            # entries the same way (by key type and CA names, then its own order).
            keystore_doc["format"] = "jks"
            keystore_doc.pop("pkcs12_encryption", None)
            missing.append(f"a PKCS#12 with {len(keystore.key_entries)} key entries is reproduced as a JKS")
        all_certs: list[x509.Certificate] = []
        for index, entry in enumerate(keystore.key_entries, 1):
            chain_names = [pki.add(c) for c in entry.chain]
            all_certs += list(entry.chain)
            if not _NEUTRAL.fullmatch(entry.alias):  # a neutral name of ours ("client-2") reveals nothing
                customer_strings.add(entry.alias)
            alias = entry.alias if keep_names else f"client-{index}"
            entries_doc.append({"alias": alias, "key": chain_names[0], "chain": chain_names})
            leaf = entry.chain[0]
            key, _ = key_spec(leaf)
            shape.append(
                f"  entry {index}: chain of {len(entry.chain)}, {key}, {signature(leaf)}, "
                f"EKU {eku_names(leaf)}, valid {relative(leaf.not_valid_before_utc, now)} .. "
                f"{relative(leaf.not_valid_after_utc, now)}"
            )
        for entry in keystore.key_entries:
            for cert in entry.chain:
                customer_strings.update(strings_of(cert))
                customer_bytes.append(cert.public_bytes(Encoding.DER))
        pki.link(all_certs)
        for entry_doc in entries_doc:
            root = pki.root_of(entry_doc["key"])
            if root not in roots:
                roots.append(root)
        for cert_entry in keystore.cert_entries:
            customer_strings.update(strings_of(cert_entry.cert))
    if not entries_doc and keystore is None:
        pki.tables["root-ca-1"] = {"kind": "root", "subject": "CN=Example Root CA 1,O=Example Org"}
        pki.tables["client-1"] = {"kind": "leaf", "issuer": "root-ca-1", "subject": "CN=example-client 1,O=Example Org"}
        entries_doc.append({"alias": "client-1", "key": "client-1"})
        roots.append("root-ca-1")
    keystore_doc["entries"] = entries_doc
    # -- truststore
    truststore = open_store(
        destination.truststore, destination.truststore_password, "truststore", truststore_doc, shape
    )
    trust = plain_trust = ["server.root"]
    if truststore is not None:
        plain_trust = truststore_relation(truststore.certificates, None, pki)[0]
        for cert in truststore.certificates:
            customer_strings.update(strings_of(cert))
            customer_bytes.append(cert.public_bytes(Encoding.DER))
        trust, note = truststore_relation(truststore.certificates, captured, pki)
        shape.append(f"truststore: {len(truststore.certificates)} trusted certificate(s); {note}")
        if captured is None and truststore.certificates:
            missing.append("what the truststore trusts of the server's chain (no --profile): it trusts the root")
    truststore_doc["trust"] = trust
    # -- server
    host, _, path = split_url(destination.url) if destination.url else ("", 0, "/")
    customer_strings.update(s for s in (host, path) if len(s) >= 3)
    server: dict[str, Any] = {"client_auth": "required", "trust": roots, "path": path if keep_names else "/inbound"}
    plain_server = dict(server)
    if captured is not None:
        server.update(server_from_profile(captured, pki, keystore))
        versions = ", ".join(server.get("tls_versions") or ["versions not in the profile"])
        shape.append(
            f"server (from the profile): client auth {server['client_auth']}, CA names "
            f"{'listed' if server.get('ca_names', True) else 'none'}, TLS {versions}"
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
        explain_code = (explain(error).codes() or ["handshake-failed"])[0]  # no TLS fact found: no cause
    check_code = next(iter(checks.values()))  # the first JDK's (python's is the same)
    with tempfile.TemporaryDirectory(prefix="mtls-reproduce-") as scratch:
        draft = Path(scratch) / "draft.toml"
        draft.write_text(render_scenario(doc), "utf-8")
        try:
            runs = engines.run(draft)
        except ScenarioError as exc:
            raise HarnessError(
                "reproduce", f"the scenario written for this case is not valid ({exc.what})", "report this"
            ) from None
        first = engines.jsse[0].name if engines.jsse else None
        if (
            first is not None
            and runs[first].verdict.code != checks[first] == "keystore-ambiguous"
            and len(entries_doc) > 1
            and captured is None
        ):
            _show_the_choice(doc, draft, engines, pki, shape, missing)
            # The server it leaves (one that shows the JDK's choice, or the last one tried) is the one written:
            # every engine runs on it.
            draft.write_text(render_scenario(doc), "utf-8")
            runs = engines.run(draft)
        without_profile = None
        differ = [name for name, run in runs.items() if run.verdict.code != checks[name]]
        if captured is not None and differ:
            # The same stores behind the default server: does the captured server make the difference?
            plain = {**doc, "server": plain_server, "truststore": {**truststore_doc, "trust": plain_trust}}
            draft.write_text(render_scenario(plain), "utf-8")
            without_profile = engines.run(draft, only=differ)
    expect = expectation(runs)
    doc["expect"] = {**expect, "why": f"reproduced {now:%Y-%m-%d}; check on the originals gave {check_code}"}
    if not engines.jsse:
        missing.append("run on the python engine only (--engine python): the JDK's code is not in [expect]")
    if len(engines.jsse) == len(engines.engines):
        missing.append("run on the JDK only (--engine jsse): python's code is not in [expect]")
    scenario_file = out / scenario_file_name(_destination_name(destination_path), destination_path)
    text = render_scenario(doc)
    if not keep_names:
        assert_sanitized(text, customer_strings, secrets, customer_bytes)
    inputs = [destination_path, destination.keystore, destination.truststore, *([profile] if profile else [])]
    try:
        with claimed_folder(out, option="--out", force=force, inputs=inputs) as staging:
            write_atomic(staging / scenario_file.name, text.encode("utf-8"), private=False)
    except OSError as exc:
        raise UsageError(str(out), f"cannot write: {exc.strerror}", "choose a writable --out") from None
    missing += [n for n in pki.notes if n not in missing]
    found = agreements(runs, checks, without_profile)
    return Reproduction(out, scenario_file, expect["outcome"], check_code, explain_code, shape, missing, found)


def _destination_name(path: Path) -> object:
    """The destination JSON's ``name`` attribute (a platform export has one), or None."""
    try:
        doc = read_json(path)
    except (BadJson, OSError):
        return None
    return doc.get("name") if isinstance(doc, dict) else None
