"""History-only fraud patterns: the switch, the shapes of the three patterns, the mix,
and the simulated span history features need."""

from __future__ import annotations

import hashlib
import itertools
import json
import statistics
from collections import Counter, defaultdict

from consumer.scoring.codec import Record
from consumer.training.generator import (
    ALL_PATTERNS,
    HISTORY_PATTERNS,
    LabelledTransaction,
    TransactionGenerator,
)
from consumer.training.history import COMPROMISE_SHARE
from consumer.training.population import DIGITAL_MCC
from consumer.training.train import TrainingSpec
from tests.unit.training.conftest import HistoryRun, usd, usd_slack

DAY_MS = 86_400_000


def _digest(events: list[LabelledTransaction]) -> str:
    h = hashlib.sha256()
    for e in events:
        h.update(json.dumps([e.record, e.fraud_pattern], sort_keys=True).encode())
    return h.hexdigest()


def test_switch_off_gives_exactly_the_events_of_before() -> None:
    # Digests computed with the generator as it was before history patterns existed.
    default = TransactionGenerator(1, history_patterns=False).take(20_000)
    assert _digest(default) == "850c86f468bee39d360f39004a7f5a1dfa67f966abe50cec37ed8d939306dc0c"
    small = TransactionGenerator(
        3, fraud_rate=0.1, n_cards=500, n_merchants=200, events_per_day=1000
    ).take(5_000)
    assert _digest(small) == "886af1b6752d59f63cf99b21681c3a90e7879e026ac339f7adb7bad1bd04d770"
    live = TransactionGenerator(4, clock=lambda: 1_800_000_000_000).take(2_000)
    assert _digest(live) == "72edf34c7a28d682b3cb97a8723483975ab572b14cbb1b854d7d340c7390af32"


def test_same_seed_same_events_and_labels_with_history_patterns() -> None:
    def run(seed: int) -> list[LabelledTransaction]:
        return TransactionGenerator(seed, fraud_rate=0.1, history_patterns=True).take(4_000)

    first = run(9)
    assert first == run(9)
    assert {e.fraud_pattern for e in first} >= {"card_testing_burst", "account_takeover_spend"}
    assert [e.record for e in run(10)[:50]] != [e.record for e in first[:50]]
    assert _digest(first) != _digest(TransactionGenerator(9, fraud_rate=0.1).take(4_000))


def test_fraud_rate_and_mix_with_history_patterns(history_run: HistoryRun) -> None:
    events = history_run.events
    patterns = Counter(e.fraud_pattern for e in events if e.is_fraud)
    fraud = sum(patterns.values())
    assert 0.064 < fraud / len(events) < 0.096  # fraud_rate 0.08
    assert set(patterns) == set(ALL_PATTERNS)
    history = sum(patterns[p] for p in HISTORY_PATTERNS) / fraud
    assert 0.4 < history < 0.6  # half the fraud, by design
    for p in HISTORY_PATTERNS:
        assert 0.1 < patterns[p] / fraud < 0.24, p  # a sixth each


def test_time_never_goes_backwards_with_history_patterns(history_run: HistoryRun) -> None:
    times = [e.record["event_time"] for e in history_run.events]
    assert all(b >= a for a, b in itertools.pairwise(times))


def test_live_clock_with_history_patterns_releases_bursts_as_time_passes() -> None:
    now = [1_800_000_000_000]

    def clock() -> int:
        now[0] += 250
        return now[0]

    gen = TransactionGenerator(6, fraud_rate=0.2, clock=clock, history_patterns=True)
    for e in gen.take(20_000):
        assert e.record["event_time"] <= now[0]
    assert any(e.fraud_pattern == "card_testing_burst" for e in gen.take(20_000))


def _bursts(run: HistoryRun) -> list[list[Record]]:
    """card_testing_burst events per card, split where 20 minutes pass without one."""
    by_card: dict[str, list[Record]] = defaultdict(list)
    for r in run.of("card_testing_burst"):
        by_card[r["card_id"]].append(r)
    bursts = []
    for records in by_card.values():
        burst = [records[0]]
        for r in records[1:]:
            if r["event_time"] - burst[-1]["event_time"] > 20 * 60_000:
                bursts.append(burst)
                burst = []
            burst.append(r)
        bursts.append(burst)
    return bursts


def test_card_testing_bursts_are_5_to_30_micro_payments_within_20_minutes(
    history_run: HistoryRun,
) -> None:
    bursts = _bursts(history_run)
    assert len(bursts) > 50
    sizes = [len(b) for b in bursts]
    assert min(sizes) >= 5 and max(sizes) <= 30 and max(sizes) - min(sizes) >= 15
    for burst in bursts:
        span = burst[-1]["event_time"] - burst[0]["event_time"]
        assert 60_000 <= span <= 20 * 60_000
        assert len({r["merchant_id"] for r in burst}) == 1
        for r in burst:
            assert r["channel"] == "ECOMMERCE" and r["merchant_category_code"] in DIGITAL_MCC
            assert 0.5 - usd_slack(r) <= usd(r) <= 3.0 + usd_slack(r)


