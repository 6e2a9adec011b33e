"""Confluent Schema Registry wire format: magic byte 0, a 4-byte schema id, Avro binary.

Inputs are decoded with the writer's schema (fetched by id, cached) resolved to the
reader schema in ``schemas/`` (Avro schema resolution: added fields are skipped, missing
optional fields take their defaults). Scores are written with ``fraud_score.avsc``,
registered under ``<output-topic>-value``.

An id the registry does not know is the record's fault: a dead letter. A registry that
does not answer is nobody's record's fault: RegistryUnavailable, which the loop retries.
The registry itself is reached through ``SchemaRegistry`` (its HTTP client lives with the
Kafka code: ``consumer/kafka/schema_registry.py``).
"""

from __future__ import annotations

import json
import logging
import struct
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from fastavro.schema import to_parsing_canonical_form

from consumer.scoring.avro_batch import ScoreColumns, decode_plain, encode_score_columns
from consumer.scoring.codec import (
    FRAUD_SCORE_SCHEMA,
    TRANSACTION_SCHEMA,
    Record,
    decode_avro,
    encode_avro,
    parsed,
)
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.errors import DecodeError, FraudConsumerError, RecordError
from consumer.scoring.inputs import Inputs

log = logging.getLogger(__name__)

MAGIC = 0
UNKNOWN_TTL = 60.0  # seconds an unknown schema id is not asked for again
_HEADER = struct.Struct(">bI")


class RegistryUnavailable(FraudConsumerError):
    """The registry could not be asked (network, timeout, 5xx); retry later."""


@dataclass(frozen=True)
class RegisteredSchema:
    schema_type: str | None  # None or "AVRO" for Avro
    text: str


class SchemaRegistry(Protocol):
    """What the codec needs of a Schema Registry. Both raise RegistryUnavailable when it
    cannot be asked."""

    def register(self, subject: str, avro_schema: str) -> int:
        """The id of ``avro_schema`` under ``subject``, registering it if new."""
        ...

    def lookup(self, schema_id: int) -> RegisteredSchema | None:
        """The schema with that id; None if the registry does not know it."""
        ...


_OURS = to_parsing_canonical_form(TRANSACTION_SCHEMA)


@dataclass(frozen=True)
class _Writer:
    parsed: Any
    raw: dict[str, Any]
    ours: bool  # the writer's schema is the Transaction schema itself: the fast path


class RegistryCodec:
    def __init__(self, client: SchemaRegistry, output_subject: str) -> None:
        self._client = client
        self._reader = parsed(TRANSACTION_SCHEMA)
        self._writers: dict[int, _Writer] = {}
        self._unknown: dict[int, float] = {}  # id -> when the registry said 404
        self._score_schema = parsed(FRAUD_SCORE_SCHEMA)
        self._output_subject = output_subject
        self._score_id: int | None = None

    def register_output_schema(self) -> int:
        """Register (or find) the FraudScore schema under the output subject; at startup."""
        self._score_id = self._client.register(self._output_subject, json.dumps(FRAUD_SCORE_SCHEMA))
        return self._score_id

    def decode_batch(self, values: list[bytes | None]) -> Inputs:
        """Values written with our schema go through the strict native decoder; values of
        other writer schemas through fastavro with schema resolution, checked canonical.
        RegistryUnavailable (nobody's record's fault) propagates: the loop retries."""
        failures: list[tuple[int, RecordError]] = []
        fast: list[int] = []
        slow: list[tuple[int, Record]] = []
        for i, value in enumerate(values):
            try:
                writer, payload = self._framed(value)
                if writer.ours:
                    fast.append(i)
                else:
                    slow.append((i, decode_avro(payload, writer.parsed, self._reader, writer.raw)))
            except DecodeError as exc:
                failures.append((i, exc))
        decoded = decode_plain([values[i] for i in fast], skip=_HEADER.size)
        failures += [(fast[j], exc) for j, exc in decoded.failures]
        rows = [fast[j] for j in decoded.positions]
        parts = [decoded.columns]
        if slow:
            good: list[tuple[int, Record]] = []
            for i, record in slow:
                try:
                    TransactionColumns.from_records([record])
                except (KeyError, ValueError, TypeError, OverflowError):
                    failures.append(
                        (i, DecodeError("schema_mismatch", "resolved record is incomplete"))
                    )
                else:
                    good.append((i, record))
            parts.append(TransactionColumns.from_records([r for _, r in good]))
            rows += [i for i, _ in good]
        columns = TransactionColumns.concat(parts)
        order = np.argsort(np.asarray(rows, np.int64), kind="stable")
        failures.sort(key=lambda f: f[0])
        positions = np.asarray(rows, np.int64)[order]
        return Inputs(columns.take(order), positions, failures, len(values))

    def encode_scores(self, scores: ScoreColumns) -> list[bytes]:
        if self._score_id is None:
            self.register_output_schema()
        return encode_score_columns(scores, _HEADER.pack(MAGIC, int(self._score_id or 0)))

    def _framed(self, value: bytes | None) -> tuple[_Writer, bytes]:
        """The writer schema of a framed value, and its Avro payload."""
        if value is None:
            raise DecodeError("tombstone", "record has no value (tombstone)")
        if len(value) < _HEADER.size or value[0] != MAGIC:
            raise DecodeError(
                "wire_format", "value lacks the Schema Registry framing (magic byte 0 + schema id)"
            )
        _, schema_id = _HEADER.unpack_from(value)
        return self._writer(schema_id), value[_HEADER.size :]

    def decode_transaction(self, value: bytes | None) -> Record:
        """One framed value as a Transaction record (tests, tools)."""
        batch = self.decode_batch([value])
        if batch.failures:
            raise batch.failures[0][1]
        return batch.columns.record(0)

    def _writer(self, schema_id: int) -> _Writer:
        writer = self._writers.get(schema_id)
        if writer is not None:
            return writer
        # Ask again after a while: the id may have been registered since.
        seen = self._unknown.get(schema_id)
        if seen is not None and time.monotonic() - seen < UNKNOWN_TTL:
            raise DecodeError("unknown_schema_id", f"schema id {schema_id} is not in the registry")
        schema = self._client.lookup(schema_id)
        if schema is None:
            self._unknown[schema_id] = time.monotonic()
            raise DecodeError("unknown_schema_id", f"schema id {schema_id} is not in the registry")
        if schema.schema_type not in (None, "AVRO"):
            raise DecodeError("wrong_schema_type", f"schema id {schema_id} is not an Avro schema")
        try:
            raw = json.loads(schema.text)
            writer = _Writer(parsed(raw), raw, to_parsing_canonical_form(raw) == _OURS)
        except Exception:
            raise DecodeError(
                "bad_writer_schema", f"schema id {schema_id} does not parse"
            ) from None
        self._writers[schema_id] = writer
        log.info("writer schema %d cached", schema_id)
        return writer

    def encode_score(self, score: Record) -> bytes:
        if self._score_id is None:
            self.register_output_schema()
        return _HEADER.pack(MAGIC, int(self._score_id or 0)) + encode_avro(
            score, self._score_schema
        )

    def decode_score(self, value: bytes) -> Record:
        """Decode a framed FraudScore (downstream's view; used by tests and the demo)."""
        _, schema_id = _HEADER.unpack_from(value)
        writer = self._writer(schema_id)
        return decode_avro(value[_HEADER.size :], writer.parsed, self._score_schema, writer.raw)
