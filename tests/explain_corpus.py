"""Error texts and debug logs the harness produces itself, made at test time over real loopback TLS.

For tests/test_explain_generated.py (issue 23, point 2). A *source* is one
way a text reaches a support engineer:

- ``python``: the Python/OpenSSL client's error (or the HTTP status line and
  the page it read), against the scenario's own local server;
- ``jsse-<JDK>``: the JDK's ``-Djavax.net.debug=ssl:handshake:keymanager`` log
  and exception chain, from one warm probe JVM per JDK of the matrix;
  ``jsse-<JDK>-exception``: the exception chain (or status and page) alone,
  as the platform's own log shows it;
- ``<setup>/python``, ``<setup>/jsse-<JDK>``, ``<setup>/curl``,
  ``<setup>/openssl``: the same clients, plus ``curl -v`` and ``openssl
  s_client``, against the real nginx, Apache httpd or HAProxy a persona
  scenario imitates (tests/realservers.py); ``<setup>/server-log``: what
  that server logged meanwhile (its error log), as its operator would paste it.

Nothing is stored: every text is made when a test asks for it (and written into
a temporary folder for inspection). A server's own JSON echo of the client it
saw is left out of a page: no real server sends it, and it would tell explain
what the client's text alone must.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization

from harness.build import Built, probe_for, write_scenario_files
from harness.engines import Outcome, Probe
from harness.engines.jsse import StoreRefused, encode_request
from harness.engines.python import PythonEngine
from harness.errors import HarnessError
from harness.java import runtimes as jdks
from harness.java.launch import jdk_of, launch_command
from harness.scenario import Scenario, load_scenario
from harness.server import LocalServer
from harness.stores import read_store
from tests.jdk_debug import JdkRun
from tests.realservers import PERSONA_SETUPS, SETUPS, Material, Running, missing, real_server

DEBUG = "ssl:handshake:keymanager"
CLIENT_TIMEOUT = 15.0  # every client run and every JVM answer is bounded by this
# ok twins: a right destination against each real server kind (nothing to explain there).
OK_SETUPS: dict[str, str] = {"nginx-on": "ok-rsa", "apache-host": "ok-rsa", "haproxy": "ok-rsa"}
REAL_CLIENTS = ("python", "curl", "openssl")
# Servers whose error log names a refused client certificate (HAProxy, as configured, logs none).
LOGGING = ("nginx", "apache")


@dataclass(frozen=True)
class Generated:
    scenario: str
    source: str
    expected: str
    text: str
    succeeded: bool  # the client read an HTTP answer below 400: its own text shows no failure


# -- one warm JVM per JDK, with the JDK's debug log ------------------------------------------


class DebugJvm:
    """The probe program in its warm mode with ``-Djavax.net.debug``; each probe's log is what it wrote meanwhile."""

    def __init__(self, spec: str) -> None:
        runtime = jdks.resolve(spec)
        argv = launch_command(jdk_of(runtime))
        argv.insert(1, f"-Djavax.net.debug={DEBUG}")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._log: list[str] = []
        self._log_lock = threading.Lock()
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=pipe, daemon=True)
            for pipe in ((self.proc.stdout, self._lines.put), (self.proc.stderr, self._add_log))
        ]
        for thread in self._threads:
            thread.start()
        self._next = 0
        self._answer(lambda obj: obj.get("ready") is True, 60.0)

    def _add_log(self, line: str | None) -> None:
        if line is not None:
            with self._log_lock:
                self._log.append(line)

    @staticmethod
    def _pump(stream: IO[bytes], sink: Any) -> None:
        with contextlib.suppress(ValueError, OSError):
            for raw in stream:
                sink(raw.decode("utf-8", "replace").rstrip("\n"))
        sink(None)

    def _answer(self, want: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError(f"the probe JVM exited: {' | '.join(self._log[-5:])}")
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict) and want(obj):
                    return obj
        raise RuntimeError(f"the probe JVM gave no answer within {timeout:g} s")

    def _settled_log(self) -> str:
        """The log since the last call, once stderr has been quiet for a moment (bounded)."""
        deadline, seen = time.monotonic() + 3.0, -1
        while time.monotonic() < deadline:
            with self._log_lock:
                now = len(self._log)
            if now == seen:
                break
            seen = now
            time.sleep(0.05)  # the JDK flushes each line before the probe answers: the pump only lags
        with self._log_lock:
            text, self._log = "\n".join(self._log), []
        return text

    def probe(self, probe: Probe) -> JdkRun:
        """The JDK's log and answer; a store the engine refuses to send (too big, not a file) is its answer."""
        self._settled_log()  # drop what came before this probe
        self._next += 1
        try:
            request = encode_request(probe, self._next)
        except StoreRefused as refused:
            return JdkRun("", {"errors": [str(refused)]})
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request).encode("ascii") + b"\n")
        self.proc.stdin.flush()
        reply = self._answer(lambda obj: obj.get("id") == request["id"], probe.timeout * 2 + CLIENT_TIMEOUT)
        return JdkRun(self._settled_log(), reply)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


