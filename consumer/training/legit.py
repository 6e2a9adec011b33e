"""Legitimate traffic: what a cardholder's own authorizations look like.

The draws of one event come in a fixed order from the world's one ``random.Random``;
the generator's default stream depends on that order, so keep it when editing. The
history patterns (``history.py``) reuse the card-not-present draws below so their single
events come from exactly the legitimate distribution.
"""

from __future__ import annotations

import math

from consumer.scoring.codec import Record
from consumer.training.population import (
    DIGITAL_MCC,
    RECURRING_MCC,
    RESALE_MCC,
    TRAVEL_MCC,
    Card,
    Fields,
    Population,
)

KINDS = ("pos", "ecom", "atm", "recurring", "moto")
KIND_WEIGHTS = (58, 30, 5, 5, 2)
# With history patterns on, a sixth kind: micro-payments of 0.5-3 USD at digital
# merchants (app stores, top-ups), 8/108 = 7.4% of legitimate events. Card-testing
# bursts are drawn from the same distribution, so this is what they hide among.
HISTORY_KINDS = (*KINDS, "micro")
HISTORY_KIND_WEIGHTS = (*KIND_WEIGHTS, 8)
MICRO_USD = (0.5, 3.0)
ECOM_ENTRY_MODES = ("ECOMMERCE", "CREDENTIAL_ON_FILE", "WALLET")
# The picks that choose a merchant of any category (merchant(country) without MCCs):
# POS (58, abroad 8%), MOTO (2, always at home) and the 2 in 5 ecommerce events with no
# category preference (30 * 2/5, web merchant abroad 10%). Compromised merchants are
# chosen among merchants only these reach, so their traffic follows from this.
GENERAL_PICK_WEIGHT = 58 + 2 + 30 * 2 / 5
GENERAL_PICK_HOME = (58 * 0.92 + 2 * 1.0 + 12 * 0.9) / GENERAL_PICK_WEIGHT


def legit_record(world: Population, ms: int, *, micro: bool = False) -> Record:
    """One legitimate event at ``ms`` by a card active then; ``micro`` adds the
    micro-payment kind (history patterns on)."""
    card = world.card_at(ms)
    return world.record(card, ms, legit_fields(world, card, micro=micro))


def legit_fields(world: Population, card: Card, *, micro: bool = False) -> Fields:
    rng = world.rng
    abroad = rng.random() < 0.08
    country = world.foreign(card.country) if abroad else card.country
    kinds, weights = (HISTORY_KINDS, HISTORY_KIND_WEIGHTS) if micro else (KINDS, KIND_WEIGHTS)
    kind = rng.choices(kinds, weights)[0]
    scale = card.spend_usd * math.exp(rng.gauss(0, 0.9))
    if kind == "pos":
        merchant = world.merchant(country)
        mode = rng.choices(("CHIP", "CONTACTLESS", "WALLET", "MAGSTRIPE"), (45, 42, 10, 3))[0]
        usd = scale * (6 if merchant[1] in TRAVEL_MCC else 1)
        return Fields(country, merchant, usd, "POS", mode, None, None, rng.random() < 0.7)
    if kind == "atm":
        usd = rng.choice((20, 40, 60, 100, 200, 300))
        return Fields(
            country, world.merchant(country, ("6011",)), usd, "ATM", "CHIP", None, None, True
        )
    if kind == "recurring":
        merchant = world.merchant(card.country, RECURRING_MCC)
        usd = rng.choice((4.99, 9.99, 14.99, 49.0, 89.0))
        return Fields(
            card.country, merchant, usd, "RECURRING", "CREDENTIAL_ON_FILE", None, None, False
        )
    if kind == "moto":
        merchant = world.merchant(card.country)
        return Fields(card.country, merchant, scale, "MOTO", "KEYED", None, None, False)
    if kind == "micro":
        return micro_fields(world, card)
    return ecom_fields(world, card, scale)


def ecom_fields(world: Population, card: Card, scale: float) -> Fields:
    """An ordinary ecommerce purchase by ``card`` around ``scale`` USD."""
    rng = world.rng
    web_country = world.foreign(card.country) if rng.random() < 0.1 else card.country
    mccs = rng.choice((None, None, DIGITAL_MCC, RESALE_MCC, TRAVEL_MCC))
    merchant = world.merchant(web_country, mccs)
    usd = scale * (0.3 if merchant[1] in DIGITAL_MCC else 1.5 if mccs else 1)
    return _card_not_present(world, card, web_country, merchant, usd)


def micro_place(world: Population, card: Card) -> tuple[str, tuple[str, str]]:
    """Where a micro-payment goes: a digital merchant, abroad one time in ten."""
    rng = world.rng
    web_country = world.foreign(card.country) if rng.random() < 0.1 else card.country
    return web_country, world.merchant(web_country, DIGITAL_MCC)


def micro_fields(
    world: Population, card: Card, place: tuple[str, tuple[str, str]] | None = None
) -> Fields:
    """A micro-payment (app store, top-up) by ``card``, at ``place`` if given."""
    web_country, merchant = place or micro_place(world, card)
    usd = world.rng.uniform(*MICRO_USD)
    return _card_not_present(world, card, web_country, merchant, usd)


def _card_not_present(
    world: Population, card: Card, web_country: str, merchant: tuple[str, str], usd: float
) -> Fields:
    rng = world.rng
    device = rng.choice(card.devices) if rng.random() < 0.85 else None
    if rng.random() < 0.05:
        device = "dev_" + world.hex(64)  # a new phone or browser
    ip_country = card.country if rng.random() < 0.95 else world.foreign(card.country)
    entry_mode = rng.choice(ECOM_ENTRY_MODES)
    ip = ip_country if rng.random() < 0.9 else None
    return Fields(web_country, merchant, usd, "ECOMMERCE", entry_mode, device, ip, False)
