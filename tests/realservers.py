"""Real nginx, Apache httpd and HAProxy on 127.0.0.1, configured from ``mtls-harness build`` material.

Each :class:`Setup` is one way customers configure client certificates (the
set-ups of issue 10). :func:`real_server` writes that server's config into a
private temp folder (its own pid file, logs and runtime files: never the
system service's), picks a free ephemeral port, starts the daemon in the
foreground, waits (bounded) until it accepts TCP connections, and stops it by
its pid. Nothing here touches port 80/443 or another address.

Also a script: ``python tests/realservers.py [SCENARIO...]`` prints, for every
set-up and scenario, what ``check`` reports per engine (the measurement of
issue 10; docs/servers.md is made by tests/servers_table.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ServerKind = Literal["nginx", "apache", "haproxy"]

# Debian package and binary per server.
PACKAGES: dict[ServerKind, str] = {"nginx": "nginx", "apache": "apache2", "haproxy": "haproxy"}
BINARIES: dict[ServerKind, str] = {"nginx": "nginx", "apache": "apache2", "haproxy": "haproxy"}
INSTALL = "apt-get update && apt-get install -y --no-install-recommends nginx apache2 haproxy"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Setup:
    """One real-server configuration for client certificates."""

    name: str
    kind: ServerKind
    tls_versions: tuple[str, ...] = ("1.2", "1.3")
    # nginx: "on" | "optional"; apache: "host" | "location"; haproxy: "required".
    verify: str = "on"
    # None: the server's default (nginx and Apache: 1).
    depth: int | None = 3
    ca_names: bool = True
    what: str = ""

    @property
    def binary(self) -> str:
        return BINARIES[self.kind]


SETUPS: dict[str, Setup] = {
    s.name: s
    for s in (
        Setup("nginx-on", "nginx", verify="on", what="nginx `ssl_verify_client on; ssl_verify_depth 3`"),
        Setup(
            "nginx-optional", "nginx", verify="optional", what="nginx `ssl_verify_client optional; ssl_verify_depth 3`"
        ),
        Setup("nginx-depth0", "nginx", verify="on", depth=0, what="nginx `ssl_verify_client on; ssl_verify_depth 0`"),
        Setup(
            "nginx-depth-default",
            "nginx",
            verify="on",
            depth=None,
            what="nginx `ssl_verify_client on`, default `ssl_verify_depth` (1)",
        ),
        Setup("apache-host", "apache", verify="host", what="Apache `SSLVerifyClient require` per host, depth 3"),
        Setup(
            "apache-host-tls12",
            "apache",
            ("1.2",),
            verify="host",
            what="Apache `SSLVerifyClient require` per host, TLS 1.2 only",
        ),
        Setup(
            "apache-depth-default",
            "apache",
            verify="host",
            depth=None,
            what="Apache `SSLVerifyClient require`, default `SSLVerifyDepth` (1)",
        ),
        Setup(
            "apache-location",
            "apache",
            ("1.3",),
            verify="location",
            what="Apache `SSLVerifyClient require` in `<Location>`, TLS 1.3 (post-handshake auth)",
        ),
        Setup(
            "apache-location-tls12",
            "apache",
            ("1.2",),
            verify="location",
            what="Apache `SSLVerifyClient require` in `<Location>`, TLS 1.2 (renegotiation)",
        ),
        Setup("haproxy", "haproxy", verify="required", what="HAProxy `verify required`"),
        Setup("haproxy-tls12", "haproxy", ("1.2",), verify="required", what="HAProxy `verify required`, TLS 1.2 only"),
        Setup(
            "haproxy-no-ca-names",
            "haproxy",
            verify="required",
            ca_names=False,
            what="HAProxy `verify required no-ca-names`",
        ),
    )
}


@dataclass(frozen=True)
class Material:
    """What the config needs from ``build``'s ``DIR/server/``."""

    chain: Path
    key: Path
    client_cas: Path
    path: str

    @classmethod
    def from_server_dir(cls, folder: Path, path: str) -> Material:
        return cls(folder / "chain.pem", folder / "key.pem", folder / "client-cas.pem", path)


@dataclass
class Running:
    setup: Setup
    port: int
    pid: int
    folder: Path
    path: str

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}{self.path}"

    def error_log(self) -> str:
        log = self.folder / "error.log"
        try:
            return log.read_text("utf-8", "replace")[-20000:]
        except OSError:
            return ""


