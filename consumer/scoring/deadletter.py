"""Dead letters: an input record that could not be scored, kept byte for byte, with the
``dlq.*`` headers that say where it came from and why it failed.

Header values are built from the source position and the error only. Error messages
are written by this package and never contain payload fields.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consumer.scoring.errors import RecordError
from consumer.scoring.records import Headers, RawRecord, header_text

DLQ_HEADER_PREFIX = "dlq."
STAGES = ("decode", "validate", "features", "score")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source: RawRecord
    stage: str
    reason: str  # bounded code, safe as a metric label
    error_class: str
    message: str
    model_name: str
    model_version: str
    failed_at_ms: int
    source_index: int = 0  # its position in the batch it came in

    @classmethod
    def from_error(
        cls,
        source: RawRecord,
        error: RecordError,
        model_name: str,
        model_version: str,
        now_ms: int,
        source_index: int = 0,
    ) -> DeadLetter:
        return cls(
            source=source,
            stage=error.stage,
            reason=error.reason,
            error_class=type(error).__name__,
            message=error.message,
            model_name=model_name,
            model_version=model_version,
            failed_at_ms=now_ms,
            source_index=source_index,
        )

    def headers(self) -> Headers:
        """The original headers, in order, followed by the dlq.* headers."""
        failed_at = dt.datetime.fromtimestamp(self.failed_at_ms / 1000, dt.UTC)
        added = {
            "dlq.source.topic": self.source.topic,
            "dlq.source.partition": str(self.source.partition),
            "dlq.source.offset": str(self.source.offset),
            "dlq.error.stage": self.stage,
            "dlq.error.reason": self.reason,
            "dlq.error.class": self.error_class,
            "dlq.error.message": self.message,
            "dlq.model.name": self.model_name,
            "dlq.model.version": self.model_version,
            "dlq.failed.at": failed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        original = list(self.source.headers or [])
        return original + [(k, v.encode()) for k, v in added.items()]


def dead_letter_source(headers: Headers | None) -> tuple[int, int]:
    """(partition, offset) of the input record a dead letter came from; (-1, -1) if unknown."""
    h = header_text(headers, DLQ_HEADER_PREFIX)
    return int(h.get("dlq.source.partition", -1)), int(h.get("dlq.source.offset", -1))


def original_headers(headers: Headers | None) -> Headers:
    """Headers of a dead letter without the ones this service added (for replay).

    The dlq.* headers are appended after the originals, so the originals are everything
    before the first dlq.source.topic header counted from the end.
    """
    items = list(headers or [])
    for i in range(len(items) - 1, -1, -1):
        if items[i][0] == "dlq.source.topic":
            return items[:i]
    return items
