"""Synthetic, labelled card-authorization traffic: training data, load and demos.

Deterministic for a seed. About ``fraud_rate`` of events are fraud, drawn from four
patterns that real card fraud teams see (``patterns.py``), and legitimate traffic
overlaps each of them (travellers, night owls, app-store micro-payments, big purchases)
so the model has something to learn rather than a rule to copy.

With ``history_patterns=True`` the generator adds three patterns whose single events are
drawn from the legitimate distribution (``history.py``): only a card's or a merchant's
history reveals them. Fraud is then split evenly between the two groups (shares of
fraudulent events, ``HISTORY_MIX``):

    card_testing 17.5%, account_takeover 12.5%, counterfeit 10%, night_cross_border 10%
    card_testing_burst 1/6, account_takeover_spend 1/6, compromised_merchant 1/6

and the world changes to make those patterns possible: cards' median tickets spread
wider (log-normal sigma 1.0 instead of 0.5: the 10th and 90th percentiles 13x apart),
merchants have a popularity (some are much busier than others), legitimate traffic
includes micro-payments at digital merchants (7.4% of it), and the clock runs at
12,000 events a day by default, so the 20,000 default cards see 4.2 events a week each
and the default training size (500,000 events) spans 41.7 days. Without the switch,
every event is exactly what it always was for a seed.

Every fraudulent event carries when its label arrives (``labels.py``).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator

from consumer.scoring.codec import Record
from consumer.training.history import (
    HISTORY_PATTERNS,
    CompromisedMerchants,
    burst_records,
    takeover_records,
)
from consumer.training.labels import LabelledTransaction, Labeller, labels
from consumer.training.legit import legit_record
from consumer.training.patterns import FRAUD_PATTERNS, PATTERN_WEIGHTS, fraud_records
from consumer.training.population import Population

__all__ = [
    "ALL_PATTERNS",
    "FRAUD_PATTERNS",
    "HISTORY_MIX",
    "HISTORY_PATTERNS",
    "LabelledTransaction",
    "TransactionGenerator",
    "labels",
]

DEFAULT_START_MS = 1_790_812_800_000  # 2026-10-01T00:00:00Z
DEFAULT_EVENTS_PER_DAY = 20_000.0
HISTORY_EVENTS_PER_DAY = 12_000.0
HISTORY_SPEND_SIGMA = 1.0
# Share of fraud that looks exactly like its cardholder's normal spending: no model
# of the event alone can catch it, as in real portfolios.
_MIMICRY = 0.1
ALL_PATTERNS = (*FRAUD_PATTERNS, *HISTORY_PATTERNS)
# Share of fraudulent events per pattern with history patterns on: half per-event
# (in PATTERN_WEIGHTS' proportions), half history-only (a sixth each).
HISTORY_MIX: dict[str, float] = {
    **{p: w / 2 for p, w in zip(FRAUD_PATTERNS, PATTERN_WEIGHTS, strict=True)},
    **dict.fromkeys(HISTORY_PATTERNS, 1 / 6),
}
# Mean events per fraud picked; compromised_merchant is never picked (it turns a share
# of compromised merchants' traffic into fraud).
_EVENTS_PER_PICK = {"card_testing": 5.5, "card_testing_burst": 17.5, "account_takeover_spend": 2.0}
_PICKED = tuple(p for p in ALL_PATTERNS if p != "compromised_merchant")


class TransactionGenerator:
    """An endless, seeded stream of labelled Transactions.

    Time comes from ``clock`` (epoch ms) when given, for live traffic; otherwise from a
    simulated clock starting at ``start_ms`` with ``events_per_day`` on average (20,000,
    or 12,000 with history patterns), which keeps the whole stream reproducible.
    """

    def __init__(
        self,
        seed: int,
        *,
        fraud_rate: float = 0.01,
        n_cards: int = 20_000,
        n_merchants: int = 5_000,
        start_ms: int = DEFAULT_START_MS,
        events_per_day: float | None = None,
        clock: Callable[[], int] | None = None,
        history_patterns: bool = False,
    ) -> None:
        if not 0.0 <= fraud_rate < 1.0:
            raise ValueError("fraud_rate must be in [0, 1)")
        if events_per_day is None:
            events_per_day = HISTORY_EVENTS_PER_DAY if history_patterns else DEFAULT_EVENTS_PER_DAY
        if events_per_day <= 0:
            raise ValueError("events_per_day must be positive")
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self._fraud_rate = fraud_rate
        self._clock = clock
        self._now_ms = start_ms
        self.events_per_day = events_per_day
        self._gap_ms = 86_400_000 / events_per_day
        self.history_patterns = history_patterns
        self._label = Labeller(seed)
        self._pending: list[LabelledTransaction] = []
        if not history_patterns:
            self._world = Population(self._rng, n_cards, n_merchants)
            self.compromised = CompromisedMerchants(self._world, seed, 0.0)  # none
            return
        self._world = Population(
            self._rng,
            n_cards,
            n_merchants,
            spend_sigma=HISTORY_SPEND_SIGMA,
            popular_merchants=True,
        )
        self.compromised = CompromisedMerchants(
            self._world, seed, fraud_rate * HISTORY_MIX["compromised_merchant"]
        )
        self._queue: list[tuple[int, int, LabelledTransaction]] = []
        self._queued = 0
        self._next_ms: int | None = None
        # Picks are weighted by share / events per pick, so each pattern's share of
        # fraudulent *events* is its HISTORY_MIX; fraud_rate * sum(weights) picks per
        # tick then give fraud_rate * 5/6 of events, compromised merchants the rest.
        self._pick_weights = [HISTORY_MIX[p] / _EVENTS_PER_PICK.get(p, 1.0) for p in _PICKED]
        self._pick_rate = fraud_rate * sum(self._pick_weights)

    @property
    def population(self) -> Population:
        """The world's cards and merchants (for checks of what was generated)."""
        return self._world

    def _tick(self) -> int:
        if self._clock is not None:
            return self._clock()
        self._now_ms += int(self._rng.expovariate(1.0) * self._gap_ms) + 1
        return self._now_ms

    def __iter__(self) -> Iterator[LabelledTransaction]:
        return self

    def __next__(self) -> LabelledTransaction:
        if self.history_patterns:
            return self._next_with_history()
        if self._pending:
            return self._pending.pop(0)
        ms = self._tick()
        # Card testing comes in bursts of ~5.5 events, so it is picked less often to
        # keep the share of fraudulent *events* at fraud_rate.
        mean_burst = 5.5
        weights = [
            w / (mean_burst if p == "card_testing" else 1.0)
            for p, w in zip(FRAUD_PATTERNS, PATTERN_WEIGHTS, strict=True)
        ]
        per_pick = sum(
            w * (mean_burst if p == "card_testing" else 1.0)
            for p, w in zip(FRAUD_PATTERNS, weights, strict=True)
        ) / sum(weights)
        if self._rng.random() < self._fraud_rate / per_pick:
            pattern = self._rng.choices(FRAUD_PATTERNS, weights)[0]
            if self._rng.random() < _MIMICRY:
                return self._label(legit_record(self._world, ms), pattern)
            records = fraud_records(self._world, pattern, ms)
            if self._clock is None and len(records) > 1:
                self._now_ms = max(self._now_ms, records[-1]["event_time"])
            self._pending = [self._label(r, pattern) for r in records[1:]]
            return self._label(records[0], pattern)
        return self._label(legit_record(self._world, ms), None)

    # -- with history patterns: frauds that span time wait in a queue by event time --
    def _next_with_history(self) -> LabelledTransaction:
        if self._next_ms is None:
            self._next_ms = self._tick()
        if self._queue and self._queue[0][0] <= self._next_ms:
            return heapq.heappop(self._queue)[2]
        ms, self._next_ms = self._next_ms, None
        pattern, records = self._draw(ms)
        for r in records[1:]:
            self._queued += 1
            heapq.heappush(self._queue, (r["event_time"], self._queued, self._label(r, pattern)))
        return self._label(records[0], pattern)

    def _draw(self, ms: int) -> tuple[str | None, list[Record]]:
        """The pattern (None: legitimate) and the events of what starts at ``ms``."""
        rng, world = self._rng, self._world
        if rng.random() < self._pick_rate:
            pattern = rng.choices(_PICKED, self._pick_weights)[0]
            if pattern == "card_testing_burst":
                return pattern, burst_records(world, ms)
            if pattern == "account_takeover_spend":
                return pattern, takeover_records(world, ms)
            if rng.random() < _MIMICRY:
                return pattern, [legit_record(world, ms, micro=True)]
            return pattern, fraud_records(world, pattern, ms)
        record = legit_record(world, ms, micro=True)
        share = self.compromised.fraud_share(record["merchant_id"], ms)
        if share is not None and rng.random() < share:
            return "compromised_merchant", [record]
        return None, [record]

    def take(self, count: int) -> list[LabelledTransaction]:
        """The next ``count`` events."""
        return [next(self) for _ in range(count)]
