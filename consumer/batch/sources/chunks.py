"""What record sources (Avro files, a topic range) hand out: chunks of records."""

from __future__ import annotations

from dataclasses import dataclass, field

from consumer.scoring.errors import DecodeError
from consumer.scoring.records import RawRecord


@dataclass
class Chunk:
    """Records to score (values: plain Avro Transactions), and records a source already
    rejected (values: their original bytes) with the reason."""

    records: list[RawRecord]
    rejected: list[tuple[RawRecord, DecodeError]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.rejected)
