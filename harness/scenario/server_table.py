"""The ``[server]`` table: whom the local server trusts, its identity, its persona and knobs."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping

import idna  # trustme's IDNA library (UTS #46), a dependency of trustme
from cryptography import x509

from harness.scenario.model import CertSpec, ServerIdentitySpec, ServerSpec
from harness.scenario.reader import TableReader

__all__ = ["ServerTable"]

_TRUSTME_NOT_BEFORE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_TRUSTME_NOT_AFTER = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)


def _is_ip(text: str) -> bool:
    """An IP address or network, as trustme reads a server name."""
    for parse in (ipaddress.ip_address, ipaddress.ip_network):
        try:
            parse(text)
        except ValueError:
            continue
        return True
    return False


class ServerTable(TableReader):
    """Reads ``[server]``: trusted CAs, the identity trustme issues, the persona and the knobs it takes."""

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
                    "server.client_cert_request", 'post-handshake with client_auth = "none"', "set client_auth"
                )
        chosen = raw.get("persona", "openssl")
        knobs = [k for k in ("rejection", "client_cert_request", "verify_depth") if k in raw]
        if chosen == "java" and knobs:
            raise self.fail(f"server.{knobs[0]}", "is not a knob of the java persona (a real JSSE server)", "remove it")
        if raw.get("check_client_names") and chosen != "java":
            raise self.fail("server.check_client_names", 'needs persona = "java"', 'set persona = "java"')
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
