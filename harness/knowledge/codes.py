"""Outcome and warning codes: the stable, documented names of what happened.

The registry is data: ``codes.toml`` beside this file, read and checked once
at import (a mistake there is a :class:`RegistryError` naming the file and the
key). A scenario's ``[expect] outcome`` is an outcome code; ``check`` reports
findings with outcome and warning codes; JUnit and ``--json`` carry them.
Extend with care: users pin them in scenario files and CI dashboards.

A code's ``fix`` is prose, a template: ``fix("client-cert-expired",
keystore_file="ks.jks")`` fills ``{keystore_file}``; a field the finding does not
know renders as its name in upper case (KEYSTORE_FILE). Its optional
``command`` is one shell command that fixes the finding, printed only when the
finding knows every field it names (:meth:`Code.command`), each value quoted
for the shell (file names come from hostile input): runnable as printed, with
passwords only by environment variable names (KS_PASS, TS_PASS). The fields are
:data:`FIELDS`, nothing else.

``python -m harness.knowledge.codes --markdown`` prints the table of docs/check.md;
``--write docs/check.md`` replaces it between the marker comments, ``--write
docs/scenarios.md`` the outcome codes' table there (each file's own markers).
"""

from __future__ import annotations

import re
import shlex
import string
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

__all__ = [
    "CODES",
    "FIELDS",
    "KEYSTORE_PASS_ENV",
    "MARKDOWN_BEGIN",
    "MARKDOWN_END",
    "OUTCOMES_BEGIN",
    "OUTCOMES_END",
    "OUTCOME_CODES",
    "SUMMARIES",
    "TRUSTSTORE_PASS_ENV",
    "WARNING_CODES",
    "Code",
    "RegistryError",
    "code",
    "fix",
    "is_outcome",
    "is_registered",
    "load_codes",
    "markdown_table",
    "outcome_table",
    "replace_outcome_table",
    "replace_table",
]

Kind = Literal["outcome", "warning"]
Severity = Literal["error", "warning", "info"]
_KINDS: tuple[Kind, ...] = ("outcome", "warning")
_SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

# The fields a fix template may name: what a finding can know. An unknown one
# renders as its name in upper case (ALIAS, KEYSTORE_FILE ...).
FIELDS: dict[str, str] = {
    "alias": "the key entry's alias",
    "keystore_file": "the keystore file (the destination's keystoreFile; `keystore --out`)",
    "truststore_file": "the truststore file (the destination's truststoreFile; `truststore --out`)",
    "store_file": "the store file concerned, keystore or truststore",
    "url": "the destination's URL (`check --url`, `truststore URL`)",
    "host": "the URL's host",
    "key_pair": "the PKCS#12 key pair a keystore is built from (`keystore KEY_PAIR`)",
    "issuer": "the CA that issued the certificate in question",
    "trusted_cas": "the CAs the server trusts, or the client CA names it lists",
    "jdk": "a Java version (`--jdk`, `jdk install VERSION`)",
    # For commands: how keytool and mtls-harness must be told a store's type and password.
    "add_keystore_file": "the keystore whose certificates the truststore also holds (`truststore --add-keystore`)",
    "keystore_type": "the keystore's type for keytool -storetype (JKS, PKCS12)",
    "truststore_type": "the truststore's type for keytool -storetype (JKS, PKCS12)",
    "jks_keystore_file": "the keystore file when it is a JKS store (keytool -keypasswd changes JKS stores only)",
    "truststore_format": "the truststore's type for `truststore --format` (jks, pkcs12)",
    "store_type": "the type of store_file for keytool (JKS, PKCS12, JCEKS)",
    "store_named_type": "the type store_file's name stands for (.p12: PKCS12, .jks: JKS)",
    "store_pass_env": "the environment variable holding store_file's password (KS_PASS, TS_PASS)",
}

