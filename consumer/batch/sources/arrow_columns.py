"""Arrow record batches (from Parquet) -> the scoring core's TransactionColumns.

Columns are found by the Transaction schema's field names. What each may be:
strings as ``string``/``large_string``/``string_view`` or dictionary-encoded; enums
(``channel``, ``entry_mode``) as strings or dictionary-encoded strings of the schema's
symbols; ``amount_minor`` any integer type; ``event_time`` a timestamp of any unit and
time zone (an instant: converted to epoch milliseconds exactly, sub-millisecond parts
floored; a timestamp without a zone is taken as UTC) or integer epoch milliseconds;
``latitude``/``longitude`` any float or integer type. A column of Arrow's ``null`` type
(every value null) fits any field. Optional fields (those the Avro schema gives a null
default) may be missing from a file: they read as null, as Avro schema resolution does.

A missing required column, or one of a type that cannot be read as the schema's, is the
file's fault: ``check_schema`` raises ConfigError naming it, before any row is scored.
A row that cannot become a Transaction (a null in a required column, an enum string that
is no symbol, a value out of range, text that is not UTF-8) is that row's fault: a
DecodeError for that row, and the rest of the batch goes on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consumer.scoring.columns import OPTIONAL_STRING_FIELDS, STRING_FIELDS, TransactionColumns
from consumer.scoring.errors import ConfigError, DecodeError, RecordError
from consumer.scoring.inputs import Inputs
from consumer.scoring.schemas import CHANNELS, ENTRY_MODES

ENUMS = {"channel": pa.array(CHANNELS), "entry_mode": pa.array(ENTRY_MODES)}
OPTIONAL_FIELDS = (*OPTIONAL_STRING_FIELDS, "latitude", "longitude")
REQUIRED_FIELDS = (*STRING_FIELDS, "amount_minor", "channel", "entry_mode", "event_time")
FIELDS = (
    *STRING_FIELDS[:3],
    "amount_minor",
    *STRING_FIELDS[3:],
    "channel",
    "entry_mode",
    "event_time",
    *OPTIONAL_FIELDS,
)  # the Transaction schema's order: a row's first failure is reported by it
_KIND = {
    **dict.fromkeys(STRING_FIELDS + OPTIONAL_STRING_FIELDS, "string"),
    "amount_minor": "long",
    "channel": "enum",
    "entry_mode": "enum",
    "event_time": "timestamp",
    "latitude": "double",
    "longitude": "double",
}
_WANTS = {
    "string": "a string",
    "enum": "a string of the enum's symbols",
    "long": "an integer (long)",
    "timestamp": "a timestamp or integer epoch milliseconds",
    "double": "a floating-point number (double)",
}
_INT64_MAX = 2**63 - 1
_MS_PER = {"s": None, "ms": 1, "us": 1_000, "ns": 1_000_000}  # units per millisecond


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def readable(field: str, t: pa.DataType) -> bool:
    """Whether a column of type ``t`` can be read as the Transaction's ``field``."""
    if pa.types.is_null(t):
        return True
    kind = _KIND[field]
    if kind in ("string", "enum"):
        return _is_text(t)
    if kind == "long":
        return bool(pa.types.is_integer(t))
    if kind == "timestamp":
        return bool(pa.types.is_timestamp(t) or pa.types.is_integer(t))
    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def check_schema(schema: pa.Schema, where: str, partition_keys: dict[str, str]) -> None:
    """Raise ConfigError naming the first Transaction column ``schema`` lacks (and no hive
    partition key supplies) or holds in a type that cannot be read as the field's."""
    for name in FIELDS:
        index = schema.get_field_index(name)
        if index < 0:
            if name in REQUIRED_FIELDS and name not in partition_keys:
                raise ConfigError(f"{where}: column {name} is missing (the Transaction needs it)")
            continue
        t = schema.field(index).type
        if not readable(name, t):
            wants = _WANTS[_KIND[name]]
            raise ConfigError(
                f"{where}: column {name} has type {t}, which cannot be read as {wants}"
            )


def partition_column(field: str, value: str, n: int) -> pa.Array:
    """A hive partition key's value as a column of ``n`` rows, typed as the field.
    Raises ValueError if the text is not a value of that type."""
    kind = _KIND[field]
    if kind == "long":
        return pa.repeat(pa.scalar(int(value), pa.int64()), n)
    if kind == "timestamp":
        return pa.repeat(pa.scalar(int(value), pa.int64()), n)
    if kind == "double":
        return pa.repeat(pa.scalar(float(value), pa.float64()), n)
    return pa.repeat(pa.scalar(value, pa.string()), n)


_MESSAGES = {
    "missing_field": "{} is null, but the Transaction requires it",
    "unknown_symbol": "{} is not one of the schema's symbols",
    "out_of_range": "{} does not fit a long",
    "invalid_utf8": "{} is not valid UTF-8",
}


