"""Trust what the harness itself wrote (issue 26): a store written plainly in this process is taken from memory.

The owner's condition, proved here: for every catalogue scenario and both
store formats the harness writes (JKS and PKCS#12, each forced where the
scenario's store is generated plainly), the file read back from disk by
``read_store`` gives exactly the contents kept in memory (type, aliases in
order, entry kinds, chains by DER, private keys, trusted certificates), and
the keytool of each JDK of ``--mtls-jdk`` lists the same entries and chains.
A store not written plainly (damaged on purpose, the user's own file, a key or
destination password that differs) has no contents in memory, and a plain one
always has. The negative twins: a store changed on disk after writing, and a
probe whose password is not the one written with, read the disk, and the run
follows the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import harness.stores.written
from harness.build import Built, build_scenario, probe_for, write_scenario_files
from harness.engines import Probe
from harness.engines.python import PythonEngine
from harness.errors import StoreError
from harness.java import runtimes as jdks
from harness.knowledge.java import store_readable
from harness.pki import Material, build_material, reset_run, shared_material
from harness.run import Prepared, discard, prepare, probe_prepared, run_scenario
from harness.scenario import Scenario, StoreSpec, load_scenario
from harness.secret import Secret
from harness.stores import Role, StoreContents, jks_bytes, read_store, scenario_store_bytes, why_read_from_disk
from tests.conftest import SHIPPED, assert_no_secret, jdk_matrix

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ROLES: tuple[Role, ...] = ("keystore", "truststore")
FORMATS = ("jks", "pkcs12")
# Read by every JDK of the matrix (the rest by the first, 17 when it is there): one and several key entries,
# short and long chains, EC and RSA, a key that does not match its certificate, PKCS#12 as written.
HANDFUL = ("ok-rsa", "ok-pkcs12", "ok-ec", "keystore-ambiguous", "key-cert-mismatch")


@pytest.fixture(autouse=True)
def fresh_run() -> None:
    reset_run()


def forced(scenario: Scenario, role: Role, fmt: str, **more: object) -> Scenario:
    """``scenario`` with its ``role`` store written in ``fmt`` (and ``more`` StoreSpec fields)."""
    spec = dataclasses.replace(getattr(scenario, role), format=fmt, **more)
    return dataclasses.replace(scenario, **{role: spec})


def deliberate(spec: StoreSpec) -> str | None:
    """Why a store is not written plainly, from its spec alone (this file's own reading of the rule)."""
    if spec.file is not None:
        return "existing file"
    if spec.corrupt is not None:
        return "corrupt"
    if spec.key_password != spec.password:
        return "key password"
    if spec.destination_password != spec.password:
        return "destination password"
    if spec.format == "pkcs12" and not spec.java_trusted:
        return "no Java trust attribute"
    aliases = [e.alias for e in spec.key_entries] + [e.alias for e in spec.cert_entries]
    if spec.format == "jks" and any(a != a.lower() for a in aliases):
        return "upper-case JKS alias"
    return None


def writer_refuses(spec: StoreSpec) -> bool:
    """A PKCS#12 store is generated with one key entry matching its certificate and nothing else, or with trusted
    certificates only (at least one)."""
    keys, certs = spec.key_entries, spec.cert_entries
    plain_one = len(keys) == 1 and not certs and keys[0].private_key is None
    return spec.format == "pkcs12" and spec.file is None and not (plain_one or (certs and not keys))


def der(contents: StoreContents) -> tuple[object, ...]:
    """Everything a reader of the store sees, as bytes: type, path, entries in order, chains, keys (by the SHA-256
    of their PKCS#8 DER: a failing assertion prints no key), certificates."""
    pem = serialization.Encoding.DER
    keys = [
        (
            "key",
            e.alias,
            [c.public_bytes(pem) for c in e.chain],
            None
            if e.key is None
            else hashlib.sha256(
                e.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            ).hexdigest(),
        )
        for e in contents.key_entries
    ]
    certs = [("cert", e.alias, e.cert.public_bytes(pem)) for e in contents.cert_entries]
    return (contents.type, contents.path, keys, certs)


def written_variants(scenario: Scenario, material: Material, root: Path) -> Iterator[tuple[Role, StoreSpec, Built]]:
    """Each store of ``scenario`` written in each format (where the writer makes it), with the same material."""
    for role in ROLES:
        for fmt in FORMATS:
            variant = forced(scenario, role, fmt)
            spec: StoreSpec = getattr(variant, role)
            folder = root / f"{role}-{fmt}"
            folder.mkdir()
            try:
                built = write_scenario_files(variant, folder, material=material, durable=False)
            except (StoreError, ValueError):
                assert writer_refuses(spec), f"{scenario.name}: the {fmt} {role} was refused"
                continue
            assert not writer_refuses(spec), f"{scenario.name}: a {fmt} {role} the writer should refuse"
            yield role, spec, built


# -- every catalogue scenario, both formats: the disk reads back to what is kept ---------------


def test_written_stores_read_back_to_the_contents_kept(shipped_scenario: Path, tmp_path: Path) -> None:
    scenario = load_scenario(shipped_scenario)
    material = build_material(scenario)
    checked = 0
    for role, spec, built in written_variants(scenario, material, tmp_path):
        path: Path = getattr(built, role)
        written = getattr(built, f"{role}_written")
        why = deliberate(spec)
        if why is not None:
            assert written is None, f"{role} ({spec.format}): kept in memory although {why}"
            assert why_read_from_disk(spec) is not None
            continue
        # The twin: a plain store always has its contents in memory.
        assert written is not None, f"{role} ({spec.format}) is written plainly but not kept"
        assert why_read_from_disk(spec) is None
        disk = read_store(path, spec.password, role)
        assert der(written.contents) == der(disk), f"{role} ({spec.format}) reads back otherwise"
        assert written.contents_for(path, spec.destination_password) is written.contents
        checked += 1
    assert checked or any(deliberate(getattr(scenario, r)) for r in ROLES), "nothing was compared"


def test_the_catalogue_holds_both_plain_and_deliberate_stores() -> None:
    """The test above compares something, and meets each reason a store is read from disk."""
    reasons: dict[str, int] = {}
    for path in SHIPPED:
        scenario = load_scenario(path)
        for role in ROLES:
            why = deliberate(getattr(scenario, role))
            reasons[why or "plain"] = reasons.get(why or "plain", 0) + 1
    assert reasons["plain"] >= 2 * len(SHIPPED) - 10
    for why in ("corrupt", "key password", "destination password", "no Java trust attribute"):
        assert reasons.get(why), f"no shipped scenario's store is read from disk for: {why}"


def test_a_users_existing_store_file_is_always_read_from_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scenario whose keystore is an existing file: nothing kept, the engine and the read-back open the file."""
    first = load_scenario(SCENARIOS / "ok-rsa.toml")
    user = tmp_path / "user"
    user.mkdir()
    write_scenario_files(first, user, material=shared_material(first))  # the same [pki]: the run shares it
    text = (SCENARIOS / "ok-rsa.toml").read_text()
    entries = '[[keystore.entries]]\nalias = "acme-client"\nkey = "client"\nchain = ["client", "client-ca"]\n'
    assert entries in text
    text = text.replace(entries, "").replace('[keystore]\nformat = "jks"\n', '[keystore]\nfile = "user/keystore.jks"\n')
    (tmp_path / "existing.toml").write_text(text)
    scenario = load_scenario(tmp_path / "existing.toml")
    assert scenario.keystore.file == user / "keystore.jks"
    reads = count_reads(monkeypatch)
    run = run_scenario(scenario, PythonEngine(), folder=tmp_path / "run")
    assert run.built.keystore_written is None
    assert why_read_from_disk(scenario.keystore) == "an existing store file (the user's)"
    assert run.built.truststore_written is not None
    assert [r for r in reads if r[1] == "keystore"] == [(run.built.keystore, "keystore")] * 2
    assert not [r for r in reads if r[1] == "truststore"]
    assert run.verdict.code == run.expected == "ok"


def test_a_built_folder_is_handed_over_without_contents_kept(tmp_path: Path) -> None:
    """``mtls-harness build`` writes files for the user: whoever opens them later reads the disk."""
    built = build_scenario(load_scenario(SCENARIOS / "ok-rsa.toml"), tmp_path / "out")
    assert built.keystore_written is None
    assert built.truststore_written is None


# -- the keytool of each JDK reads the written files -----------------------------------------


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest) -> list[jdks.Runtime]:
    return jdk_matrix(request.config, "for keytool's reading")


def keytool_lists(runtime: jdks.Runtime, store: Path, password: Secret) -> list[tuple[str, str, tuple[str, ...]]] | str:
    """Per entry, as keytool lists it: alias, entry type, each certificate's SHA-256; a store it cannot open: why."""
    done = subprocess.run(
        [
            str(runtime.keytool),
            "-J-XX:+UseSerialGC",
            "-J-XX:TieredStopAtLevel=1",
            "-list",
            "-v",
            "-keystore",
            str(store),
            "-storepass:env",
            "MTLS_STOREPASS",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"MTLS_STOREPASS": password.reveal(), "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        return done.stdout.strip().splitlines()[0] if done.stdout.strip() else done.stderr.strip()
    entries = []
    for block in re.split(r"^Alias name: ", done.stdout, flags=re.M)[1:]:
        kind = re.search(r"^Entry type: (.*)$", block, re.M)
        prints = tuple(re.findall(r"^\s*SHA256: (.*)$", block, re.M))
        entries.append((block.splitlines()[0], kind[1] if kind else "", prints))
    return sorted(entries)


def expected_listing(contents: StoreContents) -> list[tuple[str, str, tuple[str, ...]]]:
    """What keytool should list for ``contents``: the JDK keeps aliases in lower case."""

    def fp(cert: x509.Certificate) -> str:
        return cert.fingerprint(hashes.SHA256()).hex(":").upper()

    listing: list[tuple[str, str, tuple[str, ...]]] = [
        (e.alias.lower(), "PrivateKeyEntry", tuple(fp(c) for c in e.chain)) for e in contents.key_entries
    ]
    listing += [(e.alias.lower(), "trustedCertEntry", (fp(e.cert),)) for e in contents.cert_entries]
    return sorted(listing)


def test_keytool_of_each_jdk_lists_the_written_stores(
    shipped_scenario: Path, tmp_path: Path, matrix: list[jdks.Runtime]
) -> None:
    scenario = load_scenario(shipped_scenario)
    material = build_material(scenario)
    full = next((r for r in matrix if r.version.split(".")[0] == "17"), matrix[0])
    runtimes = matrix if scenario.name in HANDFUL else [full]
    jobs: list[tuple[jdks.Runtime, Path, StoreSpec, StoreContents]] = []
    variants = list(written_variants(scenario, material, tmp_path))
    if scenario.name in HANDFUL:
        # The legacy PKCS#12 (3DES / SHA-1) too: what a JDK without PBES2 (11.0.10) reads.
        for role in ROLES:
            variant = forced(scenario, role, "pkcs12", pkcs12_encryption="legacy")
            if writer_refuses(getattr(variant, role)):
                continue
            folder = tmp_path / f"{role}-legacy"
            folder.mkdir()
            variants.append((role, getattr(variant, role), write_scenario_files(variant, folder, material=material)))
    for role, spec, built in variants:
        written = getattr(built, f"{role}_written")
        if written is None:
            continue
        jobs += [(runtime, getattr(built, role), spec, written.contents) for runtime in runtimes]
    if not jobs:
        pytest.skip(f"{scenario.name} writes no store plainly")  # store-unreadable, keystore-password-wrong, ...

    def check(job: tuple[jdks.Runtime, Path, StoreSpec, StoreContents]) -> str | None:
        runtime, path, spec, contents = job
        listed = keytool_lists(runtime, path, spec.password)
        where = f"{path.parent.name}/{path.name} on Java {runtime.version}"
        if not store_readable(path.read_bytes(), runtime.version):
            # The negative twin: a PKCS#12 with AES / HMAC-SHA256 on a JDK without PBES2 (11.0.10).
            return None if isinstance(listed, str) else f"{where}: listed, though that JDK lacks its algorithms"
        if listed != expected_listing(contents):
            return f"{where}: keytool lists {listed!r}, the harness kept {expected_listing(contents)!r}"
        return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = [p for p in pool.map(check, jobs) if p]
    assert not problems, "\n".join(problems)


# -- the negative twins: the disk is read whenever the file or the password is not as written ---


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, str]]:
    """Every store parsed from disk by the run and the python engine (path, role), in order."""
    reads: list[tuple[Path, str]] = []
    real = read_store

    def counted(path: Path, password: Secret, role: Role, **kwargs: str) -> StoreContents:
        reads.append((path, role))
        return real(path, password, role, **kwargs)

    monkeypatch.setattr(harness.stores.written, "read_store", counted)
    return reads


def stranger() -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    """A client leaf and its CA, from trustme: fresh keys (not the key pool's), names no scenario uses."""
    ca = trustme.CA(organization_name="Elsewhere")
    leaf = ca.issue_cert("stranger.example", common_name="stranger")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    pems = [*leaf.cert_chain_pems, ca.cert_pem]
    return key, [x509.load_pem_x509_certificate(pem.bytes()) for pem in pems]


@pytest.fixture
def prepared(tmp_path: Path) -> Iterator[tuple[Scenario, Prepared]]:
    scenario = load_scenario(SCENARIOS / "ok-rsa.toml")
    ready = prepare(scenario, str(tmp_path / "kept"))
    try:
        yield scenario, ready
    finally:
        discard(ready)


def test_an_unchanged_store_is_taken_from_memory(
    prepared: tuple[Scenario, Prepared], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, ready = prepared
    assert ready.keystore is not None
    assert ready.built.keystore_written is not None
    assert ready.keystore is ready.built.keystore_written.contents  # the read-back was the contents kept
    reads = count_reads(monkeypatch)
    run = probe_prepared(scenario, ready, PythonEngine())
    assert reads == []
    assert run.verdict.code == run.expected == "ok"
    assert run.outcome.chosen_alias == "acme-client"


def test_a_store_overwritten_after_writing_is_read_from_disk(
    prepared: tuple[Scenario, Prepared], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keystore replaced by another (a client certificate of a CA the server never heard of), same password and
    alias: the handshake follows the file."""
    scenario, ready = prepared
    key, chain = stranger()
    ready.built.keystore.write_bytes(jks_bytes([("acme-client", key, chain)], [], scenario.keystore.password))
    reads = count_reads(monkeypatch)
    run = probe_prepared(scenario, ready, PythonEngine())
    assert reads == [(ready.built.keystore, "keystore")]
    assert run.outcome.client_cert_sent is True
    assert run.record is not None
    assert run.record.accepted is False
    assert run.verdict.code == "client-cert-untrusted"


def test_a_store_overwritten_with_another_password_fails_as_on_disk(
    prepared: tuple[Scenario, Prepared], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, ready = prepared
    spec = dataclasses.replace(scenario.truststore, password=Secret("another-Secret-1"))
    ready.built.truststore.write_bytes(scenario_store_bytes(spec, ready.built.material, "truststore"))
    reads = count_reads(monkeypatch)
    run = probe_prepared(scenario, ready, PythonEngine())
    assert reads == [(ready.built.truststore, "truststore")]
    assert run.outcome.store_failure is not None
    assert run.outcome.store_failure.problem == "password"
    assert run.verdict.code == "truststore-password-wrong"


@pytest.mark.parametrize("role", ROLES)
def test_a_probe_with_another_password_reads_the_disk(
    prepared: tuple[Scenario, Prepared], monkeypatch: pytest.MonkeyPatch, role: Role
) -> None:
    """The written store, unchanged, opened with a password it was not written with: the disk says wrong password,
    word for word as for a probe that carries no store in memory."""
    scenario, ready = prepared
    probe = probe_for(scenario, ready.built, ready.server.url)
    wrong_password = Secret("not-the-Secret-9")
    if role == "keystore":
        wrong = dataclasses.replace(probe, keystore_password=wrong_password)
    else:
        wrong = dataclasses.replace(probe, truststore_password=wrong_password)
    reads = count_reads(monkeypatch)
    outcome = PythonEngine().probe(wrong)
    assert (getattr(probe, role), role) in reads
    blind = PythonEngine().probe(dataclasses.replace(wrong, keystore_written=None, truststore_written=None))
    assert outcome.stage == blind.stage == role
    assert outcome.store_failure == blind.store_failure
    assert outcome.store_failure is not None
    assert outcome.store_failure.problem == "password"
    assert outcome.error == blind.error


def test_a_destination_password_that_differs_is_read_from_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keystore-password-wrong: destination.json gives another password; nothing kept, the run fails as before."""
    scenario = load_scenario(SCENARIOS / "keystore-password-wrong.toml")
    reads = count_reads(monkeypatch)
    run = run_scenario(scenario, PythonEngine(), folder=tmp_path / "run")
    assert run.built.keystore_written is None
    assert (run.built.keystore, "keystore") in reads
    assert run.verdict.code == run.expected == "keystore-password-wrong"


def test_nothing_kept_prints_a_password_or_a_key(prepared: tuple[Scenario, Prepared]) -> None:
    scenario, ready = prepared
    written = ready.built.keystore_written
    assert written is not None
    assert written.contents.key_entries[0].key is not None
    key = written.contents.key_entries[0].key
    der_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    probe = probe_for(scenario, ready.built, ready.server.url)
    assert isinstance(probe, Probe)
    assert probe.keystore_written is written
    for text in (repr(written), repr(ready.built), repr(probe), repr(ready.built.truststore_written)):
        assert_no_secret(text, scenario)
        assert "PRIVATE" not in text
        assert der_key.hex() not in text
        assert "Contents" not in text
