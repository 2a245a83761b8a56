"""Bad input never crashes: property-based tests (hypothesis) over everything that reads user files.

Store readers get random bytes and real stores (JKS, JCEKS, PKCS#12, PEM) with
byte flips, truncations, insertions, splices and corrupted length fields; the
damaged JKS/JCEKS stores are re-signed and the PKCS#12 ones re-wrapped, so the
damage reaches past the integrity check into the entries. The scenario parser
gets the shipped scenarios with lines deleted, duplicated, swapped and values of
other types, and documents generated from the schema's own keys. The
destination JSON gets the same treatment.

The property everywhere: a valid result, or one harness error of one line that
names the file and never contains the password; anything else (a traceback)
fails. Each property runs twice: ``[fast]`` (a few hundred inputs, part of
``make test``) and ``[slow]`` (marked ``slow``, skipped unless ``MTLS_FUZZ=1``:
``make fuzz``; over 10,000 store inputs and over 10,000 scenario texts, counted
and timed on the terminal). ``MTLS_FUZZ_SCALE=N`` multiplies the slow run;
``MTLS_FUZZ_VERBOSE=1`` prints the counts of the fast run too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import HealthCheck, assume, configuration, given, settings
from hypothesis import strategies as st

from harness.destination import Destination, load_destination
from harness.discovery import is_scenario_file
from harness.errors import HarnessError, ScenarioError, StoreError, UsageError
from harness.knowledge.codes import OUTCOME_CODES
from harness.pki import Material, build_material
from harness.scenario import Scenario, parse_scenario, schema
from harness.secret import Secret
from harness.stores import (
    KeyEntry,
    Role,
    StoreContents,
    detect_type,
    jks_bytes,
    load_key_pair,
    pkcs12_bytes,
    read_store,
    scenario_store_bytes,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO / "scenarios").glob("*.toml"))

# -- profiles ---------------------------------------------------------------------------------

FUZZ = os.environ.get("MTLS_FUZZ") == "1"


@dataclass(frozen=True)
class Profile:
    name: str
    examples: dict[str, int]


# Inputs per property. Fast: the whole file in well under 30 s on two cores.
# Slow: >= 10,000 store inputs (mutated + random + PEM + JCEKS) and >= 10,000
# scenario texts (mutated + generated); building is RSA-bound, so fewer.
FAST = Profile(
    "fast",
    {
        "stores": 200,
        "random": 100,
        "pem": 150,
        "jceks": 100,
        "destination": 150,
        "scenario-text": 200,
        "scenario-doc": 150,
        "build": 12,
        "limits": 60,
        "explain": 150,
    },
)
# MTLS_FUZZ_SCALE=10 runs ten times as many (a night's run); the counts below are the minimum.
_SCALE = max(1.0, float(os.environ.get("MTLS_FUZZ_SCALE", "1")))
SLOW = Profile(
    "slow",
    {
        kind: int(n * _SCALE)
        for kind, n in {
            "stores": 6000,
            "random": 2000,
            "pem": 2000,
            "jceks": 1500,
            "destination": 2000,
            "scenario-text": 7000,
            "scenario-doc": 4000,
            "build": 300,
            "limits": 2000,
            "explain": 3000,
        }.items()
    },
)
PROFILES = [
    pytest.param(FAST, id="fast"),
    pytest.param(
        SLOW,
        id="slow",
        marks=[pytest.mark.slow, pytest.mark.skipif(not FUZZ, reason="the long fuzz run: MTLS_FUZZ=1 (make fuzz)")],
    ),
]


def run_property(
    profile: Profile,
    kind: str,
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], None],
    ran: Callable[[], int] | None = None,
) -> None:
    """``check`` over ``strategy`` with the profile's budget; no example database (no .hypothesis in the repo).

    Hypothesis runs an input it has generated before only once, so a run may execute fewer inputs than
    ``max_examples``: the slow profile runs again (new random inputs) until ``ran()`` reaches the budget.
    """
    budget = remaining = profile.examples[kind]
    for _ in range(5):

        @settings(
            max_examples=remaining,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )
        @given(strategy)
        def prop(value: Any) -> None:
            check(value)

        prop()
        if profile is not SLOW or ran is None:
            return
        remaining = budget - ran()
        if remaining <= 0:
            return


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis's caches (unicode data, constants) in a temporary folder: no .hypothesis in the repository."""
    configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    configuration.set_hypothesis_home_dir(None)


@dataclass
class Tally:
    """What a property really ran: inputs by seed or kind, and how each ended (a result, or the error's code)."""

    inputs: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    def ran(self) -> int:
        return self.inputs.total()


