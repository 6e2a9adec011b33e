"""The four fraud patterns: what each fraud looks like as authorization events.

- card_testing: bursts of tiny card-not-present charges at digital-goods merchants,
  often with no device fingerprint and a foreign IP.
- account_takeover: a new device, usually a foreign IP, large amounts at merchants
  whose goods resell well (electronics, jewellery, gift cards, money transfer).
- counterfeit: a skimmed card used in person abroad, read by magnetic stripe.
- night_cross_border: card-present spending abroad while it is night at home.
"""

from __future__ import annotations

from consumer.scoring.codec import Record
from consumer.training.population import DIGITAL_MCC, RESALE_MCC, Fields, Population

FRAUD_PATTERNS = ("card_testing", "account_takeover", "counterfeit", "night_cross_border")
PATTERN_WEIGHTS = (0.35, 0.25, 0.2, 0.2)


def fraud_records(world: Population, pattern: str, ms: int) -> list[Record]:
    """The events of one fraud of ``pattern`` starting at ``ms`` (a burst for card testing)."""
    rng = world.rng
    if pattern == "card_testing":
        card = world.card_at(ms)
        country = world.foreign(card.country) if rng.random() < 0.6 else card.country
        merchant = world.merchant(country, (*DIGITAL_MCC, "5999"))
        out = []
        for _ in range(rng.randint(3, 8)):
            ip = world.foreign(card.country) if rng.random() < 0.45 else card.country
            out.append(
                world.record(
                    card,
                    ms,
                    Fields(
                        merchant_country=country,
                        merchant=merchant,
                        usd=rng.choice((0.0, 0.5, 1.0, rng.uniform(0.01, 3.0))),
                        channel="ECOMMERCE",
                        entry_mode=rng.choice(("KEYED", "ECOMMERCE")),
                        device=None if rng.random() < 0.55 else rng.choice(card.devices),
                        ip_country=ip,
                        geo=False,
                    ),
                )
            )
            ms += rng.randint(300, 20_000)
        return out
    if pattern == "account_takeover":
        card = world.card_at(ms)
        country = world.foreign(card.country) if rng.random() < 0.3 else card.country
        ip = world.foreign(card.country) if rng.random() < 0.6 else card.country
        return [
            world.record(
                card,
                ms,
                Fields(
                    merchant_country=country,
                    merchant=world.merchant(country, RESALE_MCC),
                    usd=card.spend_usd * rng.uniform(2, 30),
                    channel="ECOMMERCE",
                    entry_mode=rng.choice(("ECOMMERCE", "WALLET")),
                    device="dev_" + world.hex(64),
                    ip_country=ip,
                    geo=False,
                ),
            )
        ]
    if pattern == "counterfeit":
        card = world.card_at(ms)
        country = world.foreign(card.country)
        atm = rng.random() < 0.35
        merchant = world.merchant(country, ("6011",) if atm else (*RESALE_MCC, "5311"))
        return [
            world.record(
                card,
                ms,
                Fields(
                    merchant_country=country,
                    merchant=merchant,
                    usd=rng.choice((200, 300, 500)) if atm else card.spend_usd * rng.uniform(2, 15),
                    channel="ATM" if atm else "POS",
                    entry_mode="MAGSTRIPE" if rng.random() < 0.75 else "CHIP",
                    device=None,
                    ip_country=None,
                    geo=rng.random() < 0.8,
                ),
            )
        ]
    card = world.card_at(ms, night_only=True)
    country = world.foreign(card.country)
    atm = rng.random() < 0.4
    merchant = world.merchant(country, ("6011",) if atm else None)
    return [
        world.record(
            card,
            ms,
            Fields(
                merchant_country=country,
                merchant=merchant,
                usd=rng.choice((200, 300, 400)) if atm else card.spend_usd * rng.uniform(3, 12),
                channel="ATM" if atm else "POS",
                entry_mode=rng.choice(("CHIP", "CONTACTLESS", "MAGSTRIPE")),
                device=None,
                ip_country=None,
                geo=rng.random() < 0.7,
            ),
        )
    ]
