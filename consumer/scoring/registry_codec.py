"""Confluent Schema Registry wire format: magic byte 0, a 4-byte schema id, Avro binary.

Inputs are decoded with the writer's schema (fetched by id, cached) resolved to the
reader schema in ``schemas/`` (Avro schema resolution: added fields are skipped, missing
optional fields take their defaults). Scores are written with ``fraud_score.avsc``,
registered under ``<output-topic>-value``.

An id the registry does not know is the record's fault: a dead letter. A registry that
does not answer is nobody's record's fault: RegistryUnavailable, which the loop retries.
"""

from __future__ import annotations

import json
import logging
import struct
import time
from typing import Any, Protocol

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer.scoring.codec import (
    FRAUD_SCORE_SCHEMA,
    TRANSACTION_SCHEMA,
    Record,
    decode_avro,
    encode_avro,
    parsed,
)
from consumer.scoring.errors import DecodeError, FraudConsumerError

log = logging.getLogger(__name__)

MAGIC = 0
UNKNOWN_TTL = 60.0  # seconds an unknown schema id is not asked for again
_HEADER = struct.Struct(">bI")


class RegistryClient(Protocol):
    """What the codec needs of confluent-kafka's SchemaRegistryClient."""

    def register_schema(self, subject_name: str, schema: Schema) -> int: ...

    def get_schema(self, schema_id: int) -> Schema: ...


class RegistryUnavailable(FraudConsumerError):
    """The registry could not be asked (network, timeout, 5xx); retry later."""


def registry_client(url: str, extra: dict[str, Any] | None = None) -> SchemaRegistryClient:
    """A client for ``url`` (``mock://...`` gives confluent-kafka's in-memory registry)."""
    return SchemaRegistryClient.new_client({"url": url, **(extra or {})})


class RegistryCodec:
    def __init__(self, client: RegistryClient, output_subject: str) -> None:
        self._client = client
        self._reader = parsed(TRANSACTION_SCHEMA)
        self._writers: dict[int, Any] = {}
        self._unknown: dict[int, float] = {}  # id -> when the registry said 404
        self._score_schema = parsed(FRAUD_SCORE_SCHEMA)
        self._output_subject = output_subject
        self._score_id: int | None = None

    def register_output_schema(self) -> int:
        """Register (or find) the FraudScore schema under the output subject; at startup."""
        try:
            self._score_id = int(
                self._client.register_schema(
                    self._output_subject, Schema(json.dumps(FRAUD_SCORE_SCHEMA), "AVRO")
                )
            )
        except SchemaRegistryError as exc:
            status = f"{exc.http_status_code} {exc.error_message}"
            raise RegistryUnavailable(f"cannot register {self._output_subject}: {status}") from None
        except Exception as exc:
            raise RegistryUnavailable(f"schema registry unreachable: {exc}") from None
        return self._score_id

    def decode_transaction(self, value: bytes | None) -> Record:
        if value is None:
            raise DecodeError("tombstone", "record has no value (tombstone)")
        if len(value) < _HEADER.size or value[0] != MAGIC:
            raise DecodeError(
                "wire_format", "value lacks the Schema Registry framing (magic byte 0 + schema id)"
            )
        _, schema_id = _HEADER.unpack_from(value)
        return decode_avro(value[_HEADER.size :], self._writer(schema_id), self._reader)

    def _writer(self, schema_id: int) -> Any:
        writer = self._writers.get(schema_id)
        if writer is not None:
            return writer
        # Ask again after a while: the id may have been registered since.
        seen = self._unknown.get(schema_id)
        if seen is not None and time.monotonic() - seen < UNKNOWN_TTL:
            raise DecodeError("unknown_schema_id", f"schema id {schema_id} is not in the registry")
        try:
            schema = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                self._unknown[schema_id] = time.monotonic()
                raise DecodeError(
                    "unknown_schema_id", f"schema id {schema_id} is not in the registry"
                ) from None
            raise RegistryUnavailable(
                f"schema registry answered {exc.http_status_code} for schema id {schema_id}"
            ) from None
        except Exception as exc:  # transport errors of the HTTP client
            raise RegistryUnavailable(
                f"schema registry unreachable: {type(exc).__name__}"
            ) from None
        if schema.schema_type not in (None, "AVRO"):
            raise DecodeError("wrong_schema_type", f"schema id {schema_id} is not an Avro schema")
        try:
            writer = parsed(json.loads(schema.schema_str or ""))
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
        return decode_avro(value[_HEADER.size :], self._writer(schema_id), self._score_schema)
