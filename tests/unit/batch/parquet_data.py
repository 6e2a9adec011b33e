"""Parquet inputs for the batch tests (real files written with pyarrow), and readers of
the datasets the batch command writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from consumer.batch.sinks.tables import transaction_table
from consumer.cli import main
from consumer.training.generator import TransactionGenerator
from tests.conftest import MODELS


def records(count: int, seed: int = 5, fraud_rate: float = 0.05) -> list[dict[str, Any]]:
    return [e.record for e in TransactionGenerator(seed, fraud_rate=fraud_rate).take(count)]


def write(path: Path, table: pa.Table, row_group_size: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_records(path: Path, rows: list[dict[str, Any]], row_group_size: int = 1000) -> Path:
    return write(path, transaction_table(rows), row_group_size)


def batch(*args: str) -> int:
    return main(["batch", "--model", str(MODELS), *args])


def read_dataset(path: Path) -> pa.Table:
    """Every part file of a dataset directory, in part order."""
    parts = sorted(path.glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]) if parts else pa.table({})


def manifest(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((path / "_manifest.json").read_text())
    return loaded


def part_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("part-*.parquet"))}
