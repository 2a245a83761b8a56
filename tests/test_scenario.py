"""Scenario files: the shipped ones parse and match the shipped schema; bad ones are one precise line."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.cli.main import main
from harness.errors import ScenarioError
from harness.knowledge.codes import OUTCOME_CODES
from harness.scenario import CertEntrySpec, KeyEntrySpec, Scenario, load_scenario, schema

SCHEMA = json.loads(resources.files("harness").joinpath("scenario.schema.json").read_text("utf-8"))


def test_shipped_scenario_parses(shipped_scenario: Path) -> None:
    scenario = load_scenario(shipped_scenario)
    assert scenario.name == shipped_scenario.stem
    assert scenario.expect.outcome in OUTCOME_CODES


def test_shipped_scenario_validates_against_the_shipped_schema(shipped_scenario: Path) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    doc = tomllib.loads(shipped_scenario.read_text("utf-8"))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def test_schema_rejects_what_the_parser_rejects(tmp_path: Path, write_scenario: Any) -> None:
    # The negative twin of the validation above: the schema is not vacuous.
    doc = tomllib.loads(write_scenario({"keystore": {"pasword": "x"}}).read_text("utf-8"))
    with pytest.raises(jsonschema.ValidationError, match="pasword"):
        jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def test_parser_uses_the_schema_file_that_ships() -> None:
    assert schema() == SCHEMA


def test_schema_outcome_enums_are_the_outcome_codes() -> None:
    expect = SCHEMA["$defs"]["expect"]["properties"]
    assert tuple(expect["outcome"]["enum"]) == OUTCOME_CODES
    for engine in ("python", "jsse"):
        assert tuple(expect["engines"]["properties"][engine]["enum"]) == OUTCOME_CODES


# -- refusals -------------------------------------------------------------------------------

_LEAF_ONLY_PKI = {"pki": {"client-ca": None, "client": {"issuer": "client-root"}}}

# (id, overrides or TOML text, key path, words the message must contain)
BAD: list[tuple[str, dict[str, Any] | str, str, str]] = [
    ("unknown-top-level-key", {"descripton": "typo"}, "(top level)", "unknown key 'descripton'"),
    ("unknown-nested-key", {"server": {"clent_auth": "required"}}, "server", "unknown key 'clent_auth'"),
    (
        "unknown-key-in-array-entry",
        {"keystore": {"entries": [{"alias": "a", "key": "client", "chian": ["client"]}]}},
        "keystore.entries[0]",
        "unknown key 'chian'",
    ),
    ("wrong-type", {"server": {"status": "200"}}, "server.status", "expected an integer, got a string"),
    ("bad-enum", {"keystore": {"format": "jceks"}}, "keystore.format", '"jceks" is not one of: jks, pkcs12'),
    ("bad-relative-time", {"pki": {"client": {"not_after": "+365days"}}}, "pki.client.not_after", "relative time"),
    ("bad-date-time", {"pki": {"client": {"not_after": "2030-02-30"}}}, "pki.client.not_after", "not a valid date"),
    ("dangling-issuer", {"pki": {"client": {"issuer": "nope"}}}, "pki.client.issuer", "'nope' is not defined"),
    (
        "dangling-chain-member",
        {"keystore": {"entries": [{"alias": "a", "key": "client", "chain": ["client", "nope"]}]}},
        "keystore.entries[0].chain[1]",
        "'nope' is not defined",
    ),
    ("dangling-server-trust", {"server": {"trust": ["nope"]}}, "server.trust[0]", "'nope' is not defined"),
    ("server-trusts-a-leaf", {"server": {"trust": ["client"]}}, "server.trust[0]", "'client' is a leaf"),
    (
        "issuer-loop",
        {"pki": {"client-root": {"kind": "intermediate", "issuer": "client-ca"}}},
        "pki.client-root.issuer",
        "loop: client-root -> client-ca -> client-root",
    ),
    (
        "intermediate-without-issuer",
        {"pki": {"client-ca": {"issuer": None}}},
        "pki.client-ca.issuer",
        "needs an issuer",
    ),
    ("root-with-issuer", {"pki": {"client-root": {"issuer": "client-ca"}}}, "pki.client-root.issuer", "has no issuer"),
    ("leaf-as-issuer", {"pki": {"client-ca": {"issuer": "client"}}}, "pki.client-ca.issuer", "is a leaf"),
    (
        "uppercase-jks-alias",
        {"keystore": {"entries": [{"alias": "Test-Client", "key": "client"}]}},
        "keystore.entries[0].alias",
        "lower case",
    ),
    (
        "duplicate-alias",
        {"keystore": {"entries": [{"alias": "dup", "key": "client"}, {"alias": "dup", "cert": "client-root"}]}},
        "keystore.entries[1].alias",
        "'dup' is used twice",
    ),
    (
        "duplicate-pkcs12-alias-differing-in-case",
        {
            "keystore": {
                "format": "pkcs12",
                "entries": [{"alias": "Dup", "key": "client"}, {"alias": "dup", "cert": "client-root"}],
            }
        },
        "keystore.entries[1].alias",
        "used twice",
    ),
    (
        "pkcs12-with-differing-key-password",
        {"keystore": {"format": "pkcs12", "key_password": "key-Pw-0c71"}},
        "keystore.key_password",
        "one password",
    ),
    (
        "chain-not-starting-with-the-key",
        {"keystore": {"entries": [{"alias": "a", "key": "client", "chain": ["client-ca"]}]}},
        "keystore.entries[0].chain[0]",
        "must start with",
    ),
    ("bad-subject", {"pki": {"client": {"subject": "not a dn"}}}, "pki.client.subject", "not a distinguished name"),
    ("uppercase-pki-name", {"pki": {"Client": {"kind": "root"}}}, "pki", '"Client" is not valid'),
    ("server-trusts-nothing", {"server": {"trust": []}}, "server.trust", "trusts no CA"),
    ("pkcs12-encryption-on-jks", {"keystore": {"pkcs12_encryption": "legacy"}}, "keystore.pkcs12_encryption", "pkcs12"),
    ("missing-expect", {"expect": None}, "(top level)", "'expect' is missing"),
    ("missing-keystore", {"keystore": None}, "keystore", "missing [keystore]"),
    ("missing-store-file", {"truststore": {"file": "nowhere.jks"}}, "truststore.file", "does not exist"),
    ("invalid-toml", "[keystore\npassword = 'x'\n", "", "not valid TOML"),
]


@pytest.mark.parametrize(("spec", "key", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_scenario_is_one_line_naming_file_and_key(
    write_scenario: Any, spec: dict[str, Any] | str, key: str, words: str
) -> None:
    path = write_scenario(text=spec) if isinstance(spec, str) else write_scenario(spec)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert error.key == key
    assert error.where == str(path)
    text = str(error)
    assert text.startswith(f"{path}: {key}: " if key else f"{path}: ")
    assert words in text
    assert "\n" not in text


@pytest.mark.parametrize(("spec", "key"), [b[1:3] for b in BAD], ids=[b[0] for b in BAD])
def test_cli_prints_a_bad_scenario_in_one_line_with_exit_2(
    write_scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any] | str, key: str
) -> None:
    path = write_scenario(text=spec) if isinstance(spec, str) else write_scenario(spec)
    assert main(["build", str(path), "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"mtls-harness: error: {path}: {key}")
    assert not (tmp_path / "out").exists()


def test_good_base_scenario_builds(write_scenario: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The twin of the refusals above: the base they are all derived from is fine.
    assert main(["build", str(write_scenario()), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "keystore.jks").is_file()


def test_pkcs12_keystore_with_two_key_entries_is_refused_when_parsed(write_scenario: Any) -> None:
    path = write_scenario(
        {
            "pki": {"other": {"kind": "leaf", "issuer": "client-ca"}},
            "keystore": {
                "format": "pkcs12",
                "entries": [{"alias": "one", "key": "client"}, {"alias": "two", "key": "other"}],
            },
        }
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == "keystore.entries[1]"


@pytest.mark.parametrize("store_format", ["pkcs12", "jks"])
def test_a_key_that_does_not_match_its_certificate_is_jks_only(write_scenario: Any, store_format: str) -> None:
    """cryptography (as openssl) refuses to write a mismatched key into PKCS#12: refused when parsed, not mid-build."""
    path = write_scenario(
        {
            "pki": {"other": {"kind": "leaf", "issuer": "client-ca"}},
            "keystore": {
                "format": store_format,
                "entries": [{"alias": "client", "key": "client", "private_key": "other"}],
            },
        }
    )
    if store_format == "jks":
        scenario = load_scenario(path)
        assert scenario.keystore.key_entries[0].private_key == "other"
        build_material_and_stores(scenario)  # the twin: JKS stores it
        return
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == "keystore.entries[0].private_key"
    assert 'format = "jks"' in str(caught.value)


