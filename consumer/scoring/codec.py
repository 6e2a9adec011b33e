"""Avro encoding and decoding of the contract's records (plain Avro binary wire format).

Decoding is strict: input bytes come from other services and may be anything, so every
way they can be wrong becomes a DecodeError with a bounded reason, never a crash.
"""

from __future__ import annotations

import importlib.resources
import io
import json
from pathlib import Path
from typing import Any, Protocol

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from consumer.scoring.errors import DecodeError

Record = dict[str, Any]


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


TRANSACTION_SCHEMA = schema_json("transaction")
FRAUD_SCORE_SCHEMA = schema_json("fraud_score")
CHANNELS = enum_symbols(TRANSACTION_SCHEMA, "channel")
ENTRY_MODES = enum_symbols(TRANSACTION_SCHEMA, "entry_mode")
DECISIONS = enum_symbols(FRAUD_SCORE_SCHEMA, "decision")


def parsed(schema: dict[str, Any]) -> Any:
    """A fastavro-parsed copy of ``schema`` with logical types removed."""
    return parse_schema(_without_logical_types(schema))


class Codec(Protocol):
    """Turns input bytes into Transaction records and FraudScore records into bytes."""

    def decode_transaction(self, value: bytes | None) -> Record: ...

    def encode_score(self, score: Record) -> bytes: ...


def decode_avro(value: bytes, writer: Any, reader: Any = None) -> Record:
    """Schemaless-decode ``value`` completely, mapping every failure to a DecodeError."""
    buf = io.BytesIO(value)
    try:
        record = schemaless_reader(buf, writer, reader)
    except EOFError:
        raise DecodeError(
            "truncated", "value ended before the record was complete (truncated or bad length)"
        ) from None
    except UnicodeDecodeError:
        raise DecodeError("invalid_utf8", "a string field is not valid UTF-8") from None
    except IndexError:
        raise DecodeError(
            "bad_index", "an enum symbol or union branch index is out of range"
        ) from None
    except SchemaResolutionError:
        raise DecodeError(
            "schema_mismatch", "the writer's schema cannot be resolved to the Transaction schema"
        ) from None
    except Exception as exc:  # untrusted bytes: any reader failure is this record's fault
        raise DecodeError("malformed", f"value is not valid Avro ({type(exc).__name__})") from None
    if not isinstance(record, dict):
        raise DecodeError("malformed", "value is not an Avro record")
    if buf.tell() != len(value):
        raise DecodeError(
            "trailing_bytes", f"{len(value) - buf.tell()} bytes left over after the record"
        )
    return record


def encode_avro(record: Record, schema: Any) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, schema, record)
    return buf.getvalue()


class PlainAvroCodec:
    """Plain Avro binary with the schemas in ``schemas/`` on both sides: the default."""

    def __init__(self) -> None:
        self._transaction = parsed(TRANSACTION_SCHEMA)
        self._score = parsed(FRAUD_SCORE_SCHEMA)

    def decode_transaction(self, value: bytes | None) -> Record:
        if value is None:
            raise DecodeError("tombstone", "record has no value (tombstone)")
        if not value:
            raise DecodeError("empty_value", "record value is empty")
        try:
            return decode_avro(value, self._transaction)
        except DecodeError:
            # A leading 0 that is no plain Transaction (whose first byte would be the
            # length of an empty transaction_id) is the Schema Registry's magic byte.
            if value[0] != 0:
                raise
            raise DecodeError(
                "wire_format",
                "value starts with magic byte 0 (Schema Registry framing) "
                "but no schema registry is configured",
            ) from None

    def encode_transaction(self, record: Record) -> bytes:
        return encode_avro(record, self._transaction)

    def decode_score(self, value: bytes) -> Record:
        return decode_avro(value, self._score)

    def encode_score(self, score: Record) -> bytes:
        return encode_avro(score, self._score)