# The environment variables a printed command reads the passwords from (never a value on a command line).
KEYSTORE_PASS_ENV = "KS_PASS"  # noqa: S105 (a variable's name, not a password)
TRUSTSTORE_PASS_ENV = "TS_PASS"  # noqa: S105

_KEYS = {
    "kind",
    "severity",
    "severity_note",
    "summary",
    "note",
    "checks",
    "fix",
    "command",
    "look_at",
    "scenario",
    "no_scenario",
}
_REQUIRED = ("kind", "severity", "summary", "fix", "look_at")


class RegistryError(ValueError):
    """codes.toml is not a valid registry: the message names the file and the key."""


@dataclass(frozen=True)
class Code:
    """One code of the registry."""

    name: str
    kind: Kind
    severities: tuple[Severity, ...]  # those it is reported with, the usual one first
    summary: str
    fix_template: str
    look_at: str
    scenario: str | None = None  # scenarios/<scenario>.toml shows it
    no_scenario: str | None = None  # or why no scenario does
    note: str = ""
    checks: tuple[str, ...] = ()
    severity_note: str = ""  # when the other severities apply ("PEM: error")
    command_template: str = ""  # one shell command that fixes it, or none

    @property
    def severity(self) -> Severity:
        return self.severities[0]

    @property
    def is_outcome(self) -> bool:
        return self.kind == "outcome"

    @property
    def fields(self) -> frozenset[str]:
        """The fields its fix and command templates name."""
        return _names(self.fix_template) | _names(self.command_template.replace("[", "").replace("]", ""))

    @property
    def command_fields(self) -> frozenset[str]:
        """The fields its command needs: all must be known for it to be printed (those of an optional
        ``[...]`` part only drop that part)."""
        return _names(_OPTIONAL.sub("", self.command_template))

    def fix(self, **fields: str) -> str:
        """The fix with ``fields`` filled in; the others as upper-case placeholders (ALIAS)."""
        self._known_fields(fields)
        return self.fix_template.format_map(_Placeholders(fields))

    def command(self, **fields: str) -> str:
        """The command with ``fields`` filled in, each quoted for a POSIX shell; "" when it has none or
        a field it names is not known (a placeholder would not run as printed)."""
        self._known_fields(fields)
        known = {k: shlex.quote(v) for k, v in fields.items() if v}
        if not self.command_template or not self.command_fields <= set(known):
            return ""

        def optional(part: re.Match[str]) -> str:
            return part[1] if _names(part[1]) <= set(known) else ""

        return _OPTIONAL.sub(optional, self.command_template).format_map(known)

    def command_shown(self) -> str:
        """The command with its fields as upper-case placeholders: for the docs, never printed by a finding."""
        return self.command_template.format_map(_Placeholders())

    def _known_fields(self, fields: Mapping[str, str]) -> None:
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"{self.name}: fix fields {sorted(unknown)} are not among {sorted(FIELDS)}")


