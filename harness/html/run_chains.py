"""A run's chains for its HTML report: carried in the JUnit file as testcase properties, read back from it.

``mtls-harness run --html`` asks the plugin (``--mtls-chains``) to attach, per
testcase, the client chain of each key entry and the chain the local server
sent: certificates only (public), each chain as base64 DER joined by commas, so
that no XML attribute carries a line break. ``run_page`` reads them back and
draws them as the check report does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = ["CLIENT", "SERVER", "chain_properties", "read_chain"]

CLIENT = "mtls-chain client "  # + the key entry's alias
SERVER = "mtls-chain server"
_MOST = 16  # certificates read back from one property: a hand-edited file cannot make the page huge


def _encoded(chain: Sequence[x509.Certificate]) -> str:
    return ",".join(base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii") for cert in chain)


def chain_properties(
    client: Iterable[tuple[str, Sequence[x509.Certificate]]], server: Sequence[x509.Certificate]
) -> list[tuple[str, str]]:
    """(name, value) testcase properties: one per key entry's chain, one for the server's."""
    properties = [(CLIENT + alias, _encoded(chain)) for alias, chain in client if chain]
    if server:
        properties.append((SERVER, _encoded(server)))
    return properties


def read_chain(value: str) -> tuple[x509.Certificate, ...]:
    """The certificates of one property's value; an undecodable one ends the chain there."""
    chain = []
    for part in value.split(",")[:_MOST]:
        try:
            chain.append(x509.load_der_x509_certificate(base64.b64decode(part, validate=True)))
        except (ValueError, binascii.Error):
            break
    return tuple(chain)
