"""One catalogue scenario through the real JSSE probe with ``-Djavax.net.debug``: its log and exception text.

The probe runs in its one-shot mode (``MtlsProbe --once``), launched exactly as
the jsse engine launches it (``launch_command``), with the debug property
added: the JDK writes the log on stderr, the probe's answer stays on stdout.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.build import probe_for, write_scenario_files
from harness.engines.jsse import encode_request
from harness.java.launch import find_jdk, launch_command
from harness.scenario import load_scenario
from harness.server import LocalServer

__all__ = ["JdkRun", "jdk_debug_run"]


@dataclass(frozen=True)
class JdkRun:
    log: str  # what -Djavax.net.debug wrote
    reply: dict[str, Any]  # the probe's answer (errors, status, alert, ...)

    @property
    def exception_text(self) -> str:
        """What the platform would log: the exception chain, or the HTTP status line and the page it read.

        The page is left out when it is the local server's own JSON echo of
        the client it saw ({"client": ...}): no real server sends that, and
        it would tell explain what the log alone must.
        """
        lines = [str(e) for e in self.reply.get("errors") or []]
        if self.reply.get("status"):
            lines.append(f"HTTP/1.1 {self.reply['status']}")
            page = base64.b64decode(self.reply.get("bodyB64") or "").decode("utf-8", "replace")
            if page.strip() and not _local_echo(page):
                lines.append(page)
        return "\n".join(lines)

    @property
    def text(self) -> str:
        """The log and the exception text, as a support engineer pastes them."""
        return f"{self.log}\n{self.exception_text}"


def _local_echo(page: str) -> bool:
    try:
        answer = json.loads(page)
    except ValueError:
        return False
    return isinstance(answer, dict) and "client" in answer


def jdk_debug_run(path: Path, debug: str, folder: Path, *, timeout: float = 60.0) -> JdkRun:
    jdk = find_jdk()
    if jdk is None:
        raise RuntimeError("no JDK")
    scenario = load_scenario(path)
    built = write_scenario_files(scenario, folder)
    with LocalServer(built.server) as server:
        argv = launch_command(jdk, once=True)
        argv.insert(1, f"-Djavax.net.debug={debug}")
        request = json.dumps(encode_request(probe_for(scenario, built, server.url), 1))
        done = subprocess.run(argv, input=request + "\n", capture_output=True, text=True, timeout=timeout, check=False)
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    return JdkRun(done.stderr, reply)
