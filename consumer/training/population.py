"""The synthetic world: cards by issuing country, merchants, and who is active when.

Every draw comes from the one ``random.Random`` the generator owns, in a fixed order,
so a seed gives the same population and the same traffic every time.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from typing import NamedTuple

from consumer.scoring.codec import Record
from consumer.scoring.reference import COUNTRY_INFO, CURRENCY_EXPONENT, USD_PER_UNIT

# Where cards are issued (weights) and rough coordinates for terminal geo.
CARD_COUNTRIES = {
    "US": (30, 39.8, -98.6),
    "GB": (8, 52.4, -1.5),
    "DE": (7, 51.2, 10.4),
    "FR": (5, 46.6, 2.4),
    "CA": (4, 56.1, -106.3),
    "ES": (3, 40.4, -3.7),
    "IT": (3, 42.8, 12.6),
    "NL": (2, 52.1, 5.3),
    "BR": (4, -14.2, -51.9),
    "MX": (3, 23.6, -102.6),
    "IN": (5, 21.0, 78.0),
    "JP": (4, 36.2, 138.3),
    "AU": (3, -25.3, 133.8),
    "SG": (1, 1.35, 103.8),
    "ZA": (2, -30.6, 22.9),
    "AE": (1, 23.4, 53.8),
    "PL": (2, 51.9, 19.1),
    "SE": (1, 60.1, 18.6),
    "KR": (2, 35.9, 127.8),
    "NG": (2, 9.1, 8.7),
    "TH": (1, 15.9, 100.9),
}
EVERYDAY_MCC = ("5411", "5812", "5814", "5541", "5912", "5311", "5651", "5999", "4111", "5200")
TRAVEL_MCC = ("3000", "4511", "7011", "4722", "7512", "5813")
DIGITAL_MCC = ("5815", "5816", "5817", "5818", "4816", "5734")
RESALE_MCC = ("5732", "5944", "5947", "4829", "6051", "5094")
RECURRING_MCC = ("4899", "4900", "5815", "5968")
# Relative share of a country's card activity in each local hour (0..23).
# fmt: off
DIURNAL = (
    0.15, 0.08, 0.05, 0.04, 0.05, 0.1, 0.3, 0.6, 0.9, 1.0, 1.0, 1.1,  # 00-11 h
    1.3, 1.2, 1.0, 1.0, 1.1, 1.3, 1.4, 1.3, 1.1, 0.9, 0.6, 0.3,  # 12-23 h
)
# fmt: on


@dataclass(frozen=True)
class Card:
    card_id: str
    account_id: str
    country: str
    spend_usd: float  # median ticket in USD
    devices: tuple[str, ...]
    ip_prefix: str


class Fields(NamedTuple):
    """Everything of one event but the card and the time (the USD amount is converted to
    the merchant country's currency)."""

    merchant_country: str
    merchant: tuple[str, str]  # (merchant id, MCC)
    usd: float
    channel: str
    entry_mode: str
    device: str | None
    ip_country: str | None  # None: no IP address
    geo: bool  # whether the terminal's coordinates are known


class Population:
    """Cards and merchants of a seeded world, and the draws that pick among them.

    ``spend_sigma`` spreads the cards' median tickets (log-normal around 35 USD): 0.5
    puts the 10th and 90th percentiles 3.6x apart, 1.0 puts them 13x apart. With
    ``popular_merchants`` every merchant gets a log-normal popularity (sigma 1: one
    merchant in 60 is 5x or more busier than the average one) and picks follow it; without
    it, picks are uniform. Both extras draw after the rest, so the world they share
    with the default one is the same.
    """

    def __init__(
        self,
        rng: random.Random,
        n_cards: int,
        n_merchants: int,
        *,
        spend_sigma: float = 0.5,
        popular_merchants: bool = False,
    ) -> None:
        self.rng = rng
        self.countries = list(CARD_COUNTRIES)
        self.country_weights = [CARD_COUNTRIES[c][0] for c in self.countries]
        self._spend_sigma = spend_sigma
        self.cards = self._make_cards(n_cards)
        self.merchants = self._make_merchants(n_merchants)
        self._weight_cache: dict[tuple[int, bool], list[float]] = {}
        self._fitting_cache: dict[tuple[str, tuple[str, ...]], list[tuple[str, str]]] = {}
        self._fitting_cum: dict[tuple[str, tuple[str, ...]], list[float]] = {}
        self.popularity: dict[str, float] = {}
        self._cum: dict[str, list[float]] = {}
        if popular_merchants:
            for country, merchants in self.merchants.items():
                weights = [self.rng.lognormvariate(0.0, 1.0) for _ in merchants]
                self.popularity.update(zip((m[0] for m in merchants), weights, strict=True))
                self._cum[country] = list(itertools.accumulate(weights))
        self._by_spend: dict[str, tuple[list[float], list[Card]]] = {}

    def hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def _make_cards(self, n: int) -> dict[str, list[Card]]:
        by_country: dict[str, list[Card]] = {c: [] for c in self.countries}
        account = ""
        for i in range(n):
            country = self.rng.choices(self.countries, self.country_weights)[0]
            if i % 7 != 0 or not account:  # about one account in seven has two cards
                account = "acc_" + self.hex(48)
            devices = tuple("dev_" + self.hex(64) for _ in range(self.rng.choice((1, 1, 2, 3))))
            by_country[country].append(
                Card(
                    card_id="tok_" + self.hex(64),
                    account_id=account,
                    country=country,
                    spend_usd=math.exp(self.rng.gauss(math.log(35.0), self._spend_sigma)),
                    devices=devices,
                    ip_prefix=f"{self.rng.randint(11, 223)}.{self.rng.randint(0, 255)}",
                )
            )
        for country, cards in by_country.items():
            if not cards:
                cards.append(self._make_single_card(country))
        return by_country

    def _make_single_card(self, country: str) -> Card:
        return Card(
            "tok_" + self.hex(64),
            "acc_" + self.hex(48),
            country,
            35.0,
            ("dev_" + self.hex(64),),
            "10.0",
        )

    def _make_merchants(self, n: int) -> dict[str, list[tuple[str, str]]]:
        by_country: dict[str, list[tuple[str, str]]] = {c: [] for c in self.countries}
        pools = (EVERYDAY_MCC, TRAVEL_MCC, DIGITAL_MCC, RESALE_MCC, RECURRING_MCC)
        for _ in range(n):
            country = self.rng.choices(self.countries, self.country_weights)[0]
            pool = self.rng.choices(pools, (70, 10, 8, 6, 6))[0]
            by_country[country].append(("mer_" + self.hex(40), self.rng.choice(pool)))
        return by_country

    def local_hour(self, country: str, ms: int) -> int:
        offset_h = COUNTRY_INFO[country][0]
        return int(((ms / 3_600_000) + offset_h) % 24)

    def card_at(self, ms: int, night_only: bool = False) -> Card:
        """A card from a country weighted by how active its cardholders are right now."""
        key = (ms // 1_800_000, night_only)  # offsets are whole or half hours
        weights = self._weight_cache.get(key)
        if weights is None:
            hours = [self.local_hour(c, ms) for c in self.countries]
            pairs = zip(self.country_weights, hours, strict=True)
            if night_only:
                weights = [w if h < 5 else 0.0 for w, h in pairs]
                if not any(weights):
                    weights = [float(w) for w in self.country_weights]
            else:
                weights = [w * DIURNAL[h] for w, h in pairs]
            if len(self._weight_cache) > 64:
                self._weight_cache.clear()
            self._weight_cache[key] = weights
        country = self.rng.choices(self.countries, weights)[0]
        return self.rng.choice(self.cards[country])

    def merchant(self, country: str, mccs: tuple[str, ...] | None = None) -> tuple[str, str]:
        merchants = self.merchants[country] or [("mer_" + self.hex(40), "5999")]
        if mccs is None:
            if self.popularity and self.merchants[country]:
                return self.rng.choices(merchants, cum_weights=self._cum[country])[0]
            return self.rng.choice(merchants)
        fitting = self._fitting_cache.get((country, mccs))
        if fitting is None:
            fitting = [m for m in merchants[:400] if m[1] in mccs]
            self._fitting_cache[(country, mccs)] = fitting
            if self.popularity and fitting:
                cum = itertools.accumulate(self.popularity[m[0]] for m in fitting)
                self._fitting_cum[(country, mccs)] = list(cum)
        if fitting and self.rng.random() < 0.8:
            if self.popularity:
                return self.rng.choices(fitting, cum_weights=self._fitting_cum[(country, mccs)])[0]
            return self.rng.choice(fitting)
        return ("mer_" + self.hex(40), self.rng.choice(mccs))

    def pick_share(self, merchant_id: str, country: str) -> float:
        """The share of ``country``'s general (any-category) merchant picks that go to
        ``merchant_id``."""
        if self.popularity:
            return self.popularity[merchant_id] / self._cum[country][-1]
        return 1.0 / len(self.merchants[country])

    def cards_by_spend(self, country: str, low_usd: float, high_usd: float) -> list[Card]:
        """The cards of ``country`` whose median ticket is within [low_usd, high_usd]."""
        ordered = self._by_spend.get(country)
        if ordered is None:
            cards = sorted(self.cards[country], key=lambda c: c.spend_usd)
            ordered = ([c.spend_usd for c in cards], cards)
            self._by_spend[country] = ordered
        spends, cards = ordered
        return cards[bisect.bisect_left(spends, low_usd) : bisect.bisect_right(spends, high_usd)]

    def activity_shares(self) -> dict[str, float]:
        """Each country's share of card_at()'s picks, averaged over a day."""
        totals = dict.fromkeys(self.countries, 0.0)
        for half_hour in range(48):
            ms = half_hour * 1_800_000
            raw = [
                w * DIURNAL[self.local_hour(c, ms)]
                for c, w in zip(self.countries, self.country_weights, strict=True)
            ]
            for c, r in zip(self.countries, raw, strict=True):
                totals[c] += r / sum(raw) / 48
        return totals

    def foreign(self, home: str) -> str:
        others = [c for c in self.countries if c != home]
        return self.rng.choice(others)

    def amount_minor(self, usd: float, currency: str) -> int:
        units = usd / USD_PER_UNIT[currency]
        return max(0, round(units * 10.0 ** CURRENCY_EXPONENT[currency]))

    def geo(self, country: str) -> tuple[float, float]:
        _, lat, lon = CARD_COUNTRIES[country]
        return (
            round(max(-90.0, min(90.0, lat + self.rng.gauss(0, 2))), 4),
            round(max(-180.0, min(180.0, lon + self.rng.gauss(0, 2))), 4),
        )

    def ip(self, card: Card, country: str) -> tuple[str, str]:
        if country == card.country:
            prefix = card.ip_prefix
        else:
            prefix = f"{self.rng.randint(11, 223)}.{self.rng.randint(0, 255)}"
        return f"{prefix}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}", country

    def record(self, card: Card, ms: int, fields: Fields) -> Record:
        merchant_country, merchant, usd, channel, entry_mode, device, ip_country, geo = fields
        currency = COUNTRY_INFO[merchant_country][1]
        ip_address = None
        if ip_country is not None:
            ip_address, ip_country = self.ip(card, ip_country)
        lat, lon = self.geo(merchant_country) if geo else (None, None)
        return {
            "transaction_id": "txn_" + self.hex(96),
            "card_id": card.card_id,
            "account_id": card.account_id,
            "amount_minor": self.amount_minor(usd, currency),
            "currency": currency,
            "merchant_id": merchant[0],
            "merchant_category_code": merchant[1],
            "merchant_country": merchant_country,
            "card_country": card.country,
            "channel": channel,
            "entry_mode": entry_mode,
            "event_time": ms,
            "device_id": device,
            "ip_address": ip_address,
            "ip_country": ip_country,
            "latitude": lat,
            "longitude": lon,
        }
