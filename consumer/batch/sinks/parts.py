"""One Parquet part file, written a chunk (row group) at a time, opened on first write."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from consumer.batch.errors import BatchError


class PartWriter:
    """Streams tables into one Parquet file; memory holds one chunk, never the shard."""

    def __init__(self, path: Path, schema: pa.Schema, compression: str) -> None:
        self.path = path
        self._schema = schema
        self._compression = None if compression == "none" else compression
        self._writer: pq.ParquetWriter | None = None

    @property
    def written(self) -> bool:
        return self._writer is not None

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            try:
                self._writer = pq.ParquetWriter(
                    str(self.path), self._schema, compression=self._compression
                )
            except OSError as exc:
                raise BatchError(f"cannot write {self.path}: {exc}") from None
        return self._writer

    def write(self, table: pa.Table) -> None:
        try:
            self._open().write_table(table)
        except OSError as exc:
            raise BatchError(f"writing {self.path} failed: {exc}") from None

    def ensure(self) -> None:
        """Create the file even if nothing was written (a schema-only part)."""
        self._open()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
