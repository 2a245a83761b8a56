"""A ``capture`` profile (``reproduce --profile``), read within bounds and checked key by key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.jsonfile import BadJson, read_json

__all__ = ["load_profile"]


def load_profile(path: Path) -> dict[str, Any]:
    """A capture profile, read within bounds (size, nesting) and checked key by key: UsageError in one line."""
    try:
        doc = read_json(path)
    except BadJson as exc:
        raise UsageError(str(path), str(exc), "give a profile written by `capture --out X.json`") from None
    problem = _profile_problem(doc)
    if problem is not None:
        raise UsageError(str(path), f"is not a capture profile: {problem}", "run `capture URL --out X.json`")
    return doc  # type: ignore[no-any-return]  # an object, checked above


def _listed(doc: dict[str, Any], key: str, kind: type) -> str | None:
    value = doc.get(key)
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, kind) for v in value)):
        return f"{key} is not a list of {kind.__name__}s"
    return None


def _profile_problem(doc: Any) -> str | None:
    """What keeps ``doc`` from being read as a capture profile, in one clause, or None."""
    if not isinstance(doc, dict):
        return f"a JSON {type(doc).__name__}, not an object"
    if doc.get("client_auth") not in ("required", "optional", "none"):
        return "client_auth is not one of required, optional, none"
    problem = _listed(doc, "ca_names", str) or _listed(doc, "tls_versions", str) or _listed(doc, "chain", dict)
    if problem is not None:
        return problem
    if not isinstance(doc.get("intermediates_sent", True), bool):
        return "intermediates_sent is not true or false"
    for index, cert in enumerate(doc.get("chain") or []):
        for key, kind in (("subject", str), ("issuer", str), ("key", str), ("self_signed", bool)):
            if key == "subject" and key not in cert:
                return f"chain[{index}] has no subject"
            if key in cert and not isinstance(cert[key], kind):
                return f"chain[{index}].{key} is not a {kind.__name__}"
    return None
