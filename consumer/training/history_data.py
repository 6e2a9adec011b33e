"""Training data with card history, point in time: events replayed in order through the one
feature definition the services use, and merchant risk as it was known each day.

Every event gets its per-event features, its card-history features (the card's earlier
events only, carried in a card-state store exactly as the stream carries them), and its
merchant's fraud rates from the snapshot as of 00:00 UTC of its day, built from the labels
that had arrived by then. Nothing about an event depends on a later event or a later
label, so the holdout is scored as the services would have scored it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consumer.scoring.columns import TransactionColumns
from consumer.scoring.feature_sets import CARD_HISTORY
from consumer.scoring.features import feature_matrix
from consumer.scoring.history_context import HistoryContext, MemoryCardStates, history_block
from consumer.scoring.merchant_risk import DAY_MS, MerchantRisk, day_start
from consumer.scoring.merchant_risk_build import MerchantHistory
from consumer.training.labels import LabelledTransaction

Matrix = npt.NDArray[np.float64]


@dataclass
class HistoryData:
    features: Matrix  # (events, len(CARD_HISTORY.names)); the first 14 are per-event
    labels: npt.NDArray[np.float64]  # 1.0 fraud
    patterns: npt.NDArray[np.str_]  # "" for legitimate traffic
    event_time: npt.NDArray[np.int64]
    merchant_ids: list[str]
    last_snapshot: MerchantRisk  # as of the day after the last event: what serving starts with
    states: MemoryCardStates  # every card's state after the last event


def history_data(events: list[LabelledTransaction]) -> HistoryData:
    tx = TransactionColumns.from_records([e.record for e in events])
    n = len(tx)
    features = np.empty((n, len(CARD_HISTORY.names)))
    per_event = feature_matrix(tx)
    width = per_event.shape[1]
    features[:, :width] = per_event
    labels = {e.record["transaction_id"]: e.label_time for e in events if e.label_time is not None}
    merchants = MerchantHistory(tx.merchant_id, tx.event_time, tx.transaction_id, labels)
    states = MemoryCardStates()
    days = tx.event_time - tx.event_time % DAY_MS
    if n and np.any(np.diff(tx.event_time) < 0):
        raise ValueError("training events must be in event-time order")
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]]) if n else np.empty(0, np.int64)
    for a, b in zip(starts, [*starts[1:], n], strict=True):
        rows = np.arange(a, b, dtype=np.int64)
        context = HistoryContext(states, merchants.snapshot(int(days[a])))
        block = history_block(tx, rows, context)
        states.put(block.changed)
        features[a:b, width:] = block.features
    end = day_start(int(tx.event_time[-1])) + DAY_MS if n else 0
    return HistoryData(
        features=features,
        labels=np.array([e.is_fraud for e in events], dtype=np.float64),
        patterns=np.array([e.fraud_pattern or "" for e in events]),
        event_time=tx.event_time,
        merchant_ids=list(tx.merchant_id),
        last_snapshot=merchants.snapshot(end),
        states=states,
    )
