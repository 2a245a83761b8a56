"""The team's Python client for the partner's MTLS endpoint: stdlib only, PEM files."""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path


def post_order(url: str, *, client_chain: Path, client_key: Path, server_ca: Path, timeout: float = 10) -> int:
    """POST one order with our client certificate; the HTTP status. TLS failures raise ``ssl.SSLError``/``URLError``."""
    context = ssl.create_default_context(cafile=str(server_ca))
    context.load_cert_chain(client_chain, client_key)
    request = urllib.request.Request(  # noqa: S310 - an https URL from our configuration
        url, data=b'{"order": 1}', headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:  # noqa: S310
        return int(answer.status)