@pytest.fixture
def tally(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Iterator[Tally]:
    """The slow run (or MTLS_FUZZ_VERBOSE=1) prints the counts with the time taken."""
    counts = Tally()
    start = time.monotonic()
    yield counts
    profile = request.node.callspec.params.get("profile")
    if profile is SLOW or os.environ.get("MTLS_FUZZ_VERBOSE") == "1":
        seconds = time.monotonic() - start
        inputs = ", ".join(f"{k}={v}" for k, v in sorted(counts.inputs.items()))
        outcomes = ", ".join(f"{k}={v}" for k, v in counts.outcomes.most_common())
        with capsys.disabled():
            print(f"\n[fuzz] {request.node.name}: {counts.inputs.total()} inputs in {seconds:.1f} s")
            print(f"[fuzz]   inputs: {inputs}\n[fuzz]   outcomes: {outcomes}")


def assert_volume(profile: Profile, counts: Tally, kind: str) -> None:
    if profile is SLOW:
        ran = counts.inputs.total()
        assert ran >= profile.examples[kind], f"only {ran} inputs ran"


# -- the property's judgement ---------------------------------------------------------------------


def assert_one_line(error: HarnessError, starts: str | Sequence[str], secrets: Sequence[str] = ()) -> None:
    """One line, naming the file (or URL) first, without the password."""
    text = str(error)
    leaked = [s for s in secrets if s and s in text]
    # First, and without the text: the assertion message must not print the password either.
    assert not leaked, f"{len(leaked)} password(s) in the message of {type(error).__name__}"
    assert len(text.splitlines()) == 1, f"not one line: {text!r}"
    prefixes = (starts,) if isinstance(starts, str) else tuple(starts)
    assert text.startswith(prefixes), f"does not name {prefixes}: {text!r}"


def touch_certificate(cert: x509.Certificate) -> None:
    """What every reader of a store's result looks at first; must not raise on a returned certificate."""
    _ = (cert.subject, cert.issuer, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc)
    _ = cert.extensions
    cert.fingerprint(hashes.SHA256())


STORE_TYPES = {"jks", "jceks", "pkcs12", "pem", "unknown"}
STORE_CODES = set(OUTCOME_CODES) | {"store-type-mismatch"}
ROLES: tuple[Role, ...] = ("keystore", "truststore")
StoreInput = tuple[str, bytes, str, Role]  # (label, data, password, role)


def assert_store_error(error: StoreError, path: Path, secrets: Sequence[str]) -> None:
    assert_one_line(error, str(path), secrets)
    assert error.code in STORE_CODES


def check_store(
    path: Path, data: bytes, password: str, counts: Tally, label: str, roles: Sequence[Role] = ROLES
) -> None:
    """detect_type never raises; read_store and load_key_pair: a result or one StoreError line."""
    counts.inputs[label] += 1
    kind = detect_type(data)
    assert kind in STORE_TYPES
    path.write_bytes(data)
    secrets = [password] if len(password) >= 6 else []
    for role in roles:
        try:
            contents = read_store(path, Secret(password), role)
        except StoreError as exc:
            assert_store_error(exc, path, secrets)
            counts.outcomes[f"{exc.code}: {exc.what.split(' (')[0]}"] += 1
            continue
        counts.outcomes[f"read {kind}"] += 1
        assert isinstance(contents, StoreContents)
        assert contents.type == kind
        for key_entry in contents.key_entries:
            assert isinstance(key_entry, KeyEntry)
            assert isinstance(key_entry.alias, str)
            for cert in key_entry.chain:
                touch_certificate(cert)
            assert key_entry.key is None or isinstance(key_entry.key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        for cert in contents.certificates:
            touch_certificate(cert)
    try:
        pair = load_key_pair(path, Secret(password))
    except StoreError as exc:
        assert_store_error(exc, path, secrets)
    else:
        counts.outcomes["key pair loaded"] += 1
        assert kind == "pkcs12"
        assert pair.key is not None
        assert pair.chain


# -- seeds: real stores -------------------------------------------------------------------------

STORE_PASSWORD = "Fz-Store-Pw-7c31"
KEY_PASSWORD = "Fz-Key-Pw-52e0"

SEED_SCENARIO = """
description = "fuzz seeds"
[pki.root]
kind = "root"
key = "ec-p256"
subject = "CN=Fuzz Root,O=Fuzz"
[pki.ca]
kind = "intermediate"
issuer = "root"
key = "ec-p256"
subject = "CN=Fuzz CA,O=Fuzz"
[pki.rsa-client]
kind = "leaf"
issuer = "ca"
key = "rsa-2048"
subject = "CN=fuzz-rsa,O=Fuzz"
san = ["DNS:client.fuzz.invalid", "IP:127.0.0.1", "EMAIL:fuzz@example.invalid", "URI:https://fuzz.invalid/"]
[pki.ec-client]
kind = "leaf"
issuer = "ca"
key = "ec-p256"
subject = "CN=fuzz-ec,O=Fuzz"
[keystore]
password = "Fz-Scenario-ks"
entries = [{ alias = "rsa", key = "rsa-client" }]
[truststore]
password = "Fz-Scenario-ts"
[expect]
outcome = "ok"
"""


@dataclass(frozen=True)
class Seed:
    name: str
    kind: str  # jks | jceks | pkcs12 | pem
    data: bytes


def _strip_mac(pfx: bytes) -> bytes:
    """A PKCS#12 file without its MacData: any password opens it, so damage inside reaches the parser."""
    spans = der_children(pfx, *der_value(pfx, 0))
    return der(0x30, b"".join(pfx[a:b] for a, b in spans[:2]))


def _seeds(material: Material) -> dict[str, Seed]:
    pw = Secret(STORE_PASSWORD)
    rsa_client = material.issued["rsa-client"]
    ec_client = material.issued["ec-client"]
    chain = [rsa_client.cert, material.cert("ca"), material.cert("root")]
    ec_chain = [ec_client.cert, material.cert("ca")]
    trusted = [("root", material.cert("root")), ("server-root", material.cert("server.root"))]
    seeds = [
        Seed("jks-keystore", "jks", jks_bytes([("rsa", rsa_client.key, chain)], trusted[:1], pw)),
        Seed(
            "jks-two-keys",
            "jks",
            jks_bytes([("rsa", rsa_client.key, chain), ("ec", ec_client.key, ec_chain)], [], pw),
        ),
        Seed("jks-key-password", "jks", jks_bytes([("ec", ec_client.key, ec_chain)], [], pw, Secret(KEY_PASSWORD))),
        Seed("jks-truststore", "jks", jks_bytes([], trusted, pw)),
        Seed("jks-empty", "jks", jks_bytes([], [], pw)),
        Seed("p12-aes-keystore", "pkcs12", pkcs12_bytes(("rsa", rsa_client.key, chain), [], pw, "aes")),
        Seed("p12-legacy-keystore", "pkcs12", pkcs12_bytes(("ec", ec_client.key, ec_chain), [], pw, "legacy")),
        Seed("p12-aes-truststore", "pkcs12", pkcs12_bytes(None, trusted, pw, "aes")),
        Seed("p12-legacy-truststore", "pkcs12", pkcs12_bytes(None, trusted, pw, "legacy")),
        Seed(
            "p12-plain-keystore",
            "pkcs12",
            _strip_mac(
                pkcs12.serialize_key_and_certificates(
                    b"plain", ec_client.key, ec_chain[0], ec_chain[1:], serialization.NoEncryption()
                )
            ),
        ),
        Seed(
            "p12-plain-truststore",
            "pkcs12",
            _strip_mac(
                pkcs12.serialize_java_truststore(
                    [pkcs12.PKCS12Certificate(c, a.encode()) for a, c in trusted], serialization.NoEncryption()
                )
            ),
        ),
    ]
    pem_cert = [c.public_bytes(serialization.Encoding.PEM) for c in chain]
    plain_key = rsa_client.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    encrypted_key = ec_client.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(STORE_PASSWORD.encode()),
    )
    traditional = rsa_client.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    ec_traditional = ec_client.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    ec_pem = ec_client.cert.public_bytes(serialization.Encoding.PEM)
    seeds += [
        Seed("pem-bundle", "pem", b"".join(pem_cert)),
        Seed("pem-key-chain", "pem", plain_key + b"".join(pem_cert)),
        Seed("pem-encrypted-key", "pem", encrypted_key + b"Bag Attributes\n  friendlyName: ec\n" + ec_pem),
        Seed("pem-traditional", "pem", pem_cert[0] + traditional),
        Seed("pem-ec-traditional", "pem", ec_traditional + ec_pem),
    ]
    return {s.name: s for s in seeds}


@pytest.fixture(scope="session")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    path = tmp_path_factory.mktemp("fuzz-seeds") / "seeds.toml"
    return build_material(parse_scenario(SEED_SCENARIO, path))


@pytest.fixture(scope="session")
def seeds(material: Material) -> dict[str, Seed]:
    return _seeds(material)


def _require_keytool() -> str:
    """keytool, or a skip (a failure under CI=true) — the gate of tests/conftest.py's ``keytool`` fixture."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "keytool").is_file():
        return str(Path(home) / "bin" / "keytool")
    found = shutil.which("keytool")
    if found is not None:
        return found
    reason = "keytool not found on PATH: install a JDK or set JAVA_HOME"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}: a CI image without it proves nothing", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def jceks_seed(tmp_path_factory: pytest.TempPathFactory, material: Material) -> Seed:
    """A JCEKS store written by the real keytool: a key pair, a secret key (sealed object), a trusted cert."""
    keytool = _require_keytool()
    folder = tmp_path_factory.mktemp("jceks")
    store = folder / "seed.jceks"
    ca = folder / "ca.pem"
    ca.write_bytes(material.cert("root").public_bytes(serialization.Encoding.PEM))
    common = ["-keystore", str(store), "-storetype", "JCEKS", "-storepass:env", "FZ_PW", "-noprompt"]
    env = {**os.environ, "FZ_PW": STORE_PASSWORD}
    for args in (
        [
            "-genkeypair",
            "-alias",
            "pair",
            "-keyalg",
            "EC",
            "-groupname",
            "secp256r1",
            "-dname",
            "CN=fuzz-jceks",
            "-keypass:env",
            "FZ_PW",
        ],
        ["-genseckey", "-alias", "secret", "-keyalg", "AES", "-keysize", "128", "-keypass:env", "FZ_PW"],
        ["-importcert", "-alias", "root", "-file", str(ca)],
    ):
        done = subprocess.run(
            [keytool, "-J-Duser.language=en", *args, *common],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    data = store.read_bytes()
    assert detect_type(data) == "jceks"
    return Seed("jceks-keytool", "jceks", data)


# -- DER and JKS structure (for length-field corruption) -------------------------------------------


def der(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


def der_value(data: bytes, pos: int) -> tuple[int, int]:
    """(start, end) of the value of the DER element at ``pos``; ValueError if its header is broken."""
    if pos + 2 > len(data):
        raise ValueError("short")
    first = data[pos + 1]
    if first < 0x80:
        start, length = pos + 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + 2 + count > len(data):
            raise ValueError("bad length")
        start, length = pos + 2 + count, int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
    if start + length > len(data):
        raise ValueError("overrun")
    return start, start + length


def der_children(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each element between ``start`` and ``end``."""
    spans, pos = [], start
    while pos < end:
        _, stop = der_value(data, pos)
        spans.append((pos, stop))
        pos = stop
    return spans


def der_length_fields(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[tuple[int, int]]:
    """(offset, width) of every DER length field found, descending into constructed values and OCTET STRINGs."""
    end = len(data) if end is None else end
    fields: list[tuple[int, int]] = []
    pos = start
    while pos < end and depth < 16:
        try:
            value_start, value_end = der_value(data[:end], pos)
        except ValueError:
            break
        fields.append((pos + 1, value_start - pos - 1))
        if data[pos] & 0x20 or data[pos] == 0x04:
            fields += der_length_fields(data, value_start, value_end, depth + 1)
        pos = value_end
    return fields


def jks_length_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of the entry count, tags and length fields of a JKS/JCEKS store, as far as it parses,
    and of the DER length fields inside its keys and certificates."""
    fields = [(8, 4)]
    blobs: list[tuple[int, int]] = []

    def field(pos: int, fmt: str) -> int:
        fields.append((pos, struct.calcsize(fmt)))
        value: int = struct.unpack_from(fmt, data, pos)[0]
        return value

    def blob(pos: int) -> int:  # a 4-byte length, then DER
        size = field(pos, ">I")
        blobs.append((pos + 4, min(len(data), pos + 4 + size)))
        return pos + 4 + size

    try:
        pos = 12
        for _ in range(min(field(8, ">I"), 64)):
            tag = field(pos, ">I")
            pos += 4
            pos += 2 + field(pos, ">H") + 8  # alias, timestamp
            if tag == 1:
                pos = blob(pos)  # the protected key
                certs = field(pos, ">I")
                pos += 4
                for _ in range(min(certs, 16)):
                    pos += 2 + field(pos, ">H")  # "X.509"
                    pos = blob(pos)
            elif tag == 2:
                pos += 2 + field(pos, ">H")
                pos = blob(pos)
            else:
                break  # a JCEKS sealed object: Java serialization, no length to follow
    except struct.error:
        pass
    for start, end in blobs:
        fields += der_length_fields(data, start, end)
    return [(o, w) for o, w in fields if o + w <= len(data)]


def jks_resign(data: bytes, password: str) -> bytes:
    """Replace the trailing SHA-1 integrity digest (JKS and JCEKS) so the store's damage is parsed, not refused."""
    if len(data) < 12 + 20:
        return data
    body = data[:-20]
    digest = hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()  # noqa: S324
    return body + digest


def pfx_rewrap(data: bytes) -> bytes:
    """Give a damaged PKCS#12 file a correct outer length, so it is parsed rather than refused as truncated."""
    if len(data) < 4 or data[0] != 0x30:
        return data
    first = data[1]
    header = 2 + (first & 0x7F if first >= 0x80 else 0)
    return der(0x30, data[header:])


# -- mutation strategies -------------------------------------------------------------------------------


def interesting(width: int, current: int) -> st.SearchStrategy[int]:
    top = 256**width - 1
    values = {0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF}
    values |= {current - 1, current + 1, current * 2, current // 2}
    return st.sampled_from(sorted(v for v in values if 0 <= v <= top)) | st.integers(0, top)


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes, others: Sequence[bytes]) -> bytes:
    """One damage: flip, truncate, insert, delete, duplicate, splice, or a corrupted length field."""
    buf = bytearray(data)
    size = len(buf)
    op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate", "splice", "length", "overwrite"]))
    if op == "flip" and size:
        for _ in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(0, size - 1))
            buf[pos] ^= draw(st.integers(1, 255))
    elif op == "truncate":
        del buf[draw(st.integers(0, size)) :]
    elif op == "insert":
        pos = draw(st.integers(0, size))
        buf[pos:pos] = draw(st.binary(min_size=1, max_size=64))
    elif op == "delete" and size:
        pos = draw(st.integers(0, size - 1))
        del buf[pos : pos + draw(st.integers(1, 64))]
    elif op == "duplicate" and size:
        a = draw(st.integers(0, size - 1))
        b = draw(st.integers(a, min(size, a + 512)))
        at = draw(st.integers(0, size))
        buf[at:at] = buf[a:b]
    elif op == "splice" and others:
        other = draw(st.sampled_from(list(others)))
        buf = buf[: draw(st.integers(0, size))] + other[draw(st.integers(0, len(other))) :]
    elif op == "length":
        fields = jks_length_fields(data) if data[:4] in (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce") else []
        fields += der_length_fields(data)
        if fields:
            offset, width = draw(st.sampled_from(fields))
            current = int.from_bytes(buf[offset : offset + width], "big")
            buf[offset : offset + width] = draw(interesting(width, current)).to_bytes(width, "big")
    elif op == "overwrite" and size:
        width = draw(st.sampled_from([1, 2, 4]))
        offset = draw(st.integers(0, max(0, size - width)))
        current = int.from_bytes(buf[offset : offset + width], "big")
        buf[offset : offset + width] = draw(interesting(width, current)).to_bytes(width, "big")[: size - offset]
    return bytes(buf)


@st.composite
def mutated(draw: st.DrawFn, seed: Seed, others: Sequence[bytes], password: str) -> bytes:
    data = seed.data
    for _ in range(draw(st.integers(1, 4))):
        data = draw(byte_mutation(data, others))
    if seed.kind in ("jks", "jceks") and len(data) >= 4 and draw(st.integers(0, 3)) > 0:
        data = seed.data[:4] + data[4:]  # mostly keep the magic: the damage should reach the parser
    # Past the integrity check: the damage reaches the entries.
    if seed.kind in ("jks", "jceks") and draw(st.integers(0, 3)) > 0:
        data = jks_resign(data, password)
    if seed.kind == "pkcs12" and draw(st.booleans()):
        data = pfx_rewrap(data)
    return data


def passwords(right: str) -> st.SearchStrategy[str]:
    """Mostly the right one (to get past the integrity check), sometimes another, empty or odd one."""
    other = st.text(min_size=3, max_size=12).map(lambda s: "Fz-" + s)
    return st.one_of(st.just(right), st.just(right), st.just(right), other, st.just(""), st.just("\u0000é😀"))


@st.composite
def store_input(draw: st.DrawFn, seeds: dict[str, Seed], names: Sequence[str]) -> StoreInput:
    seed = seeds[draw(st.sampled_from(list(names)))]
    password = draw(passwords(STORE_PASSWORD))
    others = [s.data for s in seeds.values()]
    return seed.name, draw(mutated(seed, others, STORE_PASSWORD)), password, draw(st.sampled_from(ROLES))


PEM_LABELS = [
    "CERTIFICATE",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "PUBLIC KEY",
    "TRUSTED CERTIFICATE",
    "X509 CRL",
    "CERTIFICATE REQUEST",
]
PEM_HEADERS = [
    b"",
    b"Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n",
    b"Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-EDE3-CBC,0011223344556677\n\n",
    b"Proc-Type: 4,ENCRYPTED\nDEK-Info: NOPE,zz\n\n",
]


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    found = re.finditer(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)-----END \1-----", data, re.DOTALL)
    blocks = []
    for match in found:
        try:
            blocks.append((match[1].decode(), base64.b64decode(match[2], validate=False)))
        except ValueError:
            continue
    return blocks


def pem(label: str, body: bytes, header: bytes = b"") -> bytes:
    text = base64.b64encode(body)
    lines = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return b"-----BEGIN %s-----\n%s%s\n-----END %s-----\n" % (label.encode(), header, lines, label.encode())


@st.composite
def pem_input(draw: st.DrawFn, seeds: dict[str, Seed]) -> StoreInput:
    """PEM bundles rebuilt from real blocks: relabelled, re-ordered, with damaged DER inside valid base64."""
    pem_seeds = [s for s in seeds.values() if s.kind == "pem"]
    pool = [block for s in pem_seeds for block in pem_blocks(s.data)]
    ders = [body for _, body in pool] + [s.data for s in seeds.values() if s.kind != "pem"]
    mode = draw(st.sampled_from(["seed", "rebuild", "rebuild", "text"]))
    if mode == "seed":
        seed = draw(st.sampled_from(pem_seeds))
        data = draw(mutated(seed, [s.data for s in pem_seeds], STORE_PASSWORD))
    elif mode == "rebuild":
        parts = []
        for _ in range(draw(st.integers(0, 4))):
            label, body = draw(st.sampled_from(pool))
            if draw(st.booleans()):
                label = draw(st.sampled_from(PEM_LABELS))
            if draw(st.booleans()):
                body = draw(byte_mutation(body, ders))
            parts.append(pem(label, body, draw(st.sampled_from(PEM_HEADERS))))
            if draw(st.integers(0, 4)) == 0:
                parts.append(draw(st.binary(max_size=40)))
        data = b"".join(parts)
    else:
        seed = draw(st.sampled_from(pem_seeds))
        lines = seed.data.split(b"\n")
        for _ in range(draw(st.integers(1, 4))):
            if not lines:
                break
            i = draw(st.integers(0, len(lines) - 1))
            op = draw(st.sampled_from(["delete", "duplicate", "swap", "relabel", "garble"]))
            if op == "delete":
                del lines[i]
            elif op == "duplicate":
                lines.insert(i, lines[i])
            elif op == "swap":
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            elif op == "relabel":
                label = draw(st.sampled_from(PEM_LABELS)).encode()
                lines[i] = re.sub(rb"(BEGIN|END) [A-Z0-9 ]+", rb"\1 " + label, lines[i])
            else:
                lines[i] = draw(st.text(max_size=80)).encode("utf-8")
        data = b"\n".join(lines)
    return "pem", data, draw(passwords(STORE_PASSWORD)), draw(st.sampled_from(ROLES))


MAGICS = [b"", b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce", b"\x30\x82", b"\x30\x80", b"-----BEGIN ", b"\x00\x00\x00\x02"]


@st.composite
def random_store(draw: st.DrawFn) -> StoreInput:
    prefix = draw(st.sampled_from(MAGICS))
    if prefix == b"-----BEGIN ":
        prefix += draw(st.sampled_from(PEM_LABELS)).encode() + b"-----\n"
    body = draw(st.binary(max_size=2048))
    if prefix[:1] == b"\x30" and draw(st.booleans()):
        # A PKCS#12 start with a consistent length: past the size check into the parser.
        data = pfx_rewrap(prefix[:1] + b"\x82\x00\x00\x02\x01\x03" + body)
    elif prefix in (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce") and draw(st.booleans()):
        data = jks_resign(prefix + body + bytes(20), STORE_PASSWORD)
    else:
        data = prefix + body
    return "random", data, draw(passwords(STORE_PASSWORD)), draw(st.sampled_from(ROLES))


# -- store properties ------------------------------------------------------------------------------------


def _store_check(path: Path, counts: Tally) -> Callable[[StoreInput], None]:
    def check(value: StoreInput) -> None:
        label, data, password, role = value
        check_store(path, data, password, counts, label, (role,))

    return check


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_store_readers_on_damaged_stores(
    profile: Profile, seeds: dict[str, Seed], tmp_path: Path, tally: Tally
) -> None:
    for seed in seeds.values():  # the undamaged seeds first: they must read cleanly
        check_store(tmp_path / "seed.bin", seed.data, STORE_PASSWORD, Tally(), seed.name)
    strategy = store_input(seeds, [s.name for s in seeds.values() if s.kind != "pem"])
    run_property(profile, "stores", strategy, _store_check(tmp_path / "store.bin", tally), tally.ran)
    assert_volume(profile, tally, "stores")


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_store_readers_on_damaged_pem(
    profile: Profile, seeds: dict[str, Seed], tmp_path: Path, tally: Tally
) -> None:
    run_property(profile, "pem", pem_input(seeds), _store_check(tmp_path / "bundle.pem", tally), tally.ran)
    assert_volume(profile, tally, "pem")


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_store_readers_on_random_bytes(profile: Profile, tmp_path: Path, tally: Tally) -> None:
    run_property(profile, "random", random_store(), _store_check(tmp_path / "random.jks", tally), tally.ran)
    assert_volume(profile, tally, "random")


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_store_readers_on_damaged_jceks(
    profile: Profile, jceks_seed: Seed, seeds: dict[str, Seed], tmp_path: Path, tally: Tally
) -> None:
    check_store(tmp_path / "seed.jceks", jceks_seed.data, STORE_PASSWORD, Tally(), "jceks-seed")
    contents = read_store(tmp_path / "seed.jceks", Secret(STORE_PASSWORD), "keystore")
    assert contents.type == "jceks"
    assert [e.alias for e in contents.key_entries] == ["pair"]
    assert not contents.key_entries[0].locked
    assert [e.alias for e in contents.cert_entries] == ["root"]
    pool = {**seeds, jceks_seed.name: jceks_seed}
    strategy = store_input(pool, [jceks_seed.name])
    run_property(profile, "jceks", strategy, _store_check(tmp_path / "store.jceks", tally), tally.ran)
    assert_volume(profile, tally, "jceks")


def test_undamaged_seeds_read_as_written(seeds: dict[str, Seed], tmp_path: Path) -> None:
    """The fuzzer's seeds are the real thing: each opens with its password and holds what was written."""
    expected = {
        "jks-keystore": (1, 1),
        "jks-two-keys": (2, 0),
        "jks-key-password": (1, 0),
        "jks-truststore": (0, 2),
        "jks-empty": (0, 0),
        "p12-aes-keystore": (1, 0),
        "p12-legacy-keystore": (1, 0),
        "p12-aes-truststore": (0, 2),
        "p12-legacy-truststore": (0, 2),
        "p12-plain-keystore": (1, 0),
        "p12-plain-truststore": (0, 2),
        "pem-bundle": (0, 3),
        "pem-key-chain": (1, 0),
        "pem-encrypted-key": (1, 0),
        "pem-traditional": (1, 0),
        "pem-ec-traditional": (1, 0),
    }
    assert set(expected) == set(seeds)
    for name, (keys, certs) in expected.items():
        path = tmp_path / name
        path.write_bytes(seeds[name].data)
        contents = read_store(path, Secret(STORE_PASSWORD), "keystore")
        assert contents.type == seeds[name].kind
        assert (len(contents.key_entries), len(contents.cert_entries)) == (keys, certs), name
        unlocked = [e for e in contents.key_entries if not e.locked]
        assert len(unlocked) == (0 if name == "jks-key-password" else keys), name


# -- destination JSON -----------------------------------------------------------------------------------

DEST_PASSWORDS = ("Fz-Dest-ks-3e9a", "Fz-Dest-ts-b71d")
DESTINATION = {
    "url": "https://127.0.0.1:8443/inbound",
    "keystoreFile": "keystore.jks",
    "keystorePass": DEST_PASSWORDS[0],
    "truststoreFile": "truststore.jks",
    "truststorePass": DEST_PASSWORDS[1],
}
ODD_STRINGS = [
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "\udcff",
    "\n",
    "line\nbreak",
    "\u2028",
    "ü",
    "😀",
    "/",
    ".",
    "..",
    "/dev/null",
    "x" * 5000,
    "https://",
    "https://[::1",
    "https://[abc/",
    "https://h:99999/",
    "https://h:-1/",
    "https://h:port/",
    "https://x\u2100/",
    "https://ex ample/",
    "https://h/\n",
    "https://h\n/",
    "http://h/",
    "HTTPS://H/",
    "https://user:pw@h/",
    "https://[fe80::1%eth0]:8443/",
    "ftp://h",
    "//h/",
]
JSON_SCALARS: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(ODD_STRINGS)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
)


@st.composite
def destination_input(draw: st.DrawFn) -> tuple[bytes, str | None, bool]:
    doc: Any = dict(DESTINATION)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["set", "set", "delete", "add", "replace-doc"]))
        key = draw(st.sampled_from(sorted(DESTINATION)))
        if not isinstance(doc, dict):
            break
        if op == "set":
            doc[key] = draw(JSON_VALUES)
        elif op == "delete":
            doc.pop(key, None)
        elif op == "add":
            doc[draw(st.text(max_size=10))] = draw(JSON_VALUES)
        else:
            doc = draw(JSON_VALUES)
    text = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 3)) == 0:
        text = draw(byte_mutation(text, [b"{", b"[" * 100000, b"\xff\xfe", b'"\\ud800"']))
    url = draw(st.none() | st.sampled_from(ODD_STRINGS) | st.text(max_size=20))
    return text, url, draw(st.booleans())


