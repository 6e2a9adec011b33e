"""The streaming loop: all Kafka I/O of the scorer.

consume (1 | N | whatever is buffered) -> ScoringPipeline -> produce scores and dead
letters -> commit offsets once the broker has acknowledged their outputs.

At-least-once: an offset is committed only when the outputs of it and of every earlier
offset of its partition are acknowledged (acks=all). A delivery that fails
after librdkafka's retries stops the loop with a non-zero exit, committing nothing past
it. On revoke it flushes and commits what is in hand; on stop() it finishes the batch in
hand, flushes, commits and leaves the group. While it waits for acknowledgements (the
in-flight window is full) it pauses its partitions and keeps polling, so the group does
not take a slow broker for a dead member.

Group membership works with either rebalance protocol (README "Rebalances and
membership"): eager (``range``/``roundrobin``: every rebalance revokes everything, then
assigns anew) and
cooperative (``cooperative-sticky``, the default: the callbacks get only the partitions
that move, the rest are scored through the rebalance). The callbacks below therefore
treat their partitions as a change to the assignment, never as all of it; confluent-kafka
then calls ``assign``/``unassign`` or their ``incremental_`` forms to match the protocol.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import numpy as np
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from consumer.kafka.messages import MessageBatch
from consumer.scoring.models.lifecycle import ModelLifecycle
from consumer.scoring.outcomes import Outcomes
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.registry_codec import RegistryUnavailable
from consumer.stream.clients import ScorerParts
from consumer.stream.offsets import TopicPartitionKey
from consumer.stream.outputs import OutputWriter
from consumer.stream.settings import RunSettings

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
POLL_TIMEOUT = 0.1  # seconds a poll blocks for the first record of a batch


class ScoringLoop:
    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        pipeline: ScoringPipeline,
        settings: RunSettings,
        parts: ScorerParts,
        lifecycle: ModelLifecycle | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._pipeline = pipeline
        self._s = settings
        self._metrics = parts.metrics
        self._lag = parts.lag
        self.readiness = parts.readiness
        self._clock = clock
        self._offsets = parts.offsets
        self._stop = threading.Event()
        self._fatal: str | None = None
        self._outputs = OutputWriter(
            producer, settings, parts, fail=self._fail, stopping=self._stopping, clock=clock
        )
        self._committer = parts.committer
        self._lifecycle = lifecycle
        self._held: list[Message] = []  # polled while paused: scored first after the wait
        self._paused = False
        # The assignment, and for each partition whether it was last read to its end.
        self._at_eof: dict[TopicPartitionKey, bool] = {}
        self._joined = False
        self._empty_handed_grace = settings.session_timeout_s()  # see _idle()
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
        on stop. A broker that stops acknowledging fails the deliveries in the end.

        While waiting, the assigned partitions are paused and the consumer is still polled:
        that keeps the member in the group however long the broker takes to acknowledge
        (``max.poll.interval.ms``), and serves rebalances. A paused partition returns no
        records (librdkafka drops what it had prefetched and fetches it again on resume);
        one assigned during the wait is paused in on_assign; whatever comes anyway is held
        and scored first afterwards, never dropped."""
        room = max(0, self._s.max_in_flight - self._s.max_batch)
        if self._offsets.uncommitted() <= room or self._stopping():
            return
        self._pause(True)
        try:
            while self._offsets.uncommitted() > room and not self._stopping():
                self._producer.poll(0.005)
                self._committer.maybe_commit(self._consumer, now_please=True)
                msg = self._consumer.poll(0)
                if msg is not None:
                    self._held.append(msg)
                self.heartbeat = time.monotonic()
        finally:
            self._pause(False)

    def _pause(self, pause: bool) -> None:
        self._paused = pause
        assignment = [TopicPartition(t, p) for t, p in self._at_eof]
        if assignment:
            (self._consumer.pause if pause else self._consumer.resume)(assignment)

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._fatal is not None

    # -- fetching ---------------------------------------------------------------
    def _fetch(self) -> MessageBatch | None:
        if self._held:
            msgs, self._held = self._held, []
        elif self._s.mode == "single":
            msg = self._consumer.poll(POLL_TIMEOUT)
            msgs = [] if msg is None else [msg]
        elif self._s.mode == "batch":
            msgs = self._consumer.consume(self._s.max_batch, self._s.max_wait_ms / 1000)
        else:  # adaptive: block for the first record only, then take what is buffered
            first = self._consumer.poll(POLL_TIMEOUT)
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
        if self._lifecycle is not None:
            self._lifecycle.before_batch()  # a model reloaded by now scores this batch
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
        self._outputs.produce(batch, result)

    def _process(self, records: MessageBatch) -> Outcomes | None:
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
        self._set_paused(partitions)
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

    def _set_paused(self, partitions: list[TopicPartition]) -> None:
        """Give newly assigned partitions the loop's pause state: paused while it waits for
        room, else resumed. librdkafka keeps a partition's pause flag across revocation and
        reassignment, so one paused in an earlier wait and revoked (or lost) meanwhile would
        come back paused and never be fetched again. Runs before confluent-kafka assigns
        them; the flag is the partition's, so it holds once they are."""
        if partitions:
            (self._consumer.pause if self._paused else self._consumer.resume)(partitions)

    def _release(self, keys: list[TopicPartitionKey]) -> None:
        # Records held during a wait belong to the assignment they were fetched in: the next
        # owner (or this scorer, if they come back) reads them again from the committed
        # offset. Scoring them here would duplicate them and could commit an offset the
        # next owner has passed.
        gone = set(keys)
        self._held = [m for m in self._held if (m.topic(), m.partition()) not in gone]
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
        wait = self._s.exit_when_idle
        if not self._at_eof:
            # Given nothing may be only the first of two cooperative rounds: the second
            # brings partitions once their owners have revoked them (a heartbeat or more
            # later). A session timeout more before taking it for a standby's final answer.
            wait += self._empty_handed_grace
        return time.monotonic() - self._last_activity >= wait

    # -- shutdown ---------------------------------------------------------------
    def _shutdown(self) -> int:
        log.info("shutting down: flushing outputs and committing offsets")
        if self._lifecycle is not None:
            self._lifecycle.stop()
        self._flush()
        self._commit()
        if self._s.group_instance_id is not None:
            log.info(
                "closing as static member %s: its partitions wait for it until "
                "session.timeout.ms runs out, then move",
                self._s.group_instance_id,
            )
        with contextlib.suppress(RuntimeError):  # already closed
            # A dynamic member leaves the group, so its partitions move at once; a static
            # one (--group-instance-id) does not, so a restart gets them back unmoved.
            self._consumer.close()
        if self._fatal is not None:
            log.error("stopped after an unrecoverable error: %s", self._fatal)
            return EXIT_FAILED
        log.info("stopped cleanly after consuming %d records", self._consumed)
        return EXIT_OK


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
