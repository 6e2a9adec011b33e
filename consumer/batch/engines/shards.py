"""Shards: the units a batch run is split into, retried and resumed by.

A Parquet file is one shard, or several when it holds more than ``shard_rows`` rows in
more than one row group: consecutive row groups are grouped up to ``shard_rows`` (a row
group is never split; a huge one is still read in chunks). An Avro file is one shard.
Planning reads only the Parquet footers, and checks every file's schema before any row
is scored: a missing or mistyped column stops the run with one line naming it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from consumer.batch.sources.arrow_columns import FIELDS, check_schema, partition_column
from consumer.batch.sources.files import InputFile, Inputs
from consumer.scoring.errors import ConfigError


@dataclass(frozen=True)
class ShardTask:
    """One shard: picklable and JSON-able, so any worker process or Ray task can run it."""

    index: int  # position in the plan; names the shard's part files
    format: str  # "parquet" | "avro"
    path: str
    name: str  # the file's lineage name (source_topic)
    file_index: int  # the file's position in the run (source_partition)
    row_groups: tuple[int, ...]  # Parquet row groups; () for a whole Avro file
    first_row: int  # row of the file the shard starts at
    rows: int  # rows in the shard; -1 when unknown before reading (Avro)
    partition_keys: tuple[tuple[str, str], ...] = ()  # hive keys of the file's path

    @property
    def id(self) -> str:
        """Names the shard in messages, the manifest and reports."""
        if not self.row_groups:
            return self.name
        first, last = self.row_groups[0], self.row_groups[-1]
        groups = f"row group {first}" if first == last else f"row groups {first}-{last}"
        return f"{self.name} ({groups})"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _parquet_metadata(f: InputFile) -> pq.FileMetaData:
    try:
        return pq.read_metadata(f.path)
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{f.path} is not a readable Parquet file ({exc})") from None


def _plan_parquet(f: InputFile, shard_rows: int, first_index: int) -> list[ShardTask]:
    meta = _parquet_metadata(f)
    schema = meta.schema.to_arrow_schema()
    check_schema(schema, str(f.path), f.partition_keys)
    for key, value in f.partition_keys.items():
        if key in FIELDS and schema.get_field_index(key) < 0:
            try:
                partition_column(key, value, 1)
            except ValueError:
                raise ConfigError(
                    f"{f.path}: partition key {key}={value} is not a value of the field's type"
                ) from None
    keys = tuple(sorted(f.partition_keys.items()))
    shards: list[ShardTask] = []
    groups: list[int] = []
    start = rows = 0
    at = 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if groups and rows + n > shard_rows:
            shards.append(_task(first_index + len(shards), f, groups, start, rows, keys))
            groups, start, rows = [], at, 0
        groups.append(g)
        rows += n
        at += n
    if groups or not shards:  # a file with no row groups is still a (zero-row) shard
        shards.append(_task(first_index + len(shards), f, groups, start, rows, keys))
    return shards


def _task(
    index: int,
    f: InputFile,
    groups: list[int],
    start: int,
    rows: int,
    keys: tuple[tuple[str, str], ...],
) -> ShardTask:
    return ShardTask(
        index, "parquet", str(f.path), f.name, f.index, tuple(groups), start, rows, keys
    )


def plan_shards(inputs: Inputs, shard_rows: int) -> list[ShardTask]:
    """Every shard of the run, in file order then row order."""
    shards: list[ShardTask] = []
    for f in inputs.files:
        if inputs.format == "parquet":
            shards += _plan_parquet(f, shard_rows, len(shards))
        else:
            shards.append(ShardTask(len(shards), "avro", str(f.path), f.name, f.index, (), 0, -1))
    return shards


def fingerprint(shard: Any) -> str:
    """Changes when the shard's data changes: a resume must not keep a shard scored from
    other data. For Parquet, the footer's description of the shard's row groups (column
    chunk offsets, sizes, statistics), so a file repaired elsewhere in it keeps its
    finished shards; for Avro, the file's size and modification time."""
    facts: list[Any] = [shard.to_dict()]
    if shard.format == "cards":  # every file it reads (card_shards.py)
        facts += [fingerprint(p) for p in (*shard.context, *shard.pieces)]
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    try:
        if shard.format == "parquet":
            meta = pq.read_metadata(shard.path)
            facts += [meta.row_group(g).to_dict() for g in shard.row_groups]
        else:
            st = Path(shard.path).stat()
            facts += [st.st_size, st.st_mtime_ns]
    except (OSError, pa.ArrowException):
        facts.append("unreadable")
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()