def _json_url(text: bytes) -> str | None:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    url = doc.get("url") if isinstance(doc, dict) else None
    return url if isinstance(url, str) else None


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_destination_json(profile: Profile, tmp_path: Path, tally: Tally) -> None:
    path = tmp_path / "destination.json"

    def check(value: tuple[bytes, str | None, bool]) -> None:
        text, url, give_passwords = value
        tally.inputs["destination"] += 1
        path.write_bytes(text)
        given = Secret(DEST_PASSWORDS[0]) if give_passwords else None
        try:
            destination = load_destination(path, url=url, keystore_password=given, truststore_password=given)
        except UsageError as exc:
            urls = [u for u in (url, _json_url(text)) if u]  # an unusable URL names itself
            assert_one_line(exc, [str(path), "--url", *urls], DEST_PASSWORDS)
            tally.outcomes["UsageError"] += 1
            return
        tally.outcomes["Destination"] += 1
        assert isinstance(destination, Destination)
        for file in (destination.keystore, destination.truststore):
            assert isinstance(file, Path)
            # The stores' reader gets this path next: it must take it without a traceback.
            try:
                read_store(file, destination.keystore_password, "keystore")
            except StoreError as exc:
                assert_one_line(exc, str(file), DEST_PASSWORDS)

    for deep in (b"[" * 100000, b'{"a":' * 100000):  # nesting beyond the recursion limit
        check((deep, None, False))
    run_property(profile, "destination", destination_input(), check, tally.ran)
    assert_volume(profile, tally, "destination")


