"""README "Before go-live", run as printed: the installed command, material made by ``openssl``, a real nginx.

The commands are read from README.md's fenced blocks marked ``<!-- walk: NAME -->``
(``keystore`` from a KeyPair.p12, or ``keystore-pem`` from PEM files, then
``truststore-check``). Each runs in bash as printed, with only these substituted:
the customer's URL (a loopback nginx, tests/realservers.py), ``.venv`` (the
wheel of this checkout installed into a fresh venv, tests/installed.py), the
``...`` of each ``export`` (the passwords) and the go-live date of ``--at`` (a
week from today: the certificates openssl issues here start today). The
material is made by the ``openssl`` CLI (tests/openssl_pki.py) under the names
the README uses. Against a server requiring the customer's CA the walk ends
ready (exit 0); against one requiring another CA, the same walk ends NOT ready
(exit 1).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.installed import Installed, shared_install
from tests.openssl_pki import OpenSslPki
from tests.realservers import SETUPS, Material, Running, missing, real_server

REPO = Path(__file__).resolve().parent.parent
README_URL = "https://partner.example:8443/inbound"
WALK = re.compile(r"<!-- walk: ([a-z-]+) -->\n```sh\n(.*?)```\n<!-- /walk -->", re.S)
PASSWORDS = {"P12_PASS": "p12-Pw-walk-6d0", "KS_PASS": "ks-Pw-walk-91f", "TS_PASS": "ts-Pw-walk-3b7"}
VARIANTS = {"p12": ("keystore", "truststore-check"), "pem": ("keystore-pem", "truststore-check")}


def walk_blocks(readme: str) -> dict[str, list[str]]:
    """Each marked block's commands: continuation lines joined, comments and blank lines dropped."""
    blocks = {}
    for name, body in WALK.findall(readme):
        joined = body.replace("\\\n", " ")
        lines = [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines()]
        blocks[name] = [line for line in lines if line and not line.startswith("#")]
    return blocks


def test_the_readme_has_the_walk() -> None:
    """The blocks the walk runs exist, and say what the README promises (no silent drift to an empty walk)."""
    blocks = walk_blocks((REPO / "README.md").read_text("utf-8"))
    assert set(blocks) == {"keystore", "keystore-pem", "truststore-check"}
    for commands in blocks.values():
        assert commands[0] == ". .venv/bin/activate"  # on PATH after `make run`, as the prose says
    assert [c.split()[1] for c in blocks["truststore-check"] if c.startswith("mtls-harness")] == [
        "truststore",
        "check",
        "check",
        "check",
    ]
    assert any("--cert client.pem --key client.key --chain ca-chain.pem" in c for c in blocks["keystore-pem"])


# -- the customer's material, the server and the installed command ------------------------------------


@dataclass(frozen=True)
class Site:
    folder: Path
    server_material: Material
    other_ca: Path


def make_site(folder: Path, openssl: str) -> Site:
    """As the customer has it: KeyPair.p12, or client.pem + client.key + ca-chain.pem; and the server's side."""
    pki_dir = folder / "pki"
    pki_dir.mkdir()
    pki = OpenSslPki(pki_dir, openssl)
    root = pki.root("client-root", "Acme Client Root CA")
    issuing = pki.issue("client-issuing", "Acme Client Issuing CA", root, ca=True)
    client = pki.issue("client", "acme-integration", issuing, kind="ec")
    site = folder / "site"
    site.mkdir()
    shutil.copy(pki.pkcs12(client, [issuing.cert, root.cert], "KeyPair", PASSWORDS["P12_PASS"]), site / "KeyPair.p12")
    shutil.copy(client.cert, site / "client.pem")
    shutil.copy(client.key, site / "client.key")
    pki.bundle("ca-chain", [root.cert, issuing.cert])
    shutil.copy(pki_dir / "ca-chain.pem", site / "ca-chain.pem")
    server_root = pki.root("server-root", "Partner Server Root CA")
    server = pki.issue("server", "partner.example", server_root, server="127.0.0.1")
    chain = pki.bundle("server-chain", [server.cert, server_root.cert])
    material = Material(chain, server.key, root.cert, "/inbound")
    return Site(site, material, pki.root("other-root", "Other Client Root CA").cert)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return shared_install(tmp_path_factory)


@pytest.fixture
def nginx() -> None:
    if reason := missing("nginx"):
        unavailable(reason)


