"""Transactions -> feature matrix, a batch of columns at a time. The only feature code:
training, the stream, batch prediction and the HTTP API all call ``feature_matrix``, so
online and offline scores agree to the last bit.

Features come from the one event alone (no per-card state), which keeps the scorer
stateless: any replica scores any partition, and replays give the same answer. Every
step is exact: integer arithmetic in int64, one correctly rounded division per value,
and log1p from the C library (``_columns.log1p``, what ``math.log1p`` calls).
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from consumer.scoring import _columns
from consumer.scoring.codes import (
    CURRENCY_SCALE,
    HOME_CURRENCY,
    HOME_KNOWN,
    HOME_OFFSET_MS,
    MCC_GROUP_OF,
    NONE,
    USD_RATE,
)
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.reference import (
    COUNTRY_INFO,
    CURRENCY_EXPONENT,
    MCC_GROUP,
    USD_PER_UNIT,
)
from consumer.scoring.schemas import CHANNELS, ENTRY_MODES

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
NAN = float("nan")
Matrix = npt.NDArray[np.float64]


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


def amount_usd(tx: TransactionColumns) -> npt.NDArray[np.float64]:
    """Each amount in US dollars at the reference rates; NaN where no rate is known."""
    c = tx.codes
    usd: npt.NDArray[np.float64] = (
        tx.amount_minor.astype(np.float64) / CURRENCY_SCALE[c.currency] * USD_RATE[c.currency]
    )
    return usd


def feature_matrix(tx: TransactionColumns) -> Matrix:
    """The (rows, len(FEATURE_NAMES)) float64 matrix of validated Transactions."""
    n = len(tx)
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    if n == 0:
        return out
    c = tx.codes
    major = tx.amount_minor.astype(np.float64) / CURRENCY_SCALE[c.currency]
    out[:, 0] = _columns.log1p(major)
    out[:, 1] = _columns.log1p(major * USD_RATE[c.currency])  # NaN where no rate is known
    out[:, 2] = c.mcc
    out[:, 3] = MCC_GROUP_OF[c.mcc]
    out[:, 4] = tx.channel
    out[:, 5] = tx.entry_mode
    card = c.card_country
    out[:, 6] = c.merchant_country != card
    known = HOME_KNOWN[card]
    out[:, 7] = np.where(known, HOME_CURRENCY[card] != c.currency, NAN)
    out[:, 8] = np.where(c.ip_country == NONE, NAN, c.ip_country != card)
    out[:, 9] = _columns.present(tx.device_id)
    out[:, 10] = _columns.present(tx.ip_address)
    out[:, 11] = tx.has_latitude
    local_ms = tx.event_time + HOME_OFFSET_MS[card]
    out[:, 12] = np.where(known, (local_ms % _DAY_MS) / _HOUR_MS, NAN)
    out[:, 13] = np.where(known, ((local_ms // _DAY_MS + 3) % 7).astype(np.float64), NAN)
    return out
