"""The differential test of issue 21 (point 7): `check` against the JDK, on stores the project did not make.

Every store of fixtures/foreign/ (listed in its README with its role and
password) goes into a destination with a known-good other store and no URL.
For each JDK of the matrix (``--mtls-jdk``; by default the Makefile's 11.0.10,
17 and 21):

- the platform's answer: tests/java/PlatformLoad.java, run on that JDK, does
  what the platform does (``KeyStore.getInstance("JKS").load``, ``getKey`` with
  the store password, ``KeyManagerFactory`` / ``TrustManagerFactory`` ``init``);
- check's answer: ``mtls-harness check DESTINATION --json --jdk THAT_JDK`` (its home
  folder; the command's code path, run in process with one warm JVM per JDK), its
  store findings mapped to the same few verdicts.

The two must agree, store by store and JDK by JDK; the failure message is the
table of disagreements. No verdict is written down here: the JDK's answer is
the expectation. The only reading added to the JDK's is issue 21's point 3:
when a JDK refuses the right password (its PKCS#12 reader says "password was
incorrect" or "Cannot recover key" where it cannot decrypt) and another JDK of
the matrix accepts the same password, that JDK lacks an algorithm, and the
verdict is "format unsupported". Where the JKS type's PKCS12 fallback hides
the reason ("Invalid keystore format"), PlatformLoad asks PKCS12 for it.

The stores in holdout/ are a separate item: the lead measures `check` on them,
and they are not used to tune it. Under CI=true nothing skips: a missing JDK or
javac is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.check import run_check as harness_check
from harness.check.jdk import jsse_engines
from harness.destination import load_destination
from harness.java import runtimes as jdks
from tests.conftest import jdk_matrix, unavailable

pytestmark = pytest.mark.jdk

REPO = Path(__file__).resolve().parent.parent
FOREIGN = REPO / "fixtures" / "foreign"
PLATFORM_LOAD = REPO / "tests" / "java" / "PlatformLoad.java"
GOOD_PASSWORD = "foreign-Pw-5e2a"  # fixtures/foreign/good/*.jks (README, Layout)

# The verdicts, in the order a store meets them: the first failure wins.
UNREADABLE = "unreadable"
UNSUPPORTED = "format unsupported"
PASSWORD_WRONG = "password wrong"
NO_KEY = "no key entry"
KEY_NOT_RECOVERED = "key not recovered"
KEY_RECOVERS = "key recovers"
ANCHORS_0 = "trust anchors 0"
ANCHORS = "trust anchors"
LOAD_FAILURES = (UNREADABLE, UNSUPPORTED, PASSWORD_WRONG)

# check's store codes (severity error) -> the verdict they claim, per role.
CHECK_CODES = {
    "keystore": {
        "store-unreadable": UNREADABLE,
        "keystore-format-unsupported": UNSUPPORTED,
        "keystore-password-wrong": PASSWORD_WRONG,
        "keystore-no-key-entry": NO_KEY,
        "key-password-mismatch": KEY_NOT_RECOVERED,
    },
    "truststore": {
        "store-unreadable": UNREADABLE,
        "keystore-format-unsupported": UNSUPPORTED,
        "truststore-password-wrong": PASSWORD_WRONG,
        "truststore-empty": ANCHORS_0,
    },
}
# A PEM file is a store-type-mismatch error: the JDK cannot open it at all.
TYPE_ERROR = "store-type-mismatch"
ORDER = (UNREADABLE, UNSUPPORTED, PASSWORD_WRONG, NO_KEY, ANCHORS_0, KEY_NOT_RECOVERED)
_ALGORITHM_MISSING = re.compile(r"NoSuchAlgorithmException|not available|unsupported|unrecognized algorithm", re.I)
_ROW = re.compile(r"^\| `((?:stores|holdout)/[^`/]+)` \| (\w+) \| (.*?) \| .* \| (.*?) \|$")


@dataclass(frozen=True)
class Store:
    file: str  # relative to fixtures/foreign/: "stores/openssl3-default.p12"
    role: str  # "keystore" or "truststore": which destination attribute it is
    tool: str
    password: str

    @property
    def path(self) -> Path:
        return FOREIGN / self.file

    @property
    def part(self) -> str:
        return self.file.split("/")[0]


def readme_stores() -> list[Store]:
    """The README's table of stores: file, role, tool, password (`""` is the empty password)."""
    out = []
    for line in (FOREIGN / "README.md").read_text(encoding="utf-8").splitlines():
        row = _ROW.match(line)
        if row:
            cell = re.match(r"`([^`]*)`", row.group(4))
            assert cell, f"README row {row.group(1)}: the password cell must start with `password`"
            password = "" if cell.group(1) == '""' else cell.group(1)
            out.append(Store(row.group(1), row.group(2), row.group(3), password))
    return out


