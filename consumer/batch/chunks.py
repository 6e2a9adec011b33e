"""What batch sources hand out: chunks of RawRecords, and the batch run's own error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.errors import FraudConsumerError
from consumer.scoring.records import RawRecord

_PLAIN = PlainAvroCodec()


class BatchError(FraudConsumerError):
    """The run failed after it started (corrupt input, failed write); nothing is kept."""


@dataclass
class Chunk:
    """Records to score; for files also their decoded values (the RawRecord value is None
    until a dead letter needs the bytes)."""

    records: list[RawRecord]
    decoded: list[dict[str, Any]] | None = None

    def value_of(self, record: RawRecord) -> bytes | None:
        if record.value is not None or self.decoded is None:
            return record.value
        return _PLAIN.encode_transaction(self.decoded[record.offset - self.records[0].offset])
