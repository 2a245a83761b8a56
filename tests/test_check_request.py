"""What ``check`` sends to a server: nothing but a GET by default; with ``--post FILE`` exactly that file, once.

The server here is the stdlib's HTTP server behind the stdlib's TLS, requiring
a client certificate from the CAs of a shipped scenario, and logging every
request it reads (method, path, headers, body bytes). Nothing here is
``check``'s own account of what it sent: only what arrived.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.build import Built, write_scenario_files
from harness.engines import Probe
from harness.engines.jsse import JsseEngine
from harness.scenario import load_scenario
from tests.conftest import cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoggingServer:
    built: Built
    url: str
    log: list[Logged] = field(default_factory=list)
    status: int = 200
    hang_up: bool = False  # read and log the request, then close without an answer


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # every wait has a timeout
    protocol_version = "HTTP/1.1"

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner: LoggingServer = self.server.owner  # type: ignore[attr-defined]
        owner.log.append(Logged(self.command, self.path, dict(self.headers.items()), body))
        if owner.hang_up:
            self.close_connection = True
            return
        answer = b'{"answer": "logged"}' if self.command != "HEAD" else b""
        self.send_response(owner.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer) or 20))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_HEAD = do_POST = do_PUT = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def logging_server(tmp_path: Path) -> Iterator[Callable[[str], LoggingServer]]:
    servers: list[ThreadingHTTPServer] = []

    def start(scenario: str) -> LoggingServer:
        built = write_scenario_files(load_scenario(SCENARIOS / scenario), tmp_path / scenario)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(built.server.chain, built.server.key)
        context.verify_mode = ssl.CERT_REQUIRED
        assert built.server.client_cas is not None
        context.load_verify_locations(built.server.client_cas)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        httpd.daemon_threads = True
        owner = LoggingServer(built, f"https://127.0.0.1:{httpd.server_address[1]}/inbound/orders?partner=acme")
        httpd.owner = owner  # type: ignore[attr-defined]
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        return owner

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _check(server: LoggingServer, *extra: str, cwd: Path) -> dict[str, Any]:
    done = cli("check", str(server.built.destination), "--url", server.url, "--json", *extra, cwd=cwd)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    doc["exit"] = done.returncode
    return doc


@pytest.mark.parametrize("status", [200, 404, 405])
def test_by_default_one_get_per_engine_and_no_body(
    logging_server: Callable[[str], LoggingServer], java: str, tmp_path: Path, status: int
) -> None:
    server = logging_server("ok-rsa.toml")
    server.status = status
    doc = _check(server, cwd=tmp_path)
    # one request per engine (python, jsse), each GET on the URL's path and query, with no body at all
    assert sorted((r.method, r.path) for r in server.log) == [("GET", "/inbound/orders?partner=acme")] * 2
    for request in server.log:
        assert request.body == b""
        assert "Content-Length" not in request.headers
        assert "Content-Type" not in request.headers
    # 404 / 405 to a GET: TLS and the client certificate were accepted; the path/method is the application's
    assert doc["ready"] is True, doc
    assert doc["exit"] == 0
    assert doc["verified_with"] == ["python", "jsse"]


def test_head_instead_of_get_sends_no_body(logging_server: Callable[[str], LoggingServer], tmp_path: Path) -> None:
    server = logging_server("ok-rsa.toml")
    doc = _check(server, "--method", "HEAD", "--engine", "python", cwd=tmp_path)
    assert [(r.method, r.body) for r in server.log] == [("HEAD", b"")]
    assert "Content-Type" not in server.log[0].headers
    assert doc["ready"] is True


def test_post_sends_exactly_the_files_bytes_once(
    logging_server: Callable[[str], LoggingServer], java: str, tmp_path: Path
) -> None:
    server = logging_server("ok-rsa.toml")
    body = b'<?xml version="1.0"?>\r\n<order id="1">\xc3\xa4\x00\xff</order>\n\n'
    message = tmp_path / "order.xml"
    message.write_bytes(body)
    doc = _check(server, "--post", str(message), "--content-type", "application/xml; charset=utf-8", cwd=tmp_path)
    posts = [r for r in server.log if r.method == "POST"]
    # the body goes once, through the platform's stack; the other engine sends the default GET
    assert len(posts) == 1, server.log
    assert posts[0].body == body
    assert posts[0].headers["Content-Type"] == "application/xml; charset=utf-8"
    assert posts[0].headers["Content-Length"] == str(len(body))
    assert posts[0].headers["User-Agent"].startswith("Java/")
    assert [r.method for r in server.log if r is not posts[0]] == ["GET"]
    assert (
        doc["facts"]["request jsse"] == f"POST /inbound/orders?partner=acme with order.xml ({len(body)} bytes, "
        "Content-Type: application/xml; charset=utf-8)"
    )
    assert doc["facts"]["request python"] == "GET /inbound/orders?partner=acme (no body)"


def test_post_through_the_python_engine_only(logging_server: Callable[[str], LoggingServer], tmp_path: Path) -> None:
    server = logging_server("ok-rsa.toml")
    message = tmp_path / "order.json"
    message.write_bytes(b'{"n": 1}')
    _check(server, "--post", str(message), "--engine", "python", cwd=tmp_path)
    [posted] = server.log
    assert (posted.method, posted.body, posted.headers["Content-Type"]) == ("POST", b'{"n": 1}', "application/json")


def test_a_rejected_client_certificate_is_not_ready(
    logging_server: Callable[[str], LoggingServer], tmp_path: Path
) -> None:
    """The negative twin: the server does not trust the client's CA; the request never arrives."""
    server = logging_server("client-cert-untrusted.toml")
    doc = _check(server, "--engine", "python", cwd=tmp_path)
    assert server.log == []
    assert doc["ready"] is False
    assert doc["exit"] == 1
    assert doc["verified_with"] == []


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--post", "missing.json"], "missing.json: no such file"),
        (["--post", "."], "is a folder, not a file to POST"),
        (["--content-type", "text/plain"], "--content-type: only goes with --post FILE"),
        (["--post", "order.json", "--method", "HEAD"], "--post: cannot go with --method HEAD"),
    ],
)
def test_request_options_misused_are_bad_input(
    logging_server: Callable[[str], LoggingServer], tmp_path: Path, extra: list[str], words: str
) -> None:
    server = logging_server("ok-rsa.toml")
    (tmp_path / "order.json").write_bytes(b"{}")
    done = cli("check", str(server.built.destination), "--url", server.url, *extra, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert server.log == []  # nothing was sent


def test_a_posted_body_is_not_resent_when_the_answer_never_comes(
    logging_server: Callable[[str], LoggingServer], java: str, tmp_path: Path
) -> None:
    server = logging_server("ok-rsa.toml")
    server.hang_up = True
    message = tmp_path / "order.json"
    message.write_bytes(b'{"order": 42}')
    _check(server, "--post", str(message), "--engine", "jsse", cwd=tmp_path)
    assert [(r.method, r.body) for r in server.log] == [("POST", b'{"order": 42}')]


def test_the_platforms_jdk_itself_resends_a_post_whose_answer_never_came(
    logging_server: Callable[[str], LoggingServer], java: str
) -> None:
    """The twin, and why check turns it off: HttpsURLConnection as the platform uses it sends the body twice."""
    server = logging_server("ok-rsa.toml")
    server.hang_up = True
    scenario = load_scenario(SCENARIOS / "ok-rsa.toml")
    probe = Probe(
        server.url,
        server.built.keystore,
        scenario.keystore.password,
        server.built.truststore,
        scenario.truststore.password,
        message=b'{"order": 42}',
    )
    with JsseEngine() as engine:
        engine.probe(probe)
    assert [(r.method, r.body) for r in server.log] == [("POST", b'{"order": 42}')] * 2


@pytest.mark.parametrize(("status", "ready"), [(400, False), (403, False), (500, True), (503, True)])
def test_an_http_answer_that_can_mean_a_refused_certificate_is_not_ready(
    logging_server: Callable[[str], LoggingServer], tmp_path: Path, status: int, ready: bool
) -> None:
    """400 (nginx's answer to a rejected certificate) and 403 verify nothing; 5xx is the application's."""
    server = logging_server("ok-rsa.toml")
    server.status = status
    doc = _check(server, "--engine", "python", cwd=tmp_path)
    [finding] = [f for f in doc["findings"] if f["engines"]]
    assert finding["code"] == "http-error"
    assert finding["severity"] == ("warning" if ready else "error")
    assert f"HTTP {status}" in finding["message"]
    assert doc["ready"] is ready
    assert doc["exit"] == (0 if ready else 1)
    assert doc["verified_with"] == (["python"] if ready else [])