# -- scenario files -------------------------------------------------------------------------------------------

# Values of the right type with odd content: they pass the schema and reach the parser's own checks and the builder.
ODD_TIMES = [
    "+0s",
    "-0d",
    "+1s",
    "+99999999999999999999d",
    "-99999999999999999999w",
    "+999999999d",
    "+2932896d",
    "+3000000d",
    "-27000d",
    "-36500d",
    "-99999d",
    "+" + "9" * 5000 + "d",
    "9999-12-31",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01",
    "0001-01-01T00:00:00+05:00",
    "1949-12-31",
    "1950-01-01",
    "2049-12-31T23:59:59Z",
    "2050-01-01",
    "2000-02-30",
    "2024-01-01T25:00:00Z",
    "2024-01-01 00:00:00.123456789Z",
]
ODD_SANS = [
    "DNS:ü.example",
    "DNS:a\n",
    "DNS:*.example",
    "DNS: ",
    "DNS:" + "a" * 300,
    "IP:999.1.1.1",
    "IP:::1",
    "IP:fe80::1%eth0",
    "IP:10.0.0.0/8",
    "EMAIL:ü@example",
    "EMAIL:a",
    "URI:ü",
    "URI:http://[::1",
    "URI:x",
    "OTHER:x",
]
ODD_SUBJECTS = [
    "CN=",
    "C=USA",
    "C=",
    "C=U",
    "CN=a+CN=b",
    "1.2.3.4=#0403616263",
    "2.5.4.6=#13035553",
    "2.5.4.3=#0c",
    "CN=\\00",
    "CN=" + "x" * 200,
    "CN=é",
    "CN=😀",
    "L=x,ST=y,O=z,OU=w,CN=v,DC=com,UID=u",
    "CN=a\\,b",
    "CN=#04",
    "=x",
    "CN",
    "CN=a,,O=b",
    "E=x@y",
    "SN=x,GN=y,serialNumber=123",
    "CN=a\nb",
]
ODD_NAMES = [
    "ü.example",
    "*.example",
    "xn--zz",
    "xn--",
    "a..b",
    " ",
    "-a",
    "a_b",
    "1.2.3.999",
    "::1",
    "fe80::1%eth0",
    "127.0.0.1/8",
    "localhost\n",
    "x" * 300,
    "a." * 130,
    "ﬀ",
    "😀",
    "\u0000",
]
ODD_TEXT = [
    "A",
    "ß",
    "İ",
    "😀",
    "a" * 129,
    "\u0000",
    "x y",
    "/",
    "/\n",
    "/" + "a" * 5000,
    "no-slash",
    "nowhere.jks",
    ".",
    "..",
    "junk.bin",
    "server.root",
    "server.intermediate",
    "server.leaf",
    "server.nope",
    "root",
    "ca",
    "client",
    "nope",
    "abc\n",
    "Client",
]
ENUMS = sorted(
    {
        *("root", "intermediate", "leaf", "jks", "pkcs12", "truncate", "garbage", "aes", "legacy"),
        *("rsa-1024", "rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"),
        *("sha256", "sha384", "sha512", "sha1", "md5", "required", "optional", "none", "1.2", "1.3", "1.1"),
        *("clientAuth", "serverAuth", "codeSigning", "digitalSignature", "keyCertSign", "cRLSign"),
        *OUTCOME_CODES,
    }
)
ODD_INTS = [0, 1, -1, 199, 200, 599, 600, 2**63 - 1, -(2**63)]

