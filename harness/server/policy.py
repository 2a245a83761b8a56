"""What the local server is told: its policy (``ServerPolicy``) and the files ``build`` writes for it (``ServerFiles``).

``build`` writes ``chain.pem``, ``key.pem``, ``client-cas.pem`` and the policy
as ``server.json`` under ``DIR/server/``; ``ServerFiles.from_dir`` reads them
back, so ``serve DIR`` runs the server again without the scenario.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import ServerError
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
            raw = json.loads(policy_path.read_text("utf-8"))
            policy = ServerPolicy(**{**raw, "tls_versions": tuple(raw.get("tls_versions", ("1.2", "1.3")))})
            policy.chosen_persona()
        except FileNotFoundError:
            raise ServerError(
                str(policy_path), "no such file", "give a folder written by `mtls-harness build`"
            ) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise ServerError(str(policy_path), f"not a server policy ({exc})", "re-run `mtls-harness build`") from None
        cas = folder / "client-cas.pem"
        files = cls(folder / "chain.pem", folder / "key.pem", cas if cas.exists() else None, policy)
        for needed in (files.chain, files.key):
            if not needed.is_file():
                raise ServerError(str(needed), "missing", "re-run `mtls-harness build`")
        return files

    def policy_json(self) -> str:
        return json.dumps(asdict(self.policy), indent=2) + "\n"
