"""Producing the scorer's outputs and turning the broker's acknowledgements into offsets.

Each outcome goes to exactly one topic: a score to the output topic (key = input key),
a dead letter to the dead-letter topic (original key, value, headers and timestamp plus
the ``dlq.*`` headers). An input offset becomes committable only once its output is
acknowledged (acks=all); a delivery that fails after librdkafka's retries is fatal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from consumer.ops.metrics import ScorerMetrics
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.pipeline import Outcome
from consumer.scoring.records import ScoredRecord
from consumer.stream.offsets import OffsetTracker, TopicPartitionKey


class OutputWriter:
    def __init__(
        self,
        producer: Producer,
        output_topic: str,
        dlq_topic: str,
        offsets: OffsetTracker,
        metrics: ScorerMetrics,
        *,
        fail: Callable[[str], None],
        stopping: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._producer = producer
        self._output_topic = output_topic
        self._dlq_topic = dlq_topic
        self._offsets = offsets
        self._metrics = metrics
        self._fail = fail  # records why the service must stop
        self._stopping = stopping  # true once stop() was asked or a failure was recorded
        self._clock = clock

    def produce(self, outcome: Outcome) -> bool:
        """Hand one outcome to the producer; False if stopping left it unproduced."""
        src = outcome.source
        tp = (src.topic, src.partition)
        on_delivery = partial(self._delivered, tp, src.offset, outcome)
        while True:
            try:
                if isinstance(outcome, ScoredRecord):
                    self._producer.produce(
                        self._output_topic,
                        key=src.key,
                        value=outcome.value,
                        on_delivery=on_delivery,
                    )
                else:
                    self._producer.produce(
                        self._dlq_topic,
                        key=src.key,
                        value=src.value,
                        headers=outcome.headers(),
                        timestamp=src.timestamp_ms or 0,
                        on_delivery=on_delivery,
                    )
            except BufferError:
                # The producer queue is full: serve delivery reports until there is room.
                self._metrics.produce_errors.labels(kind="queue_full").inc()
                self._producer.poll(0.1)
                if self._stopping():
                    return False
                continue
            except KafkaException as exc:
                # Refused before it was sent (too large, unknown topic, fatal producer
                # state): retrying the same call cannot succeed, so stop without it.
                self._metrics.produce_errors.labels(kind="rejected").inc()
                self._fail(f"produce for {src.position} refused: {exc.args[0].str()}")
                return False
            self._offsets.produced(tp, src.offset)
            self._metrics.in_flight.inc()
            return True

    def _delivered(
        self,
        tp: TopicPartitionKey,
        offset: int,
        outcome: Outcome,
        err: KafkaError | None,
        _msg: Any,
    ) -> None:
        self._metrics.in_flight.dec()
        if err is not None:
            self._metrics.produce_errors.labels(kind="delivery").inc()
            target = self._output_topic if isinstance(outcome, ScoredRecord) else self._dlq_topic
            self._fail(f"produce to {target} for {outcome.source.position} failed: {err}")
            return
        self._offsets.acknowledged(tp, offset)
        now = self._clock()
        if isinstance(outcome, ScoredRecord):
            self._metrics.scores.labels(decision=outcome.decision).inc()
            self._metrics.score.observe(outcome.score)
            self._metrics.latency.labels(reference="event_time").observe(
                max(0.0, now - outcome.event_time_ms / 1000)
            )
        elif isinstance(outcome, DeadLetter):
            self._metrics.dead_letters.labels(stage=outcome.stage, reason=outcome.reason).inc()
        if outcome.source.timestamp_ms:
            self._metrics.latency.labels(reference="record_timestamp").observe(
                max(0.0, now - outcome.source.timestamp_ms / 1000)
            )