def test_account_takeover_uses_a_new_device_and_spends_3_to_10x_the_cards_median(
    history_run: HistoryRun,
) -> None:
    cards = history_run.cards()
    seen: dict[str, set[str]] = defaultdict(set)  # devices a card used so far
    takeovers: dict[str, list[Record]] = defaultdict(list)
    for e in history_run.events:
        r = e.record
        if e.fraud_pattern == "account_takeover_spend":
            device = r["device_id"]
            if device not in takeovers:  # the first purchase: a device new to the card
                assert device not in seen[r["card_id"]]
                assert device not in cards[r["card_id"]].devices
            takeovers[device].append(r)
        if r["device_id"] is not None:
            seen[r["card_id"]].add(r["device_id"])
    assert len(takeovers) > 300
    assert Counter(len(t) for t in takeovers.values()).keys() == {1, 2, 3}
    multiples = []
    for purchases in takeovers.values():
        assert len({r["card_id"] for r in purchases}) == 1
        card = cards[purchases[0]["card_id"]]
        for r in purchases:
            assert r["channel"] == "ECOMMERCE"
            slack = usd_slack(r) / card.spend_usd
            multiples.append(usd(r) / card.spend_usd)
            assert 3.0 - slack <= multiples[-1] <= 10.0 + slack
    assert min(multiples) < 3.5 and max(multiples) > 9.0
    # Amounts are ordinary: spending levels differ by more than 10x between cards.
    spends = sorted(c.spend_usd for c in cards.values())
    assert spends[len(spends) * 9 // 10] / spends[len(spends) // 10] > 10


def test_compromised_merchants_for_14_to_28_days_with_a_fraud_share_that_stands_out(
    history_run: HistoryRun,
) -> None:
    windows = history_run.generator.compromised.windows
    events = history_run.events
    start, end = events[0].record["event_time"], events[-1].record["event_time"]
    for w in windows:
        assert 14 * DAY_MS <= w.end_ms - w.start_ms <= 28 * DAY_MS
        assert COMPROMISE_SHARE[0] <= w.fraud_share <= COMPROMISE_SHARE[1]
    for day in range(start, end, DAY_MS):  # a few at any time
        assert 4 <= sum(w.start_ms <= day < w.end_ms for w in windows) <= 30
    by_merchant: dict[str, list[LabelledTransaction]] = defaultdict(list)
    for e in events:
        by_merchant[e.record["merchant_id"]].append(e)
    checked, expected, seen = 0, 0.0, 0
    for w in windows:
        inside: list[LabelledTransaction] = []
        outside: list[LabelledTransaction] = []
        for e in by_merchant[w.merchant_id]:
            (inside if w.start_ms <= e.record["event_time"] < w.end_ms else outside).append(e)
        if len(inside) < 40:
            continue
        checked += 1
        frauds = sum(e.fraud_pattern == "compromised_merchant" for e in inside)
        share = frauds / len(inside)
        low, high = COMPROMISE_SHARE
        assert low * 0.5 < share < min(1.0, high * 1.2)
        expected, seen = expected + w.fraud_share * len(inside), seen + frauds
        assert not any(e.fraud_pattern == "compromised_merchant" for e in outside)
        if len(outside) >= 40:  # the same merchant when not compromised
            assert sum(e.is_fraud for e in outside) / len(outside) < share / 3
        # over any 7 days of the compromise, too
        for week in range(max(start, w.start_ms), min(end, w.end_ms) - 7 * DAY_MS, DAY_MS):
            days = [e for e in inside if week <= e.record["event_time"] < week + 7 * DAY_MS]
            if len(days) >= 20:
                assert sum(e.is_fraud for e in days) / len(days) > 0.08
    assert checked >= 8
    assert 0.85 < seen / expected < 1.1  # each compromised merchant at its fraud share
    # compromised merchants are busy ones
    traffic = Counter(e.record["merchant_id"] for e in events)
    busy = statistics.median(traffic[w.merchant_id] for w in windows)
    assert busy > 4 * statistics.mean(traffic.values())


def test_default_training_size_spans_35_days_with_a_few_events_per_card_a_week() -> None:
    gen = TransactionGenerator(1, history_patterns=True)
    events = gen.take(60_000)
    days = (events[-1].record["event_time"] - events[0].record["event_time"]) / DAY_MS
    per_day = len(events) / days
    assert TrainingSpec().rows / per_day >= 35
    n_cards = sum(len(c) for c in gen.population.cards.values())
    assert 3 <= per_day * 7 / n_cards <= 6
    # repeat customers: most cards seen in these 5 days come back within them
    visits = Counter(e.record["card_id"] for e in events)
    assert sum(n > 1 for n in visits.values()) / len(visits) > 0.7


def test_legit_traffic_has_micro_payments_and_new_devices(history_run: HistoryRun) -> None:
    legit = history_run.of(None)
    micro = [
        r for r in legit if r["merchant_category_code"] in DIGITAL_MCC and 0.5 <= usd(r) <= 3.0
    ]
    assert 0.06 < len(micro) / len(legit) < 0.1
    ecom = [r for r in legit if r["channel"] == "ECOMMERCE"]
    cards = history_run.cards()
    new = [r for r in ecom if r["device_id"] and r["device_id"] not in cards[r["card_id"]].devices]
    assert 0.035 < len(new) / len(ecom) < 0.065
