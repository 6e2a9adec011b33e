"""Schema Registry wire format and schema evolution, with confluent-kafka's mock:// registry."""

from __future__ import annotations

import copy
import json
import struct
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from consumer.devtools.broker import free_port
from consumer.kafka.schema_registry import ConfluentSchemaRegistry
from consumer.scoring.codec import TRANSACTION_SCHEMA, Record, encode_avro, parsed
from consumer.scoring.errors import DecodeError
from consumer.scoring.models import FraudModel, Models
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from consumer.scoring.registry_codec import RegistryCodec, RegistryUnavailable
from consumer.training.generator import LabelledTransaction


def _schema_with(change: str) -> dict[str, Any]:
    schema = copy.deepcopy(TRANSACTION_SCHEMA)
    if change == "added_optional":
        schema["fields"].append(
            {"name": "loyalty_tier", "type": ["null", "string"], "default": None}
        )
    elif change == "removed_optional":
        schema["fields"] = [f for f in schema["fields"] if f["name"] != "device_id"]
    elif change == "removed_required":
        schema["fields"] = [f for f in schema["fields"] if f["name"] != "currency"]
    return schema


def _framed(client: SchemaRegistryClient, schema: dict[str, Any], record: Record) -> bytes:
    schema_id = client.register_schema(
        "payments.transactions-value", Schema(json.dumps(schema), "AVRO")
    )
    return struct.pack(">bI", 0, schema_id) + encode_avro(record, parsed(schema))


@pytest.fixture
def client() -> SchemaRegistryClient:
    client: SchemaRegistryClient = ConfluentSchemaRegistry.connect("mock://tests").client
    return client


@pytest.fixture
def codec(client: SchemaRegistryClient) -> RegistryCodec:
    return RegistryCodec(ConfluentSchemaRegistry(client), "payments.fraud-scores-value")


def test_same_schema_round_trips(
    client: SchemaRegistryClient, codec: RegistryCodec, events: list[LabelledTransaction]
) -> None:
    tx = events[0].record
    assert codec.decode_transaction(_framed(client, TRANSACTION_SCHEMA, tx)) == tx


def test_writer_with_an_added_optional_field_is_read(
    client: SchemaRegistryClient, codec: RegistryCodec, events: list[LabelledTransaction]
) -> None:
    tx = events[1].record
    value = _framed(client, _schema_with("added_optional"), {**tx, "loyalty_tier": "gold"})
    assert codec.decode_transaction(value) == tx  # the new field is skipped


def test_writer_without_an_optional_field_gets_its_default(
    client: SchemaRegistryClient, codec: RegistryCodec, events: list[LabelledTransaction]
) -> None:
    tx = {**events[2].record, "device_id": "dev_1"}
    writer_record = {k: v for k, v in tx.items() if k != "device_id"}
    decoded = codec.decode_transaction(
        _framed(client, _schema_with("removed_optional"), writer_record)
    )
    assert decoded == {**tx, "device_id": None}


def test_writer_without_a_required_field_is_a_dead_letter(
    client: SchemaRegistryClient, codec: RegistryCodec, events: list[LabelledTransaction]
) -> None:
    tx = {k: v for k, v in events[3].record.items() if k != "currency"}
    with pytest.raises(DecodeError) as info:
        codec.decode_transaction(_framed(client, _schema_with("removed_required"), tx))
    assert info.value.reason == "schema_mismatch"


def test_unknown_schema_id_is_a_dead_letter(
    codec: RegistryCodec, events: list[LabelledTransaction]
) -> None:
    value = struct.pack(">bI", 0, 4242) + encode_avro(events[0].record, parsed(TRANSACTION_SCHEMA))
    with pytest.raises(DecodeError) as info:
        codec.decode_transaction(value)
    assert info.value.reason == "unknown_schema_id"


@pytest.mark.parametrize("value", [b"\x02abc", b"\x00\x00", b"\x01\x00\x00\x00\x01xx"])
def test_values_without_the_framing_are_dead_letters(codec: RegistryCodec, value: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode_transaction(value)
    assert info.value.reason == "wire_format"


def test_scores_are_written_framed_with_the_registered_schema(
    client: SchemaRegistryClient, codec: RegistryCodec
) -> None:
    schema_id = codec.register_output_schema()
    assert client.get_latest_version("payments.fraud-scores-value").schema_id == schema_id
    score = {
        "transaction_id": "t",
        "score": 0.5,
        "decision": "REVIEW",
        "reason_codes": [],
        "model_name": "m",
        "model_version": "1",
        "event_time": 1,
        "scored_at": 2,
        "source_topic": "in",
        "source_partition": 0,
        "source_offset": 9,
    }
    value = codec.encode_score(score)
    assert value[0] == 0 and struct.unpack(">I", value[1:5])[0] == schema_id
    assert codec.decode_score(value) == score


def test_an_unreachable_registry_is_transient_not_a_dead_letter(
    model: FraudModel, events: list[LabelledTransaction]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    down = ConfluentSchemaRegistry.connect(url, {"timeout": 2, "max.retries": 0})
    codec = RegistryCodec(down, "out-value")
    value = struct.pack(">bI", 0, 1) + encode_avro(events[0].record, parsed(TRANSACTION_SCHEMA))
    with pytest.raises(RegistryUnavailable):
        codec.decode_transaction(value)
    pipeline = ScoringPipeline(codec, Models(model))
    with pytest.raises(RegistryUnavailable):  # the whole batch waits; nothing is dead-lettered
        pipeline.process([RawRecord("in", 0, 0, b"k", value)])