# Negative twins of the mapping: the good stores with a wrong password, which
# both sides must call "password wrong" (and the good stores themselves).
CONTROLS = [
    Store("good/keystore.jks", "keystore", "control: keytool 17, right password", GOOD_PASSWORD),
    Store("good/truststore.jks", "truststore", "control: keytool 17, right password", GOOD_PASSWORD),
    Store("good/keystore.jks", "keystore", "control: keytool 17, wrong password", "not-" + GOOD_PASSWORD),
    Store("good/truststore.jks", "truststore", "control: keytool 17, wrong password", "not-" + GOOD_PASSWORD),
]


def destination(store: Store) -> dict[str, str]:
    good_ks, good_ts = str(FOREIGN / "good" / "keystore.jks"), str(FOREIGN / "good" / "truststore.jks")
    if store.role == "keystore":
        return {"keystoreFile": str(store.path), "keystorePass": store.password,
                "truststoreFile": good_ts, "truststorePass": GOOD_PASSWORD}  # fmt: skip
    return {"keystoreFile": good_ks, "keystorePass": GOOD_PASSWORD,
            "truststoreFile": str(store.path), "truststorePass": store.password}  # fmt: skip


# -- the platform's answer -------------------------------------------------------------


def platform_verdict(role: str, answer: dict[str, Any]) -> tuple[str, str]:
    """(verdict, detail) from PlatformLoad's JSON for one store."""
    found = answer[role]
    if not found["loaded"]:
        error, pkcs12 = found["error"], found.get("pkcs12Error")
        detail = f"{error['class']}: {error['message']}"
        text = json.dumps([error, pkcs12])
        if _ALGORITHM_MISSING.search(text):
            reason = (pkcs12 or error)["causes"] or [pkcs12["message"] if pkcs12 else ""]
            return UNSUPPORTED, f"{detail} ({reason[-1]})"
        if "UnrecoverableKeyException" in text or "password" in text.lower():
            return PASSWORD_WRONG, detail
        return UNREADABLE, detail
    if role == "truststore":
        if found["tmf"]:
            return f"trust manager fails ({found['tmf']['class']})", found["tmf"]["message"] or ""
        anchors = found["anchors"]
        return (ANCHORS if anchors else ANCHORS_0), f"{anchors} anchors, aliases {found['aliases']}"
    keys = ", ".join(f"{a}: {k}" for a, k in found["keys"].items()) or "none"
    detail = f"key entries {keys}; client alias {found['clientAlias']}"
    if found["kmf"]:
        kmf = found["kmf"]
        if "UnrecoverableKeyException" in json.dumps(kmf):
            return KEY_NOT_RECOVERED, detail
        return f"key manager fails ({kmf['class']})", f"{kmf['message']}; {detail}"
    if not found["keyEntries"] or found["clientAlias"] is None:
        return NO_KEY, f"{detail} (aliases {found['aliases']})"
    return KEY_RECOVERS, detail


