"""The three history-only fraud patterns: each single event is a draw from the legitimate
distribution, so only the card's (or the merchant's) history gives the fraud away.

- card_testing_burst: 5-30 micro-payments (0.5-3 USD) on one card within 1-20 minutes
  (first to last), at one digital merchant. Each event's fields are those of a legitimate
  micro-payment by that card (``legit.micro_fields``): only the burst is unusual.
- account_takeover_spend: a device the card has never used (a new ``dev_`` id), then 1-3
  ordinary ecommerce purchases with it, 1-90 minutes apart, each 3-10x the card's own
  median ticket. Victim and amounts are chosen so that the amounts are ordinary ones:
  an ecommerce purchase is drawn for an active card of some country, and the victim is
  the card of that country whose median ticket is nearest the amount divided by a
  multiple drawn log-uniformly in 3-10, among those 3-10x below it (follow-up purchases:
  ecommerce purchases drawn for the victim's compatriots until one is 3-10x the
  victim's median). Amounts below ~10 USD are rarer than in legitimate ecommerce: no
  card has a median ticket low enough for them. What stands out is the amount for this
  card, on a new device.
- compromised_merchant: ``CompromisedMerchants`` below.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from consumer.scoring.codec import Record
from consumer.training.legit import (
    GENERAL_PICK_HOME,
    GENERAL_PICK_WEIGHT,
    HISTORY_KIND_WEIGHTS,
    ecom_fields,
    micro_fields,
    micro_place,
)
from consumer.training.population import EVERYDAY_MCC, Card, Fields, Population

HISTORY_PATTERNS = ("card_testing_burst", "account_takeover_spend", "compromised_merchant")
BURST_EVENTS = (5, 30)
BURST_SPAN_MS = (60_000, 1_200_000)
TAKEOVER_PURCHASES = (1, 3)
TAKEOVER_MULTIPLE = (3.0, 10.0)
TAKEOVER_GAP_MS = (60_000, 5_400_000)
COMPROMISE_DAYS = (14.0, 28.0)
COMPROMISE_SHARE = (0.3, 0.7)
COMPROMISE_SLOTS = 8  # merchants compromised at any time, at least
_DAY_MS = 86_400_000
_TRIES = 50


def burst_records(world: Population, ms: int) -> list[Record]:
    """A card-testing burst on a card active at ``ms``, from ``ms`` on."""
    rng = world.rng
    card = world.card_at(ms)
    place = micro_place(world, card)
    n = rng.randint(*BURST_EVENTS)
    span = rng.randint(*BURST_SPAN_MS)
    offsets = sorted(rng.randint(0, span) for _ in range(n - 2))
    times = [ms, *(ms + o for o in offsets), ms + span]
    return [world.record(card, t, micro_fields(world, card, place)) for t in times]


def _ordinary_ecom(world: Population, card: Card) -> Fields:
    return ecom_fields(world, card, card.spend_usd * math.exp(world.rng.gauss(0, 0.9)))


def takeover_records(world: Population, ms: int) -> list[Record]:
    """An account takeover: 1-3 purchases from a new device, from ``ms`` on."""
    rng = world.rng
    low, high = TAKEOVER_MULTIPLE
    for _ in range(_TRIES):
        template = world.card_at(ms)
        fields = _ordinary_ecom(world, template)
        victims = world.cards_by_spend(template.country, fields.usd / high, fields.usd / low)
        if victims:
            target = fields.usd / math.exp(rng.uniform(math.log(low), math.log(high)))
            at = bisect.bisect_left([c.spend_usd for c in victims], target)
            victim = victims[min(at, len(victims) - 1)]
            break
    else:  # no card of that country spends little enough: scale the amount instead
        victim = template
        fields = fields._replace(usd=victim.spend_usd * rng.uniform(low, high))
    device = "dev_" + world.hex(64)
    out = [world.record(victim, ms, fields._replace(device=device))]
    for _ in range(rng.randint(*TAKEOVER_PURCHASES) - 1):
        ms += rng.randint(*TAKEOVER_GAP_MS)
        fields = _purchase_between(world, victim, victim.spend_usd * low, victim.spend_usd * high)
        out.append(world.record(victim, ms, fields._replace(device=device)))
    return out


def _purchase_between(world: Population, card: Card, low_usd: float, high_usd: float) -> Fields:
    """An ordinary ecommerce purchase by one of ``card``'s compatriots that costs between
    ``low_usd`` and ``high_usd``, for ``card`` (its IP country is the same country)."""
    rng = world.rng
    for _ in range(_TRIES):
        fields = _ordinary_ecom(world, rng.choice(world.cards[card.country]))
        if low_usd <= fields.usd <= high_usd:
            return fields
    return fields._replace(usd=rng.uniform(low_usd, high_usd))


@dataclass(frozen=True)
class Compromise:
    """One merchant's compromise: from start_ms (inclusive) to end_ms (exclusive), a
    ``fraud_share`` of its transactions are fraudulent."""

    merchant_id: str
    country: str
    start_ms: int
    end_ms: int
    fraud_share: float


class CompromisedMerchants:
    """Which merchants are compromised when, and what share of their traffic is fraud.

    ``slots`` merchants (8, or more if the target needs them) are compromised at any
    time: each slot runs one 14-28-day compromise after another, with staggered phases
    from the start. A compromised merchant's legitimate-looking traffic is fraud with
    probability ``fraud_share`` (30-70%), so its events stay ordinary draws while its
    fraud share over 1, 7 or 30 days stands out. Merchants are everyday-category ones
    (grocery, restaurants, fuel: the classic common point of purchase), which only
    general merchant picks reach, so a merchant's share of all events follows from its
    popularity. Each is picked, weighted by popularity, among those whose share makes
    ``fraud_share * share = target_share / slots`` with a fraud share in 30-70%: with the
    defaults, merchants several times busier than average. Draws come from a stream of
    its own, and the schedule starts at the first event's time.
    """

    def __init__(self, world: Population, seed: int, target_share: float) -> None:
        self._world = world
        self._rng = random.Random(f"fraud-consumer-compromise:{seed}")  # noqa: S311
        self._target = target_share
        self.windows: list[Compromise] = []  # every compromise so far, in start order
        self._slots: list[Compromise] = []
        self._used: set[str] = set()
        self._active: dict[str, Compromise] = {}
        self._next_end = -1
        self._candidates: list[tuple[str, str, float]] = []  # (merchant, country, share)
        self._weights: list[float] = []
        self.slots = 0
        if target_share > 0:
            self._choose_candidates()

    def _traffic_shares(self) -> list[tuple[str, str, float]]:
        """(merchant, country, expected share of all events) of everyday merchants."""
        w = self._world
        general = GENERAL_PICK_WEIGHT / sum(HISTORY_KIND_WEIGHTS)
        activity = w.activity_shares()
        n = len(w.countries)
        out = []
        for country, merchants in w.merchants.items():
            s = activity[country]
            country_share = GENERAL_PICK_HOME * s + (1 - GENERAL_PICK_HOME) * (1 - s) / (n - 1)
            for merchant_id, mcc in merchants:
                if mcc in EVERYDAY_MCC:
                    share = general * country_share * w.pick_share(merchant_id, country)
                    out.append((merchant_id, country, share))
        return out

    def _choose_candidates(self) -> None:
        shares = self._traffic_shares()
        low, high = COMPROMISE_SHARE
        slots = COMPROMISE_SLOTS
        while slots < 1000:
            per_slot = self._target / slots
            fitting = [m for m in shares if low <= per_slot / m[2] <= high]
            if len(fitting) >= 3 * slots:
                break
            slots += 1
        else:  # a tiny world: the busiest merchants, at the highest share
            fitting = sorted(shares, key=lambda m: -m[2])[:3]
            slots = len(fitting)
        self.slots = slots
        self._candidates = fitting
        self._weights = [self._world.popularity.get(m[0], 1.0) for m in fitting]

    def _start(self, start_ms: int, phase: float = 0.0) -> Compromise:
        rng = self._rng
        for _ in range(_TRIES):
            merchant_id, country, share = rng.choices(self._candidates, self._weights)[0]
            if merchant_id not in self._used:
                break
        self._used.add(merchant_id)
        days = rng.uniform(*COMPROMISE_DAYS)
        start = start_ms - int(phase * days * _DAY_MS)
        low, high = COMPROMISE_SHARE
        fraud_share = min(max(self._target / self.slots / share, low), high)
        c = Compromise(merchant_id, country, start, start + int(days * _DAY_MS), fraud_share)
        self.windows.append(c)
        self._active[merchant_id] = c
        return c

    def _advance(self, ms: int) -> None:
        if not self._slots:  # the first event: compromises already under way
            self._slots = [self._start(ms, self._rng.random()) for _ in range(self.slots)]
        for i in range(len(self._slots)):
            while (ended := self._slots[i]).end_ms <= ms:
                if self._active.get(ended.merchant_id) is ended:
                    del self._active[ended.merchant_id]
                self._slots[i] = self._start(ended.end_ms)
        self._next_end = min(c.end_ms for c in self._slots)

    def fraud_share(self, merchant_id: str, ms: int) -> float | None:
        """The share of ``merchant_id``'s traffic that is fraud at ``ms``, if compromised."""
        if not self._candidates:
            return None
        if ms >= self._next_end:
            self._advance(ms)
        c = self._active.get(merchant_id)
        if c is None or not c.start_ms <= ms < c.end_ms:
            return None
        return c.fraud_share