TOML_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.booleans(),
    st.integers(),
    st.sampled_from(ODD_INTS),
    st.floats(),
    st.text(max_size=20),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
    st.times(),
)
ODD_VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [*ODD_TIMES, *ODD_SANS, *ODD_SUBJECTS, *ODD_NAMES, *ODD_TEXT, *ENUMS, *ODD_INTS, True, False]
)
TOML_VALUES: st.SearchStrategy[Any] = st.recursive(
    TOML_SCALARS | ODD_VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
# Mostly right-typed: one odd string, a list of them, or anything at all.
EDIT_VALUES = st.one_of(ODD_VALUES, ODD_VALUES, st.lists(ODD_VALUES, min_size=1, max_size=3), TOML_VALUES)


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value).__name__)


def toml_document(doc: dict[str, Any]) -> str:
    return "\n".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items()) + "\n"


SCENARIO_PASSWORDS = ("Fz-Scn-ks-4d1f", "Fz-Scn-ts-90ab", "Fz-Scn-dest-77c2", "Fz-Scn-key-e5e5")
BASE_DOC: dict[str, Any] = {
    "description": "fuzz base",
    "tags": ["fuzz"],
    "pki": {
        "root": {"kind": "root", "key": "ec-p256", "subject": "CN=Fuzz Root"},
        "ca": {"kind": "intermediate", "issuer": "root", "key": "ec-p256"},
        "client": {"kind": "leaf", "issuer": "ca", "key": "ec-p256", "not_after": "+30d"},
    },
    "keystore": {"password": SCENARIO_PASSWORDS[0], "entries": [{"alias": "client", "key": "client"}]},
    "truststore": {"password": SCENARIO_PASSWORDS[1], "destination_password": SCENARIO_PASSWORDS[2]},
    "server": {"trust": ["root"], "path": "/fuzz"},
    "expect": {"outcome": "ok"},
}
# The other branches: RSA keys, PKCS#12 stores, a server without an intermediate, a JKS key password.
BASE_DOCS: list[dict[str, Any]] = [
    BASE_DOC,
    {
        **BASE_DOC,
        "pki": {
            "root": {"kind": "root", "key": "rsa-2048", "subject": "CN=Fuzz RSA Root"},
            "ca": {"kind": "intermediate", "issuer": "root", "key": "rsa-2048", "signature": "sha1"},
            "client": {"kind": "leaf", "issuer": "ca", "key": "rsa-2048", "san": ["DNS:client.example"]},
        },
        "keystore": {**BASE_DOC["keystore"], "format": "pkcs12", "pkcs12_encryption": "legacy"},
        "truststore": {"password": SCENARIO_PASSWORDS[1], "format": "pkcs12", "trust": ["server.root", "root"]},
        "server": {"trust": ["ca"], "identity": {"intermediate": False, "names": ["localhost"]}},
    },
    {
        **BASE_DOC,
        "keystore": {
            **BASE_DOC["keystore"],
            "key_password": SCENARIO_PASSWORDS[3],
            "entries": [{"alias": "client", "key": "client", "chain": ["client", "ca", "root"]}],
        },
        "truststore": {"password": SCENARIO_PASSWORDS[1], "entries": [{"alias": "leaf", "cert": "server.leaf"}]},
        "server": {"trust": ["root"], "client_auth": "optional", "identity": {"not_after": "-1d"}},
    },
]


