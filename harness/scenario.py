"""Scenario files (TOML, format v1) → validated, frozen dataclasses.

Structure is checked against the JSON Schema shipped beside this module
(``scenario.schema.json``, the same file editors use), so unknown keys, wrong
types and bad values are refused with the key path. Cross-references (an
issuer, a chain member, a trusted name) and rules the schema cannot state are
checked here. Every refusal is one :class:`~harness.errors.ScenarioError`
naming the file and the key path. See docs/scenarios.md for the format.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from harness.errors import ScenarioError
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
    "StoreSpec",
    "TimeSpec",
    "chain_to_root",
    "general_name",
    "load_scenario",
    "parse_scenario",
    "parse_time",
    "resolve_time",
    "schema",
]

# Certificates of the local server's identity (issued by trustme) that stores
# and chains may refer to, besides the names under [pki].
SERVER_NAMES = ("server.root", "server.intermediate", "server.leaf")

TimeSpec = dt.timedelta | dt.datetime
StoreFormat = Literal["jks", "pkcs12"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# What a certificate's validity can hold: cryptography refuses dates before 1950; datetime ends in 9999.
_EARLIEST = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)
_TRUSTME_NOT_BEFORE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_TRUSTME_NOT_AFTER = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
_DEFAULT_PASSWORD = "changeit"  # noqa: S105 - keytool's well-known default; only for an omitted [truststore]


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
            from harness.knowledge.java import parse_version, version_matches

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


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (format v1), as shipped in the package."""
    text = resources.files("harness").joinpath("scenario.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate one scenario file."""
    from harness.limits import SCENARIO_BYTES, NotARegularFile, TooLarge, read_bounded

    path = Path(path)
    try:
        # `mtls-harness run` validates every file, then pytest loads each again: the same file, unchanged
        # (inode, size, mtime), is the same Scenario (immutable). Failures are not cached.
        info = path.stat()
        identity = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
        cached = _LOADED.get(identity)
        if cached is not None:
            return cached
    except OSError:
        identity = None
    try:
        text = read_bounded(path, SCENARIO_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), "no such file", "check the path") from None
    except NotARegularFile as exc:
        raise ScenarioError(str(path), str(exc), "give a scenario TOML file") from None
    except TooLarge as exc:
        raise ScenarioError(str(path), f"not read: {exc}", "give a scenario TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), f"cannot read: {exc}", "give a UTF-8 TOML file") from None
    scenario = parse_scenario(text, path)
    if identity is not None:
        if len(_LOADED) >= 4096:
            _LOADED.clear()
        _LOADED[identity] = scenario
    return scenario


_LOADED: dict[tuple[str, int, int, int], Scenario] = {}


def parse_scenario(text: str, path: Path) -> Scenario:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), f"not valid TOML: {exc}", "fix the syntax") from None
    except ValueError:  # tomllib's int() past Python's 4300-digit limit (sys.set_int_max_str_digits)
        raise ScenarioError(str(path), "not valid TOML: an integer has too many digits", "fix the number") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ScenarioError(str(path), "not valid TOML: arrays or tables nested too deeply", "fix the syntax") from None
    from harness.limits import SCENARIO_CERTS

    pki = doc.get("pki")
    if isinstance(pki, dict) and len(pki) > SCENARIO_CERTS.value:
        # Each certificate costs a key: refused before the schema walks them or any key is made.
        raise ScenarioError(str(path), SCENARIO_CERTS.refusal(len(pki)), "split the scenario", key="pki")
    doc = _times_as_text(doc)
    _check_schema(doc, path)
    from harness.limits import SCENARIO_BIG_KEYS

    big = sum(1 for body in doc.get("pki", {}).values() if body.get("key") in ("rsa-3072", "rsa-4096"))
    if big > SCENARIO_BIG_KEYS.value:
        raise ScenarioError(str(path), SCENARIO_BIG_KEYS.refusal(big), "use rsa-2048 for most of them", key="pki")
    return _Builder(doc, path).build()


