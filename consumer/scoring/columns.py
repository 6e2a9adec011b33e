"""Transactions as columns: what every driver hands the scoring core.

Strings stay Python lists (one str per row, None where an optional field is absent);
numbers are numpy arrays; enums are their symbol indexes. Kafka values are decoded
straight into this shape (``_avro``), JSON requests and Parquet files are converted
into it, and validation, features, the model and the encoder work on it without a
Python object per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.scoring.codes import Codes
from consumer.scoring.schemas import CHANNELS, ENTRY_MODES

Record = dict[str, Any]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_CHANNEL = {s: i for i, s in enumerate(CHANNELS)}
_ENTRY = {s: i for i, s in enumerate(ENTRY_MODES)}
STRING_FIELDS = (
    "transaction_id",
    "card_id",
    "account_id",
    "currency",
    "merchant_id",
    "merchant_category_code",
    "merchant_country",
    "card_country",
)
OPTIONAL_STRING_FIELDS = ("device_id", "ip_address", "ip_country")


@dataclass
class TransactionColumns:
    transaction_id: list[str]
    card_id: list[str]
    account_id: list[str]
    amount_minor: IntArray
    currency: list[str]
    merchant_id: list[str]
    merchant_category_code: list[str]
    merchant_country: list[str]
    card_country: list[str]
    channel: npt.NDArray[np.int8]  # index into CHANNELS
    entry_mode: npt.NDArray[np.int8]  # index into ENTRY_MODES
    event_time: IntArray  # epoch milliseconds
    device_id: list[str | None]
    ip_address: list[str | None]
    ip_country: list[str | None]
    latitude: FloatArray  # NaN where absent (has_latitude False)
    longitude: FloatArray
    has_latitude: BoolArray
    has_longitude: BoolArray
    _codes: Codes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def codes(self) -> Codes:
        """The reference-data columns dictionary-encoded (once per batch)."""
        if self._codes is None:
            self._codes = Codes.of(
                self.currency,
                self.merchant_category_code,
                self.merchant_country,
                self.card_country,
                self.ip_country,
            )
        return self._codes

    def __len__(self) -> int:
        return len(self.transaction_id)

    @classmethod
    def from_dict(cls, columns: dict[str, Any]) -> TransactionColumns:
        return cls(**columns)

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> TransactionColumns:
        """Columns of decoded Transaction records (dicts with the schema's field names,
        enums as symbols). Raises KeyError/ValueError/TypeError on a record that does not
        have the schema's shape; callers that cannot trust theirs check them first."""
        n = len(records)
        lat = [r["latitude"] for r in records]
        lon = [r["longitude"] for r in records]
        out = cls(
            **{f: [r[f] for r in records] for f in STRING_FIELDS},
            amount_minor=np.fromiter((r["amount_minor"] for r in records), np.int64, n),
            channel=np.fromiter((_CHANNEL[r["channel"]] for r in records), np.int8, n),
            entry_mode=np.fromiter((_ENTRY[r["entry_mode"]] for r in records), np.int8, n),
            event_time=np.fromiter((r["event_time"] for r in records), np.int64, n),
            **{f: [r[f] for r in records] for f in OPTIONAL_STRING_FIELDS},
            latitude=np.array([np.nan if v is None else v for v in lat], np.float64),
            longitude=np.array([np.nan if v is None else v for v in lon], np.float64),
            has_latitude=np.array([v is not None for v in lat], bool),
            has_longitude=np.array([v is not None for v in lon], bool),
        )
        return out

    def record(self, i: int) -> Record:
        """Row ``i`` as a Transaction record (for tests, reports and re-encoding)."""
        return {
            **{f: getattr(self, f)[i] for f in STRING_FIELDS},
            "amount_minor": int(self.amount_minor[i]),
            "channel": CHANNELS[self.channel[i]],
            "entry_mode": ENTRY_MODES[self.entry_mode[i]],
            "event_time": int(self.event_time[i]),
            **{f: getattr(self, f)[i] for f in OPTIONAL_STRING_FIELDS},
            "latitude": float(self.latitude[i]) if self.has_latitude[i] else None,
            "longitude": float(self.longitude[i]) if self.has_longitude[i] else None,
        }

    def take(self, rows: npt.NDArray[np.int64]) -> TransactionColumns:
        """The rows at positions ``rows``, in that order."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if not f.init:
                continue
            col = getattr(self, f.name)
            values[f.name] = col[rows] if isinstance(col, np.ndarray) else [col[i] for i in rows]
        taken = TransactionColumns(**values)
        if self._codes is not None:
            taken._codes = self._codes.take(rows)
        return taken

    @classmethod
    def concat(cls, parts: Sequence[TransactionColumns]) -> TransactionColumns:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if not f.init:
                continue
            cols = [getattr(p, f.name) for p in parts]
            if isinstance(cols[0], np.ndarray):
                values[f.name] = np.concatenate(cols)
            else:
                values[f.name] = [v for c in cols for v in c]
        return cls(**values)