PKI_NAMES = [*BASE_DOC["pki"], "extra", "name\n"]  # "\n": Python's "$" matches before it


def schema_nodes() -> dict[tuple[str | int, ...], dict[str, Any]]:
    """Every key path the schema knows (pki names: PKI_NAMES), arrays at [0] and [1],
    with its schema node."""
    defs = schema()["$defs"]
    found: dict[tuple[str | int, ...], dict[str, Any]] = {}

    def walk(node: dict[str, Any], prefix: tuple[str | int, ...]) -> None:
        if prefix and prefix not in found:
            found[prefix] = node
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        for key, sub in node.get("properties", {}).items():
            walk(sub, (*prefix, key))
        if isinstance(node.get("additionalProperties"), dict):
            for name in PKI_NAMES:
                walk(node["additionalProperties"], (*prefix, name))
        if isinstance(node.get("items"), dict):
            for index in (0, 1):
                walk(node["items"], (*prefix, index))
        for branch in ("then", "else"):
            if branch in node:
                walk(node[branch], prefix)

    walk(schema(), ())
    return found


SCHEMA_NODES = schema_nodes()
SCHEMA_PATHS = list(SCHEMA_NODES)
STRINGS_BY_KEY: dict[str, list[str]] = {
    "time": [*ODD_TIMES, "-1d", "+30d", "-400d", "2030-01-02T03:04:05Z", "2001-01-01"],
    "name": PKI_NAMES,
    "ref": [*PKI_NAMES, "server.root", "server.intermediate", "server.leaf"],
    "subject": [*ODD_SUBJECTS, "CN=Fuzz Leaf,O=Fuzz", "CN=x"],
    "san": [*ODD_SANS, "DNS:client.example", "IP:127.0.0.1", "EMAIL:a@example.com", "URI:https://x.example/"],
    "names": [*ODD_NAMES, "localhost", "127.0.0.1", "*.example", "a@example.com", "10.0.0.0/8"],
    "file": ["junk.bin", "nowhere.jks", ".", "/", "junk.bin/x"],
    "path": ["/", "/x", "/\n", "/ü", "/" + "a" * 3000],
}


