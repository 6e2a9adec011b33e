"""Merchant risk: the fraud share of each merchant's recent transactions, counted only from
labels (chargebacks, confirmed fraud) that had arrived, as a daily snapshot.

Definition (``merchant-risk-v1``). Labels arrive days after the transaction, so the
windows end a label delay D = 7 days before the snapshot (as the fraud-detection
handbook's terminal risk does): a window of recent transactions whose labels cannot have
arrived would only dilute the share. A snapshot as of time T (epoch ms; daily snapshots
are as of 00:00 UTC) holds, for every merchant with a transaction in [T - D - 30 d, T - D),
and for each window W in {1 d, 7 d, 30 d}:

    fraud_rate_W = (transactions in [T - D - W, T - D) whose fraud label arrived before T)
                   / (transactions in [T - D - W, T - D))

NaN where the window holds no transaction of the merchant; and how many transactions its
30-day window holds (``merchant_transactions_30d``: a share of 1 in 2 is not one of 40
in 80). A transaction id counted once
(its first occurrence); a label counts for the transaction id it names. A merchant not in
the snapshot gets NaN for all three. Scoring an event looks its merchant up in the
snapshot in force: in training and batch the snapshot as of the start of the event's day
(point in time: no label from the future), in the stream and the API the newest one
published. Every score names the snapshot it used.

A snapshot on disk is two files, published like a model (``publish``): the table
``merchant-risk-<YYYY-MM-DD>.parquet`` and its card ``.json`` (as-of time, checksum,
counts), and a ``CURRENT`` file naming the card a service loads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from consumer.scoring.atomic_files import CURRENT, sha256_file, write_atomically, write_current
from consumer.scoring.errors import ModelError

MERCHANT_RISK_FEATURE_NAMES = ("merchant_fraud_rate_1d", "merchant_fraud_rate_7d",
                               "merchant_fraud_rate_30d", "merchant_transactions_30d")  # fmt: skip
MERCHANT_RISK_VERSION = "merchant-risk-v1"
WIDTH = len(MERCHANT_RISK_FEATURE_NAMES)
DAY_MS = 86_400_000
LABEL_DELAY_MS = 7 * DAY_MS
WINDOWS_MS = (DAY_MS, 7 * DAY_MS, 30 * DAY_MS)
Matrix = npt.NDArray[np.float64]


def day_start(ms: int) -> int:
    return ms - ms % DAY_MS


def snapshot_name(as_of_ms: int) -> str:
    day = dt.datetime.fromtimestamp(as_of_ms / 1000, dt.UTC).date().isoformat()
    return f"merchant-risk-{day}"


@dataclass(frozen=True)
class MerchantRisk:
    """One snapshot: per merchant, its fraud rates over the three windows."""

    name: str
    as_of_ms: int
    merchants: dict[str, int]  # merchant id -> row of ``rates``
    rates: Matrix  # (merchants, len(MERCHANT_RISK_FEATURE_NAMES))
    sha256: str = ""

    @classmethod
    def empty(cls, as_of_ms: int = 0) -> MerchantRisk:
        return cls(snapshot_name(as_of_ms), as_of_ms, {}, np.empty((0, WIDTH)))

    def __len__(self) -> int:
        return len(self.merchants)

    def lookup(self, merchant_ids: Sequence[str]) -> Matrix:
        """(rows, WIDTH) features of each merchant id; NaN for merchants not in it."""
        index = self.merchants
        at = np.fromiter((index.get(m, -1) for m in merchant_ids), np.int64, len(merchant_ids))
        out = np.full((len(merchant_ids), WIDTH), np.nan)
        known = at >= 0
        out[known] = self.rates[at[known]]
        return out

    # -- files -----------------------------------------------------------------------------
    def write(self, directory: Path, promote: bool = True) -> Path:
        """Table, then card (each appearing whole), then CURRENT: a reader never sees a
        card whose table is missing or half written. Returns the card's path."""
        directory.mkdir(parents=True, exist_ok=True)
        table = directory / f"{self.name}.parquet"
        ids = sorted(self.merchants, key=self.merchants.__getitem__)
        columns = {"merchant_id": pa.array(ids, pa.string())}
        for j, feature in enumerate(MERCHANT_RISK_FEATURE_NAMES):
            columns[feature] = pa.array(self.rates[:, j], pa.float64())
        tmp = table.with_name(f".{table.name}.tmp")
        pq.write_table(pa.table(columns), tmp, compression="zstd")
        tmp.replace(table)
        card = {
            "name": self.name,
            "definition": MERCHANT_RISK_VERSION,
            "as_of_ms": self.as_of_ms,
            "file": table.name,
            "sha256": sha256_file(table),
            "merchants": len(ids),
        }
        path = directory / f"{self.name}.json"
        write_atomically(path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())
        if promote:
            write_current(directory, path.name)
        return path


def load_merchant_risk(path: Path) -> MerchantRisk:
    """A snapshot: a card, or a directory (the card its CURRENT names, else the newest).
    ModelError with one line if anything is missing, corrupt or of another definition."""
    card_path = _card_path(path)
    try:
        card = json.loads(card_path.read_text())
        table_path = card_path.parent / str(card["file"])
        as_of, name, definition = int(card["as_of_ms"]), str(card["name"]), card["definition"]
        want = str(card["sha256"])
    except FileNotFoundError:
        raise ModelError(f"merchant risk snapshot not found: {card_path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"merchant risk card {card_path} is unreadable: {exc}") from None
    if definition != MERCHANT_RISK_VERSION:
        raise ModelError(f"{card_path} is {definition}; this scorer reads {MERCHANT_RISK_VERSION}")
    if not table_path.exists():
        raise ModelError(f"merchant risk table not found: {table_path}")
    if sha256_file(table_path) != want:
        raise ModelError(f"merchant risk table {table_path} is corrupt or was replaced")
    try:
        table = pq.read_table(table_path)
        ids = table.column("merchant_id").to_pylist()
        rates = (
            np.column_stack(
                [
                    np.asarray(table.column(f).to_numpy(zero_copy_only=False), np.float64)
                    for f in MERCHANT_RISK_FEATURE_NAMES
                ]
            )
            if table.num_rows
            else np.empty((0, 3))
        )
    except (pa.ArrowException, KeyError, OSError) as exc:
        raise ModelError(f"merchant risk table {table_path} cannot be read: {exc}") from None
    return MerchantRisk(name, as_of, {m: i for i, m in enumerate(ids)}, rates, want)


def _card_path(path: Path) -> Path:
    if not path.is_dir():
        return path
    current = path / CURRENT
    if current.exists():
        name = current.read_text().strip()
        if not name or "/" in name:
            raise ModelError(f"{current} must name one merchant risk card in its directory")
        return path / (name if name.endswith(".json") else f"{name}.json")
    cards = sorted(path.glob("merchant-risk-*.json"))
    if not cards:
        raise ModelError(f"no merchant risk snapshot (merchant-risk-<date>.json) in {path}")
    return cards[-1]
