"""Facts read from a ``javax.net.debug`` log (JDK 11+ format: ``javax.net.ssl|LEVEL|…|message``).

The log is read record by record: the CertificateRequest's CA names and certificate types,
the client's Certificate message (empty or not, and each certificate's names, dates,
signature algorithm and EKU), the server's chain, the key entries the key manager found
(``ssl:keymanager``), received alerts and the alerts the JDK itself raised
(``Fatal (NAME): …``). JDK 8 lines and every other tool's text are :mod:`harness.explainer.facts`'s.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.explainer.normalise import HEX_CA_NAMES, hex_ca_names

if TYPE_CHECKING:
    from harness.explainer.facts import Facts

__all__ = ["CertInfo", "read_jdk_log"]

_RECORD = re.compile(
    r"^javax\.net\.ssl\|(?P<level>[A-Z]+)\|[^|]*\|[^|]*\|(?P<time>[^|]*)\|(?P<source>[^|]*)\|(?P<message>.*)$"
)
_FIELD = re.compile(r'"(?P<key>[a-z ]+?)"\s*:\s*"(?P<value>[^"]*)"')
_CERT_START = re.compile(r'"certificate"\s*:\s*\{')
_CA_NAMES = re.compile(r'"certificate authorities"\s*+:\s*+\[')
_WEAK_HASH = re.compile(r"\b(?:SHA1|MD5|MD2)with", re.IGNORECASE)


@dataclass(frozen=True)
class CertInfo:
    """One certificate as a ``javax.net.debug`` log prints it."""

    subject: str
    issuer: str
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    signature: str
    key: str
    ekus: tuple[str, ...] | None  # None: no ExtendedKeyUsage extension
    sans: tuple[str, ...] | None = None  # "DNSName: x", "IPAddress: 10.0.0.1"; None: no SubjectAlternativeName

    @property
    def self_signed(self) -> bool:
        return _dn(self.subject) == _dn(self.issuer)


def read_jdk_log(text: str, facts: Facts) -> None:
    """Add the facts of the ``javax.net.debug`` records in ``text`` (none: nothing added)."""
    records = _records(text)
    if records:
        facts.add("log:jdk", "a javax.net.debug log")
        _read_log(records, facts)


@dataclass(frozen=True)
class _Record:
    level: str
    time: str
    source: str
    message: str
    body: str


def _records(text: str) -> list[_Record]:
    records: list[_Record] = []
    head: re.Match[str] | None = None
    body: list[str] = []
    for line in text.splitlines():
        match = _RECORD.match(line.strip())
        if match:
            if head is not None:
                records.append(_record(head, body))
            head, body = match, []
        elif head is not None:
            body.append(line)
    if head is not None:
        records.append(_record(head, body))
    return records


def _record(head: re.Match[str], body: list[str]) -> _Record:
    return _Record(head["level"], head["time"], head["source"], head["message"], "\n".join(body))


def _time(value: str) -> dt.datetime | None:
    # "2026-12-03 08:29:33.778 UTC"; the JDK prints midnight as hour 24.
    match = re.match(r"(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})", value.strip())
    if not match:
        return None
    day, hour, minute, second = match.groups()
    try:
        base = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return base + dt.timedelta(hours=int(hour), minutes=int(minute), seconds=int(second))


def _dn(name: str) -> str:
    return ",".join(part.strip().lower() for part in name.split(","))


def _bracketed(text: str, opening: str) -> str | None:
    """What lies between the first ``opening`` and the next ``]`` (None: no such pair).

    A lazy regex up to the ``]`` gives the same, but rescans to the end of the
    text from every later ``opening`` when no ``]`` follows: quadratic in the text.
    """
    start = text.find(opening)
    if start < 0:
        return None
    start += len(opening)
    end = text.find("]", start)
    return text[start:end] if end >= 0 else None


def _certificates(body: str) -> tuple[CertInfo, ...]:
    parts = _CERT_START.split(body)[1:]
    certs = []
    for part in parts:
        fields = {m["key"].replace("  ", " "): m["value"] for m in _FIELD.finditer(part)}
        eku_list = _bracketed(part, "ExtendedKeyUsages [")
        ekus = tuple(eku_list.split()) if eku_list is not None else None
        san_list = _bracketed(part, "SubjectAlternativeName [")
        sans = tuple(s.strip() for s in san_list.splitlines() if s.strip()) if san_list is not None else None
        certs.append(
            CertInfo(
                subject=fields.get("subject", ""),
                issuer=fields.get("issuer", ""),
                not_before=_time(fields.get("not before", "")),
                not_after=_time(fields.get("not after", "")),
                signature=fields.get("signature algorithm", ""),
                key=fields.get("subject public key", ""),
                ekus=ekus,
                sans=sans,
            )
        )
    return tuple(certs)


def _ca_names(body: str) -> tuple[str, ...]:
    """The CertificateRequest's CA names.

    JDK 17 prints them one per line for TLS 1.3 but comma-joined on one line
    for TLS 1.2 ("[CN=A, O=X, CN=B, O=Y]"): a name starts again where the
    attribute type that began the current one comes back.
    """
    head = _CA_NAMES.search(body)
    listed = _bracketed(body[head.end() :], "") if head else None
    if listed is None:
        return ()
    names: list[str] = []
    for line in listed.splitlines():
        parts = [p.strip() for p in line.split(",") if p.strip() and "<" not in p]
        current: list[str] = []
        for part in parts:
            kind = part.split("=", 1)[0].upper()
            if current and kind == current[0].split("=", 1)[0].upper():
                names.append(", ".join(current))
                current = []
            current.append(part)
        if current:
            names.append(", ".join(current))
    return tuple(names)


def _read_log(records: list[_Record], facts: Facts) -> None:
    facts.log_time = _time(records[0].time)
    fatal = False
    finished = False
    hex_names: tuple[str, ...] = ()
    for record in records:
        message = record.message
        if "Negotiated protocol version:" in message:
            facts.tls_version = message.rsplit(":", 1)[1].strip()
        elif "Consuming ServerHello" in message and facts.tls_version is None:
            selected = re.search(r'"selected version":\s*\[(\w[\w.]*)\]', record.body)
            server = re.search(r'"server version"\s*:\s*"([\w.]+)"', record.body)
            facts.tls_version = selected.group(1) if selected else server.group(1) if server else None
            facts.add("server_hello", "the server answered the ClientHello")
        elif HEX_CA_NAMES in record.body and "unsupported extension" in message:  # JDK 11.0.10: in hex
            hex_names = hex_ca_names(record.body.split(HEX_CA_NAMES, 1)[1]) or ()
        elif "Consuming CertificateRequest" in message and facts.ca_names is None:
            facts.ca_names = _ca_names(record.body) or hex_names
            facts.add("cert_requested", "the server asked for a client certificate (CertificateRequest)")
            if facts.ca_names:
                facts.add("ca_names:listed", f"the server accepts certificates from: {'; '.join(facts.ca_names)}")
            else:
                facts.add("ca_names:none", "the server's CertificateRequest names no CA")
            types = re.search(r'"certificate types"\s*:\s*\[([^\]]*)\]', record.body)
            if types:
                facts.add("key_types_asked", f"the server asks for key types: {types.group(1).strip()}")
        elif "Produced client Certificate" in message and facts.client_chain is None:
            facts.client_chain = _certificates(record.body)
        elif "Consuming server Certificate" in message and facts.server_chain is None:
            facts.server_chain = _certificates(record.body)
        elif message.startswith("found key for"):
            alias = message.split(":", 1)[1].strip().rstrip("(").strip()
            facts.key_entries[alias] = _certificates(record.body)
        elif "No X.509 cert selected" in message or "No available authentication scheme" in message:
            facts.add("no_cert_selected", "the JDK found no key entry to answer the CertificateRequest with")
        elif "Received alert message" in message:
            description = re.search(r'"description"\s*:\s*"(\w+)"', record.body)
            level = re.search(r'"level"\s*:\s*"(\w+)"', record.body)
            if description:
                name = description.group(1)
                facts.add(
                    f"alert_received:{name}",
                    f"the server sent the alert {name} ({level.group(1) if level else 'fatal'})",
                )
        elif message.startswith("Fatal ("):
            fatal = True
            match = re.match(r"Fatal \((\w+)\): ", message)
            # What follows, less a trailing "(" (the JSON that follows on the next lines) and spaces.
            said = message[match.end() :].removesuffix("(").rstrip() if match else ""
            if match and not said.startswith("Received fatal alert"):
                name = match.group(1).lower()
                facts.add(f"alert_sent:{name}", f"the JDK itself failed the handshake and sent {name}: {said}")
        elif "Finished" in message and "Consuming" in message:
            finished = True
    if facts.tls_version:
        facts.add(f"tls:{facts.tls_version}", f"TLS version: {facts.tls_version}")
    if finished and not fatal:
        facts.add("handshake:completed", "the handshake completed (both Finished messages, no fatal alert)")
    _client_certificate_facts(facts)
    _key_entry_facts(facts)
    _server_chain_facts(facts)


def _listed(chain: tuple[CertInfo, ...], ca_names: tuple[str, ...]) -> bool:
    wanted = {_dn(n) for n in ca_names}
    return any(_dn(c.issuer) in wanted or _dn(c.subject) in wanted for c in chain)


def _client_certificate_facts(facts: Facts) -> None:
    chain = facts.client_chain
    if chain is None:
        return
    if not chain:
        facts.add("client_cert:empty", "the client answered with an empty Certificate message (no certificate)")
        return
    leaf = chain[0]
    facts.add("client_cert:sent", f"the client sent {leaf.subject}, issued by {leaf.issuer}")
    when = facts.log_time
    if when is not None and leaf.not_before is not None and leaf.not_after is not None:
        if leaf.not_before > when:
            facts.add(
                "client_cert:not_yet_valid",
                f"the client certificate is valid only from {leaf.not_before:%Y-%m-%d %H:%M} UTC, after the log's time",
            )
        elif leaf.not_after < when:
            facts.add(
                "client_cert:expired",
                f"the client certificate expired {leaf.not_after:%Y-%m-%d %H:%M} UTC, before the log's time",
            )
        else:
            facts.add("client_cert:in_date", "the client certificate is within its validity at the log's time")
    weak = [c for c in chain if not c.self_signed and _WEAK_HASH.search(c.signature)]
    if weak:
        facts.add("client_cert:weak_signature", f"{weak[0].subject} is signed with {weak[0].signature}")
    else:
        facts.add("client_cert:strong_signature", "every certificate the client sent is signed with SHA-2 or better")
    if leaf.ekus is not None and "clientAuth" not in leaf.ekus:
        facts.add(
            "client_cert:no_client_auth_eku",
            f"the client certificate's extended key usage is {', '.join(leaf.ekus)}, without clientAuth",
        )
    if not any(name.startswith("IPAddress:") for name in leaf.sans or ()):
        names = ", ".join(leaf.sans) if leaf.sans else "none"
        facts.add(
            "client_cert:no_ip_name",
            f"the client certificate names no IP address (subject alternative names: {names})",
        )
    if facts.ca_names and not _listed(chain, facts.ca_names):
        facts.add("client_cert:issuer_not_listed", "no certificate the client sent is issued by a CA the server listed")


def _key_entry_facts(facts: Facts) -> None:
    entries = facts.key_entries
    if not entries:
        return
    if len(entries) > 1:
        facts.add("key_entries:many", f"the keystore holds {len(entries)} key entries: {', '.join(entries)}")
    else:
        facts.add("key_entries:one", f"the keystore holds one key entry: {next(iter(entries))}")
    # SunX509KeyManagerImpl prints only each entry's first certificate: the
    # chain length of a key entry is never in the log.
    for alias, chain in entries.items():
        if facts.ca_names and chain and not _listed(chain, facts.ca_names):
            facts.add("key_entry:issuer_not_listed", f"key entry {alias} is not issued by any CA the server listed")


def _server_chain_facts(facts: Facts) -> None:
    chain = facts.server_chain
    if not chain:
        return
    if len(chain) == 1 and not chain[0].self_signed:
        facts.add(
            "server_chain:leaf_only",
            f"the server sent only its own certificate ({chain[0].subject}), not the issuing CA {chain[0].issuer}",
        )