def parse_time(text: str) -> TimeSpec | None:
    """A relative time (``-30d``, ``+12h``; units s m h d w) or an RFC 3339 date / date-time (UTC if no offset)."""
    if match := re.fullmatch(r"([+-])(\d+)([smhdw])", text):
        try:
            seconds = int(match[2]) * _UNITS[match[3]]
            return dt.timedelta(seconds=seconds if match[1] == "+" else -seconds)
        except (ValueError, OverflowError):  # more digits than int() reads, or beyond timedelta's 999999999 days
            return None
    try:
        when = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def general_name(text: str) -> Any:
    """The ``x509.GeneralName`` of a ``san`` entry ("DNS:host", "IP:10.0.0.1", "EMAIL:a@b", "URI:...").

    ValueError (or its UnicodeEncodeError) when cryptography would refuse it.
    """
    from cryptography import x509  # deferred: scenario parsing stays light

    kind, _, value = text.partition(":")
    if kind == "DNS":
        return x509.DNSName(value)
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "EMAIL":
        return x509.RFC822Name(value)
    return x509.UniformResourceIdentifier(value)


def resolve_time(spec: TimeSpec, now: dt.datetime) -> dt.datetime:
    return now + spec if isinstance(spec, dt.timedelta) else spec


# -- structure ---------------------------------------------------------------


def _times_as_text(value: Any) -> Any:
    """TOML date-times become RFC 3339 strings, so one schema pattern covers both forms."""
    if isinstance(value, dict):
        return {k: _times_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_times_as_text(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat() + "Z"  # a local date-time: read as UTC
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()  # refused by the schema pattern, with its key path
    return value


@cache
def _validator() -> Any:
    import jsonschema  # deferred: costs ~60 ms, needed only when a scenario is read

    def pattern(validator: Any, regex: str, instance: Any, _schema: Any) -> Any:
        # JSON Schema patterns are ECMA-262, where "$" ends the string; Python's "$" also matches
        # before a final newline, which let "name\n" pass as a name and break one-line messages.
        if regex.endswith("$") and not regex.endswith("\\$"):
            regex = regex[:-1] + "\\Z"
        if validator.is_type(instance, "string") and not re.search(regex, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {regex!r}")

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})(schema())


def _check_schema(doc: dict[str, Any], path: Path) -> None:
    import jsonschema

    validator = _validator()
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is None:
        return
    # ``best_match`` prefers the deepest error; for if/then/else and oneOf the
    # useful one is inside the branch taken.
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    key = _key_path(error.absolute_path)
    raise ScenarioError(str(path), _describe(error), key=key or "(top level)")


def _key_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "array": "a list",
    "object": "a table",
    "number": "a number",
}


def _describe(error: Any) -> str:
    """One sentence for a schema violation, in TOML words, never echoing a password."""
    kind = error.validator
    value = error.instance
    shown = "(hidden)" if error.absolute_path and "password" in str(error.absolute_path[-1]) else value
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        hint = f"; known keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {', '.join(repr(e) for e in extra)}{hint}"
    if kind == "required":
        return str(error.message).replace(" is a required property", " is missing")
    if kind == "type":
        want = error.validator_value
        want_text = " or ".join(_TYPE_WORDS.get(w, w) for w in ([want] if isinstance(want, str) else want))
        return f"expected {want_text}, got {_kind_of(value)}"
    if kind == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return f"{_toml_repr(shown)} is not one of: {options}"
    if kind == "const":
        return f"must be {error.validator_value!r}, got {_toml_repr(shown)}"
    if kind == "pattern":
        hint = error.schema.get("description", f"must match {error.validator_value}")
        return f"{_toml_repr(shown)} is not valid: {hint}"
    if kind in ("minItems", "minLength"):
        return "must not be empty"
    if kind == "uniqueItems":
        return "has duplicate items"
    if kind in ("minimum", "maximum"):
        return f"{value} is out of range ({kind} {error.validator_value})"
    if kind == "propertyNames":
        return f"{_toml_repr(shown)} is not a valid name: use lower-case letters, digits, - and _"
    return str(error.message) if shown is value else f"invalid value ({kind})"


def _kind_of(value: Any) -> str:
    """What a TOML value is, in TOML words; never the value (it may be a password)."""
    if isinstance(value, bool):
        return "a boolean"
    words = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return words.get(type(value), type(value).__name__)


def _toml_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# -- meaning -------------------------------------------------------------------


def _is_ip(text: str) -> bool:
    """An IP address or network, as trustme reads a server name."""
    for parse in (ipaddress.ip_address, ipaddress.ip_network):
        try:
            parse(text)
        except ValueError:
            continue
        return True
    return False


