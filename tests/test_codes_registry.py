"""The code registry (harness/knowledge/codes.toml): it loads, it is complete, and the docs follow it.

Complete means: every code the harness uses is registered — found by walking
harness/**/*.py with ``ast`` for string constants in the places a code goes
(``report.add("…"``, ``Verdict("…"``, ``code=`` / ``code_hint=``, comparisons
with ``.code``, the diagnosis' code tables, ``(code, severity, …)`` tuples,
``keystore``'s ``"code: …"`` warnings), plus explain.toml and the scenarios'
``[expect]``. Every registered code has a scenario that shows it or a reason
there is none. Each check has a negative twin: a fake code in a temporary
module is caught, in every place.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from harness.knowledge import codes
from harness.knowledge.codes import (
    CODES,
    FIELDS,
    OUTCOME_CODES,
    SUMMARIES,
    WARNING_CODES,
    RegistryError,
    load_codes,
    markdown_table,
    outcome_table,
    replace_outcome_table,
    replace_table,
)
from tests.conftest import REPO

HARNESS = REPO / "harness"
SCENARIOS = REPO / "scenarios"
EXPLAIN = HARNESS / "knowledge" / "explain.toml"
REGENERATE = "python -m harness.knowledge.codes --write docs/check.md"
REGENERATE_OUTCOMES = "python -m harness.knowledge.codes --write docs/scenarios.md"

# -- where codes go in Python source -------------------------------------------------------

_CODE_LIKE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_FIRST_ARG = {"add", "Verdict", "Finding", "_refine_client_cert", "code", "fix", "is_outcome", "summary"}
_NTH_ARG = {"_drop": 1, "CertRule": 1}
_HOLDER = re.compile(r"(?:^|_)(?:code|hint)$", re.IGNORECASE)  # a name or attribute that holds a code
_KEYS_ARE_CODES = re.compile(r"FIXES$|^fixes$")
_VALUES_ARE_CODES = re.compile(r"CODES$|^_VERIFY_")
_PATTERN_TABLE = re.compile(r"PATTERNS$")  # ((regex, code), ...)
_SEVERITIES = {"error", "warning", "info"}
_PREFIXED = re.compile(r"^([a-z][a-z0-9]*(?:-[a-z0-9]+)*): ")


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _strings(node: ast.AST) -> list[str]:
    """A constant, or the constants of a tuple / list / set literal."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for e in node.elts if (s := _string(e)) is not None]
    one = _string(node)
    return [one] if one is not None else []


