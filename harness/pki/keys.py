"""Private keys for a scenario's certificates, from an in-process pool.

Key generation dominates the cost of a scenario (RSA-2048 ~30 ms, RSA-4096
~0.5 s), so keys come from a pool: distinct within a scenario, reused across
scenarios, made ahead in the background, and (opt-in) the slow types cached on disk.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.files import write_atomic
from harness.scenario import Scenario

__all__ = [
    "KEY_CACHE_ENV",
    "PrivateKey",
    "generate_key",
    "issuers_first",
    "key_description",
    "key_slots",
    "pooled_key",
    "prefetch_keys",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


_pool: dict[tuple[str, int], PrivateKey] = {}
_pending: dict[tuple[str, int], Future[PrivateKey]] = {}
_pool_lock = threading.Lock()
_prefetcher: ThreadPoolExecutor | None = None


def generate_key(key_type: str) -> PrivateKey:
    family, _, size = key_type.partition("-")
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=int(size))
    curves: dict[str, ec.EllipticCurve] = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}
    return ec.generate_private_key(curves[size])


# Opt-in on-disk cache for the slow key types (RSA-4096 ~0.5 s, RSA-3072
# ~0.2 s each): MTLS_HARNESS_KEY_CACHE=DIR, or --key-cache DIR on `run` /
# --mtls-key-cache DIR on pytest. Test keys only, but still private keys:
# the folder is 0700, each file 0600, and nothing is cached unless asked.
KEY_CACHE_ENV = "MTLS_HARNESS_KEY_CACHE"
_DISK_CACHED = ("rsa-3072", "rsa-4096")


def pooled_key(key_type: str, index: int) -> PrivateKey:
    """The ``index``-th pooled key of ``key_type``: same index, same key, any scenario.

    A key being made (by the prefetcher, or another thread) is waited for, never made twice.
    """
    slot = (key_type, index)
    with _pool_lock:
        key = _pool.get(slot)
        if key is not None:
            return key
        future = _pending.get(slot)
        mine = future is None
        if future is None:
            future = _pending[slot] = Future()
    if not mine:
        return future.result()
    try:
        key = _cached_key(key_type, index) if key_type in _DISK_CACHED else generate_key(key_type)
    except BaseException as exc:
        with _pool_lock:
            _pending.pop(slot, None)
        future.set_exception(exc)
        raise
    with _pool_lock:
        key = _pool.setdefault(slot, key)
        _pending.pop(slot, None)
    future.set_result(key)
    return key


def key_slots(scenario: Scenario) -> list[tuple[str, int]]:
    """The pooled keys a scenario uses, (type, index) per certificate, issuers first."""
    used: dict[str, int] = {}
    slots = []
    for name in issuers_first(scenario):
        key_type = scenario.pki[name].key
        slots.append((key_type, used.get(key_type, 0)))
        used[key_type] = used.get(key_type, 0) + 1
    return slots


def prefetch_keys(scenario: Scenario) -> None:
    """Make a scenario's keys in the background, ahead of ``build_material``.

    Key generation releases the GIL (cryptography's RSA keygen runs in Rust/
    OpenSSL outside it, measured), so it runs on another core while pytest
    collects and sets up. One thread: the pool is small and bounded by the
    largest scenario, so nothing long is left queued at exit.
    """
    global _prefetcher
    with _pool_lock:
        missing = [slot for slot in key_slots(scenario) if slot not in _pool and slot not in _pending]
        if not missing:
            return
        if _prefetcher is None:
            _prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtls-keys")
    for key_type, index in missing:
        _prefetcher.submit(pooled_key, key_type, index)


def _cached_key(key_type: str, index: int) -> PrivateKey:
    folder = os.environ.get(KEY_CACHE_ENV)
    if not folder:
        return generate_key(key_type)
    path = Path(folder) / f"{key_type}-{index}.pem"
    cached = _load_cached(path, key_type)
    if cached is not None:
        return cached
    key = generate_key(key_type)
    Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        # A damaged file is replaced; an absent one is created only if no
        # other process (an xdist worker) got there first.
        write_atomic(path, pem, private=True, overwrite=path.exists())
    except FileExistsError:
        # Use the other process's key, so that every process agrees on the
        # index-th key of this type.
        return _load_cached(path, key_type) or key
    return key


def _load_cached(path: Path, key_type: str) -> PrivateKey | None:
    try:
        # Our own cached key (0600): no consistency check (~30-100 ms for RSA-3072/4096).
        loaded = serialization.load_pem_private_key(
            path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (OSError, ValueError):
        return None  # absent or damaged
    if isinstance(loaded, rsa.RSAPrivateKey) and f"rsa-{loaded.key_size}" == key_type:
        return loaded
    return None


def key_description(key: object) -> str:
    """ "RSA-2048", "EC P-256": how the platform's tools name a key."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {names.get(key.curve.name, key.curve.name)}"
    return type(key).__name__


def issuers_first(scenario: Scenario) -> list[str]:
    """The [pki] names, each after its issuers: [pki] may list a leaf before its CA."""
    order: list[str] = []
    for name in scenario.pki:
        for member in reversed(scenario.chain_to_root(name)):
            if member not in order:
                order.append(member)
    return order
