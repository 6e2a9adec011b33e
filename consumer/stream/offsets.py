"""Which input offsets are safe to commit.

Every consumed record is produced as exactly one output (score or dead letter). Its
offset is *pending* from the produce call until the broker acknowledges that output.
A partition may commit up to (not including) its oldest pending offset, or past its
last consumed record when nothing is pending. Outputs of one input partition land on
many output partitions and are acknowledged out of order; this keeps commits in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


@dataclass
class _PartitionState:
    # Insertion-ordered dict as an ordered set: offsets arrive increasing, so the first
    # key is always the oldest pending offset.
    pending: dict[int, None] = field(default_factory=dict)
    next_offset: int | None = None  # last offset handed to the producer + 1
    first_offset: int | None = None  # first offset handed to the producer


class OffsetTracker:
    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, _PartitionState] = {}
        self._committed: dict[TopicPartitionKey, int] = {}

    def assign(self, tp: TopicPartitionKey) -> None:
        self._partitions.setdefault(tp, _PartitionState())

    def release(self, tp: TopicPartitionKey) -> None:
        """Forget a partition (revoked or lost); late acknowledgements are ignored."""
        self._partitions.pop(tp, None)
        self._committed.pop(tp, None)

    def produced(self, tp: TopicPartitionKey, offset: int) -> None:
        state = self._partitions.setdefault(tp, _PartitionState())
        state.pending[offset] = None
        state.next_offset = offset + 1
        if state.first_offset is None:
            state.first_offset = offset

    def acknowledged(self, tp: TopicPartitionKey, offset: int) -> None:
        state = self._partitions.get(tp)
        if state is not None:
            state.pending.pop(offset, None)

    def committable(self, tp: TopicPartitionKey) -> int | None:
        """The offset to commit for ``tp`` (next to consume), or None if nothing new."""
        state = self._partitions.get(tp)
        if state is None or state.next_offset is None:
            return None
        if state.pending:
            return next(iter(state.pending))
        return state.next_offset

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
            if state.next_offset is not None and state.first_offset is not None:
                total += state.next_offset - self._committed.get(tp, state.first_offset)
        return total

    def pending_count(self) -> int:
        return sum(len(s.pending) for s in self._partitions.values())

    def partitions(self) -> list[TopicPartitionKey]:
        return list(self._partitions)
