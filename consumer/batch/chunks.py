"""What batch sources hand out: chunks of records, and the batch run's own error."""

from __future__ import annotations

from dataclasses import dataclass, field

from consumer.scoring.errors import DecodeError, FraudConsumerError
from consumer.scoring.records import RawRecord


class BatchError(FraudConsumerError):
    """The run failed after it started (corrupt input, failed write); nothing is kept."""


@dataclass
class Chunk:
    """Records to score (values: plain Avro Transactions), and records a source already
    rejected (values: their original bytes) with the reason."""

    records: list[RawRecord]
    rejected: list[tuple[RawRecord, DecodeError]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.rejected)
