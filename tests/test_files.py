"""Output files: atomic, private where they hold keys or passwords, never half-written; the key cache.

An interrupted write (an error, or Ctrl-C as KeyboardInterrupt) must leave
the destination as it was and no temporary file behind.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import harness.build
import harness.files
import harness.pki.keys
from harness.build import build_scenario
from harness.files import write_atomic
from harness.pki import KEY_CACHE_ENV, build_material
from harness.scenario import load_scenario, parse_scenario
from tests.conftest import BASE, REPO, merged, to_toml


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_atomic_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keystore.jks"
    write_atomic(target, b"old", private=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(harness.files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new", private=True)
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()
    # The twin: uninterrupted, the new bytes land, and a public file is 0644.
    write_atomic(target, b"new", private=False)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_atomic_refuses_to_overwrite_when_told(tmp_path: Path) -> None:
    target = tmp_path / "out.jks"
    write_atomic(target, b"first", private=True, overwrite=False)
    with pytest.raises(FileExistsError):
        write_atomic(target, b"second", private=True, overwrite=False)
    assert target.read_bytes() == b"first"
    assert _leftovers(tmp_path) == []


def test_an_interrupted_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(REPO / "scenarios" / "ok-rsa.toml")
    real = harness.build.write_atomic
    calls = []

    def third_write_interrupted(path: Path, data: bytes, **kwargs: Any) -> None:
        calls.append(path.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(path, data, **kwargs)

    monkeypatch.setattr(harness.build, "write_atomic", third_write_interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        build_scenario(scenario, out)
    assert not out.exists()
    assert _leftovers(tmp_path) == [], "a staging folder with key material was left behind"
    monkeypatch.undo()
    built = build_scenario(scenario, out)
    assert built.keystore.is_file()
    assert _leftovers(tmp_path) == []


def test_a_forced_rebuild_interrupted_keeps_the_old_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(REPO / "scenarios" / "ok-rsa.toml")
    out = tmp_path / "out"
    build_scenario(scenario, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(harness.build, "write_scenario_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_scenario(scenario, out, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert _leftovers(tmp_path) == []


def test_ctrl_c_during_a_real_build_leaves_nothing(tmp_path: Path) -> None:
    """SIGINT to the real command while it generates RSA-4096 keys (seconds of work)."""
    doc = merged(BASE, {"pki": {name: {"key": "rsa-4096"} for name in ("client-root", "client-ca", "client")}})
    doc["pki"] |= {f"extra-{i}": {"kind": "root", "key": "rsa-4096"} for i in range(6)}
    scenario = tmp_path / "slow.toml"
    scenario.write_text(to_toml(doc) + "\n", "utf-8")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "build", str(scenario), "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != KEY_CACHE_ENV},
    )
    # Nine RSA-4096 keys take seconds; wait until the process is running Python, then interrupt.
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, err_text = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the build finished before the interrupt arrived (an unusually fast machine)")
    assert process.returncode == 130, err_text
    assert "interrupted" in err_text
    assert "Traceback" not in err_text
    assert not out.exists()
    assert _leftovers(tmp_path) == []


# Ctrl-C at a chosen moment of start-up: an import hook sends SIGINT to the process when ``harness.junit``
# (which `check` loads, as every command does through the parser) starts loading, then runs the command.
_INTERRUPT_AT_IMPORT = """
import os, runpy, signal, sys

trip_at = sys.argv.pop(1)

class Once:
    def find_spec(self, name, path=None, target=None):
        if name == trip_at:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Once())