# -- what each client shows ----------------------------------------------------------------


def _local_echo(page: str) -> bool:
    try:
        answer = json.loads(page)
    except ValueError:
        return False
    return isinstance(answer, dict) and "client" in answer


def python_text(outcome: Outcome) -> tuple[str, bool]:
    """The Python client's error, or its status line and page; and whether it read an answer below 400."""
    if outcome.error:
        return outcome.error, False
    page = outcome.response_body or ""
    lines = [f"HTTP/1.1 {outcome.http_status}"] + ([page] if page.strip() and not _local_echo(page) else [])
    return "\n".join(lines), (outcome.http_status or 0) < 400


def jsse_succeeded(run: JdkRun) -> bool:
    status = int(run.reply.get("status") or 0)
    return bool(status) and status < 400 and not run.reply.get("errors")


@dataclass(frozen=True)
class Pems:
    ca: Path
    cert: Path | None
    key: Path | None


def pems_of(scenario: Scenario, built: Built, folder: Path) -> Pems:
    """The destination's stores as PEM files for curl and s_client: the first key entry, the trusted certs."""
    pem = serialization.Encoding.PEM
    trust = read_store(built.truststore, scenario.truststore.destination_password, "truststore")
    ca = folder / "ca.pem"
    ca.write_bytes(b"".join(c.cert.public_bytes(pem) for c in trust.cert_entries))
    with contextlib.suppress(HarnessError):
        keys = read_store(built.keystore, scenario.keystore.destination_password, "keystore")
        entry = next((e for e in keys.key_entries if e.key is not None), None)
        if entry is not None and entry.key is not None:
            cert, key = folder / "client.pem", folder / "client-key.pem"
            cert.write_bytes(b"".join(c.public_bytes(pem) for c in entry.chain))
            key.touch(mode=0o600)
            key.write_bytes(
                entry.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            )
            return Pems(ca, cert, key)
    return Pems(ca, None, None)


_LOGS = ("error.log", "stdout.log")


def log_marks(running: Running) -> dict[str, int]:
    """How far the server's logs reach now: its start-up lines and the readiness check's bare connect end here."""
    time.sleep(0.2)  # the readiness check's close is logged a moment after it
    return {name: (running.folder / name).stat().st_size for name in _LOGS if (running.folder / name).is_file()}


def server_log(running: Running, marks: dict[str, int]) -> str:
    """What the real server logged while the clients above tried (its error.log, and what it wrote on stderr)."""
    time.sleep(0.2)  # the last client's failure is logged as its connection closes
    parts = []
    for name in _LOGS:
        log = running.folder / name
        if log.is_file():
            with log.open("rb") as f:
                f.seek(marks.get(name, 0))
                parts.append(f.read()[-20000:].decode("utf-8", "replace"))
    return "\n".join(parts).strip()


