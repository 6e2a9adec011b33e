"""Which input offsets are safe to commit.

Every consumed record is produced as exactly one output (score or dead letter), a
batch at a time. A batch is *pending* from its first produce call until the broker has
acknowledged every output of it. Outputs of one input partition land on many output
partitions and are acknowledged out of order, and so are batches; offsets are committed
only up to the end of the longest prefix of fully acknowledged batches, so a commit
never passes a record whose output the broker might not have.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


@dataclass(eq=False)
class PendingBatch:
    ends: dict[TopicPartitionKey, int]  # per partition: last offset in the batch + 1
    remaining: int  # outputs not acknowledged yet
    done: bool = False


@dataclass
class _Partition:
    first: int | None = None  # first offset produced since it was assigned
    produced: int | None = None  # last offset produced + 1
    safe: int | None = None  # committable: every output before it acknowledged


@dataclass
class OffsetTracker:
    _partitions: dict[TopicPartitionKey, _Partition] = field(default_factory=dict)
    _pending: deque[PendingBatch] = field(default_factory=deque)
    _committed: dict[TopicPartitionKey, int] = field(default_factory=dict)

    def assign(self, tp: TopicPartitionKey) -> None:
        self._partitions.setdefault(tp, _Partition())

    def release(self, tp: TopicPartitionKey) -> None:
        """Forget a partition (revoked or lost); its late acknowledgements are ignored."""
        self._partitions.pop(tp, None)
        self._committed.pop(tp, None)

    def produced(self, spans: dict[TopicPartitionKey, tuple[int, int]], count: int) -> PendingBatch:
        """A batch of ``count`` outputs is being produced; per input partition the first
        offset in it and the last + 1."""
        for tp, (start, end) in spans.items():
            state = self._partitions.setdefault(tp, _Partition())
            if state.first is None:
                state.first = start
            state.produced = end
        batch = PendingBatch({tp: end for tp, (_, end) in spans.items()}, count)
        self._pending.append(batch)
        if count == 0:
            self.acknowledged(batch)
        return batch

    def acknowledged(self, batch: PendingBatch) -> None:
        """Every output of ``batch`` is acknowledged."""
        batch.done = True
        while self._pending and self._pending[0].done:
            for tp, end in self._pending.popleft().ends.items():
                state = self._partitions.get(tp)
                if state is not None:
                    state.safe = end

    def committable(self, tp: TopicPartitionKey) -> int | None:
        """The offset to commit for ``tp`` (next to consume), or None if nothing new."""
        state = self._partitions.get(tp)
        return None if state is None else state.safe

    def to_commit(self, tps: list[TopicPartitionKey] | None = None) -> dict[TopicPartitionKey, int]:
        """Committable offsets of ``tps`` (default: all) not committed already."""
        if tps is None:
            tps = list(self._partitions)
        return {
            tp: offset
            for tp in tps
            if (offset := self.committable(tp)) is not None and self._committed.get(tp) != offset
        }

    def committed(self, offsets: dict[TopicPartitionKey, int]) -> None:
        self._committed.update(offsets)

    def commit_failed(self, offsets: dict[TopicPartitionKey, int]) -> None:
        """An asynchronous commit of ``offsets`` failed: offer them again next time."""
        for tp, offset in offsets.items():
            if self._committed.get(tp) == offset:
                del self._committed[tp]

    def uncommitted(self) -> int:
        """Records handed to the producer whose offsets are not committed yet: what a
        crash now would replay (an upper bound where offsets have gaps)."""
        total = 0
        for tp, state in self._partitions.items():
            if state.produced is not None and state.first is not None:
                total += state.produced - self._committed.get(tp, state.first)
        return total

    def pending_batches(self) -> int:
        return len(self._pending)

    def partitions(self) -> list[TopicPartitionKey]:
        return list(self._partitions)
