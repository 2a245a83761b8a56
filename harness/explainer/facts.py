"""Facts read from a pasted error text: alerts and their direction, what the server asked, what the client sent.

Any text (a stack trace, ``curl -v``, ``openssl s_client``, a JDK 8 debug log, an
error page) is read here for the alerts, HTTP statuses and CertificateRequest signs
those tools print; a JDK 11+ ``javax.net.debug`` log record by record in
:mod:`harness.explainer.jdk_log`; every other stack's spelling of a fact in
:mod:`harness.explainer.normalise` (from ``knowledge/spellings.toml``).

A fact is a name (``alert_received:unknown_ca``) with a sentence saying what
was seen; ``knowledge.toml`` turns facts and phrases into outcome codes.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from harness.explainer.jdk_log import CertInfo, read_jdk_log
from harness.explainer.normalise import alert_facts, spelling_facts
from harness.knowledge.alerts import ALERT_NUMBERS, alert_name

__all__ = ["CertInfo", "Facts", "read_facts"]

# Every pattern here runs in time linear in the text (tests/test_attacks_explain.py): no two unbounded
# quantifiers that can match the same characters one after the other (``\s*\n\s*`` is written
# ``[ \t]*\n\s*+``), no ``.*`` to a later phrase that every earlier start would rescan, and the words
# of an alert's name at most 6 (the longest, "bad certificate status response", has 4).
# How each tool prints an alert it *received*:
_RECEIVED = (
    re.compile(r"Received fatal alert: (\w+)"),  # JSSE
    re.compile(r"RECV (?:TLSv[\d.]+|SSLv3) ALERT:\s+(?:fatal|warning),\s+(?:description = )?(\w+)"),  # JSSE before 11
    re.compile(r"handshake alert:\s+(\w+)"),  # JSSE before 11, a warning alert
    re.compile(r"\b(?:sslv3|tlsv1|tlsv13|tls) alert ([a-z]+(?: [a-z]+){0,6})", re.IGNORECASE),  # OpenSSL error strings
    re.compile(r"\b(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z_]+)"),  # OpenSSL reason codes (Python, Node)
    re.compile(r"TlsFatalAlertReceived: (\w+)\(\d+\)"),  # Bouncy Castle (BCJSSE)
    re.compile(r"\(IN\), TLS alert, ([a-z]+(?: [a-z]+){0,6}) \(\d+\)", re.IGNORECASE),  # curl -v
)
_SENT_JDK8 = re.compile(r"SEND (?:TLSv[\d.]+|SSLv3) ALERT:\s+fatal,\s+description = (\w+)")
_ALERT_NUMBER = re.compile(r"SSL alert number (\d+)")
_HTTP_STATUS = (
    re.compile(r"\bHTTP/\d(?:\.\d)?\s+(\d{3})\b"),
    re.compile(r"response code: (\d{3})\b"),
    re.compile(r"<title>\s*(\d{3})\b"),
    re.compile(r"\bstatus(?: code)?[ :=]+(\d{3})\b", re.IGNORECASE),
)


@dataclass
class Facts:
    """Fact name -> what was seen (a sentence), plus the parsed pieces."""

    seen: dict[str, str] = field(default_factory=dict)
    log_time: dt.datetime | None = None
    tls_version: str | None = None
    ca_names: tuple[str, ...] | None = None  # None: no CertificateRequest seen
    client_chain: tuple[CertInfo, ...] | None = None  # None: no client Certificate message seen
    server_chain: tuple[CertInfo, ...] | None = None
    key_entries: dict[str, tuple[CertInfo, ...]] = field(default_factory=dict)

    def add(self, name: str, sentence: str) -> None:
        self.seen.setdefault(name, sentence)

    def __contains__(self, name: object) -> bool:
        return name in self.seen


def read_facts(text: str) -> Facts:
    facts = Facts()
    _read_text(text, facts)
    read_jdk_log(text, facts)
    # Then every other spelling, normalised (harness/explainer/normalise.py, knowledge/spellings.toml).
    for name, sentence in spelling_facts(text):
        facts.add(name, sentence)
    for name, sentence in alert_facts(text, set(facts.seen)):
        facts.add(name, sentence)
    return facts


# -- any text ----------------------------------------------------------------------------


def _read_text(text: str, facts: Facts) -> None:
    for pattern in _RECEIVED:
        for match in pattern.finditer(text):
            name = alert_name(match.group(1))
            if name is not None:
                facts.add(
                    f"alert_received:{name}", f"the other side sent the alert {name} ({match.group(0).strip()!r})"
                )
    for match in _ALERT_NUMBER.finditer(text):
        alert = ALERT_NUMBERS.get(int(match.group(1)))
        if alert is not None:
            facts.add(f"alert_received:{alert}", f"the other side sent alert number {match.group(1)} ({alert})")
    for match in _SENT_JDK8.finditer(text):
        name = alert_name(match.group(1))
        if name is not None:
            facts.add(f"alert_sent:{name}", f"the JDK itself sent the alert {name}")
    for pattern in _HTTP_STATUS:
        for match in pattern.finditer(text):
            status = int(match.group(1))
            if 100 <= status <= 599:
                facts.add(f"http_status:{status}", f"an HTTP answer with status {status}")
                facts.add(f"http_class:{status // 100}xx", f"an HTTP answer with status {status}")
    lowered = text.lower()
    if "no peer certificate available" in lowered:
        facts.add("server_cert:none", "openssl: the server sent no certificate before it aborted")
    if re.search(
        r"while reading client request|client certificate verification failed|while SSL handshaking, client:", text
    ):
        facts.add("side:server_log", "a server's own log (it verified the client)")
    if "acceptable client certificate ca names" in lowered:
        facts.add("cert_requested", "openssl: the server asked for a client certificate")
        facts.add("ca_names:listed", "openssl: the server listed acceptable client CA names")
    if "no client certificate ca names sent" in lowered:
        facts.add("ca_names:none", "openssl: the server listed no client CA names")
    if re.search(r"\(IN\), TLS handshake, (?:Request CERT|CERT request)", text):
        facts.add("cert_requested", "curl: the server asked for a client certificate (Request CERT)")
    # JDK 8 debug logs: "*** CertificateRequest ... Cert Authorities:" and the
    # client's "*** Certificate chain" followed by "<Empty>" when it sent none.
    if "*** CertificateRequest" in text:
        facts.add("cert_requested", "the server asked for a client certificate (JDK 8 log: *** CertificateRequest)")
        if re.search(r"Cert Authorities:[ \t\r\f\v]*\n\s*+<Empty>", text):
            facts.add("ca_names:none", "the server's CertificateRequest names no CA (JDK 8 log)")
        elif re.search(r"Cert Authorities:[ \t\r\f\v]*\n\s*+<[^>\n]*=", text):
            facts.add("ca_names:listed", "the server listed acceptable client CA names (JDK 8 log)")
    if re.search(r"\*\*\* Certificate chain[ \t\r\f\v]*\n\s*+<Empty>", text):
        facts.add("client_cert:empty", "the client sent an empty certificate chain (JDK 8 log: <Empty>)")
    if re.search(r"\(OUT\), TLS handshake, CERT verify", text):
        facts.add("client_cert:sent", "curl: the client sent a certificate (CERT verify)")