def _holds_code(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return bool(_HOLDER.search(node.id))
    return isinstance(node, ast.Attribute) and bool(_HOLDER.search(node.attr))


def _name_of(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def codes_in_source(source: str) -> list[tuple[int, str]]:
    """(line, code) for every string in a code position of ``source``."""
    found: list[tuple[int, str]] = []

    def note(node: ast.AST, texts: list[str]) -> None:
        found.extend((getattr(node, "lineno", 0), t) for t in texts if _CODE_LIKE.match(t))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            called = _name_of(node.func)
            if called in _FIRST_ARG and node.args:
                note(node, _strings(node.args[0]))
            if called in _NTH_ARG and len(node.args) > _NTH_ARG[called]:
                note(node, _strings(node.args[_NTH_ARG[called]]))
            for keyword in node.keywords:
                if keyword.arg in ("code", "code_hint"):
                    note(keyword.value, _strings(keyword.value))
            if called == "append" and _name_of(getattr(node.func, "value", node)) == "warnings" and node.args:
                # keystore's warnings: "client-cert-expired: ..." (an f-string's first part).
                first = node.args[0]
                head = first.values[0] if isinstance(first, ast.JoinedStr) and first.values else first
                if (text := _string(head)) is not None and (m := _PREFIXED.match(text)):
                    note(node, [m[1]])
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_holds_code(o) for o in operands):
                for operand in operands:
                    note(operand, _strings(operand))
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = _name_of(target)
                if _holds_code(target):
                    note(node, _strings(node.value))
                if isinstance(node.value, ast.Dict):
                    if _KEYS_ARE_CODES.search(name):
                        note(node, [s for k in node.value.keys if (s := _string(k)) is not None])
                    if _VALUES_ARE_CODES.search(name):
                        note(node, [s for v in node.value.values if (s := _string(v)) is not None])
                if _PATTERN_TABLE.search(name) and isinstance(node.value, ast.Tuple):
                    for row in node.value.elts:
                        if isinstance(row, ast.Tuple) and len(row.elts) == 2:
                            note(row, _strings(row.elts[1]))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _string(key) == "codeHint":
                    note(value, _strings(value))
        elif (
            isinstance(node, ast.Tuple)
            and len(node.elts) >= 3
            and _string(node.elts[1]) in _SEVERITIES
            and _string(node.elts[0]) not in _SEVERITIES
        ):
            note(node, _strings(node.elts[0]))  # (code, severity, message, fix); not ("error", "warning", ...)
    return found


def codes_in_tree(root: Path) -> dict[str, list[str]]:
    """code -> ["file:line", ...] for every .py file under ``root``."""
    used: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for line, found in codes_in_source(path.read_text("utf-8")):
            used.setdefault(found, []).append(f"{path.relative_to(root.parent)}:{line}")
    return used


def unregistered(used: dict[str, list[str]]) -> dict[str, list[str]]:
    return {c: where for c, where in used.items() if c not in CODES}


# -- the registry loads and is checked --------------------------------------------------------


def test_the_registry_loads_with_outcomes_first_and_the_old_views_derived() -> None:
    assert CODES, "no codes"
    assert OUTCOME_CODES[0] == "ok"
    assert "client-cert-untrusted" in OUTCOME_CODES
    assert set(OUTCOME_CODES) | set(WARNING_CODES) == set(CODES)
    assert not set(OUTCOME_CODES) & set(WARNING_CODES)
    assert {n: CODES[n].summary for n in OUTCOME_CODES} == SUMMARIES
    assert all(codes.is_outcome(n) for n in OUTCOME_CODES)
    assert not any(codes.is_outcome(n) for n in WARNING_CODES)
    assert not codes.is_outcome("no-such-code")
    assert not codes.is_registered("no-such-code")


def test_every_code_has_its_texts_and_a_scenario_or_a_reason() -> None:
    for found in CODES.values():
        assert found.summary, found.name
        assert found.fix_template, found.name
        assert found.look_at, found.name
        assert (found.scenario is None) != (found.no_scenario is None), found.name
        assert found.severity in ("error", "warning", "info"), found.name
        assert (len(found.severities) > 1) == bool(found.severity_note), found.name


def test_the_nine_warning_codes_that_were_registered_nowhere_are_now() -> None:
    nine = {
        "store-type-mismatch",
        "expiring-soon",
        "self-signed-client-cert",
        "truststore-has-private-key",
        "truststore-cert-expired",
        "client-cert-not-requested",
        "no-ca-names",
        "engine-unavailable",
        "jdk-not-run",
    }
    assert nine <= set(WARNING_CODES)


_GOOD = """
[codes.fine]
kind = "outcome"
severity = ["error"]
summary = "s"
fix = "f {alias}"
look_at = "l"
scenario = "x"
"""


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (('kind = "outcome"', 'kind = "other"'), "codes.fine.kind"),
        (('severity = ["error"]', 'severity = ["fatal"]'), "codes.fine.severity"),
        (('severity = ["error"]', 'severity = ["error", "warning"]'), "codes.fine.severity_note"),
        (('summary = "s"\n', ""), "codes.fine: missing summary"),
        (('look_at = "l"', 'look_at = "l"\nlook_here = "x"'), "codes.fine: unknown keys ['look_here']"),
        (('fix = "f {alias}"', 'fix = "f {aliass}"'), "codes.fine.fix: field {aliass}"),
        (('fix = "f {alias}"', 'fix = "f {alias!r}"'), "codes.fine.fix: field {alias} has a format spec"),
        (('fix = "f {alias}"', 'fix = "f {}"'), "codes.fine.fix"),
        (('scenario = "x"', ""), "codes.fine: needs either scenario or no_scenario"),
        (('scenario = "x"', 'scenario = "x"\nno_scenario = "y"'), "codes.fine: needs either scenario or no_scenario"),
        (('summary = "s"', 'summary = ""'), "codes.fine.summary"),
    ],
)
def test_a_broken_registry_is_refused_naming_the_file_and_the_key(change: tuple[str, str], said: str) -> None:
    assert load_codes(_GOOD, "codes.toml")["fine"].fix() == "f ALIAS"  # the twin: the good one loads
    broken = _GOOD.replace(*change)
    assert broken != _GOOD
    with pytest.raises(RegistryError, match=r"^codes\.toml: ") as caught:
        load_codes(broken, "codes.toml")
    assert said in str(caught.value)


