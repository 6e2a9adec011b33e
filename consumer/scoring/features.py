"""Transaction -> feature vector. The only feature code: training, streaming and batch
scoring all call it, so online and offline scores agree to the last bit.

Features are computed from the one event alone (no per-card state), which keeps the
scorer stateless: any replica scores any partition, and replays give the same answer.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from consumer.scoring.codec import CHANNELS, ENTRY_MODES, Record
from consumer.scoring.reference import (
    COUNTRY_INFO,
    CURRENCY_EXPONENT,
    MCC_GROUP,
    UNKNOWN_MCC_GROUP,
    USD_PER_UNIT,
)

FEATURE_NAMES: tuple[str, ...] = (
    "amount_log",
    "amount_usd_log",
    "mcc",
    "mcc_group",
    "channel",
    "entry_mode",
    "cross_border",
    "currency_foreign",
    "ip_country_mismatch",
    "has_device",
    "has_ip",
    "has_geo",
    "hour_local",
    "day_of_week_local",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("mcc", "mcc_group", "channel", "entry_mode")

_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_CHANNEL_INDEX = {name: float(i) for i, name in enumerate(CHANNELS)}
_ENTRY_INDEX = {name: float(i) for i, name in enumerate(ENTRY_MODES)}
NAN = math.nan


def _version() -> str:
    # Changes whenever the feature list or the tables behind it change, so a model
    # trained on other features refuses to load instead of scoring garbage.
    h = hashlib.sha256()
    for part in (FEATURE_NAMES, CATEGORICAL_FEATURES, CHANNELS, ENTRY_MODES):
        h.update(repr(part).encode())
    for table in (CURRENCY_EXPONENT, USD_PER_UNIT, COUNTRY_INFO, MCC_GROUP):
        h.update(repr(sorted(table.items())).encode())
    return h.hexdigest()[:16]


FEATURE_SET_VERSION = _version()


def feature_row(tx: Record) -> tuple[float, ...]:
    """The feature vector of one validated Transaction, in FEATURE_NAMES order."""
    currency = tx["currency"]
    major = tx["amount_minor"] / 10 ** CURRENCY_EXPONENT[currency]
    rate = USD_PER_UNIT.get(currency)
    card_country = tx["card_country"]
    info = COUNTRY_INFO.get(card_country)
    ip_country = tx["ip_country"]
    mcc = tx["merchant_category_code"]

    if info is None:
        hour_local = dow_local = currency_foreign = NAN
    else:
        local_ms = tx["event_time"] + int(info[0] * _HOUR_MS)
        hour_local = (local_ms % _DAY_MS) / _HOUR_MS
        dow_local = float((local_ms // _DAY_MS + 3) % 7)  # 1970-01-01 was a Thursday
        currency_foreign = float(currency != info[1])

    return (
        math.log1p(major),
        NAN if rate is None else math.log1p(major * rate),
        float(mcc),
        float(MCC_GROUP.get(mcc, UNKNOWN_MCC_GROUP)),
        _CHANNEL_INDEX[tx["channel"]],
        _ENTRY_INDEX[tx["entry_mode"]],
        float(tx["merchant_country"] != card_country),
        currency_foreign,
        NAN if ip_country is None else float(ip_country != card_country),
        float(tx["device_id"] is not None),
        float(tx["ip_address"] is not None),
        float(tx["latitude"] is not None),
        hour_local,
        dow_local,
    )


def build_matrix(rows: Sequence[tuple[float, ...]]) -> npt.NDArray[np.float64]:
    """Stack feature rows into the (n, len(FEATURE_NAMES)) float64 matrix the model takes."""
    if not rows:
        return np.empty((0, len(FEATURE_NAMES)), dtype=np.float64)
    return np.array(rows, dtype=np.float64)


def feature_matrix(txs: Sequence[Record]) -> npt.NDArray[np.float64]:
    """Features of many validated Transactions at once (training and tests)."""
    return build_matrix([feature_row(tx) for tx in txs])