def run_walk(
    commands: list[str], site: Path, url: str, venv: Path
) -> Iterator[tuple[str, subprocess.CompletedProcess[str]]]:
    """Each command as printed, in bash, after the block's ``. .venv/bin/activate`` and ``export`` lines."""
    go_live = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).strftime("%Y-%m-%d")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    # The checkout's own .venv is not on PATH: the command must come from the walk's activation.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    prelude: list[str] = []
    for command in commands:
        line = command.replace(README_URL, url).replace(".venv/", f"{venv}/")
        line = re.sub(r"--at \d{4}-\d{2}-\d{2}", f"--at {go_live}", line)
        if line.startswith(". "):
            prelude.append(line)
            continue
        if line.startswith("export "):
            names = re.findall(r"([A-Z0-9_]+)=\.\.\.", line)
            assert names, line
            assert set(names) <= set(PASSWORDS), line
            prelude.append(re.sub(r"([A-Z0-9_]+)=\.\.\.", lambda m: f"{m[1]}={shlex.quote(PASSWORDS[m[1]])}", line))
            continue
        done = subprocess.run(
            ["bash", "-euc", "\n".join([*prelude, line])],
            cwd=site,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        yield command, done


def write_destination(site: Path, url: str) -> None:
    """The platform's destination JSON, as the customer has it (the stores the walk writes, by name)."""
    destination = {
        "name": "partner-inbound",
        "url": url,
        "keystoreFile": "keystore.jks",
        "keystorePass": PASSWORDS["KS_PASS"],
        "truststoreFile": "truststore.jks",
        "truststorePass": PASSWORDS["TS_PASS"],
    }
    (site / "destination.json").write_text(json.dumps(destination, indent=2), "utf-8")


@pytest.mark.jdk
@pytest.mark.parametrize("ready", [True, False], ids=["server-trusts-our-ca", "server-requires-another-ca"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_readme_walk_works_as_printed(
    variant: str, ready: bool, tmp_path: Path, openssl: str, java: str, installed: Installed, nginx: None
) -> None:
    blocks = walk_blocks((REPO / "README.md").read_text("utf-8"))
    commands = [c for name in VARIANTS[variant] for c in blocks[name]]
    site = make_site(tmp_path, openssl)
    material = site.server_material
    if not ready:
        material = Material(material.chain, material.key, site.other_ca, material.path)
    with real_server(SETUPS["nginx-on"], material) as server:
        write_destination(site.folder, server.url)
        steps = list(run_walk(commands, site.folder, server.url, installed.venv))
        assert [c.split()[1] for c, _ in steps] == ["keystore", "truststore", "check", "check", "check"]
        for command, done in steps:
            check_step(command, done, ready, site.folder, server)


def check_step(command: str, done: subprocess.CompletedProcess[str], ready: bool, site: Path, server: Running) -> None:
    said = f"{command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, said
    for secret in PASSWORDS.values():
        assert secret not in done.stdout + done.stderr, said
    words = command.split()
    if words[1] == "keystore":
        assert done.returncode == 0, said
        assert "wrote keystore.jks (JKS, 0600): one key entry 'client', key password = store password" in done.stdout
        assert "certificate: CN=acme-integration" in done.stdout, said
        assert "chain of 3" in done.stdout, said
        assert "warning:" not in done.stdout, said
        assert ((site / "keystore.jks").stat().st_mode & 0o777) == 0o600
    elif words[1] == "truststore":
        assert done.returncode == 0, said
        assert "wrote truststore.jks (JKS)" in done.stdout, said
        assert "CN=Partner Server Root CA" in done.stdout, said
        assert "CN=partner.example" not in done.stdout, said  # the CA, not the server's own certificate
        assert "warning:" not in done.stdout, said
    elif "--json" in words:
        assert done.returncode == (0 if ready else 1), said
        report = json.loads(done.stdout)
        assert report["ready"] is ready, said
        assert any(e.startswith("jsse") for e in report["verified_with"]) is ready, said
        codes = {f["code"] for f in report["findings"] if f["severity"] == "error"}
        assert (codes == set()) if ready else bool(codes & {"client-cert-untrusted", "client-cert-missing"}), said
    elif "--junit" in words:
        assert done.returncode == (0 if ready else 1), said
        suite = ET.parse(site / words[words.index("--junit") + 1]).getroot()  # noqa: S314 (the file check wrote)
        failures = sum(int(s.get("failures", "0")) + int(s.get("errors", "0")) for s in suite.iter("testsuite"))
        assert (failures == 0) is ready, said
    else:
        assert done.returncode == (0 if ready else 1), said
        verdict = "ready for go-live (verified with JSSE" if ready else "NOT ready for go-live"
        assert verdict in done.stdout, said
        assert server.url in done.stdout, said
