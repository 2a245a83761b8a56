"""The refusals every store reader shares: too many entries, a wrong password, a damaged entry."""

from __future__ import annotations

from harness.errors import StoreError
from harness.limits import STORE_ENTRIES
from harness.stores.entries import Role, StoreType

__all__ = ["damaged_entry", "too_many_entries", "unsupported", "wrong_password"]


def too_many_entries(where: str, role: Role, count: int) -> StoreError:
    return StoreError(
        where, f"not read: {STORE_ENTRIES.refusal(count)}", f"check {role}File", code="store-unreadable", bounded=True
    )


def wrong_password(where: str, role: Role) -> StoreError:
    return StoreError(
        where,
        f"{role}Pass does not open this {role} (integrity check failed)",
        f"set {role}Pass to the password the {role} was saved with",
        code=f"{role}-password-wrong",
    )


def damaged_entry(
    where: str, kind: StoreType, role: Role, alias: str, why: str = "its certificate or key does not parse"
) -> StoreError:
    label = "PKCS#12" if kind == "pkcs12" else kind.upper()
    return StoreError(
        where, f"damaged {label} entry ({why})", f"re-create the {role}", code="store-unreadable", entry=alias
    )


def unsupported(exc: Exception) -> str:
    """Why a key cannot be used, from cryptography's UnsupportedAlgorithm ("Curve 1.3.132.0.6 is not supported")."""
    said = str(exc).rstrip(".") or type(exc).__name__
    return f"its key uses what cryptography cannot load: {said}; JDK 16+ and OpenSSL TLS refuse such keys too"
