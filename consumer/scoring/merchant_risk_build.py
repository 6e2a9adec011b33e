"""Building merchant risk snapshots from transactions and the labels that arrived
(``merchant_risk.py`` holds the definition). Point in time: a snapshot as of T reads only
transactions before T and labels that arrived before T, so training can build one per
day and never learn from a label of the future."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from consumer.scoring.merchant_risk import (
    LABEL_DELAY_MS,
    WIDTH,
    WINDOWS_MS,
    MerchantRisk,
    snapshot_name,
)

IntArray = npt.NDArray[np.int64]


class MerchantHistory:
    """Transactions (merchant, event time, transaction id) and the arrival time of each
    one's fraud label, ready for any number of snapshots."""

    def __init__(
        self,
        merchant_ids: Sequence[str],
        event_time: IntArray,
        transaction_ids: Sequence[str],
        label_times: Mapping[str, int],
    ) -> None:
        """``label_times``: transaction id -> when its fraud label arrived (epoch ms)."""
        first = _first_occurrences(transaction_ids)
        merchants = np.asarray(merchant_ids, dtype=object)[first]
        self._names, self._codes = np.unique(merchants.astype(str), return_inverse=True)
        self._time = np.asarray(event_time, np.int64)[first]
        never = np.iinfo(np.int64).max
        ids = [transaction_ids[i] for i in first]
        self._label = np.fromiter((label_times.get(t, never) for t in ids), np.int64, len(ids))

    def snapshot(self, as_of_ms: int) -> MerchantRisk:
        n = len(self._names)
        rates = np.full((n, WIDTH), np.nan)
        seen = np.zeros(n, bool)
        end = as_of_ms - LABEL_DELAY_MS
        before = self._time < end
        known = self._label < as_of_ms
        tx = np.zeros(n, np.int64)
        for j, window in enumerate(WINDOWS_MS):
            inside = before & (self._time >= end - window)
            tx = np.bincount(self._codes[inside], minlength=n)
            fraud = np.bincount(self._codes[inside & known], minlength=n)
            has = tx > 0
            rates[has, j] = fraud[has] / tx[has]
            seen |= has
        rates[:, len(WINDOWS_MS)] = tx  # the last (30-day) window's transactions
        keep = np.flatnonzero(seen)
        names = self._names[keep]
        merchants = {str(m): i for i, m in enumerate(names)}
        return MerchantRisk(snapshot_name(as_of_ms), as_of_ms, merchants, rates[keep])


def _first_occurrences(ids: Sequence[str]) -> IntArray:
    seen: set[str] = set()
    out = []
    for i, t in enumerate(ids):
        if t not in seen:
            seen.add(t)
            out.append(i)
    return np.asarray(out, np.int64)
