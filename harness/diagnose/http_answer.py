"""The HTTP answer after a good handshake: a refusal of the client certificate, or a redirect.

nginx answers a missing or rejected certificate with its own 400 pages, Apache
a certificate asked for after a TLS 1.3 handshake with 403 (see
``raw_errors.HTTP_REJECTIONS``).

No answer at all after a completed handshake is ``http-timeout`` (issue 24):
the TLS layer accepted the client certificate, the application is silent.

A 3xx is ``http-redirect`` (issue 22): no engine follows it, and the verdict
says where it points and whether the platform's HttpsURLConnection would.
With redirects on (its default) HttpsURLConnection follows 300, 301, 302, 303
and 307 to a Location of the same protocol on any host, through the same
SSLSocketFactory, so the client certificate goes along; a POST is resent as
a GET without its body, except on 307. A 305's https Location it takes as
a proxy (it connects there). It never follows 308 nor https to http.
Measured with a plain HttpsURLConnection on Java 11.0.10, 17 and 21.0.8, and
asserted against the JDK in tests/test_redirects.py.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from harness.diagnose.client_certificate import client_cert_verdict
from harness.diagnose.evidence import Evidence, Verdict, asked_and_sent
from harness.diagnose.raw_errors import HTTP_REJECTIONS, TAG
from harness.diagnose.server_rejected import why_rejected
from harness.engines import Outcome, redirect_location

__all__ = [
    "JDK_FOLLOWS",
    "http_rejection",
    "is_redirect",
    "jdk_would_follow",
    "redirect_verdict",
    "silent_application",
]

# The statuses HttpURLConnection follows (HttpURLConnection.followRedirect0: 300 to 307 but 304 and 306; a 305's
# Location it takes as a proxy, measured: it connects there).
JDK_FOLLOWS = frozenset({300, 301, 302, 303, 305, 307})
MAX_REDIRECTS = 20  # the JDK's http.maxRedirects default: then "Server redirected too many times"


def _first_line(body: str) -> str:
    """The first line of a body that says something: tags stripped, so an HTML page gives its title."""
    for line in TAG.sub("\n", body).splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def http_rejection(outcome: Outcome, evidence: Evidence) -> Verdict | None:
    """A 4xx whose status or body says the client certificate was missing or rejected, as a client-cert verdict."""
    status = outcome.http_status or 0
    reason = outcome.http_reason or ""
    status_line = f"HTTP {status}" + (f" {reason}" if reason else "")
    body = outcome.response_body or ""
    first = _first_line(body)
    text = f"{status_line}\n{TAG.sub(' ', body)}"
    kind = next((k for pattern, k in HTTP_REJECTIONS if re.search(pattern, text, re.IGNORECASE | re.MULTILINE)), None)
    if kind is None:
        return None
    said = f"the handshake succeeded ({outcome.protocol}) but the server answered {status_line}" + (
        f' "{first}"' if first else ""
    )
    if kind == "post-handshake":
        return _post_handshake(outcome, evidence, said)
    if kind == "missing" or not asked_and_sent(outcome):
        return client_cert_verdict("client-cert-missing", evidence, said)
    return why_rejected(outcome, evidence, said)


def _post_handshake(outcome: Outcome, evidence: Evidence, said: str) -> Verdict:
    if outcome.engine == "jsse":
        cannot = "the JDK does not implement TLS 1.3 post-handshake authentication, so the platform cannot answer"
    else:
        cannot = "this client did not offer TLS 1.3 post-handshake authentication (the JDK cannot)"
    return Verdict(
        "renegotiation-failed",
        "server",
        f"{said}: the server asks for the client certificate only for this path, after the handshake; {cannot}",
        evidence.fix("renegotiation-failed"),
    )


def is_redirect(status: int | None) -> bool:
    """Any 3xx: the answer is elsewhere (304 Not Modified included: check sends no conditional request)."""
    return status is not None and 300 <= status < 400


def _target(url: str | None, location: str) -> str:
    """The Location resolved against the request's URL, as HttpURLConnection resolves it (relative: same origin)."""
    try:
        return urljoin(url or "https://destination/", location)
    except ValueError:
        return location


