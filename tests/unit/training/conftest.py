"""A generated run with history patterns, shared by the generator tests, and helpers to
read its events."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from consumer.scoring.codec import Record
from consumer.scoring.reference import CURRENCY_EXPONENT, USD_PER_UNIT
from consumer.training.generator import LabelledTransaction, TransactionGenerator
from consumer.training.population import Card


@dataclass(frozen=True)
class HistoryRun:
    generator: TransactionGenerator
    events: list[LabelledTransaction]

    def cards(self) -> dict[str, Card]:
        world = self.generator.population
        return {c.card_id: c for cards in world.cards.values() for c in cards}

    def of(self, pattern: str | None) -> list[Record]:
        return [e.record for e in self.events if e.fraud_pattern == pattern]


@pytest.fixture(scope="session")
def history_run() -> HistoryRun:
    """100,000 events (32 simulated days) of a world with the default one's proportions
    at a quarter of its size (cards per event a day, merchants per card), with 8% fraud
    so every pattern has hundreds of events."""
    gen = TransactionGenerator(
        11,
        fraud_rate=0.08,
        n_cards=5_000,
        n_merchants=1_250,
        events_per_day=3_000.0,
        history_patterns=True,
    )
    return HistoryRun(gen, gen.take(100_000))


def usd(record: Record) -> float:
    """The record's amount in USD."""
    units = record["amount_minor"] / 10 ** CURRENCY_EXPONENT[record["currency"]]
    return float(units * USD_PER_UNIT[record["currency"]])


def usd_slack(record: Record) -> float:
    """Half a minor unit of the record's currency, in USD: how far rounding moves it."""
    return float(
        0.5 / 10 ** CURRENCY_EXPONENT[record["currency"]] * USD_PER_UNIT[record["currency"]]
    )


def log_usd(record: Record) -> float:
    return math.log(max(usd(record), 0.01))
