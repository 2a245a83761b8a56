"""Keys and certificates for a scenario.

The client PKI (including every deviant certificate: expired, wrong usage,
SHA-1, RSA-1024, self-signed) is built with ``cryptography``; the local
server's identity is issued by ``trustme``, the library made for exactly that.

Key generation dominates the cost of a scenario (RSA-2048 ~30 ms, RSA-4096
~0.5 s), so keys come from an in-process pool: distinct within a scenario,
reused across scenarios. A certificate is always freshly issued.

Modules: ``keys`` (the pool, its prefetcher and disk cache) and
``certificates`` (issuing the client PKI and the server's identity).
"""

from __future__ import annotations

from harness.pki.certificates import Issued, Material, build_material, sha256_fingerprint
from harness.pki.keys import KEY_CACHE_ENV, PrivateKey, generate_key, key_description, key_slots, prefetch_keys

__all__ = [
    "KEY_CACHE_ENV",
    "Issued",
    "Material",
    "PrivateKey",
    "build_material",
    "generate_key",
    "key_description",
    "key_slots",
    "prefetch_keys",
    "sha256_fingerprint",
]
