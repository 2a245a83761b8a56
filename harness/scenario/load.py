"""Reading one scenario file: TOML, then its structure (the schema), then its meaning (each table)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from harness.errors import ScenarioError
from harness.limits import (
    SCENARIO_BIG_KEYS,
    SCENARIO_BYTES,
    SCENARIO_CERTS,
    TOML_DEPTH,
    NotARegularFile,
    TooLarge,
    read_bounded,
    toml_depth,
)
from harness.scenario.model import ClientSpec, Expectation, Scenario
from harness.scenario.pki_table import PkiTable
from harness.scenario.server_table import ServerTable
from harness.scenario.store_tables import StoreTables
from harness.scenario.structure import check_schema, times_as_text

__all__ = ["load_scenario", "parse_scenario"]


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    try:
        data = read_bounded(path, SCENARIO_BYTES)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), "no such file", "check the path") from None
    except NotARegularFile as exc:
        raise ScenarioError(str(path), str(exc), "give a scenario TOML file") from None
    except TooLarge as exc:
        raise ScenarioError(str(path), f"not read: {exc}", "give a scenario TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), f"cannot read: {exc}", "give a UTF-8 TOML file") from None
    # `mtls-harness run` validates every file, then pytest loads each again: the same path with the same text is
    # the same Scenario (immutable), parsed once per process. Keyed by the text's digest (a few KB, read and hashed
    # in microseconds), not by the file's size and mtime: an edit within one timestamp tick is still re-read.
    # Failures are not kept: a malformed file is refused, with its one line, each time it is loaded.
    identity = (str(path), hashlib.sha256(data).digest())
    cached = _PARSED.get(identity)
    if cached is not None:
        return cached
    scenario = parse_scenario(text, path)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[identity] = scenario
    return scenario


_PARSED: dict[tuple[str, bytes], Scenario] = {}
_PARSED_MAX = 4096  # scenarios of at most SCENARIO_BYTES each: a bound on what the process keeps


def parse_scenario(text: str, path: Path) -> Scenario:
    depth = toml_depth(text)
    if depth > TOML_DEPTH.value:
        # tomllib recurses per level: counted first (linear), not left to end in RecursionError.
        what = f"arrays or tables nested too deeply ({TOML_DEPTH.refusal(depth)})"
        raise ScenarioError(str(path), what, "flatten the nesting")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), f"not valid TOML: {exc}", "fix the syntax") from None
    except ValueError:  # tomllib's int() past Python's 4300-digit limit (sys.set_int_max_str_digits)
        raise ScenarioError(str(path), "not valid TOML: an integer has too many digits", "fix the number") from None
    except RecursionError:  # what the depth count above missed (malformed strings around deep nesting)
        raise ScenarioError(str(path), "not valid TOML: arrays or tables nested too deeply", "fix the syntax") from None
    pki = doc.get("pki")
    if isinstance(pki, dict) and len(pki) > SCENARIO_CERTS.value:
        # Each certificate costs a key: refused before the schema walks them or any key is made.
        raise ScenarioError(str(path), SCENARIO_CERTS.refusal(len(pki)), "split the scenario", key="pki")
    doc = times_as_text(doc)
    check_schema(doc, path)
    big = sum(1 for body in doc.get("pki", {}).values() if body.get("key") in ("rsa-3072", "rsa-4096"))
    if big > SCENARIO_BIG_KEYS.value:
        raise ScenarioError(str(path), SCENARIO_BIG_KEYS.refusal(big), "use rsa-2048 for most of them", key="pki")
    return _Builder(doc, path).build()


class _Builder(PkiTable, StoreTables, ServerTable):
    """One scenario from a document the schema accepted: each table read in turn, then ``[client]`` and ``[expect]``."""

    def build(self) -> Scenario:
        pki = self._pki()
        keystore = self._keystore(pki)
        truststore = self._truststore(pki)
        server = self._server(pki)
        client = self._client()
        expect = self._expect()
        return Scenario(
            name=self.path.stem,
            path=self.path,
            description=self.doc.get("description", ""),
            tags=tuple(self.doc.get("tags", ())),
            pki=pki,
            keystore=keystore,
            truststore=truststore,
            server=server,
            client=client,
            expect=expect,
        )

    def _client(self) -> ClientSpec:
        raw = self.doc.get("client", {})
        versions = raw.get("tls_versions")
        if not re.fullmatch(r"[\x20-\x7e]*", raw.get("content_type", "")):
            # An HTTP header value: http.client refuses line breaks and anything outside Latin-1.
            raise self.fail("client.content_type", "must be printable ASCII", 'e.g. "application/json"')
        return ClientSpec(
            tls_versions=tuple(sorted(versions)) if versions else None,
            message=raw.get("message", ClientSpec.message),
            content_type=raw.get("content_type", ClientSpec.content_type),
            ciphers=tuple(raw["ciphers"]) if raw.get("ciphers") else None,
        )

    def _expect(self) -> Expectation:
        raw = self.doc["expect"]
        return Expectation(
            outcome=raw["outcome"],
            engines=dict(raw.get("engines", {})),
            why=raw.get("why", ""),
            jdk=dict(raw.get("jdk", {})),
        )
