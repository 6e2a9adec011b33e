"""The Arrow tables batch prediction writes: FraudScores and dead letters, as columns.

Their columns are the fields of ``schemas/fraud_score.avsc`` and
``schemas/dead_letter.avsc``, Avro types mapped to Parquet's (timestamp-millis ->
``timestamp[ms, UTC]``, enum -> string, array -> list). Scores are built from the
scoring core's arrays without a Python object per row; dead letters are few, so they
are built from rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consumer.scoring.outcomes import Outcomes
from consumer.scoring.schemas import DECISIONS

_TS = pa.timestamp("ms", tz="UTC")


def _required(name: str, t: pa.DataType) -> pa.Field:
    return pa.field(name, t, nullable=False)


SCORE_SCHEMA = pa.schema(
    [
        _required("transaction_id", pa.string()),
        _required("score", pa.float64()),
        _required("decision", pa.string()),
        _required("reason_codes", pa.list_(pa.string())),
        _required("model_name", pa.string()),
        _required("model_version", pa.string()),
        _required("event_time", _TS),
        _required("scored_at", _TS),
        _required("source_topic", pa.string()),
        _required("source_partition", pa.int32()),
        _required("source_offset", pa.int64()),
    ]
)
ERROR_SCHEMA = pa.schema(
    [
        _required("source", pa.string()),
        _required("source_partition", pa.int32()),
        _required("source_offset", pa.int64()),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("timestamp", _TS),
        _required("stage", pa.string()),
        _required("reason", pa.string()),
        _required("error_class", pa.string()),
        _required("message", pa.string()),
        _required("model_name", pa.string()),
        _required("model_version", pa.string()),
    ]
)
_DECISIONS = pa.array(DECISIONS)
_ENUM = pa.dictionary(pa.int8(), pa.string())
# Transactions as Parquet files hold them (``produce --to-file x.parquet``, tests): enums
# dictionary-encoded, event_time a UTC timestamp, optional fields nullable.
TRANSACTION_SCHEMA = pa.schema(
    [
        *(_required(n, pa.string()) for n in ("transaction_id", "card_id", "account_id")),
        _required("amount_minor", pa.int64()),
        *(
            _required(n, pa.string())
            for n in (
                "currency",
                "merchant_id",
                "merchant_category_code",
                "merchant_country",
                "card_country",
            )
        ),
        _required("channel", _ENUM),
        _required("entry_mode", _ENUM),
        _required("event_time", _TS),
        pa.field("device_id", pa.string()),
        pa.field("ip_address", pa.string()),
        pa.field("ip_country", pa.string()),
        pa.field("latitude", pa.float64()),
        pa.field("longitude", pa.float64()),
    ]
)


def transaction_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    """Transaction records (event_time in epoch ms) as a table of TRANSACTION_SCHEMA."""
    return pa.Table.from_pylist(list(records), schema=TRANSACTION_SCHEMA)


def reason_lists(reasons: npt.NDArray[np.int16], names: Sequence[str]) -> pa.ListArray:
    """Per row, the names of its reason codes (feature indexes, -1 past the last)."""
    used = reasons >= 0
    offsets = np.zeros(len(reasons) + 1, np.int32)
    np.cumsum(used.sum(axis=1), out=offsets[1:])
    values = pc.take(pa.array(list(names)), pa.array(reasons[used].astype(np.int32)))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def score_table(
    out: Outcomes,
    transaction_id: pa.Array,
    source: str,
    partition: int,
    offset: npt.NDArray[np.int64],
) -> pa.Table:
    """FraudScores of one source file, one row per scored Transaction of ``out`` (scored
    by its champion: a batch run has no canary), ``transaction_id`` their ids as read."""
    n = len(out.score)
    if pa.types.is_dictionary(transaction_id.type):
        transaction_id = transaction_id.dictionary_decode()
    return pa.Table.from_arrays(
        [
            transaction_id.cast(pa.string()),
            pa.array(out.score, pa.float64()),
            pc.take(_DECISIONS, pa.array(out.decision.astype(np.int8))),
            reason_lists(out.reasons, out.reason_names),
            pa.repeat(pa.scalar(out.champion.name), n),
            pa.repeat(pa.scalar(out.champion.version), n),
            pa.array(out.event_time, pa.int64()).cast(_TS),
            pa.array(out.scored_at, pa.int64()).cast(_TS),
            pa.repeat(pa.scalar(source), n),
            pa.repeat(pa.scalar(partition, pa.int32()), n),
            pa.array(offset, pa.int64()),
        ],
        schema=SCORE_SCHEMA,
    )


def error_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Dead letters as rows with the dead-letter schema's field names."""
    return pa.Table.from_pylist(rows, schema=ERROR_SCHEMA)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    return value


def _values(arr: pa.Array) -> list[Any]:
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_timestamp(arr.type):
        arr = arr.cast(pa.string())  # ISO-8601 with its zone: what the file said
    try:
        values: list[Any] = arr.to_pylist()
    except UnicodeDecodeError:
        raw = arr.cast(pa.binary()).to_pylist()
        values = [None if b is None else b.decode("utf-8", "backslashreplace") for b in raw]
    return values


def rows_as_json(batch: pa.RecordBatch, positions: Sequence[int]) -> list[bytes]:
    """The rows at ``positions`` as JSON objects (UTF-8): the dead letter's original
    value. Non-finite floats become the strings NaN, Infinity and -Infinity (JSON has no
    such numbers); timestamps their ISO-8601 text."""
    if not positions:
        return []
    taken = batch.take(pa.array(list(positions), pa.int64()))
    columns = {name: _values(taken.column(i)) for i, name in enumerate(taken.schema.names)}
    return [
        json.dumps(
            {name: _jsonable(values[j]) for name, values in columns.items()},
            ensure_ascii=False,
            allow_nan=False,
        ).encode()
        for j in range(len(positions))
    ]