class _Marks:
    """Per row, the first failure found (0: none); fields are checked in schema order."""

    def __init__(self, n: int) -> None:
        self.code = np.zeros(n, np.int16)
        self.reasons: list[tuple[str, str]] = []

    def mark(self, mask: npt.NDArray[np.bool_], field: str, reason: str) -> None:
        if not mask.any():
            return
        self.reasons.append((reason, _MESSAGES[reason].format(field)))
        self.code[(self.code == 0) & mask] = len(self.reasons)

    def nulls(self, arr: pa.Array, field: str) -> None:
        if arr.null_count:
            self.mark(_np_bool(arr.is_null()), field, "missing_field")

    def failures(self) -> list[tuple[int, RecordError]]:
        return [
            (int(i), DecodeError(*self.reasons[self.code[i] - 1]))
            for i in np.flatnonzero(self.code)
        ]


def _np_bool(arr: pa.Array) -> npt.NDArray[np.bool_]:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _enum_indexes(arr: pa.Array, name: str, marks: _Marks) -> pa.Array:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.int32())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    idx = pc.index_in(arr, value_set=ENUMS[name])
    if idx.null_count > arr.null_count:
        marks.mark(_np_bool(idx.is_null()) & ~_np_bool(arr.is_null()), name, "unknown_symbol")
    return idx


def _as_int64(arr: pa.Array, name: str, marks: _Marks) -> pa.Array:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.int64())
    if pa.types.is_uint64(arr.type):
        too_big = pc.fill_null(pc.greater(arr, pa.scalar(_INT64_MAX, pa.uint64())), False)
        marks.mark(_np_bool(too_big), name, "out_of_range")
        arr = pc.if_else(too_big, pa.scalar(0, pa.uint64()), arr)
    return arr.cast(pa.int64())


def _epoch_ms(arr: pa.Array, marks: _Marks) -> pa.Array:
    """event_time as int64 epoch milliseconds, exactly (integer arithmetic only)."""
    t = arr.type
    if not pa.types.is_timestamp(t):
        return _as_int64(arr, "event_time", marks)
    raw = np.asarray(arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False))
    per = _MS_PER[t.unit]
    if per is None:  # seconds
        overflow = np.abs(raw) > _INT64_MAX // 1000
        marks.mark(overflow, "event_time", "out_of_range")
        ms = np.where(overflow, 0, raw) * 1000
    else:
        ms = raw // per  # floor: the millisecond the instant falls in
    return pa.array(ms, pa.int64(), mask=_np_bool(arr.is_null()) if arr.null_count else None)


def _strings(arr: pa.Array) -> tuple[list[str | None], list[int]]:
    """Python strings of a text column, and the rows that are not UTF-8 (Parquet readers
    do not check it)."""
    if pa.types.is_null(arr.type):
        return [None] * len(arr), []
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    try:
        return arr.to_pylist(), []
    except UnicodeDecodeError:
        broken = []
        for i, raw in enumerate(arr.cast(pa.binary()).to_pylist()):
            try:
                raw is None or raw.decode()
            except UnicodeDecodeError:
                broken.append(i)
        return [], broken


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    index = batch.schema.get_field_index(name)
    return batch.column(index) if index >= 0 else pa.nulls(batch.num_rows)


def _floats(arr: pa.Array) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    present = ~_np_bool(arr.is_null()) if arr.null_count else np.ones(len(arr), bool)
    if pa.types.is_null(arr.type):
        return np.full(len(arr), np.nan), present
    values = arr.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    return np.asarray(values, np.float64), present


def to_columns(batch: pa.RecordBatch) -> Inputs:
    """The Transactions of ``batch`` (a batch whose schema passed ``check_schema``); input
    positions are rows of ``batch``."""
    n = batch.num_rows
    marks = _Marks(n)
    arrays: dict[str, pa.Array] = {}
    for name in FIELDS:
        arr = _column(batch, name)
        if name in REQUIRED_FIELDS:
            marks.nulls(arr, name)
        kind = _KIND[name]
        if kind == "enum":
            arr = _enum_indexes(arr, name, marks)
        elif kind == "long":
            arr = _as_int64(arr, name, marks)
        elif kind == "timestamp":
            arr = _epoch_ms(arr, marks)
        arrays[name] = arr
    while True:
        ok = marks.code == 0
        kept = np.flatnonzero(ok)
        rows = arrays if len(kept) == n else {k: v.filter(pa.array(ok)) for k, v in arrays.items()}
        strings: dict[str, list[str | None]] = {}
        for name in (*STRING_FIELDS, *OPTIONAL_STRING_FIELDS):
            strings[name], broken = _strings(rows[name])
            if broken:
                marks.mark(np.isin(np.arange(n), kept[broken]), name, "invalid_utf8")
                break
        else:
            break
    lat, has_lat = _floats(rows["latitude"])
    lon, has_lon = _floats(rows["longitude"])
    columns = TransactionColumns(
        **strings,  # type: ignore[arg-type]
        amount_minor=_ints(rows["amount_minor"]),
        channel=_ints(rows["channel"]).astype(np.int8),
        entry_mode=_ints(rows["entry_mode"]).astype(np.int8),
        event_time=_ints(rows["event_time"]),
        latitude=lat,
        longitude=lon,
        has_latitude=has_lat,
        has_longitude=has_lon,
    )
    return Inputs(columns, kept.astype(np.int64), marks.failures(), n)


def _ints(arr: pa.Array) -> npt.NDArray[np.int64]:
    return np.asarray(arr.cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)
