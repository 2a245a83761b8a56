"""What the local server is told: its policy (``ServerPolicy``) and the files ``build`` writes for it (``ServerFiles``).

``build`` writes ``chain.pem``, ``key.pem``, ``client-cas.pem`` and the policy
as ``server.json`` under ``DIR/server/``; ``ServerFiles.from_dir`` reads them
back, so ``serve DIR`` runs the server again without the scenario.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.errors import ServerError
from harness.jsonfile import BadJson, read_json
from harness.server.personas import Persona, persona
from harness.server.tls_context import ClientAuth

__all__ = ["POLICY_FILE", "ServerFiles", "ServerPolicy"]

POLICY_FILE = "server.json"


@dataclass(frozen=True)
class ServerPolicy:
    client_auth: ClientAuth = "required"
    ca_names: bool = True
    tls_versions: tuple[str, ...] = ("1.2", "1.3")
    path: str = "/"
    status: int = 200
    # harness.server.personas: the persona and the knobs that override it (None: its own).
    persona: str = "openssl"
    rejection: str | None = None
    client_cert_request: str | None = None
    verify_depth: int | None = None
    # The java persona's endpoint identification of the client (harness.server.java_server).
    check_client_names: bool = False

    def chosen_persona(self) -> Persona:
        return persona(
            self.persona,
            rejection=self.rejection,  # type: ignore[arg-type]  # validated by the scenario schema
            client_cert_request=self.client_cert_request,  # type: ignore[arg-type]
            verify_depth=self.verify_depth,
        )


@dataclass(frozen=True)
class ServerFiles:
    """What ``build`` writes under ``DIR/server/``: enough to run the server again."""

    chain: Path  # the server's certificate chain as it sends it, leaf first
    key: Path  # its private key (0600)
    client_cas: Path | None  # CAs it trusts for client certificates
    policy: ServerPolicy

    @classmethod
    def from_dir(cls, folder: Path) -> ServerFiles:
        policy_path = folder / POLICY_FILE
        try:
            raw = read_json(policy_path)
        except BadJson as exc:
            raise ServerError(str(policy_path), str(exc), "give a folder written by `mtls-harness build`") from None
        problem = _policy_problem(raw)
        if problem is not None:
            raise ServerError(str(policy_path), f"not a server policy: {problem}", "re-run `mtls-harness build`")
        try:
            policy = ServerPolicy(**{**raw, "tls_versions": tuple(raw.get("tls_versions", ("1.2", "1.3")))})
            policy.chosen_persona()
        except (ValueError, TypeError, KeyError) as exc:
            raise ServerError(
                str(policy_path), f"not a server policy ({str(exc)[:120]})", "re-run `mtls-harness build`"
            ) from None
        cas = folder / "client-cas.pem"
        files = cls(folder / "chain.pem", folder / "key.pem", cas if cas.exists() else None, policy)
        for needed in (files.chain, files.key):
            if not needed.is_file():
                raise ServerError(str(needed), "missing", "re-run `mtls-harness build`")
        return files

    def policy_json(self) -> str:
        return json.dumps(asdict(self.policy), indent=2) + "\n"


# What server.json may hold, key by key: (the accepted types, the accepted values or None for any).
_POLICY_TYPES: dict[str, tuple[tuple[type, ...], tuple[object, ...] | None]] = {
    "client_auth": ((str,), ("required", "optional", "none")),
    "ca_names": ((bool,), None),
    "tls_versions": ((list,), None),
    "path": ((str,), None),
    "status": ((int,), None),
    "persona": ((str,), None),
    "rejection": ((str, type(None)), None),
    "client_cert_request": ((str, type(None)), None),
    "verify_depth": ((int, type(None)), None),
    "check_client_names": ((bool,), None),
}


def _policy_problem(raw: Any) -> str | None:
    """What is wrong with a parsed server.json, in one clause, or None."""
    if not isinstance(raw, dict):
        return f"a JSON {type(raw).__name__}, not an object"
    known = {f.name for f in fields(ServerPolicy)}
    for key, value in raw.items():
        if key not in known:
            return f"unknown key {key[:40]!r}"
        types, allowed = _POLICY_TYPES[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            return f"{key} is a {type(value).__name__}, not {' or '.join(t.__name__ for t in types)}"
        if allowed is not None and value not in allowed:
            return f"{key} is {str(value)[:40]!r}, not one of {', '.join(map(str, allowed))}"
    versions = raw.get("tls_versions", [])
    if not versions or any(v not in ("1.2", "1.3") for v in versions):
        return "tls_versions must list 1.2 and/or 1.3"
    if not isinstance(raw.get("path", "/"), str) or not raw.get("path", "/").startswith("/"):
        return "path must start with /"
    if not 100 <= raw.get("status", 200) <= 599:
        return "status must be an HTTP status (100-599)"
    return None
