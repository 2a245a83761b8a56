"""Normalise a pasted text into facts: every stack's spelling of one thing becomes one fact name.

Alerts come out as ``alert_received:NAME`` / ``alert_sent:NAME`` (the IANA name) whatever
the spelling: Go's ``remote error: tls: bad certificate``, JSSE's ``Certificate Unknown (46)``,
``alert 48``, ``alert number 42``, or the bare name ``unknown_ca``. Where the spelling says
that the client sent it (Erlang/OTP's ``generated CLIENT ALERT: Fatal - Unknown CA``), it is
``client_alert:NAME``: the client rejected the server's certificate or handshake. Everything else comes from
the knowledge table ``harness/knowledge/spellings.toml`` (exceptions, other stacks' verifier
messages, debug-log lines, HTTP answers, people's own words). The explainer only reads the
tables: what a spelling means is the knowledge's (:mod:`harness.knowledge.alerts`, spellings.toml).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from harness.knowledge.alerts import (
    ALERT_NAMES,
    ALERT_NUMBERS,
    BORINGSSL_ALERT_CODES,
    GO_ALERT_TEXTS,
    NSS_ALERT_CODES,
    NSS_ALERT_TEXTS,
    alert_name,
)

__all__ = [
    "Spelling",
    "alert_facts",
    "hex_ca_names",
    "load_spellings",
    "quoted",
    "required_literal",
    "snippet",
    "spelling_facts",
    "spellings",
]

Fact = tuple[str, str]  # (name, sentence)

# Go: "remote error: tls: bad certificate" (received), "local error: tls: ..." (its own).
_GO = re.compile(r"\b(remote|local) error: tls: ([A-Za-z ]{3,40})")
_GO_TEXTS = sorted(GO_ALERT_TEXTS, key=len, reverse=True)
# JSSE and Wireshark titles: "Certificate Unknown (46)", "Description: Unknown CA (48)"; curl adds 512.
# The number first (a literal start), then at most five words before it: linear in the text.
_TITLE_NUMBER = re.compile(r" \((\d{1,3})\)")
# A number: "alert 48", "alert number 42", "SSL alert number 116", "alert #40".
_NUMBER = re.compile(r"\balert(?: number| no\.| #|:)? ?#?(\d{1,3})\b", re.IGNORECASE)
# Erlang/OTP ssl (Elixir, RabbitMQ, hex): "TLS client: In state certify at ssl_handshake.erl:2109 generated
# CLIENT ALERT: Fatal - Unknown CA"; the word before ALERT names the side that sent it, the first the log's writer.
_OTP = re.compile(
    r"\bD?TLS (client|server): In state \w{1,40}(?: at [\w.]{1,60}:\d{1,6})? (?:generated|received) "
    r"(CLIENT|SERVER) ALERT: (?:Fatal|Warning) - ([A-Za-z ]{3,40})"
)
# Windows SChannel (System log events 36887 and 36888): "A fatal alert was received from the remote endpoint.
# The TLS protocol defined fatal alert code is 48." and "A fatal alert was generated and sent to the remote
# endpoint. ... The TLS protocol defined fatal error code is 46.": "alert" received, "error" sent.
_SCHANNEL = re.compile(r"TLS protocol defined fatal (alert|error) code is (\d{1,3})\b")
# The JDK's own alert in a pasted fragment of a JDK 11+ log: "Fatal (BAD_CERTIFICATE): ...".
_FATAL = re.compile(r"\bFatal \(([A-Z_]{4,40})\)(?!: Received)")
# The bare IANA names with an underscore ("unknown_ca", "BAD_CERTIFICATE"): a plain word ("unknown") is not one.
_BARE = tuple(sorted((n for n in ALERT_NAMES if "_" in n), key=len, reverse=True))
# The same names in CamelCase, as rustls, Haskell's tls and .NET print them: "DecryptError", "UnknownCA".
_CAMEL_NAMES = (  # not InternalError, AccessDenied, DecodeError ...: words other programs print too
    "bad_certificate",
    "unknown_ca",
    "certificate_unknown",
    "certificate_expired",
    "certificate_revoked",
    "certificate_required",
    "unsupported_certificate",
    "handshake_failure",
    "decrypt_error",
    "protocol_version",
    "unrecognized_name",
    "bad_certificate_status_response",
    "insufficient_security",
)
_CAMEL = {"".join(w.capitalize() for w in name.split("_")): name for name in _CAMEL_NAMES}
_CAMEL |= {spelling.replace("Ca", "CA"): name for spelling, name in _CAMEL.items() if "Ca" in spelling}


def alert_facts(text: str, known: set[str]) -> list[Fact]:
    """Alert facts in spellings facts.py does not read; ``known``: the facts found so far.

    Each pattern runs only when its literal part is in the text (a regex over a megabyte costs
    a tenth of a second; ``str.find`` a millisecond).
    """
    lowered = text.lower()
    found: list[Fact] = []
    if "error: tls:" in text:
        found += _go(text)
    if " ALERT: " in text:
        found += _otp(text)
    if "(" in text:
        found += _titled(text)
    if "alert" in lowered:
        for match in _NUMBER.finditer(text):
            if name := _failure_alert(match.group(1)):
                found.append((f"alert_received:{name}", f"alert number {match.group(1)}: {name} ({match.group(0)!r})"))
    if "_ALERT" in text:
        for code, name in NSS_ALERT_CODES.items():
            if code in text:
                found.append((f"alert_received:{name}", f"NSS: the alert {name} ({code!r})"))
    if "peer" in lowered or "Server requires" in text:
        for sentence, name in NSS_ALERT_TEXTS.items():
            if sentence in text:
                found.append((f"alert_received:{name}", f"NSS: the alert {name} ({sentence!r})"))
    if "TLSV1_" in text:
        for code, name in BORINGSSL_ALERT_CODES.items():
            if code in text and name in ALERT_NAMES:
                found.append((f"alert_received:{name}", f"BoringSSL: the alert {name} ({code!r})"))
    if "protocol defined fatal" in text:
        for match in _SCHANNEL.finditer(text):
            if name := _failure_alert(match.group(2)):
                side = "received" if match.group(1) == "alert" else "sent"
                found.append((f"alert_{side}:{name}", f"SChannel: the alert {name} was {side} ({match.group(0)!r})"))
    if "Fatal (" in text:
        for match in _FATAL.finditer(text):
            name = match.group(1).lower()
            if name in ALERT_NAMES:
                found.append((f"alert_sent:{name}", f"the JDK itself raised the alert {name} ({match.group(0)!r})"))
    if not any(n.startswith("alert_") for n in known) and not found and len(lowered) == len(text):
        # Only when no tool's spelling said more (who sent it): the name alone, as the other side's.
        found += _bare(text, lowered) or _camel(text)
    return found


def _failure_alert(number: str) -> str | None:
    """The alert a number names, unless it is close_notify (0: a connection's normal end, no failure)."""
    name = ALERT_NUMBERS.get(int(number))
    return None if name == "close_notify" else name


def _camel(text: str) -> list[Fact]:
    """A CamelCase name's first stand-alone occurrence ("AlertLevel_Fatal,DecryptError", "AlertReceived(UnknownCA)")."""
    found = []
    for spelling, name in _CAMEL.items():
        at = text.find(spelling)
        while at >= 0:
            end = at + len(spelling)
            if (at == 0 or not text[at - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
                found.append((f"alert_received:{name}", f"the alert {name} ({spelling!r})"))
                break
            at = text.find(spelling, end)
    return found


def _go(text: str) -> list[Fact]:
    found = []
    for match in _GO.finditer(text):
        words = match.group(2).strip()
        name = next((GO_ALERT_TEXTS[t] for t in _GO_TEXTS if words.startswith(t)), None)
        if name is not None:
            kind = "alert_received" if match.group(1) == "remote" else "alert_sent"
            found.append((f"{kind}:{name}", f"Go: the {_side(kind)} alert {name} ({match.group(0).strip()!r})"))
    return found


def _otp(text: str) -> list[Fact]:
    found = []
    for match in _OTP.finditer(text):
        writer, sender, words = match.groups()
        name = alert_name(words.strip())
        if name is None:
            continue
        quoted = repr(match.group(0).strip())
        if sender == "CLIENT":  # the client's verdict on the server's certificate or handshake
            found.append((f"client_alert:{name}", f"Erlang/OTP: the client itself sent the alert {name} ({quoted})"))
        else:  # the server's: received by the client, or the writer's own when the server wrote the log
            kind = "alert_sent" if writer == "server" else "alert_received"
            found.append((f"{kind}:{name}", f"Erlang/OTP: the server sent the alert {name} ({quoted})"))
    return found


def _titled(text: str) -> list[Fact]:
    found = []
    for match in _TITLE_NUMBER.finditer(text):
        number = int(match.group(1))
        name = ALERT_NUMBERS.get(number) or ALERT_NUMBERS.get(number - 512)
        if not name or not number:
            continue
        # The (at most five) words right before the number, split by single spaces.
        before = text[max(0, match.start() - 60) : match.start()].rsplit("\n", 1)[-1].split(" ")
        words: list[str] = []
        for part in reversed(before[-5:]):
            if not (part.isascii() and part.isalpha()):
                break
            words.insert(0, part)
        if words and "_".join(words).lower().endswith(name):
            # curl -v: "* TLSv1.3 (OUT), TLS alert, unknown CA (560):" is the alert curl itself sent.
            line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
            side = "sent" if "(OUT), TLS alert" in line else "received"
            found.append((f"alert_{side}:{name}", f"the alert {name} ({' '.join(words) + match.group(0)!r})"))
    return found


def _bare(text: str, lowered: str) -> list[Fact]:
    """Each bare name's first stand-alone occurrence (not inside a longer word), found with str.find."""
    found = []
    for name in _BARE:
        at = lowered.find(name)
        while at >= 0:
            end = at + len(name)
            if (at == 0 or not _word(lowered[at - 1])) and (end == len(lowered) or not _word(lowered[end])):
                found.append((f"alert_received:{name}", f"the alert name {name} ({text[at:end]!r})"))
                break
            at = lowered.find(name, end)
    return found


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _side(kind: str) -> str:
    return "received" if kind == "alert_received" else "own"


@dataclass(frozen=True)
class Spelling:
    """One fact and the phrases that give it."""

    name: str
    says: str
    phrases: tuple[re.Pattern[str], ...]
    example: str
    source: str
    needs: tuple[str | None, ...] = ()  # per phrase: a lower-case literal every match contains (None: unknown)


def load_spellings(text: str) -> tuple[Spelling, ...]:
    """Parse and check the spellings table: unknown keys, a fact without phrases, a duplicate are errors."""
    doc = tomllib.loads(text)
    if set(doc) - {"fact"}:
        raise ValueError(f"unknown keys {sorted(set(doc) - {'fact'})}: only [[fact]] tables")
    allowed = {"name", "says", "phrases", "example", "source"}
    seen: set[str] = set()
    found = []
    for raw in doc.get("fact", []):
        where = f"fact {raw.get('name', '?')}"
        if set(raw) != allowed:
            raise ValueError(f"{where}: keys must be {sorted(allowed)}, not {sorted(raw)}")
        if raw["name"] in seen:
            raise ValueError(f"{where}: duplicate name")
        seen.add(raw["name"])
        found.append(
            Spelling(
                name=raw["name"],
                says=raw["says"],
                phrases=(phrases := _phrases(raw["phrases"], where)),
                example=raw["example"],
                source=raw["source"],
                needs=tuple(required_literal(p.pattern) for p in phrases),
            )
        )
    return tuple(found)


def _phrases(value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: phrases must be a non-empty list of strings")
    return tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in value)


@functools.cache
def spellings() -> tuple[Spelling, ...]:
    """The shipped table."""
    return load_spellings(resources.files("harness.knowledge").joinpath("spellings.toml").read_text("utf-8"))


_SYNTAX = re.compile(r"[\\.^$*+?{}\[\]|()]")


def required_literal(pattern: str) -> str | None:
    """The longest run of plain characters every match of ``pattern`` contains, lower case; None: none found.

    Only runs outside groups and classes count; a character followed by ``?``, ``*`` or ``{``
    is optional and left out; a top-level ``|`` means nothing is required.
    """
    runs: list[str] = []
    current = ""
    depth = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            runs.append(current)
            current = ""
            i += 2
            continue
        if char == "[":
            runs.append(current)
            current = ""
            i += 2 if pattern[i + 1 : i + 2] == "^" else 1
            i += 1 if pattern[i : i + 1] == "]" else 0  # a "]" first is a member
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            continue
        if char == "|" and depth == 0:
            return None
        if char in "?*{":
            current = current[:-1]
            runs.append(current)
            current = ""
            if char == "{":  # a repeat count: skip it
                close = pattern.find("}", i)
                i = close + 1 if close > 0 else len(pattern)
                continue
        elif char in "()":
            depth += 1 if char == "(" else -1
            runs.append(current)
            current = ""
        elif char in ".^$+|":
            runs.append(current)
            current = ""
        elif depth == 0:
            current += char
        i += 1
    runs.append(current)
    best = max(runs, key=len)
    return best.lower() if len(best) >= 3 else None


def spelling_facts(text: str, table: tuple[Spelling, ...] | None = None) -> list[Fact]:
    """The table's facts found in ``text``, each with the first phrase that gave it."""
    lowered = text.lower()
    same_length = len(lowered) == len(text)  # then a plain phrase is found with str.find
    found: list[Fact] = []
    for spelling in spellings() if table is None else table:
        for pattern, needs in zip(spelling.phrases, spelling.needs, strict=True):
            if same_length and needs is not None and needs not in lowered:
                continue  # cannot match: skip the regex (a tenth of a second over a megabyte)
            phrase = quoted(pattern, text, lowered if same_length else None)
            if phrase is not None:
                found.append((spelling.name, f"{spelling.says} ({snippet(phrase, 120)!r})"))
                break
    return found


def quoted(pattern: re.Pattern[str], text: str, lowered: str | None) -> str | None:
    """What ``pattern`` matched in ``text`` (its group ``evidence`` if it has one), else None.

    ``lowered``: ``text`` in lower case, the same length, for a case-insensitive pattern: a plain literal is
    then found with ``str.find`` instead of the regex engine.
    """
    if lowered is not None and not _SYNTAX.search(pattern.pattern):
        literal = pattern.pattern.lower()
        at = lowered.find(literal)
        return None if at < 0 else text[at : at + len(literal)]
    match = pattern.search(text)
    if match is None:
        return None
    return match.group("evidence") if "evidence" in pattern.groupindex else match.group(0)


def snippet(text: str, limit: int) -> str:
    """``text`` on one line (runs of white space as one space), cut to ``limit`` characters with "..."."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


# -- JDK 11.0.10 and older 11s: the certificate_authorities extension as a hex dump ---------------------

HEX_CA_NAMES = '"certificate_authorities (47)": {'  # in an "Ignore unknown or unsupported extension" record
_HEX_LINE = re.compile(r"^\s*[0-9A-Fa-f]{4}: ")
_ATTRIBUTES = {"550403": "CN", "550406": "C", "550407": "L", "550408": "ST", "55040a": "O", "55040b": "OU"}


def hex_ca_names(body: str) -> tuple[str, ...] | None:
    """The CA names of a hex-dumped certificate_authorities extension, as the JDK prints a name ("CN=A, O=X").

    ``body`` is the record's text after ``HEX_CA_NAMES``; None when it is not a well-formed list.
    Each dump line is ``OFFS: 16 hex bytes (8, three spaces, 8)  ASCII``: the bytes are the 49
    characters after the offset.
    """
    data = bytearray()
    for line in body.splitlines():
        if line.strip() == "}":
            break
        if _HEX_LINE.match(line):
            try:
                data += bytes.fromhex(line.split(": ", 1)[1][:49])
            except ValueError:
                return None
    try:
        total, at, names = int.from_bytes(data[:2], "big"), 2, []
        while at < min(len(data), total + 2):
            size = int.from_bytes(data[at : at + 2], "big")
            names.append(_der_name(bytes(data[at + 2 : at + 2 + size])))
            at += 2 + size
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return tuple(names) if names else None


def _der_name(der: bytes) -> str:
    """A DER Name (SEQUENCE of SET of SEQUENCE {OID, string}), most specific first ("CN=..., O=...")."""
    parts: list[str] = []
    for _, rdn in _der_items(_der_value(der, 0x30)):
        for _, pair in _der_items(rdn):
            (_, oid), (_, value) = _der_items(pair)[:2]
            parts.append(f"{_ATTRIBUTES.get(oid.hex(), 'OID.' + oid.hex())}={value.decode('utf-8')}")
    return ", ".join(reversed(parts))


def _der_value(der: bytes, tag: int) -> bytes:
    items = _der_items(der)
    if len(items) != 1 or items[0][0] != tag:
        raise ValueError("not one DER item of the expected tag")
    return items[0][1]


def _der_items(der: bytes) -> list[tuple[int, bytes]]:
    items, at = [], 0
    while at < len(der):
        tag, size, at = der[at], der[at + 1], at + 2
        if size & 0x80:
            count = size & 0x7F
            if not 0 < count <= 3:
                raise ValueError("DER length")
            size, at = int.from_bytes(der[at : at + count], "big"), at + count
        if at + size > len(der):
            raise ValueError("DER item past its end")
        items.append((tag, der[at : at + size]))
        at += size
    return items
