"""What ``check`` found: the findings, the facts seen, and the verdict they add up to.

``Request`` is what ``check`` sends after the handshake; ``Finding`` one thing
found (a code, its severity, the check it belongs to, the file, entry or
certificate concerned, and its fix); ``Report`` the findings and facts of one
destination and the verdict: ready for go-live, or not. Only the judge
(``harness.check.judge``) adds findings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509

from harness.destination import Destination, request_target, split_url
from harness.knowledge import codes
from harness.stores import detect_type
from harness.text import shown

__all__ = [
    "CHECKS",
    "EXPIRING_DAYS",
    "LIVE_CHECKS",
    "SEVERITY_ORDER",
    "Finding",
    "Report",
    "Request",
    "Seen",
    "Severity",
    "is_jsse",
]

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: tuple[Severity, ...] = ("error", "warning", "info")

# The checks, in order; each becomes one JUnit testcase.
CHECKS = ("keystore", "client-certificate", "truststore", "server-chain", "client-ca-names", "handshake")
LIVE_CHECKS = ("server-chain", "client-ca-names", "handshake")  # they need a URL
EXPIRING_DAYS = 30


@dataclass(frozen=True)
class Request:
    """What ``check`` sends once the handshake is done.

    By default ``HEAD`` on the URL's path and query, no body: a request that
    changes nothing (RFC 9110 9.2.1: safe), routed by servers as GET is, with no
    answer body to download. ``--post FILE`` sends exactly that file's bytes with
    POST and ``content_type``, as the platform does.
    """

    method: str = "GET"
    body: bytes | None = None
    content_type: str = "application/json"
    source: Path | None = None  # the --post file

    def describe(self, url: str) -> str:
        target = request_target(url)
        if self.body is None:
            return f"{self.method} {target} (no body)"
        name = self.source.name if self.source else "the body"
        return f"{self.method} {target} with {name} ({len(self.body)} bytes, Content-Type: {self.content_type})"


@dataclass(frozen=True)
class Seen:
    """What one engine (a live handshake) or one JDK (its reading of the stores) saw of a finding's cause."""

    engine: str  # "python", "jsse-17.0.15"; "Java 17.0.15" for a JDK's reading of the stores
    code: str  # the code it gave on its own
    saw: str  # what it did and saw, in one line
    java: str = ""  # the Java version, for the JDK's


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    check: str
    subject: str  # the file, entry or certificate concerned
    message: str
    fix: str = ""
    # The engines whose live handshake gave this same finding (one finding per cause).
    engines: tuple[str, ...] = ()
    # What each engine or JDK saw of this cause, when several stacks saw it (possibly under other codes).
    seen: tuple[Seen, ...] = ()
    # One shell command that fixes it, runnable as printed (codes.toml ``command``), or "".
    command: str = ""


def is_jsse(engine_name: str) -> bool:
    """The platform's stack: ``jsse``, or ``jsse-VERSION`` when a JDK was chosen with ``--jdk``."""
    return engine_name == "jsse" or engine_name.startswith("jsse-")


