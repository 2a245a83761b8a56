"""The ``[pki]`` table: certificates, their issuers, names and validity."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from typing import Any

from cryptography import x509  # deferred: scenario parsing stays light

from harness.limits import CHAIN_DEPTH
from harness.scenario.model import CertSpec
from harness.scenario.reader import TableReader

__all__ = ["PkiTable", "general_name"]


def general_name(text: str) -> Any:
    """The ``x509.GeneralName`` of a ``san`` entry ("DNS:host", "IP:10.0.0.1", "EMAIL:a@b", "URI:...").

    ValueError (or its UnicodeEncodeError) when cryptography would refuse it.
    """

    kind, _, value = text.partition(":")
    if kind == "DNS":
        return x509.DNSName(value)
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "EMAIL":
        return x509.RFC822Name(value)
    return x509.UniformResourceIdentifier(value)


class PkiTable(TableReader):
    """Reads ``[pki]``: issuers exist and are CAs, no loops, names and validity cryptography accepts."""

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
        for name in specs:
            seen = [name]
            while (issuer := specs[seen[-1]].issuer) is not None:
                if issuer in seen:
                    loop = " -> ".join([*seen, issuer])
                    raise self.fail(f"pki.{name}.issuer", f"issuers form a loop: {loop}", "end the chain at a root")
                seen.append(issuer)
                if len(seen) > CHAIN_DEPTH.value:
                    raise self.fail(f"pki.{name}.issuer", CHAIN_DEPTH.refusal(len(seen)), "shorten the chain")
