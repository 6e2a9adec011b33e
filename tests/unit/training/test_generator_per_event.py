"""Each history pattern's single events are drawn like legitimate events of the same
kind: field by field, their distributions agree within a tolerance, so a change that
makes them visible in one event (a missing device, a foreign IP, a keyed entry, an odd
amount) fails here. The per-event card_testing pattern, visible by design, must not
pass the same check."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable

from consumer.scoring.codec import Record
from consumer.training.population import DIGITAL_MCC, RESALE_MCC, TRAVEL_MCC
from tests.unit.training.conftest import HistoryRun, log_usd, usd

Share = Callable[[Record], bool]
SHARES: dict[str, Share] = {
    "ecommerce": lambda r: r["channel"] == "ECOMMERCE",
    "entry ECOMMERCE": lambda r: r["entry_mode"] == "ECOMMERCE",
    "entry CREDENTIAL_ON_FILE": lambda r: r["entry_mode"] == "CREDENTIAL_ON_FILE",
    "entry WALLET": lambda r: r["entry_mode"] == "WALLET",
    "entry KEYED": lambda r: r["entry_mode"] == "KEYED",
    "device present": lambda r: r["device_id"] is not None,
    "ip present": lambda r: r["ip_country"] is not None,
    "ip country = card country": lambda r: r["ip_country"] == r["card_country"],
    "cross border": lambda r: r["merchant_country"] != r["card_country"],
    "digital merchant": lambda r: r["merchant_category_code"] in DIGITAL_MCC,
    "resale merchant": lambda r: r["merchant_category_code"] in RESALE_MCC,
    "travel merchant": lambda r: r["merchant_category_code"] in TRAVEL_MCC,
    "geo present": lambda r: r["latitude"] is not None,
    "US card": lambda r: r["card_country"] == "US",
}


def _differences(
    fraud: list[Record],
    legit: list[Record],
    *,
    amount: Callable[[Record], float],
    amount_tolerance: float,
    tolerance: float = 0.06,
    looser: dict[str, float] | None = None,
) -> list[str]:
    """The fields whose distribution differs between ``fraud`` and ``legit`` by more than
    the tolerance: shares of each field value, and amount quartiles."""
    out = []
    for name, test in SHARES.items():
        a = sum(map(test, fraud)) / len(fraud)
        b = sum(map(test, legit)) / len(legit)
        if abs(a - b) > (looser or {}).get(name, tolerance):
            out.append(f"{name}: {a:.3f} vs {b:.3f}")
    qa = statistics.quantiles(map(amount, fraud), n=4)
    qb = statistics.quantiles(map(amount, legit), n=4)
    for i, (a, b) in enumerate(zip(qa, qb, strict=True)):
        if abs(a - b) > amount_tolerance:
            out.append(f"amount quartile {i + 1}: {a:.2f} vs {b:.2f}")
    return out


def _micro(r: Record) -> bool:
    return r["merchant_category_code"] in DIGITAL_MCC and 0.5 <= usd(r) <= 3.0


def test_burst_events_look_like_legit_micro_payments(history_run: HistoryRun) -> None:
    bursts = history_run.of("card_testing_burst")
    micro = [r for r in history_run.of(None) if r["channel"] == "ECOMMERCE" and _micro(r)]
    assert len(bursts) > 800 and len(micro) > 5000
    # One merchant per burst: cross-border and card country vary per burst (~90 here).
    looser = {"cross border": 0.1, "US card": 0.12}
    assert _differences(bursts, micro, amount=usd, amount_tolerance=0.2, looser=looser) == []
    # The per-event pattern, visible by design, fails the same check.
    tiny = [r for r in history_run.of("card_testing") if usd(r) <= 3.0]
    assert _differences(tiny, micro, amount=usd, amount_tolerance=0.2, looser=looser) != []


def test_takeover_events_look_like_legit_ecommerce_on_a_new_device(
    history_run: HistoryRun,
) -> None:
    cards = history_run.cards()

    def new_device_purchase(r: Record) -> bool:
        device = r["device_id"]
        return device is not None and device not in cards[r["card_id"]].devices

    takeovers = history_run.of("account_takeover_spend")
    legit = [
        r
        for r in history_run.of(None)
        if r["channel"] == "ECOMMERCE" and new_device_purchase(r) and not _micro(r)
    ]
    assert all(new_device_purchase(r) for r in takeovers)
    assert len(takeovers) > 800 and len(legit) > 800
    # Amounts in log USD: takeovers below ~10 USD are rarer (no card has a median ticket
    # low enough for them to be 3-10x it), which lifts the lower quartile a little.
    assert _differences(takeovers, legit, amount=log_usd, amount_tolerance=0.45) == []
    # ... and like ordinary ecommerce, but for the new device
    ordinary = [r for r in history_run.of(None) if r["channel"] == "ECOMMERCE" and not _micro(r)]
    diff = _differences(takeovers, ordinary, amount=log_usd, amount_tolerance=0.45)
    assert [d.split(":")[0] for d in diff] == ["device present"]


def test_compromised_merchant_fraud_looks_like_its_legit_traffic(
    history_run: HistoryRun,
) -> None:
    windows = history_run.generator.compromised.windows
    fraud = history_run.of("compromised_merchant")

    def at_compromised(r: Record) -> bool:
        return any(
            w.merchant_id == r["merchant_id"] and w.start_ms <= r["event_time"] < w.end_ms
            for w in windows
        )

    legit = [r for r in history_run.of(None) if at_compromised(r)]
    assert len(fraud) > 800 and len(legit) > 800
    assert all(at_compromised(r) for r in fraud)
    # Each merchant's fraud share differs, so the mix of merchants (and with it of
    # card countries) differs a little between fraud and legit events.
    looser = {"US card": 0.12}
    assert _differences(fraud, legit, amount=log_usd, amount_tolerance=0.3, looser=looser) == []
    # The local hour: as many at night (00-05 h at the card's home) as legit traffic has.
    world = history_run.generator.population

    def night(r: Record) -> bool:
        return world.local_hour(r["card_country"], r["event_time"]) < 5

    def night_share(records: list[Record]) -> float:
        return sum(map(night, records)) / len(records)

    usual = night_share(history_run.of(None))
    assert 0.02 < usual < 0.2
    for pattern in ("compromised_merchant", "card_testing_burst", "account_takeover_spend"):
        assert abs(night_share(history_run.of(pattern)) - usual) < 0.04, pattern
    assert Counter(r["channel"] for r in fraud).keys() <= {"POS", "MOTO", "ECOMMERCE"}