def test_a_fix_fills_the_fields_it_is_given_and_shows_the_others_as_placeholders() -> None:
    fixed = codes.fix("client-cert-expired", keystore_file="keystore.jks")
    assert "rebuild keystore.jks from it" in fixed
    unknown = codes.fix("client-cert-expired")
    assert "rebuild KEYSTORE_FILE from it" in unknown
    assert "{" not in unknown
    # The command is printed filled in and quoted, or not at all: never with a placeholder.
    locked = codes.code("key-password-mismatch")
    assert locked.command(alias="acme client", jks_keystore_file="keystore.jks") == (
        "keytool -keypasswd -alias 'acme client' -keystore keystore.jks -storetype JKS -storepass:env KS_PASS "
        "-keypass:env KEY_PASS -new:env KS_PASS"
    )
    assert locked.command(alias="acme client") == ""
    assert "-alias ALIAS -keystore JKS_KEYSTORE_FILE" in locked.command_shown()
    with pytest.raises(ValueError, match="aliass"):
        codes.fix("key-password-mismatch", aliass="x")
    with pytest.raises(ValueError, match="not a registered code"):
        codes.code("no-such-code")


def test_every_fix_template_names_only_documented_fields() -> None:
    for found in CODES.values():
        assert found.fields <= set(FIELDS), (found.name, found.fields - set(FIELDS))
        rendered = found.fix()
        assert "{" not in rendered, found.name
        assert "}" not in rendered, found.name
        if found.command_template:
            assert found.command_shown() in markdown_table(), found.name
            assert "{" not in found.command_shown(), found.name


# -- every code used is registered --------------------------------------------------------------


def test_every_code_the_harness_uses_is_registered() -> None:
    used = codes_in_tree(HARNESS)
    assert unregistered(used) == {}, "register these in harness/knowledge/codes.toml"
    # Not vacuous: the scan sees the codes of every kind of place.
    assert {"store-type-mismatch", "no-ca-names", "jdk-not-run", "engine-unavailable", "alias"} <= set(used)
    assert {"client-cert-untrusted", "handshake-failed", "keystore-format-unsupported", "weak-key"} <= set(used)


_PLACES = [
    'report.add("{c}", "error", "keystore", "subject", "message", "fix")',
    'Verdict("{c}", "server", "explanation")',
    'if finding.code == "{c}":\n    pass',
    'if "{c}" != verdict.code:\n    pass',
    'if code in ("ok", "{c}"):\n    pass',
    'Outcome(stage="keystore", code_hint="{c}")',
    'StoreReading(code="{c}")',
    'code = "{c}"',
    'reply = {{"codeHint": "{c}"}}',
    'JDK_FIXES = {{"{c}": "the fix"}}',
    '_VERIFY_CLIENT = {{9: "{c}"}}',
    '_ALERT_CODES = {{"unknown_ca": "{c}"}}',
    '_JSSE_PATTERNS = ((r"pattern", "{c}"),)',
    'def f():\n    return ("{c}", "error", "message", "fix")',
    'warnings.append(f"{c}: {{who}} expired")',
    '_drop(report, "{c}", "keystore")',
    'CertRule("feature", "{c}", "MD5")',
]


