"""Synthetic, labelled card-authorization traffic: training data, load and demos.

Deterministic for a seed. About ``fraud_rate`` of events are fraud, drawn from four
patterns that real card fraud teams see, and legitimate traffic overlaps each of them
(travellers, night owls, app-store micro-payments, big purchases) so the model has
something to learn rather than a rule to copy.

- card_testing: bursts of tiny card-not-present charges at digital-goods merchants,
  often with no device fingerprint and a foreign IP.
- account_takeover: a new device, usually a foreign IP, large amounts at merchants
  whose goods resell well (electronics, jewellery, gift cards, money transfer).
- counterfeit: a skimmed card used in person abroad, read by magnetic stripe.
- night_cross_border: card-present spending abroad while it is night at home.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from consumer.codec import Record
from consumer.reference import COUNTRY_INFO, CURRENCY_EXPONENT, USD_PER_UNIT

FRAUD_PATTERNS = ("card_testing", "account_takeover", "counterfeit", "night_cross_border")
_PATTERN_WEIGHTS = (0.35, 0.25, 0.2, 0.2)
DEFAULT_START_MS = 1_790_812_800_000  # 2026-10-01T00:00:00Z
# Share of fraud that looks exactly like its cardholder's normal spending: no model
# of the event alone can catch it, as in real portfolios.
_MIMICRY = 0.1

# Where cards are issued (weights) and rough coordinates for terminal geo.
_CARD_COUNTRIES = {
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
_EVERYDAY_MCC = ("5411", "5812", "5814", "5541", "5912", "5311", "5651", "5999", "4111", "5200")
_TRAVEL_MCC = ("3000", "4511", "7011", "4722", "7512", "5813")
_DIGITAL_MCC = ("5815", "5816", "5817", "5818", "4816", "5734")
_RESALE_MCC = ("5732", "5944", "5947", "4829", "6051", "5094")
_RECURRING_MCC = ("4899", "4900", "5815", "5968")
# Relative share of a country's card activity in each local hour (0..23).
_DIURNAL = (
    0.15,
    0.08,
    0.05,
    0.04,
    0.05,
    0.1,
    0.3,
    0.6,
    0.9,
    1.0,
    1.0,
    1.1,
    1.3,
    1.2,
    1.0,
    1.0,
    1.1,
    1.3,
    1.4,
    1.3,
    1.1,
    0.9,
    0.6,
    0.3,
)


@dataclass(frozen=True)
class LabelledTransaction:
    """A Transaction record and the generator's ground truth for it."""

    record: Record
    fraud_pattern: str | None  # None for legitimate traffic

    @property
    def is_fraud(self) -> bool:
        return self.fraud_pattern is not None


