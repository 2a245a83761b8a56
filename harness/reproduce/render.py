"""Rendering a reproduced scenario's tables as the scenario file's TOML text."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render_scenario"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table: [expect]'s engines and jdk
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def _table(header: str, values: dict[str, Any]) -> list[str]:
    lines = [f"[{header}]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, dict | list) or k != "entries"]
    return lines


def render_scenario(doc: dict[str, Any]) -> str:
    lines = [f"description = {_toml_value(doc['description'])}", f"tags = {_toml_value(doc['tags'])}", ""]
    for name, table in doc["pki"].items():
        lines += _table(f"pki.{name}", table)
        lines.append("")
    keystore = {k: v for k, v in doc["keystore"].items() if k != "entries"}
    lines += _table("keystore", keystore)
    lines.append("")
    for entry in doc["keystore"].get("entries", []):
        lines += ["[[keystore.entries]]"] + [f"{k} = {_toml_value(v)}" for k, v in entry.items()] + [""]
    lines += _table("truststore", doc["truststore"])
    lines.append("")
    server = {k: v for k, v in doc["server"].items() if k != "identity"}
    lines += _table("server", server)
    if "identity" in doc["server"]:
        lines += ["", *_table("server.identity", doc["server"]["identity"])]
    lines.append("")
    lines += _table("expect", doc["expect"])
    return "\n".join(lines) + "\n"
