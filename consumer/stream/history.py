"""The stream's card history: a state per assigned input partition, read by the scoring
core (``get``: this is its CardStates, scope = partition) and written after each batch.

The order of things for a batch: ``request`` says which records are redeliveries (at or
below the partition's applied offset: scored with the history features stored for them
when they were first scored, not applied again); the core scores; the outputs are
produced; ``write`` stores, in one atomic update per partition, the changed card states,
the new applied offset and the new offsets' features, and drops features below what was
committed a write ago (they can no longer come back). On assign, a partition whose state
is missing, behind its committed offset, or unable to serve its redeliveries (offsets
reset behind it) is rebuilt first (rebuild.py); on revoke its state is closed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition

from consumer.kafka.messages import MessageBatch
from consumer.ops.state_metrics import StateMetrics
from consumer.scoring.history_context import HistoryRequest, Key
from consumer.scoring.outcomes import Outcomes
from consumer.scoring.pipeline import ScoringPipeline
from consumer.state.partition_state import (
    NOTHING_APPLIED,
    PartitionState,
    StateInconsistent,
    StateStore,
    StateUpdate,
    decode_features,
    encode_features,
)
from consumer.stream.rebuild import Replay, low_watermark, replay_batches, window_start

log = logging.getLogger(__name__)


class StreamHistory:
    def __init__(
        self, store: StateStore, metrics: StateMetrics, topic: str, conf: dict[str, Any]
    ) -> None:
        """``conf``: consumer settings for rebuild reads (no group membership used)."""
        self._store, self._metrics, self._topic, self._conf = store, metrics, topic, conf
        self._states: dict[int, PartitionState] = {}
        # partition -> the states a rebuild has made so far, and whether it started from
        # nothing (then the store is not read for the others)
        self._rebuilding: dict[int, tuple[dict[str, bytes], bool]] = {}
        self._pruned_at: dict[int, int] = {}  # committed offset at the previous write
        self.pipeline: ScoringPipeline | None = None  # set once built: rebuilds absorb with it

    @property
    def store_name(self) -> str:
        return self._store.name

    # -- the core's CardStates ---------------------------------------------------------
    def get(self, keys: Sequence[Key]) -> list[bytes]:
        out: list[bytes] = [b""] * len(keys)
        by_partition: dict[int, list[int]] = {}
        for i, (partition, _) in enumerate(keys):
            by_partition.setdefault(partition, []).append(i)
        started = time.perf_counter()
        for partition, at in by_partition.items():
            cards = [keys[i][1] for i in at]
            rebuilding = self._rebuilding.get(partition)
            if rebuilding is None:
                states = self._states[partition].cards(cards)
            else:
                held, scratch = rebuilding
                known = [held.get(c) for c in cards]
                missing = [c for c, s in zip(cards, known, strict=True) if s is None]
                stored = iter(
                    [b""] * len(missing) if scratch else self._states[partition].cards(missing)
                )
                states = [s if s is not None else next(stored) for s in known]
            for i, state in zip(at, states, strict=True):
                out[i] = state
        self._metrics.read_seconds.observe(time.perf_counter() - started)
        return out

    # -- a batch -------------------------------------------------------------------------
    def request(self, batch: MessageBatch) -> HistoryRequest:
        """Scopes (partitions) and the redeliveries' stored features."""
        replayed: dict[int, Any] = {}
        for partition in np.unique(batch.partitions).tolist():
            applied = self._states[partition].applied()
            at = np.flatnonzero((batch.partitions == partition) & (batch.offsets <= applied))
            if not len(at):
                continue
            offsets = batch.offsets[at].tolist()
            for position, offset, blob in zip(
                at.tolist(), offsets, self._states[partition].replays(offsets), strict=True
            ):
                if blob is None:
                    raise StateInconsistent(
                        f"{self._topic}[{partition}]@{offset} was applied but its history "
                        "features are not in the state store"
                    )
                if blob:  # b"": dead-lettered the first time, and again now
                    replayed[position] = decode_features(blob)
        self._metrics.replayed.inc(len(replayed))
        return HistoryRequest(scope=batch.partitions.astype(np.int64), replayed=replayed)

    def write(self, batch: MessageBatch, out: Outcomes, committed: dict[int, int]) -> None:
        """Store what the batch applied, per partition, one atomic update each."""
        block = out.history
        if block is None:
            return
        features = dict(zip(block.positions.tolist(), block.features, strict=True))
        keyed = batch.keys
        mismatched = sum(
            keyed[p] != c.encode("utf-8", "surrogatepass")
            for p, c in zip(block.positions.tolist(), block.cards, strict=True)
        )
        self._metrics.key_not_card.inc(mismatched)
        started = time.perf_counter()
        for partition in np.unique(batch.partitions).tolist():
            state = self._states[partition]
            applied = state.applied()
            at = np.flatnonzero((batch.partitions == partition) & (batch.offsets > applied))
            if not len(at):
                continue
            replays = {
                int(batch.offsets[i]): encode_features(features[i]) if i in features else b""
                for i in at.tolist()
            }
            floor = self._pruned_at.get(partition, NOTHING_APPLIED)
            self._pruned_at[partition] = committed.get(partition, floor)
            changed = {c: s for (p, c), s in block.changed.items() if p == partition}
            newest = int(batch.offsets[at].max())
            state.write(StateUpdate(changed, newest, replays, floor))
            times = out.event_time[np.isin(out.positions, at)]
            if len(times):
                self._metrics.newest_event.labels(partition=str(partition)).set(
                    float(times.max()) / 1000
                )
        self._metrics.write_seconds.observe(time.perf_counter() - started)

    # -- group membership ------------------------------------------------------------------
    def assign(self, consumer: Consumer, partitions: list[int]) -> None:
        """Open each partition's state; rebuild what cannot serve (module docstring)."""
        if not partitions:
            return
        wanted = [TopicPartition(self._topic, p) for p in partitions]
        committed = {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=30)}
        for partition in partitions:
            state = self._states[partition] = self._store.open(self._topic, partition)
            self._catch_up(state, committed.get(partition, OFFSET_INVALID))
        self._show_size()

    def release(self, partitions: list[int]) -> None:
        for partition in partitions:
            state = self._states.pop(partition, None)
            self._pruned_at.pop(partition, None)
            if state is not None:
                state.close()
            with contextlib.suppress(KeyError):
                self._metrics.newest_event.remove(str(partition))
        self._show_size()

    def close(self) -> None:
        self.release(list(self._states))
        self._store.close()

    def _catch_up(self, state: PartitionState, committed: int) -> None:
        partition, applied = state.partition, state.applied()
        end = committed if committed >= 0 else low_watermark(self._conf, self._topic, partition)
        if applied == end - 1 or (applied >= end >= state.replay_floor()):
            return  # up to date, or ahead with every redelivery's features at hand
        if applied == NOTHING_APPLIED:
            reason, start = "missing", None
        elif applied < end - 1:
            reason, start = "behind", applied + 1
        else:
            reason, start = "offsets_reset", None
        self._rebuild(Replay(self._topic, partition, start, end), reason)

    def _rebuild(self, replay: Replay, reason: str) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            raise RuntimeError("a rebuild needs the scoring pipeline")
        partition, state = replay.partition, self._states[replay.partition]
        low = low_watermark(self._conf, replay.topic, partition)
        start, scratch = replay.start, replay.start is None
        if scratch:  # what the store holds cannot be built on
            state.clear()
            start = window_start(self._conf, replay.topic, partition, int(time.time() * 1000))
        if start is None or start < low:
            self._metrics.truncated.inc()
            log.warning("%s[%d]: card history should start at offset %d, the topic now "
                        "starts at %d: some history is missing", replay.topic, partition,
                        start, low)  # fmt: skip
            start = low
        started = time.monotonic()
        held: dict[str, bytes] = {}
        self._rebuilding[partition] = (held, scratch)
        events = 0
        try:
            for batch in replay_batches(self._conf, replay, start):
                scope = np.full(len(batch), partition, np.int64)
                block = pipeline.absorb(pipeline.decode(batch.values), HistoryRequest(scope))
                if block is not None:
                    held.update((c, s) for (_, c), s in block.changed.items())
                events += len(batch)
        finally:
            del self._rebuilding[partition]
        state.write(StateUpdate(held, replay.end - 1, {}, replay.end))
        seconds = time.monotonic() - started
        self._metrics.rebuilds.labels(reason=reason).inc()
        self._metrics.rebuild_events.inc(events)
        self._metrics.rebuild_seconds.inc(seconds)
        rate = events / seconds if seconds > 0 else 0.0
        log.info("%s[%d]: state %s; rebuilt from offset %d to %d: %d events in %.1fs "
                 "(%.0f/s)", replay.topic, partition, reason, start, replay.end - 1, events,
                 seconds, rate)  # fmt: skip

    def _show_size(self) -> None:
        sizes = [s.size() for s in self._states.values()]
        self._metrics.cards.set(sum(s.cards for s in sizes))
        self._metrics.bytes.set(sum(s.bytes for s in sizes))