@dataclass(frozen=True)
class _Card:
    card_id: str
    account_id: str
    country: str
    spend_usd: float  # median ticket in USD
    devices: tuple[str, ...]
    ip_prefix: str


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
        self._countries = list(_CARD_COUNTRIES)
        self._country_weights = [_CARD_COUNTRIES[c][0] for c in self._countries]
        self._cards = self._make_cards(n_cards)
        self._merchants = self._make_merchants(n_merchants)
        self._pending: list[LabelledTransaction] = []
        self._weight_cache: dict[tuple[int, bool], list[float]] = {}
        self._fitting_cache: dict[tuple[str, tuple[str, ...]], list[tuple[str, str]]] = {}

    # -- population -------------------------------------------------------------
    def _hex(self, bits: int) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    def _make_cards(self, n: int) -> dict[str, list[_Card]]:
        by_country: dict[str, list[_Card]] = {c: [] for c in self._countries}
        account = ""
        for i in range(n):
            country = self._rng.choices(self._countries, self._country_weights)[0]
            if i % 7 != 0 or not account:  # about one account in seven has two cards
                account = "acc_" + self._hex(48)
            devices = tuple("dev_" + self._hex(64) for _ in range(self._rng.choice((1, 1, 2, 3))))
            by_country[country].append(
                _Card(
                    card_id="tok_" + self._hex(64),
                    account_id=account,
                    country=country,
                    spend_usd=math.exp(self._rng.gauss(math.log(35.0), 0.5)),
                    devices=devices,
                    ip_prefix=f"{self._rng.randint(11, 223)}.{self._rng.randint(0, 255)}",
                )
            )
        for country, cards in by_country.items():
            if not cards:
                cards.append(self._make_single_card(country))
        return by_country

    def _make_single_card(self, country: str) -> _Card:
        return _Card(
            "tok_" + self._hex(64),
            "acc_" + self._hex(48),
            country,
            35.0,
            ("dev_" + self._hex(64),),
            "10.0",
        )

    def _make_merchants(self, n: int) -> dict[str, list[tuple[str, str]]]:
        by_country: dict[str, list[tuple[str, str]]] = {c: [] for c in self._countries}
        pools = (_EVERYDAY_MCC, _TRAVEL_MCC, _DIGITAL_MCC, _RESALE_MCC, _RECURRING_MCC)
        for _ in range(n):
            country = self._rng.choices(self._countries, self._country_weights)[0]
            pool = self._rng.choices(pools, (70, 10, 8, 6, 6))[0]
            by_country[country].append(("mer_" + self._hex(40), self._rng.choice(pool)))
        return by_country

    # -- helpers ----------------------------------------------------------------
    def _tick(self) -> int:
        if self._clock is not None:
            return self._clock()
        self._now_ms += int(self._rng.expovariate(1.0) * self._gap_ms) + 1
        return self._now_ms

    def _local_hour(self, country: str, ms: int) -> int:
        offset_h = COUNTRY_INFO[country][0]
        return int(((ms / 3_600_000) + offset_h) % 24)

    def _card_at(self, ms: int, night_only: bool = False) -> _Card:
        """A card from a country weighted by how active its cardholders are right now."""
        key = (ms // 1_800_000, night_only)  # offsets are whole or half hours
        weights = self._weight_cache.get(key)
        if weights is None:
            hours = [self._local_hour(c, ms) for c in self._countries]
            pairs = zip(self._country_weights, hours, strict=True)
            if night_only:
                weights = [w if h < 5 else 0.0 for w, h in pairs]
                if not any(weights):
                    weights = [float(w) for w in self._country_weights]
            else:
                weights = [w * _DIURNAL[h] for w, h in pairs]
            if len(self._weight_cache) > 64:
                self._weight_cache.clear()
            self._weight_cache[key] = weights
        country = self._rng.choices(self._countries, weights)[0]
        return self._rng.choice(self._cards[country])

    def _merchant(self, country: str, mccs: tuple[str, ...] | None = None) -> tuple[str, str]:
        merchants = self._merchants[country] or [("mer_" + self._hex(40), "5999")]
        if mccs is None:
            return self._rng.choice(merchants)
        fitting = self._fitting_cache.get((country, mccs))
        if fitting is None:
            fitting = [m for m in merchants[:400] if m[1] in mccs]
            self._fitting_cache[(country, mccs)] = fitting
        if fitting and self._rng.random() < 0.8:
            return self._rng.choice(fitting)
        return ("mer_" + self._hex(40), self._rng.choice(mccs))

    def _foreign(self, home: str) -> str:
        others = [c for c in self._countries if c != home]
        return self._rng.choice(others)

    def _amount_minor(self, usd: float, currency: str) -> int:
        units = usd / USD_PER_UNIT[currency]
        return max(0, round(units * 10.0 ** CURRENCY_EXPONENT[currency]))

    def _geo(self, country: str) -> tuple[float, float]:
        _, lat, lon = _CARD_COUNTRIES[country]
        return (
            round(max(-90.0, min(90.0, lat + self._rng.gauss(0, 2))), 4),
            round(max(-180.0, min(180.0, lon + self._rng.gauss(0, 2))), 4),
        )

    def _ip(self, card: _Card, country: str) -> tuple[str, str]:
        if country == card.country:
            prefix = card.ip_prefix
        else:
            prefix = f"{self._rng.randint(11, 223)}.{self._rng.randint(0, 255)}"
        return f"{prefix}.{self._rng.randint(0, 255)}.{self._rng.randint(1, 254)}", country

    def _record(
        self,
        card: _Card,
        ms: int,
        *,
        merchant_country: str,
        merchant: tuple[str, str],
        usd: float,
        channel: str,
        entry_mode: str,
        device: str | None,
        ip_country: str | None,
        geo: bool,
    ) -> Record:
        currency = COUNTRY_INFO[merchant_country][1]
        ip_address = None
        if ip_country is not None:
            ip_address, ip_country = self._ip(card, ip_country)
        lat, lon = self._geo(merchant_country) if geo else (None, None)
        return {
            "transaction_id": "txn_" + self._hex(96),
            "card_id": card.card_id,
            "account_id": card.account_id,
            "amount_minor": self._amount_minor(usd, currency),
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

    # -- traffic ----------------------------------------------------------------
    def _legit(self, ms: int) -> Record:
        rng = self._rng
        card = self._card_at(ms)
        abroad = rng.random() < 0.08
        country = self._foreign(card.country) if abroad else card.country
        kind = rng.choices(("pos", "ecom", "atm", "recurring", "moto"), (58, 30, 5, 5, 2))[0]
        scale = card.spend_usd * math.exp(rng.gauss(0, 0.9))
        if kind == "pos":
            merchant = self._merchant(country)
            mode = rng.choices(("CHIP", "CONTACTLESS", "WALLET", "MAGSTRIPE"), (45, 42, 10, 3))[0]
            usd = scale * (6 if merchant[1] in _TRAVEL_MCC else 1)
            return self._record(
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
            return self._record(
                card,
                ms,
                merchant_country=country,
                merchant=self._merchant(country, ("6011",)),
                usd=usd,
                channel="ATM",
                entry_mode="CHIP",
                device=None,
                ip_country=None,
                geo=True,
            )
        if kind == "recurring":
            return self._record(
                card,
                ms,
                merchant_country=card.country,
                merchant=self._merchant(card.country, _RECURRING_MCC),
                usd=rng.choice((4.99, 9.99, 14.99, 49.0, 89.0)),
                channel="RECURRING",
                entry_mode="CREDENTIAL_ON_FILE",
                device=None,
                ip_country=None,
                geo=False,
            )
        if kind == "moto":
            return self._record(
                card,
                ms,
                merchant_country=card.country,
                merchant=self._merchant(card.country),
                usd=scale,
                channel="MOTO",
                entry_mode="KEYED",
                device=None,
                ip_country=None,
                geo=False,
            )
        web_country = self._foreign(card.country) if rng.random() < 0.1 else card.country
        mccs = rng.choice((None, None, _DIGITAL_MCC, _RESALE_MCC, _TRAVEL_MCC))
        merchant = self._merchant(web_country, mccs)
        usd = scale * (0.3 if merchant[1] in _DIGITAL_MCC else 1.5 if mccs else 1)
        device = rng.choice(card.devices) if rng.random() < 0.85 else None
        if rng.random() < 0.05:
            device = "dev_" + self._hex(64)  # a new phone or browser
        ip_country = card.country if rng.random() < 0.95 else self._foreign(card.country)
        return self._record(
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

    def _fraud(self, pattern: str, ms: int) -> list[Record]:
        rng = self._rng
        if pattern == "card_testing":
            card = self._card_at(ms)
            country = self._foreign(card.country) if rng.random() < 0.6 else card.country
            merchant = self._merchant(country, (*_DIGITAL_MCC, "5999"))
            out = []
            for _ in range(rng.randint(3, 8)):
                ip = self._foreign(card.country) if rng.random() < 0.45 else card.country
                out.append(
                    self._record(
                        card,
                        ms,
                        merchant_country=country,
                        merchant=merchant,
                        usd=rng.choice((0.0, 0.5, 1.0, rng.uniform(0.01, 3.0))),
                        channel="ECOMMERCE",
                        entry_mode=rng.choice(("KEYED", "ECOMMERCE")),
                        device=None if rng.random() < 0.55 else rng.choice(card.devices),
                        ip_country=ip,
                        geo=False,
                    )
                )
                ms += rng.randint(300, 20_000)
            return out
        if pattern == "account_takeover":
            card = self._card_at(ms)
            country = self._foreign(card.country) if rng.random() < 0.3 else card.country
            ip = self._foreign(card.country) if rng.random() < 0.6 else card.country
            return [
                self._record(
                    card,
                    ms,
                    merchant_country=country,
                    merchant=self._merchant(country, _RESALE_MCC),
                    usd=card.spend_usd * rng.uniform(2, 30),
                    channel="ECOMMERCE",
                    entry_mode=rng.choice(("ECOMMERCE", "WALLET")),
                    device="dev_" + self._hex(64),
                    ip_country=ip,
                    geo=False,
                )
            ]
        if pattern == "counterfeit":
            card = self._card_at(ms)
            country = self._foreign(card.country)
            atm = rng.random() < 0.35
            merchant = self._merchant(country, ("6011",) if atm else (*_RESALE_MCC, "5311"))
            return [
                self._record(
                    card,
                    ms,
                    merchant_country=country,
                    merchant=merchant,
                    usd=rng.choice((200, 300, 500)) if atm else card.spend_usd * rng.uniform(2, 15),
                    channel="ATM" if atm else "POS",
                    entry_mode="MAGSTRIPE" if rng.random() < 0.75 else "CHIP",
                    device=None,
                    ip_country=None,
                    geo=rng.random() < 0.8,
                )
            ]
        card = self._card_at(ms, night_only=True)
        country = self._foreign(card.country)
        atm = rng.random() < 0.4
        merchant = self._merchant(country, ("6011",) if atm else None)
        return [
            self._record(
                card,
                ms,
                merchant_country=country,
                merchant=merchant,
                usd=rng.choice((200, 300, 400)) if atm else card.spend_usd * rng.uniform(3, 12),
                channel="ATM" if atm else "POS",
                entry_mode=rng.choice(("CHIP", "CONTACTLESS", "MAGSTRIPE")),
                device=None,
                ip_country=None,
                geo=rng.random() < 0.7,
            )
        ]

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
            for p, w in zip(FRAUD_PATTERNS, _PATTERN_WEIGHTS, strict=True)
        ]
        per_pick = sum(
            w * (mean_burst if p == "card_testing" else 1.0)
            for p, w in zip(FRAUD_PATTERNS, weights, strict=True)
        ) / sum(weights)
        if self._rng.random() < self._fraud_rate / per_pick:
            pattern = self._rng.choices(FRAUD_PATTERNS, weights)[0]
            if self._rng.random() < _MIMICRY:
                return LabelledTransaction(self._legit(ms), pattern)
            records = self._fraud(pattern, ms)
            if self._clock is None and len(records) > 1:
                self._now_ms = max(self._now_ms, records[-1]["event_time"])
            self._pending = [LabelledTransaction(r, pattern) for r in records[1:]]
            return LabelledTransaction(records[0], pattern)
        return LabelledTransaction(self._legit(ms), None)

    def take(self, count: int) -> list[LabelledTransaction]:
        """The next ``count`` events."""
        return [next(self) for _ in range(count)]