def typed_values(node: dict[str, Any], key: str | int | None) -> st.SearchStrategy[Any]:
    """Values the schema accepts at ``node`` (``key``: its name), drawn from the odd end of each type."""
    if "$ref" in node:
        ref = node["$ref"].rsplit("/", 1)[1]
        if ref in STRINGS_BY_KEY:
            return st.sampled_from(STRINGS_BY_KEY[ref])
        if ref == "password":
            odd = st.sampled_from(["\u0000", "😀", "é", "Fz-Scn-pw-" + "x" * 200])
            return st.text(min_size=1, max_size=10).map(lambda t: "Fz-" + t) | odd
        node = schema()["$defs"][ref]
    if "then" in node:
        return typed_values(node["then"], key) | typed_values(node["else"], key)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "const" in node:
        return st.just(node["const"])
    kind = node.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(node.get("minimum", -(2**63)), node.get("maximum", 2**63 - 1)) | st.sampled_from(ODD_INTS)
    if kind == "array":
        items = typed_values(node["items"], key)
        return st.lists(items, min_size=node.get("minItems", 0), max_size=3)
    if kind == "object":
        if isinstance(node.get("additionalProperties"), dict):
            return st.dictionaries(st.sampled_from(PKI_NAMES), typed_values(node["additionalProperties"], None))
        optional = {k: typed_values(v, k) for k, v in node.get("properties", {}).items()}
        return st.fixed_dictionaries({}, optional=optional)
    if isinstance(key, str) and key in STRINGS_BY_KEY:
        return st.sampled_from(STRINGS_BY_KEY[key])
    return st.sampled_from(ODD_TEXT) | st.text(max_size=12)


def _typed_for(path: tuple[str | int, ...]) -> st.SearchStrategy[Any]:
    key = path[-1] if isinstance(path[-1], str) else path[-2] if len(path) > 1 else None
    return typed_values(SCHEMA_NODES[path], key)


TYPED_VALUES = {path: st.deferred(lambda path=path: _typed_for(path)) for path in SCHEMA_PATHS}


def set_path(doc: Any, path: Sequence[str | int], value: Any) -> Any:
    """``doc`` with ``value`` at ``path`` (None deletes), creating tables and arrays on the way."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(doc) if isinstance(doc, list) else []
        while len(items) <= head:
            items.append({})
        if value is None and not rest:
            del items[head]
        else:
            items[head] = set_path(items[head], rest, value)
        return items
    table = dict(doc) if isinstance(doc, dict) else {}
    if value is None and not rest:
        table.pop(head, None)
    else:
        table[head] = set_path(table.get(head, {}), rest, value)
    return table


@st.composite
def scenario_document(draw: st.DrawFn, edits: tuple[int, int] = (1, 5), typed: float = 0.5) -> str:
    """The base document with schema keys set to values of the schema's type (odd ones) or of any other type,
    removed, or unknown keys added."""
    doc: Any = draw(st.sampled_from(BASE_DOCS))
    for _ in range(draw(st.integers(*edits))):
        path = draw(st.sampled_from(SCHEMA_PATHS))
        kind = draw(st.sampled_from(["value", "value", "value", "value", "delete", "unknown"]))
        if kind == "delete":
            doc = set_path(doc, path, None)
        elif kind == "unknown" and typed < 1:
            doc = set_path(doc, (*path[:-1], draw(st.sampled_from(["pasword", "Kind", "x", "ü", "a b"]))), 1)
        elif draw(st.floats(0, 1)) < typed:
            doc = set_path(doc, path, draw(TYPED_VALUES[path]))
        else:
            doc = set_path(doc, path, draw(EDIT_VALUES))
    return toml_document(doc)


TOML_SNIPPETS = [
    "[pki.extra]",
    "[[keystore.entries]]",
    "[[truststore.entries]]",
    "[server.identity]",
    "[client]",
    "[expect.engines]",
    "[keystore]",
    "[[pki]]",
    'kind = "leaf"',
    'issuer = "extra"',
    'alias = "x"',
    'key = "client"',
    'cert = "server.intermediate"',
    "intermediate = false",
    'format = "pkcs12"',
    'file = "junk.bin"',
    'password = "x"',
    "x = 1",
    '"a\\nb" = 1',
    "a.b.c = 1",
    "= 1",
    "[",
    '"""',
    "a = [[[[[[",
    "a = " + "[" * 400 + "]" * 400,
    "a = " + "1" * 5000,
    "a = 1979-05-27T07:32:00",
    "a = 07:32:00",
    "a = {x = 1}",
    "a = inf",
]


def scenario_line_values() -> st.SearchStrategy[str]:
    return st.one_of(
        TOML_VALUES.map(toml_value),
        ODD_VALUES.map(toml_value),
        st.lists(ODD_VALUES, max_size=3).map(toml_value),
        st.text(max_size=12),
    )


@st.composite
def scenario_text(draw: st.DrawFn, texts: Sequence[str]) -> str:
    """A shipped scenario with lines deleted, duplicated, swapped, values replaced, keys injected, text garbled."""
    lines = draw(st.sampled_from(list(texts))).split("\n")
    for _ in range(draw(st.integers(1, 5))):
        ops = ["delete", "duplicate", "swap", "value", "value", "copy-value", "inject", "unicode", "char"]
        op = draw(st.sampled_from(ops))
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if not lines:
            lines = [""]
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op in ("value", "copy-value"):
            assigned = [n for n, line in enumerate(lines) if re.match(r"\s*[\w.\"-]+\s*=", line)]
            if assigned:
                n = draw(st.sampled_from(assigned))
                key = lines[n].split("=", 1)[0]
                if op == "value":
                    lines[n] = f"{key}= {draw(scenario_line_values())}"
                else:
                    lines[n] = f"{key}= {lines[draw(st.sampled_from(assigned))].split('=', 1)[1].strip()}"
        elif op == "inject":
            snippet = draw(
                st.sampled_from(TOML_SNIPPETS)
                | st.builds(
                    lambda k, v: f"{k} = {v}",
                    st.sampled_from(sorted({str(p[-1]) for p in SCHEMA_PATHS if isinstance(p[-1], str)})),
                    scenario_line_values(),
                )
            )
            lines.insert(draw(st.integers(0, len(lines))), snippet)
        elif op == "unicode":
            line = lines[i]
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.text(min_size=1, max_size=8)) + line[at:]
        else:
            line = lines[i]
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from([*"[]{}=\",.#'\\\n\t", ""])) + line[at + 1 :]
    return "\n".join(lines)


def password_secrets(text: str) -> list[str]:
    """Passwords assigned in ``text`` that appear nowhere else in it: these must never be echoed.

    Only the distinctive ones (``*Secret*`` in the shipped scenarios, ``Fz-*`` here): a password
    ``"pkcs12"`` may well appear in a message as the word it also is.
    """
    assigned = set(re.findall(r'password\s*=\s*"((?:Fz-|[^"\\\n]*Secret)[^"\\\n]*)"', text))
    return [p for p in assigned if text.count(p) == len(re.findall(rf'password\s*=\s*"{re.escape(p)}"', text))]


def check_scenario(text: str, path: Path, counts: Tally, label: str) -> Scenario | None:
    counts.inputs[label] += 1
    secrets = password_secrets(text)
    # Folder discovery (`run DIR`) reads the same text first: a bool, never an exception (issue 22).
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    found = is_scenario_file(path)
    assert isinstance(found, bool)
    try:
        scenario = parse_scenario(text, path)
    except ScenarioError as exc:
        assert_one_line(exc, f"{path}: ", secrets)
        counts.outcomes["ScenarioError"] += 1
        return None
    counts.outcomes["Scenario"] += 1
    assert isinstance(scenario, Scenario)
    assert found, "a scenario the parser accepts is one discovery finds"
    return scenario


