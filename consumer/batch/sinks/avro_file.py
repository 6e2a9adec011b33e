"""An Avro container file as batch output: FraudScores, or dead letters.

Written to a temporary name and renamed on success: a failed run leaves no half-written
file behind, and the same input gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from fastavro.write import Writer

from consumer.batch.errors import BatchError
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import ConfigError


class AvroFileSink:
    """An Avro container file written under a temporary name and renamed on commit()."""

    def __init__(self, path: Path, schema: dict[str, Any], sync_marker: bytes, codec: str) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            self._fo = self._tmp.open("wb")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
        # The raw schema, not a parsed one: fastavro writes a parsed schema into the header
        # with its keys in hash order, which changes between processes.
        self._writer = Writer(self._fo, schema, codec=codec, sync_marker=sync_marker)
        self.count = 0

    def write(self, records: list[dict[str, Any]]) -> None:
        try:
            for r in records:
                self._writer.write(r)
        except OSError as exc:
            raise BatchError(f"writing {self.path} failed: {exc.strerror}") from None
        self.count += len(records)

    def commit(self) -> None:
        try:
            self._writer.flush()
            self._fo.flush()
            os.fsync(self._fo.fileno())
            self._fo.close()
            self._tmp.replace(self.path)
        except OSError as exc:
            self.abort()
            raise BatchError(f"writing {self.path} failed: {exc.strerror}") from None

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fo.close()
        self._tmp.unlink(missing_ok=True)


def dead_letter_record(d: DeadLetter, value: bytes | None) -> dict[str, object]:
    src = d.source
    return {
        "source": src.topic,
        "source_partition": src.partition,
        "source_offset": src.offset,
        "key": src.key,
        "value": value,
        "timestamp": src.timestamp_ms,
        "stage": d.stage,
        "reason": d.reason,
        "error_class": d.error_class,
        "message": d.message,
        "model_name": d.model_name,
        "model_version": d.model_version,
    }
