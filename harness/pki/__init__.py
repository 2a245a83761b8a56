"""Keys and certificates for a scenario.

The client PKI (including every deviant certificate: expired, wrong usage,
SHA-1, RSA-1024, self-signed) is built with ``cryptography``; the local
server's identity is issued by ``trustme``, the library made for exactly that.

Key generation dominates the cost of a scenario (RSA-2048 ~30 ms, RSA-4096
~0.5 s), so keys come from an in-process pool: distinct within a scenario,
reused across scenarios. Scenarios of a run with identical ``[pki]``
tables share their certificates (``shared``).

Modules: ``keys`` (the pool, its prefetcher and disk cache),
``certificates`` (issuing the client PKI and the server's identity) and
``shared`` (a run issues each distinct ``[pki]`` table once: docs/speed.md).
"""

from __future__ import annotations

from harness.pki.certificates import Issued, Material, build_material, sha256_fingerprint
from harness.pki.keys import KEY_CACHE_ENV, PrivateKey, generate_key, key_description, key_slots, prefetch_keys
from harness.pki.shared import pki_key, reset_run, shared_material

__all__ = [
    "KEY_CACHE_ENV",
    "Issued",
    "Material",
    "PrivateKey",
    "build_material",
    "generate_key",
    "key_description",
    "key_slots",
    "pki_key",
    "prefetch_keys",
    "reset_run",
    "sha256_fingerprint",
    "shared_material",
]