def _run(argv: list[str], stdin: bytes) -> tuple[str, int]:
    """stderr, then stdout (as ``2>&1`` would show them for a tool that writes its verbose log first)."""
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=CLIENT_TIMEOUT, check=False)
    text = done.stderr.decode("utf-8", "replace") + "\n" + done.stdout.decode("utf-8", "replace")
    return text.strip(), done.returncode


def _message(probe: Probe) -> bytes:
    return probe.message


def curl_text(probe: Probe, pems: Pems) -> tuple[str, bool]:
    """``curl -v`` POSTing the probe's message, as the platform does."""
    curl = shutil.which("curl")
    if curl is None:
        raise RuntimeError("curl not found on PATH")
    argv = [curl, "-v", "-sS", "--max-time", "10", "--cacert", str(pems.ca)]
    if pems.cert and pems.key:
        argv += ["--cert", str(pems.cert), "--key", str(pems.key)]
    argv += ["-H", f"Content-Type: {probe.content_type}", "--data-binary", "@-"]
    text, code = _run([*argv, "-o", "-", "-w", "\nHTTP %{http_code}\n", probe.url], _message(probe))
    status = re.search(r"^HTTP (\d{3})$", text, re.M)
    return text, code == 0 and status is not None and int(status.group(1)) < 400


