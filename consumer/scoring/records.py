"""The records that flow through the scorer, independent of any Kafka client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

# What confluent-kafka accepts when producing; consumed header values are bytes or None.
Headers = list[tuple[str, str | bytes | None]]


def header_text(headers: Headers | None, prefix: str = "") -> dict[str, str]:
    """Headers whose names start with ``prefix``, as text; a repeated name keeps its last
    value (the dead-letter headers are appended after the record's own)."""
    return {
        k: v.decode(errors="replace") if isinstance(v, bytes) else v
        for k, v in headers or []
        if k.startswith(prefix) and v is not None
    }


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record as consumed: bytes untouched, plus where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None
    timestamp_ms: int | None = None  # None when the record carries no timestamp

    @property
    def position(self) -> str:
        """``topic[partition]@offset``: safe to log, names no payload field."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


class RecordBatch(Protocol):
    """Input records as the pipeline reads them: values and lineage as columns, and the
    whole record on demand (only a dead letter needs its key, headers and timestamp)."""

    values: list[bytes | None]
    topics: list[str]
    partitions: npt.NDArray[np.int32]
    offsets: npt.NDArray[np.int64]

    def __len__(self) -> int: ...

    def record(self, i: int) -> RawRecord: ...


class RawBatch:
    """A RecordBatch over RawRecords (tests, benchmarks, files)."""

    def __init__(self, records: Sequence[RawRecord]) -> None:
        self._records = records
        self.values = [r.value for r in records]
        self.topics = [r.topic for r in records]
        self.partitions = np.fromiter((r.partition for r in records), np.int32, len(records))
        self.offsets = np.fromiter((r.offset for r in records), np.int64, len(records))

    def __len__(self) -> int:
        return len(self._records)

    def record(self, i: int) -> RawRecord:
        return self._records[i]


@dataclass(frozen=True, slots=True)
class ScoredRecord:
    """One FraudScore ready to produce: key = the input key, value = encoded FraudScore."""

    source: RawRecord
    value: bytes
    score: float
    decision: str
    event_time_ms: int
    reason_codes: tuple[str, ...] = ()