@dataclass
class Report:
    destination: Destination
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)  # what was seen, for the summary
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))  # the time validity was judged for
    at_given: bool = False  # --at was given (the go-live date), rather than now
    engine_choice: str = "all"
    verified_with: list[str] = field(default_factory=list)  # engines whose live handshake the server accepted
    # The days until the first certificate (key entry's, truststore's or server's) expires, from ``at``.
    first_expiry: tuple[int, str] | None = None
    first_expiry_at: dt.datetime | None = None  # when that certificate expires (monitoring counts from now)
    # engine -> the exception its live probe raised, condensed to one line (``check -v`` shows it; not in JSON).
    raw_errors: dict[str, str] = field(default_factory=dict)
    # The certificates seen, for the --html report's chain diagrams (harness.html): each key entry's chain by
    # alias, the server's chain, and the CA names it lists (None: it did not ask, or was not looked at).
    client_chains: dict[str, tuple[x509.Certificate, ...]] = field(default_factory=dict)
    server_chain: tuple[x509.Certificate, ...] = ()
    ca_names: tuple[x509.Name, ...] | None = None
    # The truststore holds the keystore's certificates too (``truststore --add-keystore``): a command that
    # rewrites it does the same.
    truststore_adds_keystore: bool = False

    def add(
        self, code: str, check: str, subject: str, message: str, *, severity: Severity | None = None, **fields: str
    ) -> None:
        """A finding of ``code``: its severity and fix are the registry's (harness/knowledge/codes.toml).

        ``severity`` only for a code the registry allows more than one for (it must be one of them);
        ``fields`` fill the fix beyond what the destination tells (:meth:`fix`).
        """
        registered = codes.code(code)
        if severity is None:
            severity = registered.severity
        elif severity not in registered.severities:
            raise ValueError(f"{code} is not reported as {severity} (codes.toml: {list(registered.severities)})")
        # The subject and message carry aliases, subjects, server answers and URLs: inert, password masked,
        # so that no renderer (text, JSON, JUnit, fleet) shows a forged line, an escape or a credential.
        fix = self.fix(code, **fields)
        command = registered.command(**self.command_fields(check, fields))
        self.findings.append(
            Finding(code, severity, check, shown(subject), shown(message), shown(fix), command=shown(command))
        )

    def fix(self, code: str, **fields: str) -> str:
        """The registry's fix of ``code``, filled with the destination's files, URL and host, and ``fields``."""
        return codes.fix(code, **{**self.fix_fields(), **fields})

    def fix_fields(self) -> dict[str, str]:
        """What the destination tells a fix: the store files' names, the URL and its host."""
        dest = self.destination
        fields = {"keystore_file": dest.keystore.name, "truststore_file": dest.truststore.name}
        if dest.url is not None:
            fields |= {"url": dest.url, "host": split_url(dest.url)[0]}
        return fields

    def command_fields(self, check: str, fields: Mapping[str, str]) -> dict[str, str]:
        """What a command needs: the store files as paths the shell finds from here (the finding's
        ``store_file`` is the store of ``check``, or the one of that name), their types, the URL."""
        dest = self.destination
        out = {**self.fix_fields(), **fields}
        stores = {"keystore": dest.keystore, "truststore": dest.truststore}
        for name, where in stores.items():
            out[f"{name}_file"] = _from_here(where)
            out[f"{name}_type"] = _store_type(where)
        if self.truststore_adds_keystore:
            out["add_keystore_file"] = out["keystore_file"]
        if out["keystore_type"] == "JKS":
            out["jks_keystore_file"] = out["keystore_file"]
        out["truststore_format"] = out["truststore_type"].lower()
        store_file = fields.get("store_file")
        if store_file:
            role = check if check in stores else next((r for r, p in stores.items() if p.name == store_file), None)
            if role is None:
                del out["store_file"]  # not a file of the destination: no command names it
            else:
                path = stores[role]
                out["store_file"] = _from_here(path)
                out["store_type"] = _store_type(path, by_content=True)
                out["store_named_type"] = _NAMED_TYPES.get(path.suffix.lower(), "")
                out["store_pass_env"] = codes.KEYSTORE_PASS_ENV if role == "keystore" else codes.TRUSTSTORE_PASS_ENV
        return {key: value for key, value in out.items() if value}

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ready(self) -> bool:
        """Ready for go-live: tried live, no error, and the platform's stack (JSSE) verified it.

        Only when the user chose ``--engine python`` does an OpenSSL-only verification count.
        """
        if self.destination.url is None or self.errors:
            return False
        return bool(self.jsse_verified) or (self.engine_choice == "python" and "python" in self.verified_with)

    @property
    def jsse_verified(self) -> list[str]:
        """The JSSE engines (one per ``--jdk``: ``jsse-21.0.8``) whose live handshake the server accepted."""
        return [name for name in self.verified_with if is_jsse(name)]

    @property
    def exit_code(self) -> int:
        """0: ready, or (no URL) stores without an error; 1 otherwise."""
        if self.errors:
            return 1
        return 0 if self.ready or self.destination.url is None else 1

    def verdict(self) -> str:
        if self.errors:
            return "NOT ready for go-live"
        if self.destination.url is None:
            return "stores look right (no URL: not tried live)"
        if not self.ready:
            return "NOT ready for go-live: no engine verified the handshake"
        if self.jsse_verified:
            return f"ready for go-live (verified with JSSE, the platform's TLS stack: {', '.join(self.jsse_verified)})"
        return "ready for go-live, verified with OpenSSL only (the platform's JSSE was not tried)"

    def first_finding(self) -> Finding | None:
        for severity in ("error", "warning"):
            for finding in self.findings:
                if finding.severity == severity:
                    return finding
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "destination": shown(self.destination.source),
            "url": None if self.destination.url is None else shown(self.destination.url),
            "ok": not self.errors,
            "ready": self.ready,
            "verified_with": list(self.verified_with),
            "at": self.at.isoformat(timespec="seconds"),
            "first_expiry_days": self.first_expiry[0] if self.first_expiry else None,
            "findings": [
                {**asdict(f), "engines": list(f.engines), "seen": [asdict(s) for s in f.seen]} for f in self.findings
            ],
            "facts": {shown(key): shown(value) for key, value in self.facts.items()},
            "keys_not_used": list(self.destination.unused_keys),  # the destination JSON's other keys
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


# The store type a file name stands for, as keytool's -storetype names it.
_NAMED_TYPES = {
    ".jks": "JKS",
    ".keystore": "JKS",
    ".ks": "JKS",
    ".p12": "PKCS12",
    ".pfx": "PKCS12",
    ".pkcs12": "PKCS12",
}


def _store_type(path: Path, *, by_content: bool = False) -> str:
    """A store's type for keytool: by its first bytes (what the JDK goes by), else by its name, else JKS.

    ``by_content``: only what the bytes say ("" when they say nothing keytool reads)."""
    head = _head(path)
    found = {"jks": "JKS", "jceks": "JCEKS", "pkcs12": "PKCS12"}.get(detect_type(head) if head else "", "")
    if by_content or found in ("JKS", "PKCS12"):
        return found
    return _NAMED_TYPES.get(path.suffix.lower(), "JKS")


_HEAD = 4096  # enough for detect_type: magic numbers, a PFX's declared length, a PEM header


def _head(path: Path) -> bytes:
    """The first bytes of a regular file; b"" for anything else (a FIFO or device named as a store never
    blocks the report: opened non-blocking, checked before reading)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        return os.read(fd, _HEAD) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return b""
    finally:
        os.close(fd)


def _from_here(path: Path) -> str:
    """``path`` as a command run in this working folder finds it: relative below it, else absolute; never
    read as an option (``-evil.jks`` is ``./-evil.jks``)."""
    absolute = Path(os.path.abspath(path))  # not resolve(): a link (even a loop) is named as the user named it
    try:
        relative = str(absolute.relative_to(Path(os.path.abspath(Path.cwd()))))
    except (OSError, ValueError):
        return str(absolute)
    return f"./{relative}" if relative.startswith("-") else relative
