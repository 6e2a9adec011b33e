"""Partition state in memory, kept by the store across close and open, as a disk would
keep it across a restart of the scorer in one process (unit and integration tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from consumer.state.partition_state import NOTHING_APPLIED, StateUpdate, StoreSize


@dataclass
class _Data:
    cards: dict[str, bytes] = field(default_factory=dict)
    applied: int = NOTHING_APPLIED
    floor: int = NOTHING_APPLIED
    replays: dict[int, bytes] = field(default_factory=dict)


class MemoryPartitionState:
    def __init__(self, topic: str, partition: int, data: _Data) -> None:
        self.topic, self.partition = topic, partition
        self._data = data

    def cards(self, cards: Sequence[str]) -> list[bytes]:
        states = self._data.cards
        return [states.get(c, b"") for c in cards]

    def applied(self) -> int:
        return self._data.applied

    def replay_floor(self) -> int:
        return self._data.floor

    def replays(self, offsets: Sequence[int]) -> list[bytes | None]:
        return [self._data.replays.get(o) for o in offsets]

    def clear(self) -> None:
        self._data.cards.clear()

    def write(self, update: StateUpdate) -> None:
        d = self._data
        d.cards.update(update.changed)
        d.applied = update.applied
        d.replays.update(update.replays)
        for offset in [o for o in d.replays if o < update.committed]:
            del d.replays[offset]
        d.floor = max(d.floor, update.committed)

    def size(self) -> StoreSize:
        states = self._data.cards.values()
        return StoreSize(len(self._data.cards), sum(len(s) for s in states))

    def close(self) -> None:
        pass


class MemoryStateStore:
    name = "memory"

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], _Data] = {}

    def open(self, topic: str, partition: int) -> MemoryPartitionState:
        data = self._partitions.setdefault((topic, partition), _Data())
        return MemoryPartitionState(topic, partition, data)

    def forget(self, topic: str, partition: int) -> None:
        """Lose a partition's state, as a new pod without its volume would."""
        self._partitions.pop((topic, partition), None)

    def close(self) -> None:
        pass
