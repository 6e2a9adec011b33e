"""The scorer with the Schema Registry wire format, on a real broker, in-process.

confluent-kafka's mock:// registry lives in one process, so the scorer runs here as a
ScoringLoop (the same object `fraud-consumer run` builds) rather than as a subprocess.
"""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from consumer.cli import build_parser
from consumer.kafka.schema_registry import ConfluentSchemaRegistry
from consumer.kafka.topics import read_all
from consumer.ops.metrics import ScorerMetrics
from consumer.scoring.codec import TRANSACTION_SCHEMA, encode_avro, parsed
from consumer.scoring.registry_codec import RegisteredSchema, RegistryCodec, RegistryUnavailable
from consumer.stream.service import build_scorer
from consumer.stream.settings import RunSettings
from consumer.training.generator import TransactionGenerator
from tests.integration.helpers import TEST_ENV, Item, new_group, produce, run_args

pytestmark = pytest.mark.integration


class FlakyRegistry:
    """confluent-kafka's mock registry, unreachable for its first ``failures`` lookups."""

    def __init__(self, failures: int) -> None:
        self.inner = ConfluentSchemaRegistry.connect("mock://flaky")
        self.client = self.inner.client
        self.failures = failures

    def register(self, subject: str, avro_schema: str) -> int:
        return self.inner.register(subject, avro_schema)

    def lookup(self, schema_id: int) -> RegisteredSchema | None:
        if self.failures > 0:
            self.failures -= 1
            raise RegistryUnavailable("registry down")
        return self.inner.lookup(schema_id)


def _settings(bootstrap: str, topics: tuple[str, str, str]) -> RunSettings:
    argv = [
        *run_args(bootstrap, topics, new_group()),
        "--exit-when-idle",
        "2",
        "--metrics-port",
        "0",
        "--schema-registry-url",
        "mock://unused",
    ]
    return RunSettings.from_args(build_parser().parse_args(argv), TEST_ENV)


def _framed_items(client: SchemaRegistryClient, n: int, unknown_every: int = 0) -> list[Item]:
    evolved = copy.deepcopy(TRANSACTION_SCHEMA)
    evolved["fields"].append({"name": "loyalty_tier", "type": ["null", "string"], "default": None})
    schema_id = client.register_schema("in-value", Schema(json.dumps(evolved), "AVRO"))
    writer = parsed(evolved)
    items: list[Item] = []
    for i, e in enumerate(TransactionGenerator(3).take(n)):
        sid = 999 if unknown_every and i % unknown_every == 0 else schema_id
        value = struct.pack(">bI", 0, sid) + encode_avro({**e.record, "loyalty_tier": None}, writer)
        items.append((e.record["card_id"].encode(), value, []))
    return items


def test_framed_events_are_scored_and_unknown_ids_dead_lettered(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]]
) -> None:
    names = topics(2)
    registry = ConfluentSchemaRegistry.connect("mock://it")
    produce(bootstrap, names[0], _framed_items(registry.client, 200, unknown_every=10))
    codec = RegistryCodec(registry, f"{names[1]}-value")
    loop, _ = build_scorer(_settings(bootstrap, names), codec=codec)
    assert loop.run() == 0

    scores = [codec.decode_score(m.value()) for m in read_all(bootstrap, names[1])]
    assert len(scores) == 180
    dead = read_all(bootstrap, names[2])
    assert len(dead) == 20
    assert all(dict(m.headers())["dlq.error.reason"] == b"unknown_schema_id" for m in dead)


def test_registry_outage_is_retried_never_dead_lettered(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]]
) -> None:
    names = topics(1)
    client = FlakyRegistry(failures=3)
    produce(bootstrap, names[0], _framed_items(client.client, 50))
    metrics = ScorerMetrics(process=False)
    loop, _ = build_scorer(
        _settings(bootstrap, names), codec=RegistryCodec(client, "o-value"), metrics=metrics
    )
    assert loop.run() == 0
    assert len(read_all(bootstrap, names[1])) == 50
    assert read_all(bootstrap, names[2]) == []
    assert metrics.registry.get_sample_value("fraud_schema_registry_errors_total") == 3