sys.argv[0] = "mtls-harness"
runpy.run_module("harness.cli.main", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("trip_at", ["harness.junit", "no.such.module"])
def test_ctrl_c_while_the_command_loads_is_one_line_and_exit_130(tmp_path: Path, trip_at: str) -> None:
    """SIGINT while the commands' modules load; its twin (a module never imported) is the plain build."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(to_toml(BASE) + "\n", "utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_AT_IMPORT, trip_at, "build", str(scenario), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if trip_at == "no.such.module":
        assert done.returncode == 0, done.stderr
        assert "interrupted" not in done.stderr
        assert out.is_dir()
        return
    assert done.returncode == 130, done.stderr
    assert done.stderr == "mtls-harness: interrupted\n"
    assert not out.exists()


def _rsa4096_scenario(tmp_path: Path) -> Path:
    doc = merged(BASE, {"pki": {"client": {"key": "rsa-4096"}}})
    path = tmp_path / "rsa4096.toml"
    path.write_text(to_toml(doc) + "\n", "utf-8")
    return path


def test_key_cache_is_opt_in_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(_rsa4096_scenario(tmp_path))
    cache = tmp_path / "cache"
    monkeypatch.delenv(KEY_CACHE_ENV, raising=False)
    monkeypatch.setattr(harness.pki.keys, "_pool", {})
    build_material(scenario)
    assert not cache.exists()  # nothing cached unless asked

    monkeypatch.setenv(KEY_CACHE_ENV, str(cache))
    monkeypatch.setattr(harness.pki.keys, "_pool", {})
    first = build_material(scenario).issued["client"].key
    files = sorted(cache.iterdir())
    assert [f.name for f in files] == ["rsa-4096-0.pem"]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600

    # A new process (a fresh pool) reads the key back instead of generating one.
    monkeypatch.setattr(harness.pki.keys, "_pool", {})

    def no_generation(key_type: str) -> Any:
        if key_type == "rsa-4096":
            raise AssertionError("the cached RSA-4096 key was generated again")
        return real_generate(key_type)

    real_generate = harness.pki.keys.generate_key
    monkeypatch.setattr(harness.pki.keys, "generate_key", no_generation)
    second = build_material(scenario).issued["client"].key
    assert second.private_numbers() == first.private_numbers()


def test_key_cache_ignores_a_damaged_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (cache / "rsa-4096-0.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n")
    monkeypatch.setenv(KEY_CACHE_ENV, str(cache))
    monkeypatch.setattr(harness.pki.keys, "_pool", {})
    scenario = load_scenario(_rsa4096_scenario(tmp_path))
    key = build_material(scenario).issued["client"].key
    assert key.key_size == 4096


def test_distinct_keys_within_a_scenario_shared_across(tmp_path: Path) -> None:
    text = to_toml(BASE) + "\n"
    one = build_material(parse_scenario(text, tmp_path / "one.toml"))
    two = build_material(parse_scenario(text, tmp_path / "two.toml"))
    numbers = [one.issued[n].key.private_numbers() for n in ("client-root", "client-ca", "client")]
    assert len({n.d for n in numbers}) == 3  # type: ignore[union-attr]
    assert one.issued["client"].key is two.issued["client"].key
    assert one.cert("client") != two.cert("client")  # certificates are always new


def test_prefetched_keys_are_made_once_and_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """build_material right after prefetch_keys waits for the keys in the making; none is made twice."""
    made: list[str] = []
    real_generate = harness.pki.keys.generate_key

    def slow_generate(key_type: str) -> Any:
        made.append(key_type)
        time.sleep(0.05)  # long enough for build_material to ask for a key still being made
        return real_generate(key_type)

    monkeypatch.setattr(harness.pki.keys, "_pool", {})
    monkeypatch.setattr(harness.pki.keys, "generate_key", slow_generate)
    scenario = parse_scenario(to_toml(BASE) + "\n", tmp_path / "prefetch.toml")
    harness.pki.prefetch_keys(scenario)
    material = build_material(scenario)
    slots = harness.pki.key_slots(scenario)
    assert sorted(made) == sorted(key_type for key_type, _ in slots)  # each pooled key made exactly once
    assert {material.issued[n].key for n in ("client-root", "client-ca", "client")} == {
        harness.pki.keys._pool[slot] for slot in slots
    }
