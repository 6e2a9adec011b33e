from __future__ import annotations

import itertools
from collections import Counter

from consumer.training.generator import FRAUD_PATTERNS, TransactionGenerator


def test_same_seed_same_events() -> None:
    assert TransactionGenerator(9).take(500) == TransactionGenerator(9).take(500)
    assert TransactionGenerator(9).take(50) != TransactionGenerator(10).take(50)


def test_fraud_rate_near_one_percent_with_every_pattern() -> None:
    events = TransactionGenerator(1).take(60_000)
    patterns = Counter(e.fraud_pattern for e in events)
    rate = sum(n for p, n in patterns.items() if p) / len(events)
    assert 0.007 < rate < 0.013
    assert set(FRAUD_PATTERNS) <= set(patterns)


def test_card_testing_comes_in_bursts_on_one_card() -> None:
    events = TransactionGenerator(2).take(30_000)
    runs = []
    i = 0
    while i < len(events):
        if events[i].fraud_pattern == "card_testing":
            j = i
            while j < len(events) and events[j].fraud_pattern == "card_testing":
                j += 1
            runs.append(events[i:j])
            i = j
        else:
            i += 1
    assert runs and max(len(r) for r in runs) >= 3
    for run in runs:
        assert len({e.record["card_id"] for e in run}) == 1


def test_simulated_time_never_goes_backwards() -> None:
    times = [e.record["event_time"] for e in TransactionGenerator(3).take(5000)]
    assert all(b >= a for a, b in itertools.pairwise(times))


def test_live_clock_sets_event_time() -> None:
    gen = TransactionGenerator(4, clock=lambda: 1_800_000_000_000)
    assert all(e.record["event_time"] == 1_800_000_000_000 for e in gen.take(20) if not e.is_fraud)


def test_card_ids_are_tokens_not_card_numbers() -> None:
    from consumer.scoring.validation import looks_like_pan

    assert not any(looks_like_pan(e.record["card_id"]) for e in TransactionGenerator(5).take(2000))
