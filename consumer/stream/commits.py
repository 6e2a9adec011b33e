"""Storing and committing input offsets, only up to what the broker has acknowledged.

The tracker says which offsets are safe (every output of them and of everything before
them in their partition acknowledged); this module hands them to librdkafka: stored for
its background auto-commit, and committed synchronously on revoke and at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from consumer.ops.metrics import ScorerMetrics
from consumer.stream.offsets import OffsetTracker, TopicPartitionKey

log = logging.getLogger(__name__)


class OffsetCommitter:
    def __init__(self, consumer: Consumer, offsets: OffsetTracker, metrics: ScorerMetrics) -> None:
        self._consumer = consumer
        self._offsets = offsets
        self._metrics = metrics

    def store(self) -> None:
        """Store the offsets that became committable since the last call."""
        moved = self._offsets.to_store()
        if not moved:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in moved.items()]
        try:
            self._consumer.store_offsets(offsets=offsets)
        except KafkaException as exc:
            # A partition revoked since: its new owner starts from the last commit.
            log.warning("could not store offsets: %s", exc)

    def commit(self, partitions: list[TopicPartitionKey] | None = None) -> None:
        """Synchronously commit the committable offsets of ``partitions`` (default: all)."""
        # Store first: librdkafka's auto-commit (and close()) commits the *stored*
        # offsets, and must never move a partition back behind this explicit commit.
        self.store()
        tps = self._offsets.partitions() if partitions is None else partitions
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._offsets.to_commit(tps).items()]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._metrics.commit_failures.inc()
            log.warning("offset commit failed: %s", exc)
            return
        self._metrics.commits.inc()
        self._offsets.committed({(o.topic, o.partition): o.offset for o in offsets})
        log.info("committed %s", ", ".join(f"{o.topic}[{o.partition}]={o.offset}" for o in offsets))


def commit_callback(
    metrics: ScorerMetrics,
) -> Callable[[KafkaError | None, list[TopicPartition]], None]:
    """librdkafka ``on_commit`` for the background auto-commits (and the one in close())."""

    def on_commit(err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if err is None:
            metrics.commits.inc()
        elif err.code() != KafkaError._NO_OFFSET:  # nothing new to commit is not a failure
            metrics.commit_failures.inc()
            log.warning("offset commit failed: %s", err)

    return on_commit
