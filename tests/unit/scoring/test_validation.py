from __future__ import annotations

import math
from typing import Any

import pytest

from consumer.scoring.columns import TransactionColumns
from consumer.scoring.errors import ValidationError
from consumer.scoring.validation import looks_like_pan, validate
from consumer.training.generator import LabelledTransaction
from tests.oracle import per_row


def validate_transaction(tx: dict[str, Any]) -> None:
    """The columnar rules on one record: raise its first broken rule."""
    failures = validate(TransactionColumns.from_records([tx]))
    if failures:
        raise failures[0][1]


@pytest.fixture
def tx(events: list[LabelledTransaction]) -> dict[str, Any]:
    return dict(events[0].record)


def test_generated_traffic_is_valid(events: list[LabelledTransaction]) -> None:
    assert validate(TransactionColumns.from_records([e.record for e in events])) == []


def test_a_batch_gives_each_row_its_first_broken_rule_as_the_oracle_does(
    events: list[LabelledTransaction],
) -> None:
    """Records breaking one, two or three rules at once, validated together: each gets
    the same reason and message as the per-row oracle gives it alone."""
    breakers: list[dict[str, Any]] = [
        {"transaction_id": ""},
        {"card_id": "4111111111111111"},
        {"amount_minor": -5},
        {"currency": "XYZ"},
        {"merchant_category_code": "12"},
        {"merchant_country": "usa"},
        {"ip_country": "x"},
        {"event_time": 5},
        {"device_id": "\x07"},
        {"ip_address": "1.2.3"},
        {"latitude": 1.0, "longitude": None},
        {"account_id": "é" * 129},
        {"merchant_id": "\u2028"},
    ]
    rng = __import__("random").Random(4)
    records = []
    for i, e in enumerate(events[:600]):
        changes: dict[str, Any] = {}
        for b in rng.sample(breakers, i % 4):
            changes |= b
        records.append({**e.record, **changes})
    failures = dict(validate(TransactionColumns.from_records(records)))
    for i, record in enumerate(records):
        try:
            per_row.validate_transaction(record)
        except ValidationError as want:
            got = failures.get(i)
            assert got is not None and (got.reason, got.message) == (want.reason, want.message)
        else:
            assert i not in failures


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"transaction_id": ""}, "missing_id"),
        ({"card_id": "   "}, "missing_id"),
        ({"account_id": "a" * 129}, "id_too_long"),
        ({"merchant_id": "m\x00x"}, "bad_id"),
        ({"card_id": "4111 1111 1111 1111"}, "card_number_in_card_id"),
        ({"amount_minor": -1}, "negative_amount"),
        ({"amount_minor": 10**16}, "amount_out_of_range"),
        ({"currency": "XXX1"}, "unknown_currency"),
        ({"currency": "usd"}, "unknown_currency"),
        ({"merchant_category_code": "54a1"}, "bad_mcc"),
        ({"card_country": "GBR"}, "bad_country"),
        ({"ip_country": "g"}, "bad_country"),
        ({"event_time": 1_790_000_000}, "bad_event_time"),
        ({"event_time": 5_000_000_000_000}, "bad_event_time"),
        ({"ip_address": "999.1.1.1"}, "bad_ip_address"),
        ({"latitude": math.nan, "longitude": 1.0}, "bad_geo"),
        ({"latitude": 91.0, "longitude": 1.0}, "bad_geo"),
        ({"latitude": 10.0, "longitude": None}, "bad_geo"),
        ({"device_id": "d\n"}, "bad_device_id"),
    ],
)
def test_rule_violations_name_their_reason(
    tx: dict[str, Any], changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError) as info:
        validate_transaction({**tx, **changes})
    assert info.value.reason == reason
    for value in changes.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in info.value.message


def test_zero_amount_account_verification_is_valid(tx: dict[str, Any]) -> None:
    validate_transaction({**tx, "amount_minor": 0})


def test_ipv6_is_valid(tx: dict[str, Any]) -> None:
    validate_transaction({**tx, "ip_address": "2001:db8::1", "ip_country": "DE"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4111111111111111", True),
        ("5500-0000-0000-0004", True),
        ("4111111111111112", False),  # fails Luhn
        ("tok_4111111111111111", False),
        ("123456789012", False),  # too short
    ],
)
def test_pan_detection(value: str, expected: bool) -> None:
    assert looks_like_pan(value) is expected