@pytest.mark.parametrize("place", _PLACES)
def test_a_fake_code_in_a_temporary_module_is_caught_and_a_registered_one_is_not(place: str, tmp_path: Path) -> None:
    package = tmp_path / "harness"
    package.mkdir()
    (package / "fake.py").write_text(place.format(c="no-such-code"), "utf-8")
    assert unregistered(codes_in_tree(package)) == {"no-such-code": ["harness/fake.py:" + _line(place)]}
    (package / "fake.py").write_text(place.format(c="client-cert-expired"), "utf-8")
    used = codes_in_tree(package)
    assert "client-cert-expired" in used
    assert unregistered(used) == {}


def _line(place: str) -> str:
    lines = place.format(c="no-such-code").splitlines()
    return str(next(i for i, text in enumerate(lines, 1) if "no-such-code" in text))


def test_strings_outside_code_places_are_not_taken_for_codes() -> None:
    source = 'name = "rsa-2048"\nprint("utf-8")\nx = {"content-type": "application/json"}\n'
    assert codes_in_source(source) == []


def test_the_jvm_probe_reports_facts_not_codes() -> None:
    # Engines return facts; the diagnosis alone decides codes (issue 20). The probe once
    # answered with "codeHint": now it says which store failed and how ("storeProblem").
    java = (probe_source := HARNESS / "java" / "MtlsProbe.java").read_text("utf-8")
    returned = set(re.findall(r'"([a-z]+(?:-[a-z0-9]+)+)"', java))
    assert "storeProblem" in java, probe_source
    assert "codeHint" not in java
    assert returned & set(CODES) == set(), "the probe names outcome codes: decide them in harness/diagnose"


def _explain() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(EXPLAIN.read_text("utf-8"))


def test_every_code_in_explain_toml_and_the_scenarios_is_registered() -> None:
    doc = _explain()
    named = {entry["code"] for entry in doc["entry"]}
    assert named
    assert named <= set(OUTCOME_CODES), named - set(OUTCOME_CODES)
    for path in sorted(SCENARIOS.glob("*.toml")):
        expected = _expected(path)
        assert expected <= set(OUTCOME_CODES), (path.name, expected - set(OUTCOME_CODES))


def test_explain_toml_holds_no_code_texts_of_its_own() -> None:
    # A code's summary, fix, look_at and scenario are the registry's: explain reads them there.
    assert set(_explain()) == {"entry"}


def test_explain_shows_the_registry_texts() -> None:
    from harness.explainer.ranking import explain

    [first, *_] = explain("javax.net.ssl.SSLHandshakeException: Received fatal alert: unknown_ca").candidates
    registered = CODES[first.code]
    assert first.code == "client-cert-untrusted"
    assert (first.summary, first.look_at, first.fix) == (registered.summary, registered.look_at, registered.fix())
    assert first.scenario == registered.scenario


# -- scenarios ------------------------------------------------------------------------------------


def _expected(path: Path) -> set[str]:
    expect = tomllib.loads(path.read_text("utf-8")).get("expect", {})
    found = {expect["outcome"]} if "outcome" in expect else set()
    for table in ("engines", "jdk"):
        found |= {v for v in expect.get(table, {}).values() if isinstance(v, str)}
    return found


