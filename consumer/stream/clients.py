"""The scorer's two Kafka clients, and the parts the loop and the clients' librdkafka
callbacks share (metrics, offsets, lag, readiness, commits), built once from the settings."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from consumer.kafka.topics import KAFKA_LOG
from consumer.ops.metrics import ScorerMetrics
from consumer.ops.model_metrics import ModelMetrics
from consumer.scoring.errors import ConfigError
from consumer.stream.commits import OffsetCommitter
from consumer.stream.lag import LagTracker
from consumer.stream.offsets import OffsetTracker
from consumer.stream.readiness import Readiness
from consumer.stream.settings import RunSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScorerParts:
    metrics: ScorerMetrics
    model_metrics: ModelMetrics  # also the model lifecycle's events
    offsets: OffsetTracker
    lag: LagTracker
    readiness: Readiness
    committer: OffsetCommitter

    @classmethod
    def build(cls, settings: RunSettings, metrics: ScorerMetrics) -> ScorerParts:
        offsets = OffsetTracker()
        return cls(
            metrics=metrics,
            model_metrics=ModelMetrics(metrics.registry, metrics.model_info),
            offsets=offsets,
            lag=LagTracker(settings.input_topic, metrics),
            readiness=Readiness(
                metrics,
                broker_down_after=settings.readiness_broker_down_s,
                unassigned_after=settings.readiness_unassigned_s,
            ),
            committer=OffsetCommitter(offsets, metrics, settings.commit_interval_ms / 1000),
        )

    def on_stats(self, stats_json: str) -> None:
        """librdkafka ``stats_cb``: runs inside poll(), on the loop's thread."""
        try:
            stats = json.loads(stats_json)
        except ValueError:
            log.warning("unreadable librdkafka statistics")
            return
        self.lag.on_stats(stats)
        self.readiness.on_stats(stats)

    def on_error(self, err: KafkaError) -> None:
        """librdkafka ``error_cb``: client-level errors (connections, brokers down, auth).

        Mostly transient: librdkafka retries by itself. Counted by name (a fixed set);
        the log line goes through the repeated-line filter, so an outage costs a few lines.
        """
        self.metrics.kafka_client_errors.labels(error=err.name()).inc()
        self.readiness.broker_error(err.name())
        log.warning("Kafka client error %s: %s", err.name(), err.str())


def make_clients(settings: RunSettings, parts: ScorerParts) -> tuple[Consumer, Producer]:
    try:
        consumer = Consumer(
            {
                **settings.consumer_config(),
                "stats_cb": parts.on_stats,
                "error_cb": parts.on_error,
                "on_commit": parts.committer.on_commit,
                "logger": KAFKA_LOG,
            }
        )
        producer = Producer(
            {**settings.producer_config(), "error_cb": parts.on_error, "logger": KAFKA_LOG}
        )
    except KafkaException as exc:
        raise ConfigError(f"bad Kafka client setting: {exc.args[0].str()}") from None
    return consumer, producer