# An optional part of a command, ``[ --add-keystore {keystore_file}]``: printed when its fields are known.
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def _names(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return key.upper()


def _template_problem(template: str) -> str | None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"not a template: {exc}"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            return f"field {{{name}}} is not one of {sorted(FIELDS)}"
        if spec or conversion:
            return f"field {{{name}}} has a format spec or conversion"
    return None


def load_codes(text: str, source: str = "harness/knowledge/codes.toml") -> dict[str, Code]:
    """Parse and check a registry; every problem names ``source`` and the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{source}: not TOML: {exc}") from None
    if set(doc) != {"codes"} or not isinstance(doc["codes"], dict):
        raise RegistryError(f"{source}: holds exactly one table, [codes.*]")
    codes: dict[str, Code] = {}
    for name, raw in cast(dict[str, Any], doc["codes"]).items():
        codes[name] = _one(name, raw, f"{source}: codes.{name}")
    return codes


def _one(name: str, raw: Any, where: str) -> Code:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: not a table")
    unknown = set(raw) - _KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown keys {sorted(unknown)}")
    for key in _REQUIRED:
        if key not in raw:
            raise RegistryError(f"{where}: missing {key}")
    for key in ("summary", "fix", "look_at", "note", "scenario", "no_scenario", "severity_note"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            raise RegistryError(f"{where}.{key}: a non-empty string")
    if raw["kind"] not in _KINDS:
        raise RegistryError(f"{where}.kind: {raw['kind']!r} is not one of {list(_KINDS)}")
    severities = raw["severity"]
    if (
        not isinstance(severities, list)
        or not severities
        or any(s not in _SEVERITIES for s in severities)
        or len(set(severities)) != len(severities)
    ):
        raise RegistryError(f"{where}.severity: a list of distinct severities from {list(_SEVERITIES)}")
    if (len(severities) > 1) != ("severity_note" in raw):
        raise RegistryError(f"{where}.severity_note: says when the other severities apply, for more than one severity")
    if ("scenario" in raw) == ("no_scenario" in raw):
        raise RegistryError(f"{where}: needs either scenario or no_scenario (the reason there is none), not both")
    checks = raw.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise RegistryError(f"{where}.checks: a list of check names")
    if (problem := _template_problem(raw["fix"])) is not None:
        raise RegistryError(f"{where}.fix: {problem}")
    if "command" in raw and (problem := _command_problem(raw["command"])) is not None:
        raise RegistryError(f"{where}.command: {problem}")
    if "\n" in raw["summary"]:
        raise RegistryError(f"{where}.summary: one line")
    return Code(
        name=name,
        kind=raw["kind"],
        severities=tuple(severities),
        summary=raw["summary"],
        fix_template=raw["fix"],
        look_at=raw["look_at"],
        scenario=raw.get("scenario"),
        no_scenario=raw.get("no_scenario"),
        note=raw.get("note", ""),
        checks=tuple(checks),
        severity_note=raw.get("severity_note", ""),
        command_template=raw.get("command", ""),
    )


def _command_problem(template: object) -> str | None:
    """A command is one line of shell, its fields bare words (quoted when filled), passwords by env only."""
    if not isinstance(template, str) or not template.strip():
        return "a non-empty string"
    bare = _OPTIONAL.sub(lambda part: part[1], template)
    if "[" in bare or "]" in bare:
        return "an optional part is one [...], not nested, closed"
    if (problem := _template_problem(bare)) is not None:
        return problem
    if "\n" in template:
        return "one line"
    if re.search(r"['\"]\{|\}['\"]", template):
        return "a field is quoted when filled: do not quote it in the template"
    for word in template.split():
        if _PASSWORD_OPTION.fullmatch(word) and not word.endswith((":env", "-env")):
            return f"{word}: passwords only by environment variable (-storepass:env KS_PASS, --password-env TS_PASS)"
    return None


# keytool's -storepass, -keypass, -srcstorepass, -new (not its commands -keypasswd, -storepasswd); mtls-harness's
# --password-env, --p12-password-file ...
_PASSWORD_OPTION = re.compile(r"--?(?:[\w-]*pass(?:word)?(?:-[\w-]+)?|new)(?::\w+)?")


CODES: Mapping[str, Code] = load_codes(resources.files("harness.knowledge").joinpath("codes.toml").read_text("utf-8"))

# Derived views, in the registry's order.
OUTCOME_CODES: tuple[str, ...] = tuple(n for n, c in CODES.items() if c.is_outcome)
WARNING_CODES: tuple[str, ...] = tuple(n for n, c in CODES.items() if not c.is_outcome)
# code -> one-line meaning, for the outcome codes (what explain and scenario files speak of).
SUMMARIES: dict[str, str] = {n: CODES[n].summary for n in OUTCOME_CODES}


def code(name: str) -> Code:
    """The registered code ``name``; ValueError for a name that is not one."""
    try:
        return CODES[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a registered code (harness/knowledge/codes.toml)") from None


def fix(name: str, **fields: str) -> str:
    """The fix of code ``name`` with ``fields`` filled in (see :data:`FIELDS`)."""
    return code(name).fix(**fields)


def is_outcome(name: str) -> bool:
    """True for an outcome code; False for a warning code or an unregistered name."""
    found = CODES.get(name)
    return found is not None and found.is_outcome


def is_registered(name: str) -> bool:
    return name in CODES


# -- the table of docs/check.md -------------------------------------------------------------

MARKDOWN_BEGIN = "<!-- codes table: generated by `python -m harness.knowledge.codes --write docs/check.md` -->"
MARKDOWN_END = "<!-- end of codes table -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table() -> str:
    """Every code as a Markdown table: code, severity, kind, check, meaning, fix and its command
    (placeholders upper case)."""
    # The severity column starts with the usual severity: tests/test_check.py reads it.
    lines = ["| code | severity | kind | check | meaning | fix |", "|---|---|---|---|---|---|"]
    for found in CODES.values():
        meaning = found.summary + (f" ({found.note})" if found.note else "")
        severity = found.severity + (f" ({found.severity_note})" if found.severity_note else "")
        lines.append(
            f"| `{found.name}` | {severity} | {found.kind} | "
            f"{' / '.join(found.checks) or '-'} | {_cell(meaning)} | {_cell(_fix_cell(found))} |"
        )
    return "\n".join(lines)


def _fix_cell(found: Code) -> str:
    """The fix, then the command that does it (its fields as placeholders: check prints it filled in)."""
    return found.fix() + (f" Run: `{found.command_shown()}`" if found.command_template else "")


OUTCOMES_BEGIN = "<!-- outcome codes: generated by `python -m harness.knowledge.codes --write docs/scenarios.md` -->"
OUTCOMES_END = "<!-- end of outcome codes -->"


def outcome_table() -> str:
    """The outcome codes as a Markdown table (docs/scenarios.md): code, meaning, the catalogue scenario."""
    lines = ["| code | meaning | catalogue scenario |", "|---|---|---|"]
    for name in OUTCOME_CODES:
        found = CODES[name]
        meaning = found.summary + (f" ({found.note})" if found.note else "")
        shown = f"`scenarios/{found.scenario}.toml`" if found.scenario else "none: " + (found.no_scenario or "")
        lines.append(f"| `{name}` | {_cell(meaning)} | {_cell(shown)} |")
    return "\n".join(lines)


def _replace(document: str, begin_marker: str, end_marker: str, table: str) -> str:
    head, begin, rest = document.partition(begin_marker)
    _, end, tail = rest.partition(end_marker)
    if not begin or not end:
        raise ValueError(f"the markers {begin_marker!r} and {end_marker!r} are not both there")
    return f"{head}{begin_marker}\n{table}\n{end_marker}{tail}"


def replace_table(document: str) -> str:
    """``document`` with the text between the markers replaced by :func:`markdown_table`."""
    return _replace(document, MARKDOWN_BEGIN, MARKDOWN_END, markdown_table())


def replace_outcome_table(document: str) -> str:
    """``document`` with the text between the outcome markers replaced by :func:`outcome_table`."""
    return _replace(document, OUTCOMES_BEGIN, OUTCOMES_END, outcome_table())


def _main(argv: list[str]) -> int:
    # No argparse: only harness.cli parses command lines; this is a maintainer's tool.
    if argv == ["--markdown"]:
        print(markdown_table())
        return 0
    if len(argv) == 2 and argv[0] == "--write":
        path = Path(argv[1])
        document = path.read_text("utf-8")
        replace = replace_outcome_table if OUTCOMES_BEGIN in document else replace_table
        path.write_text(replace(document), "utf-8")
        return 0
    print(
        "usage: python -m harness.knowledge.codes --markdown | --write docs/check.md | --write docs/scenarios.md",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
