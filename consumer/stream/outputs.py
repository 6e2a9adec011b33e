"""Producing the scorer's outputs and turning the broker's acknowledgements into offsets.

Each outcome goes to exactly one topic: a score to the output topic (key = input key),
a dead letter to the dead-letter topic (original key, value, headers and timestamp plus
the ``dlq.*`` headers). A batch's offsets become committable once every output of it is
acknowledged (acks=all); a delivery that fails after librdkafka's retries is fatal.

Acknowledgements are counted per batch: one small callback object per batch, and the
metrics of a batch (decisions, scores, latencies) recorded once, when its last output is
acknowledged, rather than per record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Producer

from consumer.kafka.messages import MessageBatch
from consumer.scoring.outcomes import Outcomes
from consumer.scoring.schemas import DECISIONS
from consumer.stream.clients import ScorerParts
from consumer.stream.offsets import PendingBatch, TopicPartitionKey
from consumer.stream.settings import RunSettings


class _BatchAck:
    """The delivery callback of every output of one batch."""

    __slots__ = ("batch", "pending", "result", "writer")

    def __init__(self, writer: OutputWriter, batch: MessageBatch, result: Outcomes) -> None:
        self.writer = writer
        self.batch = batch
        self.result = result
        self.pending: PendingBatch | None = None

    def delivered(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.writer.delivery_failed(err, msg)
            return  # never complete: nothing from this batch on is committed
        pending = self.pending
        if pending is not None:
            pending.remaining -= 1
            if pending.remaining == 0:
                self.writer.batch_acknowledged(self)


class OutputWriter:
    def __init__(
        self,
        producer: Producer,
        settings: RunSettings,
        parts: ScorerParts,
        *,
        fail: Callable[[str], None],
        stopping: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._producer = producer
        self._output_topic = settings.output_topic
        self._dlq_topic = settings.dlq_topic
        self._shadow_topic = settings.shadow_topic
        self._offsets = parts.offsets
        self._metrics = parts.metrics
        self._model_metrics = parts.model_metrics
        self._on_acknowledged = parts.readiness.broker_answered
        self._fail = fail  # records why the service must stop
        self._stopping = stopping  # true once stop() was asked or a failure was recorded
        self._clock = clock

    def produce(self, batch: MessageBatch, result: Outcomes) -> bool:
        """Hand a batch's outcomes to the producer; False if stopping left some unproduced
        (their batch then never completes, so none of its offsets is committed)."""
        n = len(batch)
        if n == 0:
            return True
        ack = _BatchAck(self, batch, result)
        ack.pending = self._offsets.produced(_spans(batch), n)
        self._metrics.in_flight.inc(n)
        on_delivery = ack.delivered
        keys = batch.keys
        topic = self._output_topic
        for value, i in zip(result.values, result.positions, strict=True):
            if not self._send(topic, value, keys[i], None, 0, on_delivery):
                return False
        for d in result.dead_letters:
            src = d.source
            if not self._send(
                self._dlq_topic, src.value, src.key, d.headers(), src.timestamp_ms or 0, on_delivery
            ):
                return False
        self._produce_shadow(result, keys)
        return True

    def _produce_shadow(self, result: Outcomes, keys: list[bytes | None]) -> None:
        """The shadow's scores, fire and forget: not waited for, not committed on;
        a shadow record that cannot be produced is counted and dropped, never fatal."""
        if self._shadow_topic is None or not result.shadow_values:
            return
        for value, i in zip(result.shadow_values, result.positions, strict=True):
            key = keys[i]
            try:
                self._producer.produce(
                    self._shadow_topic, value, key, on_delivery=self._shadow_delivered
                )
            except (BufferError, KafkaException):
                self._shadow_failed()

    def _shadow_delivered(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self._shadow_failed()

    def _shadow_failed(self) -> None:
        self._model_metrics.shadow_errors.labels(kind="produce").inc()

    def _send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Any,
        timestamp: int,
        on_delivery: Callable[[KafkaError | None, Any], None],
    ) -> bool:
        while True:
            try:
                if headers is None:
                    self._producer.produce(topic, value, key, on_delivery=on_delivery)
                else:
                    self._producer.produce(
                        topic,
                        value,
                        key,
                        headers=headers,
                        timestamp=timestamp,
                        on_delivery=on_delivery,
                    )
                return True
            except BufferError:
                # The producer queue is full: serve delivery reports until there is room.
                self._metrics.produce_errors.labels(kind="queue_full").inc()
                self._producer.poll(0.1)
                if self._stopping():
                    return False
            except KafkaException as exc:
                # Refused before it was sent (too large, unknown topic, fatal producer
                # state): retrying the same call cannot succeed, so stop without it.
                self._metrics.produce_errors.labels(kind="rejected").inc()
                self._fail(f"produce to {topic} refused: {exc.args[0].str()}")
                return False

    def delivery_failed(self, err: KafkaError, msg: Any) -> None:
        self._metrics.produce_errors.labels(kind="delivery").inc()
        self._fail(f"produce to {msg.topic()} failed after librdkafka's retries: {err}")

    def batch_acknowledged(self, ack: _BatchAck) -> None:
        result, batch = ack.result, ack.batch
        if ack.pending is not None:
            self._offsets.acknowledged(ack.pending)
        m = self._metrics
        m.in_flight.dec(len(batch))
        now = self._clock()
        counts = np.bincount(result.decision, minlength=len(DECISIONS))
        for decision, count in zip(DECISIONS, counts, strict=True):
            if count:
                m.scores.labels(decision=decision).inc(int(count))
        m.score.observe_many(result.score)
        m.latency.observe_many(np.maximum(0.0, now - result.event_time / 1000), "event_time")
        stamps = batch.timestamps[batch.timestamps > 0]
        m.latency.observe_many(np.maximum(0.0, now - stamps / 1000), "record_timestamp")
        for d in result.dead_letters:
            m.dead_letters.labels(stage=d.stage, reason=d.reason).inc()
        for index, model in enumerate(result.models):
            mine = result.decision[result.model_index == index]
            self._model_metrics.count_decisions(model.version, mine)
        self._on_acknowledged()


def _spans(batch: MessageBatch) -> dict[TopicPartitionKey, tuple[int, int]]:
    """Per input partition of a batch: its first offset and its last + 1."""
    spans: dict[TopicPartitionKey, tuple[int, int]] = {}
    partitions, offsets, topics = batch.partitions, batch.offsets, batch.topics
    for p in np.unique(partitions):
        at = np.flatnonzero(partitions == p)
        tp = (topics[int(at[0])], int(p))
        spans[tp] = (int(offsets[at].min()), int(offsets[at].max()) + 1)
    return spans
