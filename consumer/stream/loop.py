"""The streaming loop: all Kafka I/O of the scorer.

consume (1 | N | whatever is buffered) -> ScoringPipeline -> produce scores and dead
letters -> commit offsets once the broker has acknowledged their outputs.

At-least-once: an offset is committed only when the outputs of it and of every earlier
offset of its partition are acknowledged (acks=all). A delivery that fails
after librdkafka's retries stops the loop with a non-zero exit, committing nothing past
it. On revoke it flushes and commits what is in hand; on stop() it finishes the batch in
hand, flushes, commits and leaves the group.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from consumer.kafka.messages import MessageBatch
from consumer.ops.metrics import ScorerMetrics
from consumer.ops.model_lifecycle import ModelLifecycle
from consumer.scoring.pipeline import PipelineResult, ScoringPipeline
from consumer.scoring.registry_codec import RegistryUnavailable
from consumer.stream.commits import OffsetCommitter
from consumer.stream.lag import LagTracker
from consumer.stream.offsets import OffsetTracker, TopicPartitionKey
from consumer.stream.outputs import OutputWriter
from consumer.stream.readiness import Readiness

log = logging.getLogger(__name__)

MODES = ("single", "batch", "adaptive")
EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True)
class LoopSettings:
    input_topic: str
    output_topic: str
    dlq_topic: str
    mode: str = "adaptive"
    max_batch: int = 500
    max_wait_ms: int = 50
    # Records produced but not committed, at most: what a crash can replay.
    max_in_flight: int = 1000
    exit_when_idle: float | None = None
    poll_timeout: float = 0.1
    flush_timeout: float = 30.0
    shadow_topic: str | None = None


class ScoringLoop:
    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        pipeline: ScoringPipeline,
        settings: LoopSettings,
        metrics: ScorerMetrics,
        *,
        lag: LagTracker | None = None,
        readiness: Readiness | None = None,
        offsets: OffsetTracker | None = None,
        committer: OffsetCommitter | None = None,
        lifecycle: ModelLifecycle | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._consumer = consumer
        self._producer = producer
        self._pipeline = pipeline
        self._s = settings
        self._metrics = metrics
        self._lag = lag or LagTracker(settings.input_topic, metrics)
        self.readiness = readiness or Readiness(metrics)
        self._clock = clock
        self._offsets = offsets or OffsetTracker()
        self._stop = threading.Event()
        self._fatal: str | None = None
        self._outputs = OutputWriter(
            producer,
            settings.output_topic,
            settings.dlq_topic,
            self._offsets,
            metrics,
            fail=self._fail,
            stopping=self._stopping,
            on_acknowledged=self.readiness.broker_answered,
            clock=clock,
            shadow_topic=settings.shadow_topic,
            model_metrics=lifecycle.model_metrics if lifecycle is not None else None,
        )
        self._committer = committer or OffsetCommitter(self._offsets, metrics)
        self._lifecycle = lifecycle
        # The assignment, and for each partition whether it was last read to its end.
        self._at_eof: dict[TopicPartitionKey, bool] = {}
        self._joined = False
        self._consumed = 0
        self._last_activity = time.monotonic()
        self.heartbeat = time.monotonic()  # read by /healthz

    # -- public -----------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and shut down (signal-safe)."""
        self._stop.set()

    def run(self) -> int:
        self._consumer.subscribe(
            [self._s.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("subscribed to %s in mode %s", self._s.input_topic, self._s.mode)
        if self._lifecycle is not None:
            self._lifecycle.start()
        while not self._stop.is_set() and self._fatal is None:
            self.heartbeat = time.monotonic()
            self._metrics.last_poll.set(self._clock())
            self._wait_for_room()
            if self._lifecycle is not None:
                self._lifecycle.between_batches()  # a reloaded model serves from here on
            batch = self._fetch()
            if batch is not None:
                self._last_activity = time.monotonic()
                self.readiness.broker_answered()
                self._handle(batch)
            self._producer.poll(0)
            self._committer.maybe_commit(self._consumer)
            if self._idle():
                log.info(
                    "idle for %.1fs at the end of every assigned partition; exiting",
                    self._s.exit_when_idle,
                )
                break
        return self._shutdown()

    def _wait_for_room(self) -> None:
        """Fetch a batch only when committing it would keep the window: records produced
        but not committed stay under ``max_in_flight``, so a crash replays at most that.
        Waiting serves delivery reports and commits at once; it ends when they let it, or
        on stop. A broker that stops acknowledging fails the deliveries in the end."""
        room = max(0, self._s.max_in_flight - self._s.max_batch)
        while self._offsets.uncommitted() > room and not self._stopping():
            self._producer.poll(0.005)
            self._committer.maybe_commit(self._consumer, now_please=True)
            self.heartbeat = time.monotonic()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._fatal is not None

    # -- fetching ---------------------------------------------------------------
    def _fetch(self) -> MessageBatch | None:
        if self._s.mode == "single":
            msg = self._consumer.poll(self._s.poll_timeout)
            msgs = [] if msg is None else [msg]
        elif self._s.mode == "batch":
            msgs = self._consumer.consume(self._s.max_batch, self._s.max_wait_ms / 1000)
        else:  # adaptive: block for the first record only, then take what is buffered
            first = self._consumer.poll(self._s.poll_timeout)
            msgs = [] if first is None else [first]
            if first is not None and self._s.max_batch > 1:
                msgs += self._consumer.consume(self._s.max_batch - 1, 0)
        kept = []
        at_eof = self._at_eof
        for msg in msgs:
            err = msg.error()
            if err is not None:
                self._on_consume_error(msg, err)  # an end of partition marks it True
                continue
            tp = (msg.topic(), msg.partition())
            if tp in at_eof:
                at_eof[tp] = False
                kept.append(msg)
            # else: fetched before a revoke that ran inside this very consume call: the
            # new owner scores it from its own position; committing it here could move
            # that owner's offset.
        if not kept:
            return None
        batch = MessageBatch(kept)
        for p in np.unique(batch.partitions):
            self._lag.consumed(int(p), int(batch.timestamps[batch.partitions == p].max()))
        return batch

    def _on_consume_error(self, msg: Message, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            key = (str(msg.topic()), int(msg.partition() or 0))
            if key in self._at_eof:
                self._at_eof[key] = True
            return
        if err.fatal():
            self._fail(f"fatal consumer error: {err}")
            return
        log.warning("consumer error: %s", err)

    # -- processing -------------------------------------------------------------
    def _handle(self, batch: MessageBatch) -> None:
        self._consumed += len(batch)
        self._metrics.events_consumed.inc(len(batch))
        self._metrics.batch_size.observe(len(batch))
        started = time.perf_counter()
        result = self._process(batch)
        if result is None:
            return  # stopping while a dependency is down: nothing produced, nothing stored
        self._metrics.pipeline_seconds.observe(time.perf_counter() - started)
        if self._lifecycle is not None:
            self._lifecycle.observe(result.shadow, result.decision, result.shadow_error)
        if result.inference_seconds:
            self._metrics.inference_seconds.observe(result.inference_seconds)
        # False when shutting down under backpressure: the rest of the batch is not
        # produced, so its offsets are never committed and will be redelivered.
        self._outputs.produce(result)

    def _process(self, records: MessageBatch) -> PipelineResult | None:
        """Run the pipeline, retrying while the schema registry cannot be reached.

        Transient failures are nobody's record's fault, so they are retried (with backoff,
        interruptible by stop()) and never dead-lettered.
        """
        backoff = 0.5
        while True:
            try:
                return self._pipeline.process(records)
            except RegistryUnavailable as exc:
                self._metrics.registry_errors.inc()
                log.warning("%s; retrying the batch in %.1fs", exc, backoff)
                self.heartbeat = time.monotonic()  # waiting on purpose, not stuck
                if self._stop.wait(backoff):
                    return None
                backoff = min(backoff * 2, 10.0)

    def _fail(self, reason: str) -> None:
        if self._fatal is None:
            log.error("stopping: %s", reason)
            self._fatal = reason

    def _commit(self, partitions: list[TopicPartitionKey] | None = None) -> None:
        self._producer.poll(0)  # serve delivery reports first: they make offsets committable
        self._committer.commit(self._consumer, partitions)

    def _flush(self) -> None:
        remaining = self._producer.flush(self._s.flush_timeout)
        if remaining:
            log.warning(
                "%d outputs still unacknowledged after %.0fs; their offsets stay uncommitted",
                remaining,
                self._s.flush_timeout,
            )

    # -- group membership -------------------------------------------------------
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels(event="assign").inc()
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._at_eof[key] = False
            self._offsets.assign(key)
        self._lag.assigned([tp.partition for tp in partitions])
        self._joined = True
        self._last_activity = time.monotonic()
        self._metrics.assigned_partitions.set(len(self._at_eof))
        self.readiness.assigned(len(self._at_eof))
        log.info("assigned %s", _names(partitions) or "nothing")

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels(event="revoke").inc()
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._flush()
        self._commit(keys)
        self._release(keys)
        log.info("revoked %s", _names(partitions))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own these already: committing now could move its offsets.
        self._metrics.rebalances.labels(event="lost").inc()
        self._release([(tp.topic, tp.partition) for tp in partitions])
        log.warning("lost %s; uncommitted records will be redelivered", _names(partitions))

    def _release(self, keys: list[TopicPartitionKey]) -> None:
        self._lag.released([p for _, p in keys])
        for key in keys:
            self._at_eof.pop(key, None)
            self._offsets.release(key)
        self._last_activity = time.monotonic()
        self._metrics.assigned_partitions.set(len(self._at_eof))
        self.readiness.assigned(len(self._at_eof))

    def _idle(self) -> bool:
        if self._s.exit_when_idle is None or not self._joined:
            return False
        if not all(self._at_eof.values()):
            return False
        return time.monotonic() - self._last_activity >= self._s.exit_when_idle

    # -- shutdown ---------------------------------------------------------------
    def _shutdown(self) -> int:
        log.info("shutting down: flushing outputs and committing offsets")
        if self._lifecycle is not None:
            self._lifecycle.stop()
        self._flush()
        self._commit()
        with contextlib.suppress(RuntimeError):  # already closed
            self._consumer.close()  # leaves the group, so partitions move at once
        if self._fatal is not None:
            log.error("stopped after an unrecoverable error: %s", self._fatal)
            return EXIT_FAILED
        log.info("stopped cleanly after consuming %d records", self._consumed)
        return EXIT_OK


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
