"""Attacks on the files the commands write, on `serve DIR`'s inputs, on `reproduce --profile`, on the connection cap.

Issue 22, points 3 (serve DIR, reproduce --profile), 4 (files) and 6 (serve keeps serving). Every command runs as a
real process with a timeout, so a missed bound fails instead of hanging; every attack has a twin that shows the
same command doing its job on a good input.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness.server.python_server as server_module
from harness.build import Built, build_scenario
from harness.files import claimed_folder
from harness.pki import KEY_CACHE_ENV
from harness.scenario import load_scenario
from harness.server import LocalServer
from tests import abuse
from tests.conftest import BASE, REPO, assert_one_line_error, merged, to_toml

OK_RSA = REPO / "scenarios" / "ok-rsa.toml"
TIMEOUT = 120  # per command: far above what any takes, so a hang fails the test


def mtls(
    *args: str, cwd: Path, timeout: float = TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=env if env is not None else dict(os.environ),
    )  # fmt: skip


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.02)


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build_scenario(load_scenario(OK_RSA), tmp_path / "built")


def slow_scenario(tmp_path: Path) -> Path:
    """Seconds of RSA-4096 key making inside the build (no key cache): time to act on a build mid-write."""
    doc = merged(BASE, {"pki": {name: {"key": "rsa-4096"} for name in ("client-root", "client-ca", "client")}})
    doc["pki"] |= {f"extra-{i}": {"kind": "root", "key": "rsa-4096"} for i in range(3)}
    path = tmp_path / "slow.toml"
    path.write_text(to_toml(doc) + "\n", "utf-8")
    return path


def no_key_cache() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != KEY_CACHE_ENV}


def staging_of(parent: Path, name: str = "out") -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.name.startswith(f".{name}.") and p.name.endswith(".staging"))


# == symbolic links at the output: never written through ===============================================


@pytest.fixture
def victim_dir(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    return victim


def test_build_refuses_a_symlinked_out(tmp_path: Path, victim_dir: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(victim_dir)
    assert_one_line_error(mtls("build", str(OK_RSA), "--out", str(link), cwd=tmp_path), "symbolic link")
    assert_one_line_error(mtls("build", str(OK_RSA), "--out", str(link), "--force", cwd=tmp_path), "symbolic link")
    assert list(victim_dir.iterdir()) == []
    assert link.is_symlink()
    # The twin: the real folder is built.
    done = mtls("build", str(OK_RSA), "--out", str(victim_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (victim_dir / "keystore.jks").is_file()


def test_reproduce_refuses_a_symlinked_out(tmp_path: Path, built: Built, victim_dir: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(victim_dir)
    for force in ([], ["--force"]):
        done = mtls("reproduce", str(built.destination), "--out", str(link), "--engine", "python", *force, cwd=tmp_path)
        assert_one_line_error(done, "symbolic link")
    assert list(victim_dir.iterdir()) == []
    # The twin: into the real folder, the scenario is written.
    done = mtls("reproduce", str(built.destination), "--out", str(victim_dir), "--engine", "python", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert (victim_dir / f"{built.destination.stem}.toml").is_file()  # named after the destination, not --out
    assert hidden(tmp_path) == []


def test_capture_refuses_a_symlinked_out(tmp_path: Path, built: Built) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("keep me")
    link = tmp_path / "profile.json"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere.json")
    with LocalServer(built.server) as server:
        for out in (link, dangling):
            done = mtls("capture", server.url, "--out", str(out), "--force", "--timeout", "5", cwd=tmp_path)
            assert_one_line_error(done, "symbolic link")
        # The twin: a real path gets the profile.
        real = tmp_path / "real.json"
        done = mtls("capture", server.url, "--out", str(real), "--timeout", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(real.read_text("utf-8"))["client_auth"] == "required"
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "nowhere.json").exists()


def test_keystore_and_truststore_replace_a_symlinked_out_never_write_through(tmp_path: Path, built: Built) -> None:
    fixtures = REPO / "fixtures" / "p12"
    p12_password = json.loads((fixtures / "passwords.json").read_text("utf-8"))["KeyPair-aes.p12"]
    env = {"P12": p12_password, "KS": "ks-Pw-link-1", "TS": "ts-Pw-link-1"}
    victim = tmp_path / "victim.jks"
    victim.write_bytes(b"the victim's own bytes")
    with LocalServer(built.server) as server:
        commands = {
            "keystore": [str(fixtures / "KeyPair-aes.p12"), "--p12-password-env", "P12", "--password-env", "KS"],
            "truststore": [server.url, "--password-env", "TS", "--timeout", "5"],
        }
        for command, rest in commands.items():
            link = tmp_path / f"{command}-link.jks"
            link.symlink_to(victim)
            # Without --force: the link is in the way, nothing written anywhere.
            done = mtls(command, *rest, "--out", str(link), cwd=tmp_path, env=env)
            assert_one_line_error(done)
            assert link.is_symlink()
            # With --force: the link itself is replaced by the store; what it pointed to is untouched.
            done = mtls(command, *rest, "--out", str(link), "--force", cwd=tmp_path, env=env)
            assert done.returncode == 0, done.stderr
            assert not link.is_symlink()
            assert link.read_bytes()[:4] in (b"\xfe\xed\xfe\xed", b"0\x82" + link.read_bytes()[2:4]), command
            assert victim.read_bytes() == b"the victim's own bytes"
            # The twin: a plain path is written.
            plain = tmp_path / f"{command}.jks"
            assert mtls(command, *rest, "--out", str(plain), cwd=tmp_path, env=env).returncode == 0
            assert plain.read_bytes()[:4] == b"\xfe\xed\xfe\xed"


def test_check_junit_replaces_a_symlink_never_writes_through(tmp_path: Path, built: Built) -> None:
    victim = tmp_path / "victim.xml"
    victim.write_text("keep me")
    link = tmp_path / "report.xml"
    link.symlink_to(victim)
    done = mtls("check", str(built.destination), "--junit", str(link), "--engine", "python", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert victim.read_text() == "keep me"
    assert not link.is_symlink()
    assert link.read_text("utf-8").startswith("<?xml")


def test_run_refuses_symlinked_reports_and_folders(tmp_path: Path, victim_dir: Path) -> None:
    victim = tmp_path / "victim.xml"
    victim.write_text("keep me")
    link = tmp_path / "report.xml"
    link.symlink_to(victim)
    argv = ["run", str(OK_RSA), "--engine", "python"]
    assert_one_line_error(mtls(*argv, "--junit", str(link), cwd=tmp_path), "symbolic link")
    keep = tmp_path / "keep"
    keep.symlink_to(victim_dir)
    assert_one_line_error(mtls(*argv, "--keep", str(keep), cwd=tmp_path), "symbolic link")
    assert victim.read_text() == "keep me"
    assert list(victim_dir.iterdir()) == []
    # The twin: real paths are written.
    real = tmp_path / "real.xml"
    done = mtls(*argv, "--junit", str(real), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "testcase" in real.read_text("utf-8")


# == output folders claimed atomically ==================================================================


def test_two_concurrent_builds_into_one_new_out_exactly_one_wins(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = start("build", str(OK_RSA), "--out", str(out), cwd=tmp_path)
    second = start("build", str(OK_RSA), "--out", str(out), cwd=tmp_path)
    results = [p.communicate(timeout=TIMEOUT) for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 2], results
    loser = results[[first.returncode, second.returncode].index(2)][1]
    assert "Traceback" not in loser
    assert "being written by another" in loser or "is not empty" in loser, loser
    assert {p.name for p in out.iterdir()} == {"keystore.jks", "truststore.jks", "destination.json", "server"}
    assert hidden(tmp_path) == []


def test_a_build_while_another_writes_the_same_out_is_refused(tmp_path: Path) -> None:
    """Deterministic: the second build starts once the first is mid-write (its staging folder exists)."""
    out = tmp_path / "out"
    slow = start("build", str(slow_scenario(tmp_path)), "--out", str(out), cwd=tmp_path, env=no_key_cache())
    try:
        wait_for(lambda: staging_of(tmp_path), 60, "the first build's staging folder")
        done = mtls("build", str(OK_RSA), "--out", str(out), cwd=tmp_path)
        assert_one_line_error(done, "being written by another")
        done_force = mtls("build", str(OK_RSA), "--out", str(out), "--force", cwd=tmp_path)
        assert_one_line_error(done_force, "being written by another")
        _, err = slow.communicate(timeout=TIMEOUT)
    finally:
        slow.kill()
    assert slow.returncode == 0, err
    assert (out / "destination.json").is_file()
    assert (out / "keystore.jks").is_file()
    assert hidden(tmp_path) == []


def test_concurrent_builds_into_different_outs_both_succeed(tmp_path: Path) -> None:
    """The twin: the claim is per folder."""
    procs = [start("build", str(OK_RSA), "--out", str(tmp_path / name), cwd=tmp_path) for name in ("a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
    assert hidden(tmp_path) == []


# == --force never deletes the scenario's own inputs ====================================================


def _store_scenario(folder: Path, store: str) -> str:
    """ok-rsa, its keystore an existing store file (``store``, relative to the scenario)."""
    text = OK_RSA.read_text("utf-8")
    head, tail = text.split("[[keystore.entries]]")
    tail = tail.split("[truststore]", 1)[1]
    return (
        head.replace('password = "ks-Secret-0k"', f'password = "ks-Secret-0k"\nfile = "{store}"')
        + "[truststore]"
        + tail
    )


def test_force_refuses_to_delete_the_scenarios_own_inputs(tmp_path: Path) -> None:
    stores = tmp_path / "stores"
    done = mtls("build", str(OK_RSA), "--out", str(stores), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # A scenario outside the folder naming a store inside it.
    outside = tmp_path / "uses-store.toml"
    outside.write_text(_store_scenario(tmp_path, "stores/keystore.jks"), "utf-8")
    before = (stores / "keystore.jks").read_bytes()
    done = mtls("build", str(outside), "--out", str(stores), "--force", cwd=tmp_path)
    assert_one_line_error(done, "own input", "keystore.jks")
    assert (stores / "keystore.jks").read_bytes() == before
    # The scenario file itself inside the folder.
    inside = stores / "scenario.toml"
    inside.write_text(OK_RSA.read_text("utf-8"), "utf-8")
    done = mtls("build", str(inside), "--out", str(stores), "--force", cwd=tmp_path)
    assert_one_line_error(done, "own input", "scenario.toml")
    assert inside.is_file()
    assert hidden(tmp_path) == []
    # The twin: --force on a folder holding none of the inputs replaces it.
    other = tmp_path / "other"
    assert mtls("build", str(OK_RSA), "--out", str(other), cwd=tmp_path).returncode == 0
    (other / "stale.txt").write_text("old")
    done = mtls("build", str(outside), "--out", str(other), "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (other / "stale.txt").exists()
    assert (other / "keystore.jks").read_bytes() == before  # the scenario's existing store, copied


# == staging folders of an interrupted write ============================================================


def test_a_killed_builds_staging_is_removed_by_the_next_build(tmp_path: Path) -> None:
    out = tmp_path / "out"
    slow = start("build", str(slow_scenario(tmp_path)), "--out", str(out), cwd=tmp_path, env=no_key_cache())
    try:
        wait_for(lambda: staging_of(tmp_path), 60, "the build's staging folder")
        slow.send_signal(signal.SIGKILL)
        slow.communicate(timeout=30)
    finally:
        slow.kill()
    left = staging_of(tmp_path)
    assert left, "SIGKILL left no staging folder: nothing to clean up"
    assert not out.exists()
    done = mtls("build", str(OK_RSA), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert hidden(tmp_path) == []
    assert (out / "keystore.jks").is_file()


def test_a_live_writers_staging_is_left_alone(tmp_path: Path) -> None:
    """The twin: a staging folder whose writer is alive (it holds OUT's lock) is not removed, and OUT is refused."""
    out = tmp_path / "out"
    with claimed_folder(out) as staging:
        (staging / "half.txt").write_text("in progress")
        done = mtls("build", str(OK_RSA), "--out", str(out), cwd=tmp_path)
        assert_one_line_error(done, "being written by another")
        assert (staging / "half.txt").read_text() == "in progress"
    assert (out / "half.txt").read_text() == "in progress"  # committed by its writer
    assert hidden(tmp_path) == []


def test_sigterm_mid_build_removes_its_staging(tmp_path: Path) -> None:
    out = tmp_path / "out"
    slow = start("build", str(slow_scenario(tmp_path)), "--out", str(out), cwd=tmp_path, env=no_key_cache())
    try:
        wait_for(lambda: staging_of(tmp_path), 60, "the build's staging folder")
        slow.send_signal(signal.SIGTERM)
        _, err = slow.communicate(timeout=60)
    finally:
        slow.kill()
    assert slow.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert not out.exists()
    assert hidden(tmp_path) == []


# == serve DIR: bad inputs are one line, exit 2 =========================================================

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "1" * 5_000


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("not-json", "{url", ["destination.json"]),
        ("deep", '{"url": ' + DEEP + "}", ["destination.json"]),
        ("huge-int", '{"url": ' + HUGE_INT + "}", ["destination.json"]),
        ("not-an-object", "[1, 2]", ["destination.json"]),
        ("wrong-type", '{"url": 5, "keystoreFile": [], "keystorePass": {}}', ["destination.json"]),
    ],
)
def test_serve_dir_with_a_broken_destination_json(
    tmp_path: Path, built: Built, name: str, text: str, words: list[str]
) -> None:
    built.destination.write_text(text, "utf-8")
    assert_one_line_error(mtls("serve", str(built.folder), cwd=tmp_path, timeout=60), *words)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep", DEEP),
        ("deep-object", '{"a": ' * 50_000 + "1" + "}" * 50_000),
        ("huge-int", '{"status": ' + HUGE_INT + "}"),
        ("list", "[]"),
        ("wrong-type", '{"client_auth": 5}'),
        ("bad-versions", '{"tls_versions": "1.3"}'),
        ("unknown-key", '{"evil": true}'),
        ("status-bool", '{"status": true}'),
    ],
)
def test_serve_dir_with_a_broken_server_json(tmp_path: Path, built: Built, name: str, text: str) -> None:
    (built.folder / "server" / "server.json").write_text(text, "utf-8")
    assert_one_line_error(mtls("serve", str(built.folder), cwd=tmp_path, timeout=60), "server.json")