def scenario_problem(name: str, scenario: str, folder: Path) -> str | None:
    """Why scenarios/<scenario>.toml does not show code ``name``; None when it does."""
    path = folder / f"{scenario}.toml"
    if not path.is_file():
        return f"{name}: scenario {scenario!r}: no file {path.name}"
    if name not in _expected(path):
        return f"{name}: {path.name} does not expect it (expects {sorted(_expected(path))})"
    return None


def test_every_named_scenario_exists_and_expects_its_code() -> None:
    problems = [
        problem
        for found in CODES.values()
        if found.scenario is not None and (problem := scenario_problem(found.name, found.scenario, SCENARIOS))
    ]
    assert problems == []


def test_a_missing_scenario_or_one_that_expects_another_code_is_caught(tmp_path: Path) -> None:
    (tmp_path / "shows-it.toml").write_text('[expect]\noutcome = "ok"\n[expect.jdk]\n"11" = "weak-key"\n', "utf-8")
    assert scenario_problem("weak-key", "shows-it", tmp_path) is None
    assert scenario_problem("ok", "shows-it", tmp_path) is None
    assert "does not expect it" in (scenario_problem("weak-signature", "shows-it", tmp_path) or "")
    assert "no file" in (scenario_problem("weak-key", "not-there", tmp_path) or "")


# -- docs/check.md -----------------------------------------------------------------------------------


def test_the_code_table_in_docs_check_md_is_the_generated_one() -> None:
    document = (REPO / "docs" / "check.md").read_text("utf-8")
    assert replace_table(document) == document, f"docs/check.md's code table is stale: run `{REGENERATE}`"
    assert markdown_table() in document


def test_a_stale_table_is_seen() -> None:
    document = (REPO / "docs" / "check.md").read_text("utf-8")
    stale = document.replace("| `weak-key` |", "| `weak-keys` |")
    assert stale != document
    assert replace_table(stale) != stale
    with pytest.raises(ValueError, match="markers"):
        replace_table("no markers here")


def test_the_outcome_table_in_docs_scenarios_md_is_the_generated_one() -> None:
    document = (REPO / "docs" / "scenarios.md").read_text("utf-8")
    assert replace_outcome_table(document) == document, (
        f"docs/scenarios.md's outcome table is stale: run `{REGENERATE_OUTCOMES}`"
    )
    table = outcome_table()
    assert table in document
    assert [line.split("`")[1] for line in table.splitlines()[2:]] == list(OUTCOME_CODES)
    stale = document.replace("| `weak-key` |", "| `weak-keys` |")
    assert stale != document
    assert replace_outcome_table(stale) != stale
    with pytest.raises(ValueError, match="markers"):
        replace_outcome_table((REPO / "docs" / "check.md").read_text("utf-8"))


def test_the_generator_writes_each_file_its_own_table(tmp_path: Path) -> None:
    for name, replace in (("check.md", replace_table), ("scenarios.md", replace_outcome_table)):
        copy = tmp_path / name
        document = (REPO / "docs" / name).read_text("utf-8")
        copy.write_text(document.replace("| `weak-key` |", "| `weak-keys` |"), "utf-8")
        assert codes._main(["--write", str(copy)]) == 0
        assert copy.read_text("utf-8") == replace(document) == document


# -- severities: the registry's, given by hand only where it allows more than one ------------------


