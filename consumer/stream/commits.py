"""Committing input offsets, only up to what the broker has acknowledged.

The tracker says which offsets are safe (every output of them and of everything before
them in their partition acknowledged). They are committed asynchronously as soon as
they move, at most once per ``interval`` (``--commit-interval-ms``), and synchronously
on revoke and at shutdown. librdkafka's auto-commit is off: every commit is one of these,
so what a crash replays is bounded by the commit interval plus the acknowledgement
latency, not by a one-second auto-commit timer.

Load on the cluster: one OffsetCommit request per interval per scorer, and none while
no offset moved (an idle scorer commits nothing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from consumer.ops.metrics import ScorerMetrics
from consumer.stream.offsets import OffsetTracker, TopicPartitionKey

log = logging.getLogger(__name__)

Offsets = dict[TopicPartitionKey, int]


class OffsetCommitter:
    """Decides when to commit; the consumer is passed in, because librdkafka's on_commit
    callback (this object's) must exist before the consumer does."""

    def __init__(
        self,
        offsets: OffsetTracker,
        metrics: ScorerMetrics,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._offsets = offsets
        self._metrics = metrics
        self._interval = interval
        self._clock = clock
        self._last = 0.0

    def maybe_commit(self, consumer: Consumer, now_please: bool = False) -> None:
        """Commit asynchronously what became committable, if the interval has passed
        (``now_please``: at once, because the loop waits for room in its window)."""
        now = self._clock()
        if now - self._last < self._interval and not now_please:
            return
        offsets = self._offsets.to_commit()
        if not offsets:
            return
        self._last = now
        try:
            consumer.commit(offsets=_tps(offsets), asynchronous=True)
        except KafkaException as exc:  # not in the group right now: the next round retries
            self._metrics.commit_failures.inc()
            log.warning("offset commit failed: %s", exc.args[0].str())
            return
        # Marked at once so the next round does not send them again; a failure reported
        # by on_commit() offers them again.
        self._offsets.committed(offsets)

    def commit(self, consumer: Consumer, partitions: list[TopicPartitionKey] | None = None) -> None:
        """Synchronously commit the committable offsets of ``partitions`` (default: all)."""
        offsets = self._offsets.to_commit(partitions)
        if not offsets:
            return
        try:
            consumer.commit(offsets=_tps(offsets), asynchronous=False)
        except KafkaException as exc:
            self._metrics.commit_failures.inc()
            log.warning("offset commit failed: %s", exc.args[0].str())
            return
        self._offsets.committed(offsets)
        log.info("committed %s", ", ".join(f"{t}[{p}]={o}" for (t, p), o in offsets.items()))

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka ``on_commit``: the outcome of every commit request."""
        if err is None:
            failed = {(tp.topic, tp.partition): tp.offset for tp in partitions if tp.error}
            self._metrics.commits.inc()
        elif err.code() == KafkaError._NO_OFFSET:  # nothing new to commit is no failure
            return
        else:
            failed = {(tp.topic, tp.partition): tp.offset for tp in partitions}
        if failed:
            self._metrics.commit_failures.inc()
            self._offsets.commit_failed(failed)
            log.warning("offset commit failed: %s", err or "partition errors")


def _tps(offsets: Offsets) -> list[TopicPartition]:
    return [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