def openssl_text(probe: Probe, pems: Pems) -> tuple[str, bool]:
    """``openssl s_client`` sending the probe's POST by hand and reading until the server closes."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found on PATH")
    hostport, _, path = probe.url.removeprefix("https://").partition("/")
    argv = [openssl, "s_client", "-connect", hostport, "-CAfile", str(pems.ca), "-verify_return_error", "-ign_eof"]
    if pems.cert and pems.key:  # -cert takes the leaf only: -cert_chain sends the intermediates too
        argv += ["-cert", str(pems.cert), "-cert_chain", str(pems.cert), "-key", str(pems.key)]
    body = _message(probe)
    head = (
        f"POST /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {probe.content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    text, _ = _run(argv, head.encode() + body)
    status = re.search(r"^HTTP/1\.[01] (\d{3})", text, re.M)
    return text, status is not None and int(status.group(1)) < 400


# -- the corpus ----------------------------------------------------------------------------


class Corpus:
    """Texts made on demand, one scenario (or one real-server pair) at a time; JVMs shared, closed at the end."""

    def __init__(self, repo: Path, jdk_specs: tuple[str, ...], keep: Path | None = None) -> None:
        self.repo = repo
        self.jdk_specs = jdk_specs
        self.keep = keep
        self._python = PythonEngine()
        self._jvms: dict[str, DebugJvm] = {}
        self._texts: dict[tuple[str, str], Generated] = {}
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def jvm(self, spec: str) -> DebugJvm:
        """The JVM of ``spec``; the first call starts every JDK's at once (each start costs a second or two)."""
        if not self._jvms:
            with ThreadPoolExecutor(len(self.jdk_specs) or 1) as pool:
                started = {s: pool.submit(DebugJvm, s) for s in self.jdk_specs}
            for key, job in started.items():
                with contextlib.suppress(HarnessError, RuntimeError):
                    self._jvms[key] = job.result()
        if spec not in self._jvms:
            self._jvms[spec] = DebugJvm(spec)  # raises why it cannot start
        return self._jvms[spec]

    def close(self) -> None:
        for jvm in self._jvms.values():
            jvm.close()
        self._jvms.clear()

    def scenario(self, name: str) -> Scenario:
        return load_scenario(self.repo / "scenarios" / f"{name}.toml")

    def _keep(self, item: Generated) -> Generated:
        self._texts[(item.scenario, item.source)] = item
        if self.keep is not None:
            name = f"{item.scenario}--{item.source.replace('/', '--')}.txt"
            (self.keep / name).write_text(item.text, "utf-8")
        return item

    def get(self, name: str, source: str) -> Generated:
        """The text of ``source`` for scenario ``name`` (real-server sources: ``setup/client``)."""
        with self._lock:
            key = f"{name}|{source.partition('/')[0] if '/' in source else ''}"  # one server: all its clients
            if key not in self._done:
                if "/" in source:
                    self._real(name, source.partition("/")[0])
                else:
                    self._local(name)
                self._done.add(key)
            return self._texts[(name, source)]

    def _local(self, name: str) -> None:
        scenario = self.scenario(name)
        with tempfile.TemporaryDirectory(prefix="mtls-explain-gen-") as tmp:
            folder = Path(tmp)
            built = write_scenario_files(scenario, folder, durable=False)
            with LocalServer(built.server, handshake_timeout=5.0) as server:
                probe = probe_for(scenario, built, server.url)
                text, ok = python_text(self._python.probe(probe))
                self._keep(Generated(name, "python", scenario.expect.for_engine("python"), text, ok))
                for spec in self.jdk_specs:
                    jvm = self.jvm(spec)
                    self._keep_jsse(scenario, f"jsse-{spec}", spec, jvm.probe(probe))

    def _real(self, name: str, setup_name: str) -> None:
        setup = SETUPS[setup_name]
        reason = missing(setup.kind)
        if reason:
            raise RuntimeError(reason)
        scenario = self.scenario(name)
        with tempfile.TemporaryDirectory(prefix="mtls-explain-gen-") as tmp:
            folder = Path(tmp)
            built = write_scenario_files(scenario, folder, durable=False)
            material = Material.from_server_dir(built.folder / "server", scenario.server.path)
            pems = pems_of(scenario, built, folder)
            with real_server(setup, material) as running:
                marks = log_marks(running)
                probe = probe_for(scenario, built, running.url)
                python_expected = scenario.expect.for_engine("python")
                made = {"python": python_text(self._python.probe(probe))}
                if shutil.which("curl"):  # absent: the test of that source says so
                    made["curl"] = curl_text(probe, pems)
                if shutil.which("openssl"):
                    made["openssl"] = openssl_text(probe, pems)
                for client, (text, ok) in made.items():
                    self._keep(Generated(name, f"{setup_name}/{client}", python_expected, text, ok))
                for spec in self.jdk_specs:
                    self._keep_jsse(scenario, f"{setup_name}/jsse-{spec}", spec, self.jvm(spec).probe(probe))
                if setup.kind in LOGGING:
                    every_ok = all(ok for _, ok in made.values())
                    log = server_log(running, marks)
                    self._keep(Generated(name, f"{setup_name}/server-log", python_expected, log, every_ok))

    def _keep_jsse(self, scenario: Scenario, source: str, spec: str, run: JdkRun) -> None:
        """Two texts of one JDK run: the debug log with the exception, and the exception alone."""
        expected = scenario.expect.for_engine("jsse", _version(spec))
        ok = jsse_succeeded(run)
        self._keep(Generated(scenario.name, source, expected, run.text, ok))
        self._keep(Generated(scenario.name, f"{source}-exception", expected, run.exception_text, ok))


def _version(spec: str) -> str:
    return spec if re.fullmatch(r"[\d.]+", spec) else ""


def jsse_sources(jdk_specs: tuple[str, ...]) -> list[str]:
    return [f"jsse-{s}{what}" for s in jdk_specs for what in ("", "-exception")]


def local_sources(jdk_specs: tuple[str, ...]) -> list[str]:
    return ["python", *jsse_sources(jdk_specs)]


def real_pairs(jdk_specs: tuple[str, ...]) -> list[tuple[str, str]]:
    """(scenario, source) for every real-server pair and client."""
    pairs = [*PERSONA_SETUPS.items(), *((scenario, setup) for setup, scenario in OK_SETUPS.items())]
    clients = [*REAL_CLIENTS, *jsse_sources(jdk_specs)]
    out = [(scenario, f"{setup}/{client}") for scenario, setup in pairs for client in clients]
    return out + [(scenario, f"{setup}/server-log") for scenario, setup in pairs if SETUPS[setup].kind in LOGGING]