def jdk_would_follow(status: int, location: str | None, url: str | None = None) -> tuple[bool, str]:
    """Whether the platform's HttpsURLConnection (redirects on, its default) would follow this answer, and why."""
    if not location:
        return False, "there is no Location header, so HttpsURLConnection has nowhere to go: it returns the 3xx"
    if status not in JDK_FOLLOWS:
        return False, (
            f"HttpsURLConnection does not follow a {status} (it follows 300, 301, 302, 303, 305 and 307 only): "
            f"the platform gets the {status} itself"
        )
    try:
        scheme = urlsplit(_target(url, location)).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme != "https":
        return False, (
            "HttpsURLConnection never follows a redirect (nor takes a 305's proxy) that changes the protocol "
            f"(https to {scheme or '?'}): the platform gets the {status} itself"
        )
    if status == 305:
        return True, (
            "HttpsURLConnection takes a 305's Location as a proxy: the platform would connect there and ask it "
            "for a tunnel to this URL"
        )
    post = " (a POST is resent as a GET without its body)" if status != 307 else " (a POST is resent as a POST)"
    return True, (
        "HttpsURLConnection follows it by default (https to https, to any host) and sends the same client "
        f"certificate there{post}"
    )


def _default_port(scheme: str) -> int:
    return 80 if scheme == "http" else 443


def _where(url: str | None, location: str) -> tuple[str, bool]:
    """Where the Location points, next to the request's URL (another host, the same host), and whether it is the URL.

    The target is masked again: a relative Location resolved against a URL with credentials carries them.
    """
    target = _target(url, location)
    shown = redirect_location(target) or target
    if url is None:
        return shown, False
    try:
        here, there = urlsplit(url), urlsplit(target)
        same_host = (here.hostname, here.port or _default_port(here.scheme)) == (
            there.hostname,
            there.port or _default_port(there.scheme),
        )
    except ValueError:
        return shown, False
    if target == url:
        return f"{shown}, the same URL", True
    if not same_host:
        return f"{shown}, on another host or port", False
    return f"{shown}, on the same host" + (f" in {there.scheme}" if there.scheme != here.scheme else ""), False


def redirect_verdict(outcome: Outcome, evidence: Evidence) -> Verdict:
    """A 3xx: where it points (credentials masked: ``Outcome.location``) and whether the platform would follow it."""
    status = outcome.http_status or 0
    reason = outcome.http_reason or ""
    status_line = f"HTTP {status}" + (f" {reason}" if reason else "")
    location = outcome.location
    follows, why = jdk_would_follow(status, location, evidence.url)
    if location:
        where, loop = _where(evidence.url, location)
        said = f"a redirect to {where}"
        went = "no engine here follows a redirect, so neither the client certificate nor a request went there"
        if loop and follows:
            why += f"; back to this URL {MAX_REDIRECTS} times, then it fails: 'Server redirected too many times'"
    else:
        said = "a redirect with no Location header"
        went = "no engine here follows a redirect"
    return Verdict(
        "http-redirect",
        "server",
        f"the handshake succeeded ({outcome.protocol}) but the server answered {status_line}, {said}; {went}; "
        f"{why}: this URL does not answer the request itself, so check cannot say ready",
        evidence.fix("http-redirect"),
    )


def silent_application(outcome: Outcome, evidence: Evidence) -> Verdict | None:
    """The handshake completed, the request went out, and no answer came within the timeout: ``http-timeout``.

    The engines say so with ``Outcome.timeout_s``: python when not one byte of answer came back, jsse when
    HttpsURLConnection's read timed out after its handshake completed.
    """
    if outcome.timeout_s is None or outcome.completed or not outcome.handshake_completed:
        return None
    protocol = f" ({outcome.protocol})" if outcome.protocol else ""
    return Verdict(
        "http-timeout",
        "server",
        f"TLS{protocol} and the client certificate were accepted, but the application did not answer the "
        f"request within {outcome.timeout_s:g} s: the endpoint's TLS layer works, the application behind it "
        "is silent, down or slower than the timeout",
        evidence.fix("http-timeout"),
    )
