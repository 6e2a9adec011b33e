"""What the stream keeps per input partition, whatever the store: card states, the offset
they are applied up to, and the history features of the offsets applied but perhaps not
yet committed (a redelivered offset is scored with them, not applied again).

Every update is one atomic write: the changed card states, the new applied offset, the
new offsets' features, and the removal of features below the committed offset (they can
no longer be redelivered). A crash leaves the store as of the last whole update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from consumer.scoring.errors import FraudConsumerError

NOTHING_APPLIED = -1
Features = npt.NDArray[np.float64]


class StateUnavailable(FraudConsumerError):
    """The store could not be read or written (network, timeout, server error): nobody's
    record's fault, retried."""


class StateInconsistent(FraudConsumerError):
    """The store no longer holds what this scorer wrote (lost, reset, another writer):
    the scorer must not write over it; it stops, and its restart rebuilds."""


@dataclass(frozen=True)
class StateUpdate:
    changed: Mapping[str, bytes]  # card id -> its new state
    applied: int  # the newest offset applied, whether scored or dead-lettered
    replays: Mapping[int, bytes] = field(default_factory=dict)  # offset -> features bytes
    committed: int = NOTHING_APPLIED  # replays below it are dropped


@dataclass(frozen=True)
class StoreSize:
    cards: int
    bytes: int


class PartitionState(Protocol):
    topic: str
    partition: int

    def cards(self, cards: Sequence[str]) -> list[bytes]: ...

    def applied(self) -> int: ...

    def replay_floor(self) -> int:
        """Features are kept for every applied offset from here on (the committed offset
        of the last update): a redelivery from below it cannot be served."""
        ...

    def replays(self, offsets: Sequence[int]) -> list[bytes | None]: ...

    def clear(self) -> None:
        """Forget every card (before a rebuild from scratch); best effort for a shared
        store whose card keys cannot be listed per partition (Redis: overwritten)."""
        ...

    def write(self, update: StateUpdate) -> None: ...

    def size(self) -> StoreSize: ...

    def close(self) -> None: ...


class StateStore(Protocol):
    """Opens a partition's state (on assign) and releases everything (on shutdown)."""

    name: str  # "memory", "rocksdb", "redis": for logs, --print-config and metrics

    def open(self, topic: str, partition: int) -> PartitionState: ...

    def close(self) -> None: ...


def encode_features(row: Features) -> bytes:
    """A replay entry: the row of history and merchant-risk features, or b"" for an
    offset that was dead-lettered (it is again, by the same rules)."""
    return np.ascontiguousarray(row, "<f8").tobytes()


def decode_features(blob: bytes) -> Features:
    return np.frombuffer(blob, "<f8").copy()
