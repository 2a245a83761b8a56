"""Scenario files (TOML, format v1) → validated, frozen dataclasses.

Structure is checked against the JSON Schema shipped in the package
(``harness/scenario.schema.json``, the same file editors use), so unknown keys,
wrong types and bad values are refused with the key path. Cross-references (an
issuer, a chain member, a trusted name) and rules the schema cannot state are
checked table by table. Every refusal is one :class:`~harness.errors.ScenarioError`
naming the file and the key path. See docs/scenarios.md for the format.

Modules: ``model`` (the dataclasses), ``times`` (relative and RFC 3339 times),
``structure`` (the schema and its refusals), ``reader`` (what every table's
reading shares), ``pki_table``, ``store_tables``, ``server_table`` (one per
table of the file) and ``load`` (a file, end to end).
"""

from __future__ import annotations

from harness.scenario.load import load_scenario, parse_scenario
from harness.scenario.model import (
    SERVER_NAMES,
    CertEntrySpec,
    CertSpec,
    ClientSpec,
    Expectation,
    KeyEntrySpec,
    Scenario,
    ServerIdentitySpec,
    ServerSpec,
    StoreSpec,
    chain_to_root,
)
from harness.scenario.pki_table import general_name
from harness.scenario.structure import schema
from harness.scenario.times import TimeSpec, parse_time, resolve_time

__all__ = [
    "SERVER_NAMES",
    "CertEntrySpec",
    "CertSpec",
    "ClientSpec",
    "Expectation",
    "KeyEntrySpec",
    "Scenario",
    "ServerIdentitySpec",
    "ServerSpec",
    "StoreSpec",
    "TimeSpec",
    "chain_to_root",
    "general_name",
    "load_scenario",
    "parse_scenario",
    "parse_time",
    "resolve_time",
    "schema",
]
