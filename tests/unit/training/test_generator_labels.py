"""Labels as records of their own: one per fraudulent event, arriving 1-30 days later
(3-30 for compromised merchants), in the shape of schemas/label.avsc."""

from __future__ import annotations

import io
from collections import Counter

from fastavro import schemaless_reader

from consumer.scoring.schemas import parsed
from consumer.training.generator import TransactionGenerator, labels
from consumer.training.labels import LABEL_SCHEMA, encode_label
from tests.unit.training.conftest import HistoryRun

DAY_MS = 86_400_000


def test_one_label_per_fraud_event_and_none_for_legit(history_run: HistoryRun) -> None:
    events = history_run.events
    found = labels(events)
    fraud = [e for e in events if e.is_fraud]
    assert len(found) == len(fraud) > 1000
    assert {lab["transaction_id"] for lab in found} == {e.record["transaction_id"] for e in fraud}
    assert all(e.label() is None and e.label_time is None for e in events if not e.is_fraud)
    for e in fraud[:500]:
        lab = e.label()
        assert lab is not None
        assert lab == {
            "transaction_id": e.record["transaction_id"],
            "card_id": e.record["card_id"],
            "merchant_id": e.record["merchant_id"],
            "event_time": e.record["event_time"],
            "label_time": e.label_time,
            "fraud_pattern": e.fraud_pattern,
            "is_fraud": True,
        }


def test_label_delays_by_pattern(history_run: HistoryRun) -> None:
    delays: dict[str, list[float]] = {}
    for lab in labels(history_run.events):
        days = (lab["label_time"] - lab["event_time"]) / DAY_MS
        delays.setdefault(lab["fraud_pattern"], []).append(days)
    for pattern, days in delays.items():
        low = 3 if pattern == "compromised_merchant" else 1
        assert low <= min(days) < low + 2, pattern
        assert 25 < max(days) <= 30, pattern
    assert sorted(delays["compromised_merchant"])[len(delays["compromised_merchant"]) // 2] > 10


def test_labels_arrive_in_label_time_order_and_fit_the_schema(history_run: HistoryRun) -> None:
    found = labels(history_run.events)
    assert [lab["label_time"] for lab in found] == sorted(lab["label_time"] for lab in found)
    assert Counter(lab["is_fraud"] for lab in found) == {True: len(found)}
    reader = parsed(LABEL_SCHEMA)
    for lab in found[:200]:
        assert list(lab) == [f["name"] for f in LABEL_SCHEMA["fields"]]
        assert schemaless_reader(io.BytesIO(encode_label(lab)), reader, None) == lab


def test_labels_without_history_patterns_and_per_seed() -> None:
    events = TransactionGenerator(5, fraud_rate=0.05).take(5_000)
    again = TransactionGenerator(5, fraud_rate=0.05).take(5_000)
    assert labels(events) == labels(again)
    found = labels(events)
    assert len(found) == sum(e.is_fraud for e in events) > 100
    assert all(1 <= (lab["label_time"] - lab["event_time"]) / DAY_MS <= 30 for lab in found)
