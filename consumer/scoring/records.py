"""The records that flow through the scorer, independent of any Kafka client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class ScoredRecord:
    """A FraudScore ready to produce: key = the input key, value = encoded FraudScore."""

    source: RawRecord
    value: bytes
    score: float
    decision: str
    event_time_ms: int
    record: dict[str, Any]  # the FraudScore fields, for file outputs