def missing(kind: ServerKind) -> str | None:
    """None when the server's binary is installed; else what to do."""
    installed = shutil.which(BINARIES[kind]) or Path("/usr/sbin", BINARIES[kind]).is_file()
    if installed and (kind != "apache" or (APACHE_MODULES / "mod_ssl.so").is_file()):
        return None
    return f"{BINARIES[kind]} not installed: {INSTALL}"


def _binary(kind: ServerKind) -> str:
    return shutil.which(BINARIES[kind]) or str(Path("/usr/sbin", BINARIES[kind]))


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (released again: the daemon binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- configs ------------------------------------------------------------------------------


def _nginx_conf(setup: Setup, m: Material, port: int, folder: Path) -> str:
    protocols = " ".join(f"TLSv{v}" for v in setup.tls_versions)
    depth = f"ssl_verify_depth {setup.depth};" if setup.depth is not None else ""
    temp = "\n".join(
        f"    {name}_temp_path {folder}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, workers run unprivileged (the master has read the key and opened the logs).
    user = f"user {_unprivileged()} {_unprivileged_group()};" if os.geteuid() == 0 else ""
    return f"""{user}
worker_processes 1;
daemon off;
master_process on;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {m.chain};
        ssl_certificate_key {m.key};
        ssl_protocols {protocols};
        ssl_client_certificate {m.client_cas};
        ssl_verify_client {setup.verify};
        {depth}
        location / {{
            default_type text/plain;
            return 200 "accepted $ssl_client_verify $ssl_client_s_dn\\n";
        }}
    }}
}}
"""


def _apache_conf(setup: Setup, m: Material, port: int, folder: Path) -> str:
    modules = ("mpm_event", "authz_core", "socache_shmcb", "ssl", "reflector", "setenvif")
    loads = "\n".join(f"LoadModule {mod}_module {APACHE_MODULES}/mod_{mod}.so" for mod in modules)
    protocols = " ".join(f"+TLSv{v}" for v in setup.tls_versions)
    depth = f"SSLVerifyDepth {setup.depth}" if setup.depth is not None else ""
    # As root Apache refuses to serve as root: its children run as an
    # unprivileged user (the parent has read the key already).
    user = f"User {_unprivileged()}\nGroup {_unprivileged_group()}" if os.geteuid() == 0 else ""
    if setup.verify == "location":
        host_verify = ""
        location = f"""<Location "{m.path}">
        SSLVerifyClient require
        {depth}
    </Location>"""
    else:
        host_verify, location = "SSLVerifyClient require", ""
    return f"""ServerRoot "{folder}"
ServerName 127.0.0.1
PidFile "{folder}/httpd.pid"
DefaultRuntimeDir "{folder}"
Mutex file:{folder} default
ErrorLog "{folder}/error.log"
LogLevel info
{user}
{loads}
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
Listen 127.0.0.1:{port}
SSLSessionCache "shmcb:{folder}/ssl_scache(512000)"
<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile "{m.chain}"
    SSLCertificateKeyFile "{m.key}"
    SSLProtocol -all {protocols}
    SSLCACertificateFile "{m.client_cas}"
    {host_verify}
    {depth if setup.verify != "location" else ""}
    <Location "/">
        SetHandler reflector
    </Location>
    {location}
</VirtualHost>
"""


def _unprivileged() -> str:
    import pwd

    for name in ("www-data", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    return "nobody"


def _unprivileged_group() -> str:
    import grp

    for name in ("www-data", "nogroup", "nobody"):
        with contextlib.suppress(KeyError):
            return grp.getgrnam(name).gr_name
    return "nogroup"


def _haproxy_conf(setup: Setup, m: Material, port: int, folder: Path) -> str:
    bundle = folder / "crt.pem"
    bundle.touch(mode=0o600)
    bundle.write_bytes(m.chain.read_bytes() + m.key.read_bytes())
    versions = sorted(setup.tls_versions)
    names = " no-ca-names" if not setup.ca_names else ""
    drop = f"\n    user {_unprivileged()}\n    group {_unprivileged_group()}" if os.geteuid() == 0 else ""
    return f"""global{drop}
    pidfile {folder}/haproxy.pid
    log stderr format raw local0 info
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend mtls
    bind 127.0.0.1:{port} ssl crt {bundle} ca-file {m.client_cas} verify {setup.verify}{names} \
ssl-min-ver TLSv{versions[0]} ssl-max-ver TLSv{versions[-1]}
    http-request return status 200 content-type text/plain string "accepted"
"""


def _command(setup: Setup, folder: Path) -> list[str]:
    binary = _binary(setup.kind)
    if setup.kind == "nginx":
        return [binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
    if setup.kind == "apache":
        return [binary, "-d", str(folder), "-f", str(folder / "httpd.conf"), "-DFOREGROUND"]
    return [binary, "-db", "-f", str(folder / "haproxy.cfg")]


def write_config(setup: Setup, m: Material, port: int, folder: Path) -> Path:
    if setup.kind == "nginx":
        path, text = folder / "nginx.conf", _nginx_conf(setup, m, port, folder)
    elif setup.kind == "apache":
        path, text = folder / "httpd.conf", _apache_conf(setup, m, port, folder)
    else:
        path, text = folder / "haproxy.cfg", _haproxy_conf(setup, m, port, folder)
    path.write_text(text, "utf-8")
    return path


# -- life cycle ------------------------------------------------------------------------------


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def real_server(setup: Setup, material: Material, *, attempts: int = 3) -> Iterator[Running]:
    """The daemon of ``setup`` running on 127.0.0.1 until the block ends; RuntimeError if it cannot start."""
    reason = missing(setup.kind)
    if reason:
        raise RuntimeError(reason)
    folder = Path(tempfile.mkdtemp(prefix=f"mtls-{setup.name}-"))
    folder.chmod(0o755)  # Apache's children (an unprivileged user) use its runtime files
    try:
        last = ""
        for _ in range(attempts):
            port = free_port()
            write_config(setup, material, port, folder)
            out = (folder / "stdout.log").open("wb")
            proc = subprocess.Popen(
                _command(setup, folder),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers are a group of their own, killable as one
            )
            out.close()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None and not _listening(port):
                time.sleep(0.05)
            if proc.poll() is None and _listening(port):
                try:
                    yield Running(setup, port, proc.pid, folder, material.path)
                finally:
                    _stop(proc)
                return
            _stop(proc)
            last = "".join(
                (folder / log).read_text("utf-8", "replace")[-2000:]
                for log in ("stdout.log", "error.log")
                if (folder / log).exists()
            )
            if "in use" not in last:
                break  # not a port race: retrying will not help
        raise RuntimeError(f"{setup.name} did not start within {START_TIMEOUT:g} s: {last.strip()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- the measurement -----------------------------------------------------------------------

CATALOGUE = (
    "ok-rsa",
    "ok-ec",
    "client-cert-missing",
    "client-cert-untrusted",
    "client-cert-expired",
    "client-cert-wrong-usage",
    "client-chain-incomplete",
    "client-cert-missing-ca-names",
)


def _main(argv: list[str]) -> int:
    import sys

    from harness.check import run_check
    from harness.destination import load_destination
    from harness.engines.jsse import JsseEngine
    from harness.engines.python import PythonEngine
    from harness.scenario import load_scenario

    repo = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(repo))
    from harness.build import build_scenario

    names = [a for a in argv if not a.startswith("--")] or list(CATALOGUE)
    setups = [s for s in SETUPS.values() if not any(a.startswith("--setup=") for a in argv)] or []
    for a in argv:
        if a.startswith("--setup="):
            setups += [SETUPS[x] for x in a.removeprefix("--setup=").split(",")]
    engines = [PythonEngine(), JsseEngine()]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            scenario = load_scenario(repo / "scenarios" / f"{name}.toml")
            built = build_scenario(scenario, Path(tmp) / name)
            m = Material.from_server_dir(built.folder / "server", scenario.server.path)
            for setup in setups:
                with real_server(setup, m) as running:
                    dest = load_destination(built.destination, url=running.url)
                    report = run_check(dest, engines=engines)
                    codes = {
                        f.subject.split()[0]: f"{f.code}: {f.message[:160]}"
                        for f in report.findings
                        if f.check == "handshake"
                    }
                    verdict = "NOT ready" if report.errors else "ready"
                    print(f"{name:32} {setup.name:22} {verdict:9} py={codes.get('python')}")
                    print(f"{'':65}jsse={codes.get('jsse')}")
    for e in engines:
        e.close()
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))


# persona scenario -> the real set-up it imitates (SETUPS above); tests/test_realservers.py and
# tests/explain_corpus.py run each persona against it.
PERSONA_SETUPS: dict[str, str] = {
    "persona-nginx-missing": "nginx-on",
    "persona-nginx-optional-missing": "nginx-optional",
    "persona-nginx-expired": "nginx-on",
    "persona-nginx-depth": "nginx-depth0",
    "persona-apache-missing": "apache-host",
    "persona-apache-expired": "apache-host",
    "persona-apache-depth": "apache-depth-default",
    "persona-apache-location": "apache-location",
    "persona-haproxy-wrong-usage": "haproxy",
    "persona-haproxy-no-ca-names-untrusted": "haproxy-no-ca-names",
}