def test_serve_dir_with_a_fifo_as_server_json(tmp_path: Path, built: Built) -> None:
    policy = built.folder / "server" / "server.json"
    policy.unlink()
    os.mkfifo(policy)
    assert_one_line_error(mtls("serve", str(built.folder), cwd=tmp_path, timeout=60), "server.json", "FIFO")


def test_serve_dir_good_folder_serves_and_points_destination_at_itself(tmp_path: Path, built: Built) -> None:
    """The twin: the folder as build wrote it is served; destination.json's url is updated."""
    proc = start("serve", str(built.folder), cwd=tmp_path)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the test's timeout below kills a silent server
        assert line.startswith("listening on https://127.0.0.1:"), line
        url = line.split()[-1]
        wait_for(lambda: json.loads(built.destination.read_text("utf-8"))["url"] == url, 10, "the url update")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0


# == reproduce --profile: bad inputs are one line, exit 2 ===============================================


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("deep", DEEP, ["nested"]),
        ("deep-in-chain", '{"client_auth": "required", "chain": ' + DEEP + "}", ["nested"]),
        ("huge-int", '{"client_auth": "required", "port": ' + HUGE_INT + "}", ["not valid JSON"]),
        ("not-an-object", "[1]", ["capture"]),
        ("client-auth-int", '{"client_auth": 5}', ["client_auth"]),
        ("chain-of-ints", '{"client_auth": "required", "chain": [1, 2]}', ["chain"]),
        ("chain-subject-int", '{"client_auth": "required", "chain": [{"subject": 5}]}', ["chain[0].subject"]),
        ("ca-names-string", '{"client_auth": "required", "ca_names": "CN=x"}', ["ca_names"]),
        ("versions-dict", '{"client_auth": "required", "tls_versions": {"a": 1}}', ["tls_versions"]),
        ("intermediates-string", '{"client_auth": "required", "intermediates_sent": "yes"}', ["intermediates_sent"]),
    ],
)
def test_reproduce_profile_bad_input(tmp_path: Path, built: Built, name: str, text: str, words: list[str]) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(text, "utf-8")
    out = tmp_path / "case"
    done = mtls(
        "reproduce", str(built.destination), "--profile", str(profile), "--out", str(out), cwd=tmp_path, timeout=60
    )
    assert_one_line_error(done, "profile.json", *words)
    assert not out.exists()


