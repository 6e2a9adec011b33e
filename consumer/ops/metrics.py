"""Prometheus metrics of the scorer, on its own registry.

Labels are bounded: decision, dead-letter stage and reason codes (a fixed set written by
this package), rebalance event, latency reference, librdkafka error names, and partition
(the one label that grows with the deployment). Never a card, account, merchant or transaction id.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from consumer.ops.bulk_histogram import BulkHistogram
from consumer.scoring.schemas import DECISIONS

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
INFERENCE_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
SCORE_BUCKETS = (*tuple(round(0.05 * i, 2) for i in range(1, 20)), 0.99, 1.0)


class ScorerMetrics:
    """Every metric the streaming scorer exposes. Pass a registry in tests."""

    def __init__(self, registry: CollectorRegistry | None = None, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        self.events_consumed = Counter(
            "fraud_events_consumed", "Input records consumed from Kafka.", registry=r
        )
        self.scores = Counter(
            "fraud_scores",
            "FraudScore records acknowledged by the broker, by decision.",
            ["decision"],
            registry=r,
        )
        self.dead_letters = Counter(
            "fraud_dead_letters",
            "Dead letters acknowledged by the broker, by pipeline stage and reason code.",
            ["stage", "reason"],
            registry=r,
        )
        self.batch_size = Histogram(
            "fraud_batch_size_records",
            "Records handed to the pipeline per call.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.inference_seconds = Histogram(
            "fraud_inference_seconds",
            "Model prediction time per batch (features in, scores out).",
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.pipeline_seconds = Histogram(
            "fraud_pipeline_seconds",
            "Decode, validate, features, predict and encode time per batch.",
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        # Observed a batch at a time (several values per record at tens of thousands of
        # records a second): see bulk_histogram.py.
        self.latency = BulkHistogram(
            "fraud_end_to_end_latency_seconds",
            "From the event's time to its score being acknowledged by the broker; "
            "reference=event_time uses the Transaction's event_time, reference=record_timestamp "
            "the input record's Kafka timestamp (broker append time under LogAppendTime).",
            LATENCY_BUCKETS,
            ["reference"],
            registry=r,
        )
        self.score = BulkHistogram(
            "fraud_score",
            "Distribution of model scores (0..1), for drift.",
            SCORE_BUCKETS,
            registry=r,
        )
        self.lag_messages = Gauge(
            "fraud_consumer_lag_messages",
            "Records between the high watermark and the scorer's position.",
            ["partition"],
            registry=r,
        )
        self.lag_seconds = Gauge(
            "fraud_consumer_lag_seconds",
            "Age of the newest consumed record of a partition that still has lag; 0 if caught up.",
            ["partition"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "fraud_assigned_partitions",
            "Input partitions currently assigned to this scorer.",
            registry=r,
        )
        self.commits = Counter("fraud_offset_commits", "Successful offset commits.", registry=r)
        self.commit_failures = Counter(
            "fraud_offset_commit_failures", "Failed offset commits.", registry=r
        )
        self.produce_errors = Counter(
            "fraud_produce_errors",
            "Produce calls or deliveries that failed, by kind.",
            ["kind"],
            registry=r,
        )
        self.rebalances = Counter(
            "fraud_rebalances",
            "Rebalance callbacks, by event (assign, revoke, lost).",
            ["event"],
            registry=r,
        )
        self.registry_errors = Counter(
            "fraud_schema_registry_errors",
            "Failed Schema Registry lookups (batch retried, never dead-lettered).",
            registry=r,
        )
        self.model_info = Gauge(
            "fraud_model_info", "The loaded model (value 1).", ["name", "version"], registry=r
        )
        self.in_flight = Gauge(
            "fraud_in_flight_records",
            "Records produced but not yet acknowledged by the broker.",
            registry=r,
        )
        self.last_poll = Gauge(
            "fraud_last_poll_timestamp_seconds",
            "Unix time of the loop's last poll of Kafka.",
            registry=r,
        )
        self.ready = Gauge(
            "fraud_ready",
            "1 when ready (as /readyz): model loaded, group joined, partitions held or a "
            "standby, and the brokers answering.",
            registry=r,
        )
        self.kafka_reachable = Gauge(
            "fraud_kafka_reachable",
            "0 while librdkafka reports every broker down, else 1.",
            registry=r,
        )
        self.kafka_client_errors = Counter(
            "fraud_kafka_client_errors",
            "Errors librdkafka reported to the client, by error name (a fixed set).",
            ["error"],
            registry=r,
        )
        for event in ("assign", "revoke", "lost"):
            self.rebalances.labels(event=event)
        for decision in DECISIONS:
            self.scores.labels(decision=decision)
        for reference in ("event_time", "record_timestamp"):
            self.latency.labels(reference)
        for kind in ("delivery", "queue_full", "rejected"):
            self.produce_errors.labels(kind=kind)
        for error in ("_TRANSPORT", "_ALL_BROKERS_DOWN"):
            self.kafka_client_errors.labels(error=error)
