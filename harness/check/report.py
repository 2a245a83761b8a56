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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509

from harness.destination import Destination, request_target, split_url
from harness.knowledge import codes
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
        self.findings.append(Finding(code, severity, check, shown(subject), shown(message), shown(fix)))

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
