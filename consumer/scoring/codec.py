"""Avro encoding and decoding of the contract's records (plain Avro binary wire format).

Decoding is strict: input bytes come from other services and may be anything, so every
way they can be wrong becomes a DecodeError with a bounded reason, never a crash, and a
value is accepted only if it is the canonical encoding of a Transaction (see ``_avro``).
"""

from __future__ import annotations

import io
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from consumer.scoring.avro_batch import (
    ScoreColumns,
    decode_error,
    decode_plain,
    encode_score_columns,
)
from consumer.scoring.avro_walk import defect
from consumer.scoring.errors import DecodeError, RecordError
from consumer.scoring.inputs import Inputs
from consumer.scoring.schemas import (
    CHANNELS,
    DECISIONS,
    ENTRY_MODES,
    FRAUD_SCORE_SCHEMA,
    TRANSACTION_SCHEMA,
    parsed,
    schema_json,
)

__all__ = [
    "CHANNELS",
    "DECISIONS",
    "ENTRY_MODES",
    "FRAUD_SCORE_SCHEMA",
    "TRANSACTION_SCHEMA",
    "Codec",
    "PlainAvroCodec",
    "Record",
    "decode_avro",
    "encode_avro",
    "parsed",
    "schema_json",
]

Record = dict[str, Any]


class Codec(Protocol):
    """Turns input values into Transaction columns and scores into FraudScore values."""

    def decode_batch(self, values: list[bytes | None]) -> Inputs: ...

    def encode_scores(self, scores: ScoreColumns) -> list[bytes]: ...


def decode_avro(
    value: bytes, writer: Any, reader: Any = None, raw_writer: dict[str, Any] | None = None
) -> Record:
    """Schemaless-decode ``value`` with fastavro (any writer schema, resolved to
    ``reader``), strictly: the record must re-encode to exactly ``value`` with the
    writer's schema, which rejects what fastavro would accept by mistake (an enum or
    union index of -1 reads as the last symbol; integers padded with zero groups).
    ``raw_writer``, the writer schema as JSON, lets the error name the defect."""
    buf = io.BytesIO(value)
    try:
        record = schemaless_reader(buf, writer, None)
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
    except Exception as exc:  # untrusted bytes: any reader failure is this record's fault
        raise DecodeError("malformed", f"value is not valid Avro ({type(exc).__name__})") from None
    if not isinstance(record, dict):
        raise DecodeError("malformed", "value is not an Avro record")
    if buf.tell() != len(value):
        raise DecodeError("trailing_bytes", "bytes left over after the record")
    try:
        canonical = encode_avro(record, writer) == value
    except Exception:
        canonical = False
    if not canonical:
        reason, field = defect(value, raw_writer) if raw_writer else ("non_canonical", "value")
        raise decode_error(reason, field)
    if reader is None:
        return record
    try:
        resolved = schemaless_reader(io.BytesIO(value), writer, reader)
    except SchemaResolutionError:
        raise DecodeError(
            "schema_mismatch", "the writer's schema cannot be resolved to the Transaction schema"
        ) from None
    if not isinstance(resolved, dict):
        raise DecodeError("malformed", "value is not an Avro record")
    return resolved


def encode_avro(record: Any, schema: Any) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, schema, record)
    return buf.getvalue()


class PlainAvroCodec:
    """Plain Avro binary with the schemas in ``schemas/`` on both sides: the default."""

    def __init__(self) -> None:
        self._transaction = parsed(TRANSACTION_SCHEMA)
        self._score = parsed(FRAUD_SCORE_SCHEMA)

    def decode_batch(self, values: list[bytes | None]) -> Inputs:
        """Transactions of ``values`` as columns, strictly (see ``_avro``)."""
        batch = decode_plain(values)
        batch.failures = [(i, _framed_without_registry(values[i], e)) for i, e in batch.failures]
        return batch

    def encode_scores(self, scores: ScoreColumns) -> list[bytes]:
        return encode_score_columns(scores)

    def decode_transaction(self, value: bytes | None) -> Record:
        """One value as a Transaction record (tools and tests; the scorer decodes batches)."""
        batch = self.decode_batch([value])
        if batch.failures:
            raise batch.failures[0][1]
        return batch.columns.record(0)

    def encode_transaction(self, record: Record) -> bytes:
        return encode_avro(record, self._transaction)

    def decode_score(self, value: bytes) -> Record:
        return decode_avro(value, self._score, raw_writer=FRAUD_SCORE_SCHEMA)

    def encode_score(self, score: Record) -> bytes:
        return encode_avro(score, self._score)


def _framed_without_registry(value: bytes | None, error: RecordError) -> RecordError:
    # A leading 0 that is no plain Transaction (whose first byte would be the length of
    # an empty transaction_id) is the Schema Registry's magic byte.
    if value and value[0] == 0 and error.reason not in ("tombstone", "empty_value"):
        return DecodeError(
            "wire_format",
            "value starts with magic byte 0 (Schema Registry framing) "
            "but no schema registry is configured",
        )
    return error
