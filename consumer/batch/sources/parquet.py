"""A Parquet shard read in chunks: record batches of the Transaction's columns only.

Reads one file's row groups with pyarrow, ``chunk_size`` rows at a time and on the
calling thread (each worker process has one core's worth of work), whatever the size
of a row group. A required column the file lacks but a hive partition key of its path
supplies (``card_country=US/``) is added as a constant column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from consumer.batch.engines.shards import ShardTask
from consumer.batch.errors import BatchError
from consumer.batch.reports.labels import FLAG_COLUMN, PATTERN_COLUMN
from consumer.batch.sources.arrow_columns import FIELDS, check_schema, partition_column


@dataclass
class ParquetChunk:
    batch: pa.RecordBatch  # the Transaction columns the file has, and partition keys
    first_row: int  # the file row of the batch's first row (source_offset)
    rows: npt.NDArray[np.int64] | None = None  # file rows when not consecutive (filtered)

    def file_rows(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The file rows (source_offset) of the batch rows at ``positions``."""
        return self.first_row + positions if self.rows is None else self.rows[positions]

    def only(self, keep: npt.NDArray[np.bool_]) -> ParquetChunk:
        """The rows where ``keep`` is True, still knowing their file rows."""
        at = np.flatnonzero(keep)
        rows = self.first_row + at if self.rows is None else self.rows[at]
        return ParquetChunk(self.batch.filter(pa.array(keep)), self.first_row, rows)


def parquet_chunks(
    task: ShardTask, chunk_size: int, labels: bool = False
) -> Iterator[ParquetChunk]:
    """The shard's rows in order, as record batches of at most ``chunk_size`` rows, with
    the label columns too if asked (--compare-model) and present. A file that cannot be
    read raises BatchError (the shard fails and is retried)."""
    try:
        reader = pq.ParquetFile(task.path)
        schema = reader.schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise BatchError(f"{task.path} is not a readable Parquet file ({exc})") from None
    keys = dict(task.partition_keys)
    check_schema(schema, task.path, keys)  # the file may have changed since planning
    present = [f for f in FIELDS if schema.get_field_index(f) >= 0]
    constant = {f: v for f, v in keys.items() if f in FIELDS and f not in present}
    wanted = present + [
        f for f in (PATTERN_COLUMN, FLAG_COLUMN) if labels and schema.get_field_index(f) >= 0
    ]
    if not task.row_groups:
        return
    at = task.first_row
    batches = reader.iter_batches(
        batch_size=chunk_size, row_groups=list(task.row_groups), columns=wanted, use_threads=False
    )
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (OSError, pa.ArrowException) as exc:
            raise BatchError(f"{task.path} is corrupt after row {at}: {exc}") from None
        for name, value in constant.items():
            try:
                column = partition_column(name, value, batch.num_rows)
            except ValueError:
                raise BatchError(
                    f"{task.path}: partition key {name} is not a value of the field's type"
                ) from None
            batch = batch.append_column(name, column)
        yield ParquetChunk(batch, at)
        at += batch.num_rows
