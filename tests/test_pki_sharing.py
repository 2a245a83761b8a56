"""Issue once per run (issue 26): identical [pki] tables share one issue; any change to [pki] is its own PKI.

Equivalence: a copy of a catalogue scenario run on the shared PKI gets the
verdict the same scenario got on the PKI issued for it, over real loopback
TLS; its stores read back, by the keytool of each JDK (--mtls-jdk), to the
chain shape of stores built with a fresh PKI. The negative twins: a copy whose
[pki] differs by one second of validity, or by a key type, gets a PKI of its own.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harness.build import write_scenario_files
from harness.engines.python import PythonEngine
from harness.java import runtimes as jdks
from harness.pki import Material, pki_key, reset_run, sha256_fingerprint, shared_material
from harness.run import run_scenario
from harness.scenario import Scenario, load_scenario
from tests.conftest import jdk_matrix

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
# Stores that open, in both formats, with one or more key entries, short and long chains, a key that does not match.
READ_BACK = ("ok-rsa", "ok-pkcs12", "ok-ec", "client-chain-incomplete", "keystore-ambiguous", "key-cert-mismatch")


def copy_of(name: str, folder: Path, tag: str, edit: tuple[str, str] | None = None) -> Scenario:
    """The shipped scenario ``name`` under a name of its own (``edit``: one text replacement, which must apply)."""
    text = (SCENARIOS / f"{name}.toml").read_text()
    if edit is not None:
        assert edit[0] in text
        text = text.replace(edit[0], edit[1], 1)
    path = folder / f"{name}-{tag}.toml"
    path.write_text(text)
    return load_scenario(path)


def pki_prints(material: Material, scenario: Scenario) -> dict[str, str]:
    return {name: sha256_fingerprint(material.cert(name)) for name in scenario.pki}


@pytest.fixture(autouse=True)
def fresh_run() -> None:
    reset_run()


# -- what is shared, and what is not ---------------------------------------------------------


def test_identical_pki_tables_share_one_issue_at_the_run_start(tmp_path: Path) -> None:
    first = copy_of("ok-rsa", tmp_path, "a")
    # The same [pki], everything else changed: another name, passwords, server identity key.
    second = copy_of("ok-rsa", tmp_path, "b", ('password = "', 'password = "other-'))
    assert pki_key(first) == pki_key(second)
    one, two = shared_material(first), shared_material(second)
    assert pki_prints(one, first) == pki_prints(two, second)
    assert one.now == two.now
    # The server's identity stays the scenario's own.
    assert sha256_fingerprint(one.cert("server.leaf")) != sha256_fingerprint(two.cert("server.leaf"))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(("[pki.client]\n", '[pki.client]\nnot_before = "-86401s"\n'), id="validity-one-second"),
        pytest.param(("[pki.client]\n", '[pki.client]\nkey = "ec-p256"\n'), id="key-type"),
        pytest.param(('subject = "CN=', 'subject = "CN=x'), id="subject"),
    ],
)
def test_any_change_to_pki_gets_its_own_pki(tmp_path: Path, edit: tuple[str, str]) -> None:
    first = copy_of("client-cert-untrusted", tmp_path, "a")
    changed = copy_of("client-cert-untrusted", tmp_path, "b", edit)
    assert pki_key(first) != pki_key(changed)
    one, two = pki_prints(shared_material(first), first), pki_prints(shared_material(changed), changed)
    assert one.keys() == two.keys()
    assert all(one[name] != two[name] for name in one)


def test_a_new_run_issues_afresh(tmp_path: Path) -> None:
    scenario = copy_of("ok-ec", tmp_path, "a")
    before = pki_prints(shared_material(scenario), scenario)
    assert pki_prints(shared_material(scenario), scenario) == before
    reset_run()
    assert pki_prints(shared_material(scenario), scenario) != before


def test_building_a_scenario_always_issues_afresh(tmp_path: Path) -> None:
    scenario = copy_of("ok-rsa", tmp_path, "a")
    shared = pki_prints(shared_material(scenario), scenario)
    (tmp_path / "built").mkdir()
    built = write_scenario_files(scenario, tmp_path / "built")
    assert pki_prints(built.material, scenario) != shared


# -- equivalence: verdicts over loopback TLS -------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.toml")))
def test_a_copy_on_the_shared_pki_gets_the_verdict_of_its_own_pki(tmp_path: Path, name: str) -> None:
    first = copy_of(name, tmp_path, "a")
    second = copy_of(name, tmp_path, "b")
    own = run_scenario(first, PythonEngine(), folder=tmp_path / "a")  # the first issues its [pki]
    shared = run_scenario(second, PythonEngine(), folder=tmp_path / "b")
    assert pki_prints(shared.built.material, second) == pki_prints(own.built.material, first)
    assert shared.verdict.code == own.verdict.code == own.expected


# -- equivalence: stores read back by each JDK's keytool -------------------------------------


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest) -> list[jdks.Runtime]:
    return jdk_matrix(request.config, "for the read-back")


def chain_shape(runtime: jdks.Runtime, store: Path, password: str) -> list[tuple[str, ...]]:
    """Per entry, as that JDK's keytool lists it: alias, entry type, chain length, each certificate's owner/issuer.

    A store the JDK cannot open: its first line of complaint.
    """
    done = subprocess.run(
        [str(runtime.keytool), "-J-XX:+UseSerialGC", "-list", "-v", "-keystore", str(store), "-storepass", password],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        # A store this JDK cannot open (ok-pkcs12's on 11.0.10, as its [expect] says): the same for both PKIs.
        return [("unreadable", done.stdout.strip().splitlines()[0] if done.stdout.strip() else "")]
    entries = []
    for block in re.split(r"^Alias name: ", done.stdout, flags=re.M)[1:]:
        alias = block.splitlines()[0]
        kind = re.search(r"^Entry type: (.*)$", block, re.M)
        length = re.search(r"^Certificate chain length: (\d+)$", block, re.M)
        names = re.findall(r"^(Owner|Issuer): (.*)$", block, re.M)
        entries.append((alias, kind[1] if kind else "", length[1] if length else "1", *(f"{k}={v}" for k, v in names)))
    assert entries, f"keytool {runtime.version} listed no entry in {store.name}"
    return sorted(entries)


@pytest.mark.parametrize("name", READ_BACK)
def test_shared_stores_read_back_like_fresh_ones(tmp_path: Path, matrix: list[jdks.Runtime], name: str) -> None:
    issuer = copy_of(name, tmp_path, "a")
    scenario = copy_of(name, tmp_path, "b")
    issued = pki_prints(shared_material(issuer), issuer)
    shared_dir, fresh_dir = tmp_path / "shared", tmp_path / "fresh"
    shared_dir.mkdir()
    fresh_dir.mkdir()
    shared = write_scenario_files(scenario, shared_dir, material=shared_material(scenario))
    fresh = write_scenario_files(scenario, fresh_dir)
    assert pki_prints(shared.material, scenario) == issued
    assert all(issued[n] != p for n, p in pki_prints(fresh.material, scenario).items())
    listed = 0
    for runtime in matrix:
        for role, spec in (("keystore", scenario.keystore), ("truststore", scenario.truststore)):
            password = spec.password.reveal()
            got = chain_shape(runtime, getattr(shared, role), password)
            want = chain_shape(runtime, getattr(fresh, role), password)
            assert got == want, f"{name} {role} on Java {runtime.version}"
            listed += got[0][0] != "unreadable"
    assert listed, f"no JDK could list {name}'s stores"
