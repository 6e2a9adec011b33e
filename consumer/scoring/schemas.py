"""The contract's Avro schemas (``schemas/*.avsc``) and the symbols of their enums."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

from fastavro import parse_schema


def schema_json(name: str) -> dict[str, Any]:
    """The JSON of ``schemas/<name>.avsc`` (installed as package ``consumer.schemas``)."""
    try:
        text = importlib.resources.files("consumer.schemas").joinpath(f"{name}.avsc").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        text = (Path(__file__).resolve().parents[2] / "schemas" / f"{name}.avsc").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def enum_symbols(schema: dict[str, Any], field: str) -> tuple[str, ...]:
    """Symbols of the enum-typed ``field`` of a record schema, in schema order."""
    for f in schema["fields"]:
        if f["name"] == field:
            return tuple(f["type"]["symbols"])
    raise KeyError(field)


def _without_logical_types(node: Any) -> Any:
    # Timestamps stay epoch-millisecond ints inside the service: no datetime objects per
    # record, and the bytes on the wire are identical.
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def parsed(schema: dict[str, Any]) -> Any:
    """A fastavro-parsed copy of ``schema`` with logical types removed."""
    return parse_schema(_without_logical_types(schema))


TRANSACTION_SCHEMA = schema_json("transaction")
FRAUD_SCORE_SCHEMA = schema_json("fraud_score")
CHANNELS = enum_symbols(TRANSACTION_SCHEMA, "channel")
ENTRY_MODES = enum_symbols(TRANSACTION_SCHEMA, "entry_mode")
DECISIONS = enum_symbols(FRAUD_SCORE_SCHEMA, "decision")
