"""The structure of scenario files: the JSON Schema shipped in the package, and its refusals with key paths.

The schema is ``harness/scenario.schema.json``, the same file editors use, so
unknown keys, wrong types and bad values are refused with the key path, in
TOML words, never echoing a password.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError

__all__ = ["check_schema", "schema", "times_as_text"]


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (format v1), as shipped in the package."""
    text = resources.files("harness").joinpath("scenario.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def times_as_text(value: Any) -> Any:
    """TOML date-times become RFC 3339 strings, so one schema pattern covers both forms."""
    if isinstance(value, dict):
        return {k: times_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [times_as_text(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat() + "Z"  # a local date-time: read as UTC
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()  # refused by the schema pattern, with its key path
    return value


@cache
def _validator() -> Any:
    import jsonschema  # deferred: costs ~60 ms, needed only when a scenario is read

    def pattern(validator: Any, regex: str, instance: Any, _schema: Any) -> Any:
        # JSON Schema patterns are ECMA-262, where "$" ends the string; Python's "$" also matches
        # before a final newline, which let "name\n" pass as a name and break one-line messages.
        if regex.endswith("$") and not regex.endswith("\\$"):
            regex = regex[:-1] + "\\Z"
        if validator.is_type(instance, "string") and not re.search(regex, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {regex!r}")

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})(schema())


def check_schema(doc: dict[str, Any], path: Path) -> None:
    import jsonschema

    validator = _validator()
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is None:
        return
    # ``best_match`` prefers the deepest error; for if/then/else and oneOf the
    # useful one is inside the branch taken.
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    key = _key_path(error.absolute_path)
    raise ScenarioError(str(path), _describe(error), key=key or "(top level)")


def _key_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "array": "a list",
    "object": "a table",
    "number": "a number",
}


def _describe(error: Any) -> str:
    """One sentence for a schema violation, in TOML words, never echoing a password."""
    kind = error.validator
    value = error.instance
    shown = "(hidden)" if error.absolute_path and "password" in str(error.absolute_path[-1]) else value
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        hint = f"; known keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {', '.join(repr(e) for e in extra)}{hint}"
    if kind == "required":
        return str(error.message).replace(" is a required property", " is missing")
    if kind == "type":
        want = error.validator_value
        want_text = " or ".join(_TYPE_WORDS.get(w, w) for w in ([want] if isinstance(want, str) else want))
        return f"expected {want_text}, got {_kind_of(value)}"
    if kind == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return f"{_toml_repr(shown)} is not one of: {options}"
    if kind == "const":
        return f"must be {error.validator_value!r}, got {_toml_repr(shown)}"
    if kind == "pattern":
        hint = error.schema.get("description", f"must match {error.validator_value}")
        return f"{_toml_repr(shown)} is not valid: {hint}"
    if kind in ("minItems", "minLength"):
        return "must not be empty"
    if kind == "uniqueItems":
        return "has duplicate items"
    if kind in ("minimum", "maximum"):
        return f"{value} is out of range ({kind} {error.validator_value})"
    if kind == "propertyNames":
        return f"{_toml_repr(shown)} is not a valid name: use lower-case letters, digits, - and _"
    return str(error.message) if shown is value else f"invalid value ({kind})"


def _kind_of(value: Any) -> str:
    """What a TOML value is, in TOML words; never the value (it may be a password)."""
    if isinstance(value, bool):
        return "a boolean"
    words = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return words.get(type(value), type(value).__name__)


def _toml_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)
