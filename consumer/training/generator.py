"""Synthetic, labelled card-authorization traffic: training data, load and demos.

Deterministic for a seed. About ``fraud_rate`` of events are fraud, drawn from four
patterns that real card fraud teams see (``patterns.py``), and legitimate traffic
overlaps each of them (travellers, night owls, app-store micro-payments, big purchases)
so the model has something to learn rather than a rule to copy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from consumer.scoring.codec import Record
from consumer.training.patterns import FRAUD_PATTERNS, PATTERN_WEIGHTS, fraud_records
from consumer.training.population import (
    DIGITAL_MCC,
    RECURRING_MCC,
    RESALE_MCC,
    TRAVEL_MCC,
    Population,
)

__all__ = ["FRAUD_PATTERNS", "LabelledTransaction", "TransactionGenerator"]

DEFAULT_START_MS = 1_790_812_800_000  # 2026-10-01T00:00:00Z
# Share of fraud that looks exactly like its cardholder's normal spending: no model
# of the event alone can catch it, as in real portfolios.
_MIMICRY = 0.1


@dataclass(frozen=True)
class LabelledTransaction:
    """A Transaction record and the generator's ground truth for it."""

    record: Record
    fraud_pattern: str | None  # None for legitimate traffic

    @property
    def is_fraud(self) -> bool:
        return self.fraud_pattern is not None


class TransactionGenerator:
    """An endless, seeded stream of labelled Transactions.

    Time comes from ``clock`` (epoch ms) when given, for live traffic; otherwise from a
    simulated clock starting at ``start_ms`` with ``events_per_day`` on average, which
    keeps the whole stream reproducible.
    """

    def __init__(
        self,
        seed: int,
        *,
        fraud_rate: float = 0.01,
        n_cards: int = 20_000,
        n_merchants: int = 5_000,
        start_ms: int = DEFAULT_START_MS,
        events_per_day: float = 20_000.0,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if not 0.0 <= fraud_rate < 1.0:
            raise ValueError("fraud_rate must be in [0, 1)")
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self._fraud_rate = fraud_rate
        self._clock = clock
        self._now_ms = start_ms
        self._gap_ms = 86_400_000 / events_per_day
        self._world = Population(self._rng, n_cards, n_merchants)
        self._pending: list[LabelledTransaction] = []

    def _tick(self) -> int:
        if self._clock is not None:
            return self._clock()
        self._now_ms += int(self._rng.expovariate(1.0) * self._gap_ms) + 1
        return self._now_ms

    # -- traffic ----------------------------------------------------------------
    def _legit(self, ms: int) -> Record:
        w = self._world
        rng = w.rng
        card = w.card_at(ms)
        abroad = rng.random() < 0.08
        country = w.foreign(card.country) if abroad else card.country
        kind = rng.choices(("pos", "ecom", "atm", "recurring", "moto"), (58, 30, 5, 5, 2))[0]
        scale = card.spend_usd * math.exp(rng.gauss(0, 0.9))
        if kind == "pos":
            merchant = w.merchant(country)
            mode = rng.choices(("CHIP", "CONTACTLESS", "WALLET", "MAGSTRIPE"), (45, 42, 10, 3))[0]
            usd = scale * (6 if merchant[1] in TRAVEL_MCC else 1)
            return w.record(
                card,
                ms,
                merchant_country=country,
                merchant=merchant,
                usd=usd,
                channel="POS",
                entry_mode=mode,
                device=None,
                ip_country=None,
                geo=rng.random() < 0.7,
            )
        if kind == "atm":
            usd = rng.choice((20, 40, 60, 100, 200, 300))
            return w.record(
                card,
                ms,
                merchant_country=country,
                merchant=w.merchant(country, ("6011",)),
                usd=usd,
                channel="ATM",
                entry_mode="CHIP",
                device=None,
                ip_country=None,
                geo=True,
            )
        if kind == "recurring":
            return w.record(
                card,
                ms,
                merchant_country=card.country,
                merchant=w.merchant(card.country, RECURRING_MCC),
                usd=rng.choice((4.99, 9.99, 14.99, 49.0, 89.0)),
                channel="RECURRING",
                entry_mode="CREDENTIAL_ON_FILE",
                device=None,
                ip_country=None,
                geo=False,
            )
        if kind == "moto":
            return w.record(
                card,
                ms,
                merchant_country=card.country,
                merchant=w.merchant(card.country),
                usd=scale,
                channel="MOTO",
                entry_mode="KEYED",
                device=None,
                ip_country=None,
                geo=False,
            )
        web_country = w.foreign(card.country) if rng.random() < 0.1 else card.country
        mccs = rng.choice((None, None, DIGITAL_MCC, RESALE_MCC, TRAVEL_MCC))
        merchant = w.merchant(web_country, mccs)
        usd = scale * (0.3 if merchant[1] in DIGITAL_MCC else 1.5 if mccs else 1)
        device = rng.choice(card.devices) if rng.random() < 0.85 else None
        if rng.random() < 0.05:
            device = "dev_" + w.hex(64)  # a new phone or browser
        ip_country = card.country if rng.random() < 0.95 else w.foreign(card.country)
        return w.record(
            card,
            ms,
            merchant_country=web_country,
            merchant=merchant,
            usd=usd,
            channel="ECOMMERCE",
            entry_mode=rng.choice(("ECOMMERCE", "CREDENTIAL_ON_FILE", "WALLET")),
            device=device,
            ip_country=ip_country if rng.random() < 0.9 else None,
            geo=False,
        )

    def __iter__(self) -> Iterator[LabelledTransaction]:
        return self

    def __next__(self) -> LabelledTransaction:
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
                return LabelledTransaction(self._legit(ms), pattern)
            records = fraud_records(self._world, pattern, ms)
            if self._clock is None and len(records) > 1:
                self._now_ms = max(self._now_ms, records[-1]["event_time"])
            self._pending = [LabelledTransaction(r, pattern) for r in records[1:]]
            return LabelledTransaction(records[0], pattern)
        return LabelledTransaction(self._legit(ms), None)

    def take(self, count: int) -> list[LabelledTransaction]:
        """The next ``count`` events."""
        return [next(self) for _ in range(count)]
