"""The scorer's two Kafka clients and the librdkafka callbacks that feed lag, readiness,
commit accounting and the client-error metric."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from consumer.kafka.topics import KAFKA_LOG
from consumer.ops.metrics import ScorerMetrics
from consumer.scoring.errors import ConfigError
from consumer.stream.commits import OffsetCommitter
from consumer.stream.lag import LagTracker
from consumer.stream.readiness import Readiness
from consumer.stream.settings import RunSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientHooks:
    metrics: ScorerMetrics
    lag: LagTracker
    readiness: Readiness
    committer: OffsetCommitter

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


def make_clients(settings: RunSettings, hooks: ClientHooks) -> tuple[Consumer, Producer]:
    try:
        consumer = Consumer(
            {
                **settings.consumer_config(),
                "stats_cb": hooks.on_stats,
                "error_cb": hooks.on_error,
                "on_commit": hooks.committer.on_commit,
                "logger": KAFKA_LOG,
            }
        )
        producer = Producer(
            {**settings.producer_config(), "error_cb": hooks.on_error, "logger": KAFKA_LOG}
        )
    except KafkaException as exc:
        raise ConfigError(f"bad Kafka client setting: {exc.args[0].str()}") from None
    return consumer, producer