def build_material_and_stores(scenario: Any) -> None:
    from harness.pki import build_material
    from harness.stores import scenario_store_bytes

    material = build_material(scenario)
    assert scenario_store_bytes(scenario.keystore, material, "keystore")


# -- passwords are never echoed ----------------------------------------------------------------

SECRET = "Pw-never-Echo-4411"


@pytest.mark.parametrize(
    ("password", "key", "words"),
    [
        (4411, "keystore.password", "expected a string, got an integer"),
        ([SECRET], "keystore.password", "expected a string, got a list"),
        ({"value": SECRET}, "keystore.password", "expected a string, got a table"),
        ("", "keystore.password", "must not be empty"),
    ],
    ids=["integer", "list", "table", "empty"],
)
def test_password_of_the_wrong_type_is_not_echoed(
    write_scenario: Any, password: object, key: str, words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_scenario({"keystore": {"password": password}})
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert caught.value.key == key
    assert words in text
    assert SECRET not in text
    assert "4411" not in text
    main(["build", str(path), "--out", str(tmp_path / "out")])
    assert SECRET not in capsys.readouterr().err


@pytest.mark.parametrize("table", ["keystore", "truststore"])
def test_misspelt_password_key_does_not_echo_its_value(write_scenario: Any, table: str) -> None:
    path = write_scenario({table: {"password": None, "pasword": SECRET}})
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == table
    assert SECRET not in str(caught.value)


def test_scenario_repr_holds_no_password(write_scenario: Any) -> None:
    scenario = load_scenario(write_scenario({"keystore": {"password": SECRET}}))
    assert scenario.keystore.password.reveal() == SECRET
    assert SECRET not in repr(scenario)


# -- defaults ------------------------------------------------------------------------------------


def _load(write_scenario: Any, overrides: dict[str, Any] | None = None) -> Scenario:
    return load_scenario(write_scenario(overrides))


def test_default_chain_is_the_leaf_and_its_issuers_without_the_root(write_scenario: Any) -> None:
    scenario = _load(write_scenario)
    assert scenario.keystore.key_entries == (KeyEntrySpec("test-client", "client", ("client", "client-ca")),)


@pytest.mark.parametrize(
    ("pki", "chain"),
    [
        ({"client-ca": None, "client": {"issuer": "client-root"}}, ("client",)),
        ({"client": {"issuer": None}}, ("client",)),  # self-signed: the chain is the certificate itself
    ],
    ids=["leaf-under-root", "self-signed-leaf"],
)
def test_default_chain_of_a_short_hierarchy(write_scenario: Any, pki: dict[str, Any], chain: tuple[str, ...]) -> None:
    assert _load(write_scenario, {"pki": pki}).keystore.key_entries[0].chain == chain


def test_explicit_chain_is_kept(write_scenario: Any) -> None:
    entries = [{"alias": "a", "key": "client", "chain": ["client", "client-ca", "client-root"]}]
    scenario = _load(write_scenario, {"keystore": {"entries": entries}})
    assert scenario.keystore.key_entries[0].chain == ("client", "client-ca", "client-root")


def test_key_password_defaults_to_the_store_password(write_scenario: Any) -> None:
    keystore = _load(write_scenario).keystore
    assert keystore.key_password == keystore.password == keystore.destination_password
    differing = _load(write_scenario, {"keystore": {"key_password": "key-Pw-5e11"}}).keystore
    assert differing.key_password.reveal() == "key-Pw-5e11"
    assert differing.key_password != differing.password


def test_truststore_trusts_the_server_root_by_default(write_scenario: Any) -> None:
    scenario = _load(write_scenario)
    assert scenario.truststore.cert_entries == (CertEntrySpec("server-root", "server.root"),)
    explicit = _load(write_scenario, {"truststore": {"trust": ["client-root"]}})
    assert explicit.truststore.cert_entries == (CertEntrySpec("client-root", "client-root"),)


def test_omitted_truststore_is_a_jks_trusting_the_server_root(write_scenario: Any) -> None:
    truststore = _load(write_scenario, {"truststore": None}).truststore
    assert truststore.format == "jks"
    assert truststore.cert_entries == (CertEntrySpec("server-root", "server.root"),)


def test_server_trusts_every_client_root_by_default(write_scenario: Any) -> None:
    scenario = _load(write_scenario, {"server": {"trust": None}, "pki": {"other-root": {"kind": "root"}}})
    assert scenario.server.trust == ("client-root", "other-root")
    assert scenario.server.client_auth == "required"


def test_leaf_defaults_to_client_auth_usage(write_scenario: Any) -> None:
    pki = _load(write_scenario).pki
    assert pki["client"].eku == ("clientAuth",)
    assert pki["client"].ku == ("digitalSignature", "keyEncipherment")
    assert pki["client-ca"].eku == ()
    assert pki["client"].subject == "CN=test-client,O=Test Corp"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-30d", dt.timedelta(days=-30)),
        ("+2w", dt.timedelta(weeks=2)),
        ("+90m", dt.timedelta(minutes=90)),
        ("2030-01-02T03:04:05Z", dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        ("2030-01-02t03:04:05+02:00", dt.datetime(2030, 1, 2, 1, 4, 5, tzinfo=dt.UTC)),
        ("2030-01-02", dt.datetime(2030, 1, 2, tzinfo=dt.UTC)),
    ],
)
def test_validity_times(write_scenario: Any, text: str, expected: dt.timedelta | dt.datetime) -> None:
    assert _load(write_scenario, {"pki": {"client": {"not_after": text}}}).pki["client"].not_after == expected


def test_toml_native_date_time_is_read_as_utc(write_scenario: Any) -> None:
    base = write_scenario().read_text("utf-8")
    native = base.replace("[pki.client]\n", "[pki.client]\nnot_after = 2030-01-02T03:04:05\n", 1)
    assert native != base
    scenario = load_scenario(write_scenario(text=native, name="native"))
    assert scenario.pki["client"].not_after == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