@pytest.fixture
def scenario_dir(tmp_path: Path) -> Path:
    (tmp_path / "junk.bin").write_bytes(b"not a store\n")
    return tmp_path


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_scenario_parser_on_mutated_shipped_scenarios(profile: Profile, scenario_dir: Path, tally: Tally) -> None:
    texts = [p.read_text("utf-8") for p in SHIPPED]
    assert texts, "no shipped scenarios to mutate"
    path = scenario_dir / "mutated.toml"
    for text in texts:  # the seeds parse
        assert check_scenario(text, path, Tally(), "seed") is not None
    strategy = scenario_text(texts)
    run_property(profile, "scenario-text", strategy, lambda t: check_scenario(t, path, tally, "text"), tally.ran)
    assert_volume(profile, tally, "scenario-text")


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_scenario_parser_on_generated_documents(profile: Profile, scenario_dir: Path, tally: Tally) -> None:
    path = scenario_dir / "generated.toml"
    for doc in BASE_DOCS:
        assert check_scenario(toml_document(doc), path, Tally(), "seed") is not None
    strategy = scenario_document()
    run_property(profile, "scenario-doc", strategy, lambda t: check_scenario(t, path, tally, "doc"), tally.ran)
    assert_volume(profile, tally, "scenario-doc")


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_parsed_scenarios_build(profile: Profile, scenario_dir: Path, tally: Tally) -> None:
    """A scenario the parser accepts builds its material and stores, or fails with a harness error — never a crash."""
    path = scenario_dir / "built.toml"

    def check(text: str) -> None:
        scenario = check_scenario(text, path, tally, "parsed")
        assume(scenario is not None)
        assert scenario is not None
        try:
            material = build_material(scenario)
            for role, spec in (("keystore", scenario.keystore), ("truststore", scenario.truststore)):
                assert isinstance(scenario_store_bytes(spec, material, role), bytes)  # type: ignore[arg-type]
        except HarnessError as exc:
            assert_one_line(exc, "", SCENARIO_PASSWORDS)
            tally.outcomes[f"build refused ({type(exc).__name__})"] += 1
        else:
            tally.outcomes["built"] += 1

    def built() -> int:
        return tally.outcomes["built"] + sum(v for k, v in tally.outcomes.items() if k.startswith("build refused"))

    run_property(profile, "build", scenario_document(edits=(1, 3), typed=0.9), check, built)
    if profile is SLOW:
        assert built() >= profile.examples["build"]


# -- declared counts against the limits (issue 15) ------------------------------------------------------


def _limit_check(path: Path, counts: Tally) -> Callable[[tuple[str, bytes, int, int]], None]:
    """A declared count above its limit is refused naming it; at or below, the limit is never what refuses."""
    from harness.limits import JDK_PBE_ITERATIONS, STORE_ENTRIES

    def check(case: tuple[str, bytes, int, int]) -> None:
        kind, data, declared, password_index = case
        path.write_bytes(data)
        counts.inputs[kind] += 1
        limit = JDK_PBE_ITERATIONS if kind == "pkcs12" else STORE_ENTRIES
        error: StoreError | None = None
        try:
            read_store(path, Secret(_LIMIT_PASSWORDS[password_index]), "truststore")
        except StoreError as exc:
            error = exc
        counts.outcomes[error.code if error else "read"] += 1
        text = str(error or "")
        assert "\n" not in text
        refused_by_limit = f"above the limit of {limit.value:,}" in text
        assert refused_by_limit == (declared > limit.value), (declared, text)

    return check


_LIMIT_PASSWORDS: list[str] = []


@st.composite
def declared_counts(draw: st.DrawFn, pfx: bytes, jks_store: bytes) -> tuple[str, bytes, int, int]:
    from tests import hostile

    # Small counts run (PBKDF2 at <= 4,096 rounds: milliseconds); large ones must never run.
    small = st.integers(1, 4096)
    large = st.integers(5_000_001, 2**63)
    if draw(st.booleans()):
        declared = draw(st.one_of(small, large, st.just(5_000_001)))
        return "pkcs12", hostile.pfx_with_iterations(pfx, declared), declared, 0
    declared = draw(st.one_of(st.integers(0, 5_000), st.integers(5_001, 2**32 - 1)))
    return "jks", hostile.jks_declaring_entries(jks_store, declared), declared, 1


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_declared_counts_against_the_limits(profile: Profile, tmp_path: Path, tally: Tally) -> None:
    import json as json_module

    from harness.stores import jks_bytes as make_jks

    p12 = REPO / "fixtures" / "p12"
    pfx = (p12 / "KeyPair-aes.p12").read_bytes()
    _LIMIT_PASSWORDS[:] = [json_module.loads((p12 / "passwords.json").read_text("utf-8"))["KeyPair-aes.p12"], "jks-Pw"]
    cert = pkcs12.load_pkcs12(pfx, _LIMIT_PASSWORDS[0].encode()).cert
    assert cert is not None
    jks_store = make_jks([], [("c", cert.certificate)], Secret("jks-Pw"))
    run_property(profile, "limits", declared_counts(pfx, jks_store), _limit_check(tmp_path / "s.bin", tally), tally.ran)
    assert_volume(profile, tally, "limits")


# -- explain ----------------------------------------------------------------------------------------------------


def _explain_examples() -> list[str]:
    """Every example text of explain's own entries: the shapes its phrases and facts were written for."""
    import tomllib

    path = Path(__file__).resolve().parents[1] / "harness" / "knowledge" / "explain.toml"
    doc = tomllib.loads(path.read_text("utf-8"))
    return [str(e["example"]) for e in doc["entry"] if e.get("example")]


def explain_input() -> st.SearchStrategy[str]:
    """Explain's own examples cut, repeated, joined by runs of blanks or newlines, with random text between."""
    examples = _explain_examples()
    piece = st.one_of(
        st.sampled_from(examples),
        st.sampled_from(examples).flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i])),  # cut short
        st.text(max_size=80),
    )
    glue = st.sampled_from(["", " ", "\n", "\n" * 50, " " * 200, "\t", ": ", "[", "\"certificate_list\": ["])
    part = st.tuples(piece, glue, st.integers(1, 300)).map(lambda p: (p[0] + p[1]) * p[2])
    return st.lists(part, min_size=1, max_size=6).map("".join)


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_explain(profile: Profile, tally: Tally) -> None:
    """Texts shaped like the ones explain matches, repeated and broken: a ranked answer or one line, never more."""
    from harness.explainer.ranking import explain

    def check(text: str) -> None:
        tally.inputs["explain"] += 1
        if not text.strip():  # an empty text is the one refusal
            with pytest.raises(UsageError):
                explain(text)
            tally.outcomes["UsageError"] += 1
            return
        found = explain(text)
        assert found.candidates or not found.found, "explain answers something, or that it found nothing"
        tally.outcomes["Explanation"] += 1

    run_property(profile, "explain", explain_input(), check, tally.ran)
    assert_volume(profile, tally, "explain")