def test_reproduce_profile_fifo(tmp_path: Path, built: Built) -> None:
    profile = tmp_path / "profile.json"
    os.mkfifo(profile)
    done = mtls(
        "reproduce",
        str(built.destination),
        "--profile",
        str(profile),
        "--out",
        str(tmp_path / "o"),
        cwd=tmp_path,
        timeout=60,
    )
    assert_one_line_error(done, "profile.json", "FIFO")


def test_reproduce_good_profile_is_accepted(tmp_path: Path) -> None:
    """The twin: a profile of the shape capture writes passes; the next error is about the destination."""
    profile = tmp_path / "profile.json"
    doc = {
        "client_auth": "required", "ca_names": ["CN=Acme Client Root CA,O=Acme Corp"], "tls_versions": ["TLSv1.3"],
        "intermediates_sent": True, "chain": [{"subject": "CN=server", "issuer": "CN=root", "key": "RSA 2048"}],
    }  # fmt: skip
    profile.write_text(json.dumps(doc), "utf-8")
    done = mtls(
        "reproduce", str(tmp_path / "none.json"), "--profile", str(profile), "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert_one_line_error(done, "none.json")
    assert "profile.json" not in done.stderr


# == serve keeps serving: at the cap the oldest idle connection makes room =============================


@contextlib.contextmanager
def idle_tls(port: int, context: object, count: int, server: LocalServer) -> Iterator[list[socket.socket]]:
    with contextlib.ExitStack() as stack:
        held = []
        for _ in range(count):
            raw = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            held.append(stack.enter_context(context.wrap_socket(raw, server_hostname="127.0.0.1")))  # type: ignore[attr-defined]
        yield held


def write_base(tmp_path: Path) -> Path:
    path = tmp_path / "base.toml"
    path.write_text(to_toml(BASE) + "\n", "utf-8")
    return path


def test_a_good_client_is_served_past_cap_plus_20_idle_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = 10
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", cap)
    built = build_scenario(load_scenario(write_base(tmp_path)), tmp_path / "base")  # path /inbound, as abuse posts
    context = abuse.good_context(built, tmp_path)
    with LocalServer(built.server) as server, idle_tls(server.port, context, cap + 20, server):
        wait_for(lambda: server.open_connections >= cap, 10, "the cap filled with idle connections")
        statuses = [abuse.good_post(server.port, context)[0] for _ in range(5)]
        assert server.open_connections <= cap
    assert statuses == [200] * 5


def test_at_the_cap_with_every_connection_inside_a_request_the_newcomer_is_closed(
    tmp_path: Path, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The twin: only idle connections are closed to make room, never one whose request is in progress."""
    cap = 3
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", cap)
    context = abuse.good_context(built, tmp_path)
    head = b"POST /inbound/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"  # the body never comes
    with LocalServer(built.server) as server, idle_tls(server.port, context, cap, server) as held:
        for tls in held:
            tls.sendall(head)
        wait_for(lambda: server.open_connections >= cap, 10, "the cap filled")
        time.sleep(0.3)  # the heads parsed: every connection is inside a request
        status, _ = abuse.good_post(server.port, context)
        assert status is None
        for tls in held:
            tls.sendall(b"{" + b" " * 98 + b"}")  # the requests complete and are answered
            tls.settimeout(10)
            assert tls.recv(64).startswith(b"HTTP/1.1 200")
