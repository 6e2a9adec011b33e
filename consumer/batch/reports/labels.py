"""Labels for `batch --compare-model`'s per-pattern table, where the input has them.

Parquet: a ``fraud_pattern`` column (null, empty or "legit" for legitimate traffic, else
the pattern's name), else an ``is_fraud`` column (true/1: "fraud", false/0: "legit").
A topic: the ``synthetic.fraud_pattern`` header `fraud-consumer produce` writes. Avro
files carry none (the Transaction schema has no label). Labels are read for the report
only; scoring never sees them. A row without one is "unlabelled".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from consumer.batch.reports.comparison import LEGIT
from consumer.scoring.records import RecordBatch

PATTERN_COLUMN = "fraud_pattern"
FLAG_COLUMN = "is_fraud"
PATTERN_HEADER = "synthetic.fraud_pattern"
UNLABELLED = "unlabelled"


def _pattern(value: object) -> str:
    if value is None:
        return LEGIT
    text = str(value).strip()
    return text if text else LEGIT


def _flag(value: object) -> str:
    if isinstance(value, str):
        value = {"1": True, "true": True, "yes": True, "0": False, "false": False,
                 "no": False}.get(value.strip().lower())  # fmt: skip
    if value is None:
        return UNLABELLED
    return "fraud" if bool(value) else LEGIT


def arrow_labels(batch: pa.RecordBatch, positions: npt.NDArray[np.int64]) -> list[str] | None:
    """The labels of the rows at ``positions`` of ``batch``; None if it has no label column."""
    names = batch.schema.names
    for column, label in ((PATTERN_COLUMN, _pattern), (FLAG_COLUMN, _flag)):
        if column in names:
            try:
                values = batch.column(column).take(pa.array(positions)).to_pylist()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None  # a column of a type we cannot read as a label: no labels
            return [label(v) for v in values]
    return None


def header_labels(batch: RecordBatch, rows: Sequence[int]) -> list[str] | None:
    """The ``synthetic.fraud_pattern`` header of each record at ``rows``; None if no
    record has one."""
    out: list[str] = []
    found = False
    for i in rows:
        value = None
        for key, v in batch.record(int(i)).headers or []:
            if key == PATTERN_HEADER and v is not None:
                value = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                found = True
                break
        out.append(_pattern(value) if value is not None else UNLABELLED)
    return out if found else None