class _Builder:
    def __init__(self, doc: dict[str, Any], path: Path) -> None:
        self.doc = doc
        self.path = path
        self.now = dt.datetime.now(dt.UTC)  # relative times are checked as if the certificates were issued now

    def fail(self, key: str, what: str, fix: str = "") -> ScenarioError:
        return ScenarioError(str(self.path), what, fix, key=key)

    def build(self) -> Scenario:
        pki = self._pki()
        keystore = self._keystore(pki)
        truststore = self._truststore(pki)
        server = self._server(pki)
        client = self._client()
        expect = self._expect()
        return Scenario(
            name=self.path.stem,
            path=self.path,
            description=self.doc.get("description", ""),
            tags=tuple(self.doc.get("tags", ())),
            pki=pki,
            keystore=keystore,
            truststore=truststore,
            server=server,
            client=client,
            expect=expect,
        )

    def time(self, key: str, text: str | None, default: TimeSpec | None) -> TimeSpec | None:
        if text is None:
            return default
        spec = parse_time(text)
        if spec is None:
            raise self.fail(key, f"{text!r} is not a valid date-time", "use RFC 3339")
        try:
            when = resolve_time(spec, self.now).astimezone(dt.UTC)
        except OverflowError:  # past year 9999 (or before year 1) once resolved or moved to UTC
            when = None
        if when is None or not _EARLIEST <= when <= _LATEST:
            raise self.fail(
                key, f"{text!r} is outside the dates a certificate can hold", "use a time between 1950 and 9999"
            )
        return spec

    def validity(
        self,
        key: str,
        before: TimeSpec | None,
        after: TimeSpec | None,
        default_before: TimeSpec,
        default_after: TimeSpec,
    ) -> tuple[TimeSpec, TimeSpec]:
        """A certificate's not_before and not_after. An omitted one takes its default, unless that would put the
        validity backwards: then it is the given one (a zero-length validity: an expired or not-yet-valid
        certificate). Both given must be in order."""
        if before is None:
            before = default_before if after is None or self.at(after) >= self.at(default_before) else after
        if after is None:
            after = default_after if self.at(default_after) >= self.at(before) else before
        self.check_validity(key, self.at(before), self.at(after))
        return before, after

    def at(self, spec: TimeSpec) -> dt.datetime:
        return resolve_time(spec, self.now)

    def check_validity(self, key: str, not_before: dt.datetime, not_after: dt.datetime) -> None:
        """cryptography refuses a certificate whose not_after is before its not_before."""
        if not_after < not_before:
            after, before = not_after.astimezone(dt.UTC), not_before.astimezone(dt.UTC)
            raise self.fail(
                f"{key}.not_after",
                f"is before not_before ({after:%Y-%m-%d %H:%M} < {before:%Y-%m-%d %H:%M} UTC)",
                "make not_after later than not_before",
            )

    def _pki(self) -> dict[str, CertSpec]:
        raw: dict[str, Any] = self.doc.get("pki", {})
        specs: dict[str, CertSpec] = {}
        for name, body in raw.items():
            key = f"pki.{name}"
            kind = body["kind"]
            issuer = body.get("issuer")
            if kind == "root" and issuer is not None:
                raise self.fail(f"{key}.issuer", "a root has no issuer", 'remove issuer or use kind = "intermediate"')
            if kind == "intermediate" and issuer is None:
                raise self.fail(
                    f"{key}.issuer", "an intermediate needs an issuer", "name the CA under [pki] that signs it"
                )
            if issuer is not None:
                if issuer not in raw:
                    raise self.fail(
                        f"{key}.issuer",
                        f"{issuer!r} is not defined under [pki]",
                        f"define [pki.{issuer}] or use one of: {', '.join(sorted(raw)) or '(none)'}",
                    )
                if raw[issuer]["kind"] == "leaf":
                    raise self.fail(
                        f"{key}.issuer",
                        f"{issuer!r} is a leaf and cannot issue certificates",
                        "name a root or intermediate",
                    )
            default_eku = ("clientAuth",) if kind == "leaf" else ()
            key_type = body.get("key", "rsa-2048")
            default_ku: tuple[str, ...]
            if kind == "leaf":
                default_ku = (
                    ("digitalSignature", "keyEncipherment") if key_type.startswith("rsa") else ("digitalSignature",)
                )
            else:
                default_ku = ("digitalSignature", "keyCertSign", "cRLSign")
            not_before, not_after = self.validity(
                key,
                self.time(f"{key}.not_before", body.get("not_before"), None),
                self.time(f"{key}.not_after", body.get("not_after"), None),
                dt.timedelta(days=-1),
                dt.timedelta(days=365 if kind == "leaf" else 3650),
            )
            specs[name] = CertSpec(
                name=name,
                kind=kind,
                issuer=issuer,
                key=key_type,
                subject=self._subject(f"{key}.subject", body.get("subject", f"CN={name}")),
                san=tuple(self._san(f"{key}.san[{j}]", text) for j, text in enumerate(body.get("san", ()))),
                eku=tuple(body.get("eku", default_eku)),
                ku=tuple(body.get("ku", default_ku)),
                not_before=not_before,
                not_after=not_after,
                signature=body.get("signature", "sha256"),
                path_length=body.get("path_length"),
            )
        self._check_no_cycles(specs)
        for name, spec in specs.items():
            signer = specs[spec.issuer] if spec.issuer else spec
            if spec.signature == "md5" and not signer.key.startswith("rsa"):
                # No ecdsa-with-MD5 algorithm exists (RFC 5758 defines SHA-1/SHA-2 only).
                raise self.fail(
                    f"pki.{name}.signature",
                    "md5 signatures need an RSA issuer key",
                    'use signature = "sha1", or an RSA issuer',
                )
        return specs

    def _subject(self, key: str, text: str) -> str:
        from cryptography import x509  # deferred: scenario parsing stays light

        try:
            x509.Name.from_rfc4514_string(text)
        except ValueError as exc:
            detail = f" ({exc})" if str(exc) else ""
            raise self.fail(
                key, f"{text!r} is not a distinguished name{detail}", 'write it like "CN=Acme Client,O=Acme"'
            ) from None
        return text

    def _san(self, key: str, text: str) -> str:
        try:
            general_name(text)
        except ValueError:  # not an IP address, or not ASCII (UnicodeEncodeError)
            raise self.fail(
                key,
                f"{text!r} is not a valid subject alternative name",
                'IP: takes one address; DNS:, EMAIL:, URI: take ASCII (A-labels: "DNS:xn--bcher-kva.example")',
            ) from None
        return text

    def _check_no_cycles(self, specs: Mapping[str, CertSpec]) -> None:
        from harness.limits import CHAIN_DEPTH

        for name in specs:
            seen = [name]
            while (issuer := specs[seen[-1]].issuer) is not None:
                if issuer in seen:
                    loop = " -> ".join([*seen, issuer])
                    raise self.fail(f"pki.{name}.issuer", f"issuers form a loop: {loop}", "end the chain at a root")
                seen.append(issuer)
                if len(seen) > CHAIN_DEPTH.value:
                    raise self.fail(f"pki.{name}.issuer", CHAIN_DEPTH.refusal(len(seen)), "shorten the chain")

    def _ref(self, key: str, name: str, pki: Mapping[str, CertSpec]) -> str:
        identity = self.doc.get("server", {}).get("identity", {})
        if name == "server.intermediate" and not identity.get("intermediate", True):
            raise self.fail(
                key,
                "'server.intermediate' does not exist: [server.identity] has intermediate = false",
                "remove it, or set intermediate = true",
            )
        if name in pki or name in SERVER_NAMES:
            return name
        known = ", ".join([*sorted(pki), *SERVER_NAMES])
        raise self.fail(key, f"{name!r} is not defined under [pki]", f"use one of: {known}")

    def _store_common(self, table: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        password = Secret(raw["password"])
        common: dict[str, Any] = {
            "format": raw.get("format", "jks"),
            "password": password,
            "destination_password": Secret(raw.get("destination_password", password.reveal())),
            "corrupt": raw.get("corrupt"),
            # "openssl3": what OpenSSL 3 writes by default, the same AES-256 / HMAC-SHA256 profile.
            "pkcs12_encryption": "aes"
            if raw.get("pkcs12_encryption") == "openssl3"
            else raw.get("pkcs12_encryption", "aes"),
        }
        if "java_trusted" in raw:
            if table != "truststore" or raw.get("format", "jks") != "pkcs12":
                raise self.fail(f"{table}.java_trusted", 'applies to a format = "pkcs12" truststore only', "remove it")
            common["java_trusted"] = raw["java_trusted"]
        if "file" in raw:
            file = (self.path.parent / raw["file"]).resolve()
            if not file.is_file():
                raise self.fail(
                    f"{table}.file",
                    f"{raw['file']!r} does not exist (looked in {str(file.parent)!r})",
                    "give a path relative to the scenario file",
                )
            common["file"] = file
            for generated in ("entries", "trust", "corrupt", "key_password"):
                if generated in raw:
                    raise self.fail(
                        f"{table}.{generated}",
                        f"cannot be combined with {table}.file",
                        "either use an existing store or describe one to generate",
                    )
        if common["pkcs12_encryption"] != "aes" and common["format"] != "pkcs12":
            raise self.fail(
                f"{table}.pkcs12_encryption", 'applies to format = "pkcs12" only', 'remove it or set format = "pkcs12"'
            )
        return common

    def _keystore(self, pki: Mapping[str, CertSpec]) -> StoreSpec:
        raw = self.doc.get("keystore")
        if raw is None:
            raise self.fail(
                "keystore",
                "missing [keystore] table",
                "describe the keystore the platform will use (entries = [] for an empty one)",
            )
        common = self._store_common("keystore", raw)
        key_password = Secret(raw.get("key_password", common["password"].reveal()))
        if common["format"] == "pkcs12" and key_password != common["password"]:
            # keytool itself refuses this: "Different store and key passwords not
            # supported for PKCS12 KeyStores".
            raise self.fail(
                "keystore.key_password",
                "a PKCS#12 keystore has one password for the store and its keys",
                'use format = "jks" to reproduce a differing key password',
            )
        keys: list[KeyEntrySpec] = []
        certs: list[CertEntrySpec] = []
        aliases: set[str] = set()
        for i, entry in enumerate(raw.get("entries", ())):
            key = f"keystore.entries[{i}]"
            alias = self._alias(f"{key}.alias", entry["alias"], common["format"], aliases)
            if "cert" in entry:
                certs.append(CertEntrySpec(alias, self._ref(f"{key}.cert", entry["cert"], pki)))
                continue
            owner = entry["key"]
            if owner not in pki:
                raise self.fail(
                    f"{key}.key",
                    f"{owner!r} is not defined under [pki]",
                    f"use one of: {', '.join(sorted(pki)) or '(none)'}",
                )
            if "chain" in entry:
                chain = tuple(self._ref(f"{key}.chain[{j}]", n, pki) for j, n in enumerate(entry["chain"]))
                if chain[0] != owner:
                    raise self.fail(
                        f"{key}.chain[0]",
                        f"the chain must start with the key's own certificate {owner!r}",
                        f"put {owner!r} first",
                    )
            else:
                full = chain_to_root(pki, owner)
                chain = full[:-1] if len(full) > 1 else full
            private_key = entry.get("private_key")
            if private_key is not None and (private_key not in pki or private_key == owner):
                raise self.fail(
                    f"{key}.private_key",
                    f"{private_key!r} is not another name under [pki]",
                    f"name the [pki] entry whose key to store instead of {owner!r}'s",
                )
            keys.append(KeyEntrySpec(alias, owner, chain, private_key))
        if common["format"] == "pkcs12" and common.get("file") is None:
            self._pkcs12_generatable("keystore", keys, certs)
        return StoreSpec(key_password=key_password, key_entries=tuple(keys), cert_entries=tuple(certs), **common)

    def _pkcs12_generatable(self, table: str, keys: list[KeyEntrySpec], certs: list[CertEntrySpec]) -> None:
        """cryptography writes a PKCS#12 store with one key entry and its chain, or trusted certificates only."""
        if len(keys) > 1:
            raise self.fail(
                f"{table}.entries[1]",
                "a generated PKCS#12 keystore holds one key entry",
                'use format = "jks" for several',
            )
        if keys and certs:
            raise self.fail(
                f"{table}.entries",
                "a generated PKCS#12 keystore holds a key entry or trusted certificates, not both",
                'use format = "jks"',
            )
        if keys and keys[0].private_key is not None:
            # cryptography (as openssl pkcs12 -export) refuses to write a key that does not match its certificate.
            raise self.fail(
                f"{table}.entries[0].private_key",
                "a generated PKCS#12 keystore cannot hold a key that does not match its certificate",
                'use format = "jks" for a key-certificate mismatch',
            )
        if not keys and not certs:
            raise self.fail(
                f"{table}.entries" if table == "keystore" else "truststore.trust",
                "a generated PKCS#12 store cannot be empty",
                'use format = "jks" for an empty store',
            )

    def _alias(self, key: str, alias: str, fmt: str, seen: set[str]) -> str:
        if fmt == "jks" and alias != alias.lower():
            # JKS aliases are case-insensitive: the JDK lower-cases them, so an
            # upper-case alias would not be "kept as written".
            raise self.fail(
                key,
                f"{alias!r}: JKS stores keep aliases in lower case",
                f'write {alias.lower()!r}, or use format = "pkcs12"',
            )
        if alias.lower() in seen:
            raise self.fail(key, f"alias {alias!r} is used twice", "give every entry its own alias")
        seen.add(alias.lower())
        return alias

    def _truststore(self, pki: Mapping[str, CertSpec]) -> StoreSpec:
        raw = self.doc.get("truststore")
        if raw is None:
            password = Secret(_DEFAULT_PASSWORD)
            return StoreSpec(
                "jks", password, password, password, cert_entries=(CertEntrySpec("server-root", "server.root"),)
            )
        common = self._store_common("truststore", raw)
        certs: list[CertEntrySpec] = []
        aliases: set[str] = set()
        trust = raw.get("trust", [] if ("entries" in raw or "file" in raw) else ["server.root"])
        for i, name in enumerate(trust):
            ref = self._ref(f"truststore.trust[{i}]", name, pki)
            alias = self._alias(f"truststore.trust[{i}]", ref.replace(".", "-"), common["format"], aliases)
            certs.append(CertEntrySpec(alias, ref))
        for i, entry in enumerate(raw.get("entries", ())):
            key = f"truststore.entries[{i}]"
            alias = self._alias(f"{key}.alias", entry["alias"], common["format"], aliases)
            certs.append(CertEntrySpec(alias, self._ref(f"{key}.cert", entry["cert"], pki)))
        if common["format"] == "pkcs12" and common.get("file") is None:
            self._pkcs12_generatable("truststore", [], certs)
        return StoreSpec(key_password=common["password"], cert_entries=tuple(certs), **common)

    def _server(self, pki: Mapping[str, CertSpec]) -> ServerSpec:
        raw = self.doc.get("server", {})
        client_auth = raw.get("client_auth", "required")
        if not re.fullmatch(r"/[\x21-\x7e]*", raw.get("path", "/")):
            # The request line carries it: http.client refuses spaces and control characters, and non-ASCII.
            raise self.fail("server.path", "must be printable ASCII without spaces", 'percent-encode, e.g. "/a%20b"')
        default_trust = [n for n, c in pki.items() if c.kind == "root"]
        trust = raw.get("trust", default_trust)
        for i, name in enumerate(trust):
            if name not in pki:
                raise self.fail(
                    f"server.trust[{i}]",
                    f"{name!r} is not defined under [pki]",
                    f"use one of: {', '.join(sorted(pki)) or '(none)'}",
                )
            if not pki[name].is_ca:
                raise self.fail(
                    f"server.trust[{i}]",
                    f"{name!r} is a leaf; the server trusts CAs",
                    "name the root or intermediate that issued the client certificate",
                )
        if client_auth != "none" and not trust:
            raise self.fail(
                "server.trust",
                "the server asks for client certificates but trusts no CA",
                "list the client CA names under [pki] it trusts",
            )
        ident = raw.get("identity", {})
        server_not_before = self.time("server.identity.not_before", ident.get("not_before"), None)
        server_not_after = self.time("server.identity.not_after", ident.get("not_after"), None)
        # harness.pki gives trustme None for an omitted (or zero: falsy) time, and trustme then takes
        # 2000-01-01 / 3000-01-01; an omitted one is moved to the given one as for [pki] certificates.
        at_before = self.at(server_not_before) if server_not_before else _TRUSTME_NOT_BEFORE
        at_after = self.at(server_not_after) if server_not_after else _TRUSTME_NOT_AFTER
        if at_after < at_before and not (server_not_before and server_not_after):
            given = server_not_before or server_not_after
            assert given is not None  # the defaults alone are in order
            server_not_before = server_not_after = given
            at_before = at_after = self.at(given)
        self.check_validity("server.identity", at_before, at_after)
        names = tuple(ident.get("names", ("127.0.0.1", "localhost")))
        for i, name in enumerate(names):
            self._server_name(f"server.identity.names[{i}]", name, common_name=i == 0)
        identity = ServerIdentitySpec(
            key=ident.get("key", "ec-p256"),
            names=names,
            intermediate=ident.get("intermediate", True),
            not_before=server_not_before,
            not_after=server_not_after,
        )
        request = raw.get("client_cert_request")
        if request == "post-handshake":
            if tuple(raw.get("tls_versions", ())) != ("1.3",):
                raise self.fail(
                    "server.client_cert_request",
                    "asking after the handshake is TLS 1.3 post-handshake authentication here; TLS 1.2 "
                    "renegotiation cannot be imitated (Python's ssl module cannot renegotiate)",
                    'set tls_versions = ["1.3"]',
                )
            if client_auth == "none":
                raise self.fail(
                    "server.client_cert_request", "post-handshake with client_auth = \"none\"", "set client_auth"
                )
        chosen = raw.get("persona", "openssl")
        knobs = [k for k in ("rejection", "client_cert_request", "verify_depth") if k in raw]
        if chosen == "java" and knobs:
            raise self.fail(
                f"server.{knobs[0]}", "is not a knob of the java persona (a real JSSE server)", "remove it"
            )
        if raw.get("check_client_names") and chosen != "java":
            raise self.fail("server.check_client_names", "needs persona = \"java\"", 'set persona = "java"')
        return ServerSpec(
            persona=chosen,
            check_client_names=raw.get("check_client_names", False),
            rejection=raw.get("rejection"),
            client_cert_request=request,
            verify_depth=raw.get("verify_depth"),
            client_auth=client_auth,
            trust=tuple(trust),
            ca_names=raw.get("ca_names", True),
            send_chain=raw.get("send_chain", True),
            tls_versions=tuple(sorted(raw.get("tls_versions", ("1.2", "1.3")))),
            path=raw.get("path", "/"),
            status=raw.get("status", 200),
            identity=identity,
        )

    def _server_name(self, key: str, name: str, *, common_name: bool) -> None:
        """A name trustme can issue the server certificate for (trustme's ``_identity_string_to_x509`` rules)."""
        import idna  # trustme's IDNA library (UTS #46), a dependency of trustme
        from cryptography import x509

        try:
            if "@" in name:
                x509.RFC822Name(name)
            elif not _is_ip(name):
                idna.encode(name.removeprefix("*."), uts46=True)
        except ValueError:  # idna.IDNAError is a UnicodeError, hence a ValueError
            raise self.fail(
                key, f"{name!r} is not a DNS name, IP address or e-mail address", 'e.g. "localhost" or "127.0.0.1"'
            ) from None
        if common_name and len(name.encode("utf-8")) > 64:
            raise self.fail(
                key, "the first name is the certificate's common name: at most 64 bytes", "put a shorter name first"
            )

    def _client(self) -> ClientSpec:
        raw = self.doc.get("client", {})
        versions = raw.get("tls_versions")
        if not re.fullmatch(r"[\x20-\x7e]*", raw.get("content_type", "")):
            # An HTTP header value: http.client refuses line breaks and anything outside Latin-1.
            raise self.fail("client.content_type", "must be printable ASCII", 'e.g. "application/json"')
        return ClientSpec(
            tls_versions=tuple(sorted(versions)) if versions else None,
            message=raw.get("message", ClientSpec.message),
            content_type=raw.get("content_type", ClientSpec.content_type),
            ciphers=tuple(raw["ciphers"]) if raw.get("ciphers") else None,
        )

    def _expect(self) -> Expectation:
        raw = self.doc["expect"]
        return Expectation(
            outcome=raw["outcome"],
            engines=dict(raw.get("engines", {})),
            why=raw.get("why", ""),
            jdk=dict(raw.get("jdk", {})),
        )