def explicit_severities(source: str) -> list[tuple[int, str, str]]:
    """(line, code, severity) of every ``….add("code", …, severity="…")`` call in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _name_of(node.func) == "add" and node.args:
            code = _string(node.args[0])
            for keyword in node.keywords:
                if keyword.arg == "severity" and code is not None:
                    found.extend((node.lineno, code, s) for s in _severity_values(keyword.value))
    return found


def _severity_values(node: ast.AST) -> list[str]:
    if isinstance(node, ast.IfExp):
        return _severity_values(node.body) + _severity_values(node.orelse)
    one = _string(node)
    return [one] if one is not None else []


def severity_problems(root: Path) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        for line, code, severity in explicit_severities(path.read_text("utf-8")):
            where = f"{path.relative_to(root.parent)}:{line}"
            registered = CODES.get(code)
            if registered is None:
                continue  # test_every_code_the_harness_uses_is_registered says so
            if len(registered.severities) == 1:
                problems.append(f"{where}: {code} has one severity: leave it to the registry")
            elif severity not in registered.severities:
                problems.append(f"{where}: {code} is not reported as {severity}")
    return problems


def test_a_severity_given_by_hand_is_one_the_registry_allows() -> None:
    assert severity_problems(HARNESS) == []
    # Not vacuous: the judge gives some by hand.
    given = {(c, s) for p in HARNESS.rglob("*.py") for _, c, s in explicit_severities(p.read_text("utf-8"))}
    assert {("store-type-mismatch", "error"), ("engine-unavailable", "warning")} <= given


@pytest.mark.parametrize(
    ("call", "said"),
    [
        ('report.add("weak-key", "keystore", "s", "m", severity="error")', "has one severity"),
        ('report.add("store-type-mismatch", "keystore", "s", "m", severity="info")', "is not reported as info"),
        ('report.add("engine-unavailable", "h", "s", "m", severity="error" if x else "info")', "not reported as info"),
    ],
)
def test_a_severity_the_registry_does_not_allow_is_caught(call: str, said: str, tmp_path: Path) -> None:
    package = tmp_path / "harness"
    package.mkdir()
    (package / "fake.py").write_text(call, "utf-8")
    [problem] = severity_problems(package)
    assert said in problem
    (package / "fake.py").write_text('report.add("store-type-mismatch", "keystore", "s", "m", severity="error")')
    assert severity_problems(package) == []


def test_report_add_takes_the_registry_severity_and_refuses_another() -> None:
    from harness.check.report import Report
    from harness.destination import Destination
    from harness.secret import Secret

    destination = Destination(Path("ks.jks"), Secret("x"), Path("ts.jks"), Secret("y"), url="https://h.example:8443/p")
    report = Report(destination)
    report.add("key-password-mismatch", "keystore", "ks.jks (entry 'acme')", "locked", alias="acme")
    report.add("store-type-mismatch", "truststore", "ts.jks", "PEM", severity="error", store_file="ts.jks")
    [locked, pem] = report.findings
    assert locked.severity == CODES["key-password-mismatch"].severity
    assert locked.fix == codes.fix(
        "key-password-mismatch", alias="acme", keystore_file="ks.jks", truststore_file="ts.jks"
    )
    assert "the key entry acme equal to keystorePass" in locked.fix
    assert locked.command == (
        "keytool -keypasswd -alias acme -keystore ks.jks -storetype JKS -storepass:env KS_PASS "
        "-keypass:env KEY_PASS -new:env KS_PASS"
    )
    assert pem.severity == "error"
    assert "convert ts.jks in place" in pem.fix
    assert pem.command == ""  # no such file: its type is not known, so no command says it
    untrusted = Report(destination)
    untrusted.add("server-cert-untrusted", "server-chain", "server", "m", issuer="CN=Root")
    assert untrusted.findings[0].fix == codes.fix(
        "server-cert-untrusted", issuer="CN=Root", truststore_file="ts.jks", url="https://h.example:8443/p"
    )
    assert "{" not in untrusted.findings[0].fix
    assert not any(p in untrusted.findings[0].fix for p in ("ISSUER", "TRUSTSTORE_FILE", "URL"))
    assert untrusted.findings[0].command == (
        "mtls-harness truststore https://h.example:8443/p --out ts.jks --format jks --force --password-env TS_PASS"
    )
    with pytest.raises(ValueError, match="not reported as warning"):
        report.add("weak-key", "keystore", "s", "m", severity="warning")


def test_the_generator_runs_as_a_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert codes._main(["--markdown"]) == 0
    assert capsys.readouterr().out.strip() == markdown_table()
    assert codes._main(["--bogus"]) == 2