def run_platform_load(runtime: jdks.Runtime, classes: Path, stores: Sequence[Store]) -> list[dict[str, Any]]:
    """PlatformLoad on this runtime for every store's destination (one JVM, passwords on stdin)."""
    lines = []
    for store in stores:
        d = destination(store)
        fields = (d["keystoreFile"], d["keystorePass"], d["truststoreFile"], d["truststorePass"])
        assert not any("\t" in f or "\n" in f for f in fields)
        lines.append("\t".join(fields))
    done = subprocess.run(
        [str(runtime.java), "-cp", str(classes), "PlatformLoad"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"PlatformLoad on Java {runtime.version}: {done.stderr[-2000:]}"
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(stores)
    assert {a["java"] for a in answers} == {runtime.version}, "PlatformLoad ran on another JDK than asked"
    return answers


# -- check's answer --------------------------------------------------------------------


_ON_JAVA = re.compile(r" on Java (\S+)$")


def check_verdict(store: Store, version: str, doc: dict[str, Any]) -> tuple[str, str]:
    """(verdict, detail) from `check --json` for one JDK: its error findings about this store, mapped.

    A finding whose subject ends "on Java V" is that JDK's; one without is every JDK's.
    """
    name = store.path.name
    about = [
        f for f in doc.get("findings", []) if f.get("check") == store.role or f.get("subject", "").startswith(name)
    ]
    mine = [f for f in about if (m := _ON_JAVA.search(f.get("subject", ""))) is None or m.group(1) == version]
    errors = [f for f in mine if f.get("severity") == "error"]
    detail = ", ".join(sorted({f["code"] for f in mine})) or "no finding"
    if f"stores on Java {version}" not in doc.get("facts", {}) or any(f["code"] == "jdk-not-run" for f in mine):
        return "JDK not consulted", detail
    claimed = {CHECK_CODES[store.role][f["code"]] for f in errors if f["code"] in CHECK_CODES[store.role]}
    if any(f["code"] == TYPE_ERROR for f in errors):
        claimed.add(UNREADABLE)
    for verdict in ORDER:
        if verdict in claimed:
            return verdict, detail
    return (KEY_RECOVERS if store.role == "keystore" else ANCHORS), detail


def check_all(stores: Sequence[Store], runtime: jdks.Runtime, folder: Path) -> list[tuple[str, str]]:
    """check's verdict on this JDK for each store: ``mtls-harness check DESTINATION --json --jdk HOME``, in process.

    The command's own path (load_destination, run_check with that JDK as the judge of the stores,
    the JSON report), with one warm JVM for every store instead of one JVM per store. One JDK a
    run: with several ``--jdk``, check reports a finding that every JDK shares once, under the
    first JDK's name.
    """
    engines, missing = jsse_engines([str(runtime.home)])
    assert engines, f"no engine for {runtime.home}"
    assert not missing, missing
    out = []
    try:
        for store in stores:
            path = folder / f"{store.file.replace('/', '-')}-{store.role}-{len(store.password)}-{runtime.version}.json"
            path.write_text(json.dumps(destination(store)), encoding="utf-8")
            try:
                report = harness_check(load_destination(path), jdks=(engines, ()))
            except Exception as exc:  # noqa: BLE001 (a traceback from check is a disagreement, shown in the table)
                out.append((f"check raised {type(exc).__name__}", str(exc)[:200]))
                continue
            out.append(check_verdict(store, runtime.version, json.loads(report.to_json())))
    finally:
        for engine in engines:
            engine.close()
    return out


# -- the matrix and the table ----------------------------------------------------------


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest) -> list[jdks.Runtime]:
    """The JDKs of --mtls-jdk (default 11.0.10, 17, 21); a missing one fails under CI=true."""
    return jdk_matrix(request.config, "for the differential test")


@pytest.fixture(scope="module")
def platform_load(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PlatformLoad.java compiled with the javac on PATH, --release 11 (the oldest JDK of the matrix)."""
    javac = shutil.which("javac")
    if javac is None:
        unavailable("javac not found on PATH: install a JDK (openjdk-17-jdk-headless)")
    classes = tmp_path_factory.mktemp("platform-load")
    subprocess.run([javac, "--release", "11", "-d", str(classes), str(PLATFORM_LOAD)], check=True, timeout=300)
    return classes


@dataclass
class Row:
    store: Store
    platform: dict[str, tuple[str, str]]  # JDK version -> (verdict, detail)
    check: dict[str, tuple[str, str]]

    def disagreements(self) -> Iterator[str]:
        for version, (verdict, _) in self.platform.items():
            if self.check[version][0] != verdict:
                yield version


def with_missing_algorithms(platform: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Issue 21, point 3: a password that another JDK of the matrix accepts is right; this JDK lacks an algorithm.

    "password wrong" where another JDK got past the password (it opened the
    store, or failed only later, on a missing MAC algorithm); "key not
    recovered" where another JDK recovered the key with the same password.
    """
    out = dict(platform)
    for version, (verdict, detail) in platform.items():
        if verdict == PASSWORD_WRONG:
            accepted = [v for v, (other, _) in platform.items() if other not in (UNREADABLE, PASSWORD_WRONG)]
        elif verdict == KEY_NOT_RECOVERED:
            accepted = [v for v, (other, _) in platform.items() if other == KEY_RECOVERS]
        else:
            continue
        if accepted:
            out[version] = (UNSUPPORTED, f"{detail}; Java {accepted[0]} accepts this password")
    return out


def judge(stores: Sequence[Store], matrix: Sequence[jdks.Runtime], classes: Path, folder: Path) -> list[Row]:
    rows = [Row(s, {}, {}) for s in stores]
    for runtime in matrix:
        for row, answer in zip(rows, run_platform_load(runtime, classes, stores), strict=True):
            row.platform[runtime.version] = platform_verdict(row.store.role, answer)
    for row in rows:
        row.platform = with_missing_algorithms(row.platform)
    with ThreadPoolExecutor(len(matrix) or 1) as pool:  # one thread (and one warm JVM) per JDK
        jobs = {r.version: pool.submit(check_all, stores, r, folder) for r in matrix}
        for version, job in jobs.items():
            for row, verdict in zip(rows, job.result(), strict=True):
                row.check[version] = verdict
    return rows


def table(rows: Sequence[Row], versions: Sequence[str], *, only_disagreements: bool) -> str:
    head = "| store | role | tool | " + " | ".join(f"Java {v}: JDK / check" for v in versions) + " |"
    lines = [head, "|" + "---|" * (3 + len(versions))]
    for row in rows:
        wrong = set(row.disagreements())
        if only_disagreements and not wrong:
            continue
        cells = []
        for v in versions:
            jdk, check = row.platform[v][0], row.check[v][0]
            cells.append(jdk if v not in wrong else f"**{jdk} / check: {check}**")
        lines.append(f"| {row.store.file} | {row.store.role} | {row.store.tool} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(rows: Sequence[Row]) -> str:
    out = []
    for row in rows:
        for v in row.disagreements():
            out.append(
                f"- {row.store.file} on Java {v}: JDK {row.platform[v][0]} ({row.platform[v][1]}); "
                f"check {row.check[v][0]} ({row.check[v][1]})"
            )
    return "\n".join(out)


# -- the tests -------------------------------------------------------------------------


def test_readme_lists_every_store() -> None:
    """Every file under stores/ and holdout/ has exactly one README row, with a role and a password cell."""
    listed = readme_stores()
    files = sorted(str(p.relative_to(FOREIGN)) for part in ("stores", "holdout") for p in (FOREIGN / part).iterdir())
    assert sorted(s.file for s in listed) == files
    assert len({s.file for s in listed}) == len(listed), "a store is listed twice"
    assert {s.role for s in listed} == {"keystore", "truststore"}
    assert {s.part for s in listed} == {"stores", "holdout"}, "both the tuning part and the holdout part"
    assert (FOREIGN / "make-foreign.sh").stat().st_mode & 0o111, "make-foreign.sh is executable"
    for good in ("keystore.jks", "truststore.jks", "root.crt"):
        assert (FOREIGN / "good" / good).is_file()


def test_mapping_has_negative_twins(matrix: list[jdks.Runtime], platform_load: Path, tmp_path: Path) -> None:
    """The controls: the good stores open on both sides, and with a wrong password both say so."""
    rows = judge(CONTROLS, matrix[:1], platform_load, tmp_path)
    version = matrix[0].version
    got = [(r.platform[version][0], r.check[version][0]) for r in rows]
    assert got == [
        (KEY_RECOVERS, KEY_RECOVERS),
        (ANCHORS, ANCHORS),
        (PASSWORD_WRONG, PASSWORD_WRONG),
        (PASSWORD_WRONG, PASSWORD_WRONG),
    ], table(rows, [version], only_disagreements=False)


# Other tools' stores hold what cryptography deprecates (DSA, a negative serial number): the CLI shows no
# warning for them, so neither does check run in process here.
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("part", ["stores", "holdout"])
def test_check_agrees_with_the_jdk(part: str, matrix: list[jdks.Runtime], platform_load: Path, tmp_path: Path) -> None:
    """check's store verdict equals the platform's, for every foreign store and every JDK of the matrix."""
    stores = [s for s in readme_stores() if s.part == part]
    rows = judge(stores, matrix, platform_load, tmp_path)
    versions = [r.version for r in matrix]
    full = table(rows, versions, only_disagreements=False)
    if os.environ.get("MTLS_FOREIGN_TABLE"):  # the whole table, for the closing note
        Path(os.environ["MTLS_FOREIGN_TABLE"]).with_suffix(f".{part}.md").write_text(full + "\n", encoding="utf-8")
    wrong = [row for row in rows if any(row.disagreements())]
    assert not wrong, (
        f"check disagrees with the JDK on {len(wrong)} of {len(rows)} stores in fixtures/foreign/{part}:\n"
        + table(rows, versions, only_disagreements=True)
        + "\n\n"
        + details(rows)
    )
