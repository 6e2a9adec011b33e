from __future__ import annotations

import math
from typing import Any

import numpy as np

from consumer.scoring.columns import TransactionColumns
from consumer.scoring.features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    feature_matrix,
)
from consumer.training.generator import LabelledTransaction
from tests.oracle import per_row


def feature_row(tx: dict[str, Any]) -> tuple[float, ...]:
    return tuple(feature_matrix(TransactionColumns.from_records([tx]))[0])


def _tx(events: list[LabelledTransaction], **changes: Any) -> dict[str, Any]:
    return {**events[0].record, **changes}


def test_matrix_shape_and_order(events: list[LabelledTransaction]) -> None:
    X = feature_matrix(TransactionColumns.from_records([e.record for e in events[:10]]))
    assert X.shape == (10, len(FEATURE_NAMES))
    assert X.dtype == np.float64
    assert set(CATEGORICAL_FEATURES) <= set(FEATURE_NAMES)
    assert np.array_equal(X[3], np.array(feature_row(events[3].record)), equal_nan=True)


def test_empty_batch_gives_empty_matrix() -> None:
    assert feature_matrix(TransactionColumns.from_records([])).shape == (0, len(FEATURE_NAMES))


def test_columns_equal_the_per_row_oracle_bit_for_bit(events: list[LabelledTransaction]) -> None:
    """Every fixture event, plus edge values: the vectorized features are the old per-row
    ones to the last bit (NaN where NaN), so the shipped model scores as it did."""
    records = [e.record for e in events]
    base = events[0].record
    records += [
        {**base, "amount_minor": 0},
        {**base, "amount_minor": 10**15, "currency": "JPY"},
        {**base, "amount_minor": 1, "currency": "BHD"},
        {**base, "currency": "ISK"},
        {**base, "card_country": "ZZ"},
        {**base, "ip_country": None, "device_id": None, "ip_address": None},
        {**base, "event_time": 946_684_800_000},
        {**base, "event_time": 4_102_444_799_999, "card_country": "IN"},
        {**base, "merchant_category_code": "0000"},
    ]
    got = feature_matrix(TransactionColumns.from_records(records))
    want = per_row.feature_matrix(records)
    assert got.tobytes() == want.tobytes()


def test_amount_uses_the_currency_exponent(events: list[LabelledTransaction]) -> None:
    col = FEATURE_NAMES.index("amount_log")
    usd = feature_row(_tx(events, amount_minor=10_000, currency="USD"))
    jpy = feature_row(_tx(events, amount_minor=100, currency="JPY"))
    bhd = feature_row(_tx(events, amount_minor=100_000, currency="BHD"))
    assert math.isclose(usd[col], math.log1p(100.0))
    assert math.isclose(jpy[col], math.log1p(100.0))
    assert math.isclose(bhd[col], math.log1p(100.0))


def test_currency_without_reference_rate_is_missing_not_zero(
    events: list[LabelledTransaction],
) -> None:
    row = feature_row(_tx(events, currency="ISK"))
    assert math.isnan(row[FEATURE_NAMES.index("amount_usd_log")])


def test_local_hour_follows_the_card_country(events: list[LabelledTransaction]) -> None:
    midnight_utc = 1_790_812_800_000  # 2026-10-01T00:00Z, a Thursday
    col = FEATURE_NAMES.index("hour_local")
    dow = FEATURE_NAMES.index("day_of_week_local")
    assert feature_row(_tx(events, card_country="GB", event_time=midnight_utc))[col] == 0.0
    assert feature_row(_tx(events, card_country="JP", event_time=midnight_utc))[col] == 9.0
    us = feature_row(_tx(events, card_country="US", event_time=midnight_utc))
    assert us[col] == 19.0 and us[dow] == 2.0  # Wednesday evening in New York
    assert math.isnan(feature_row(_tx(events, card_country="ZZ"))[col])


def test_optional_fields_become_flags_or_missing(events: list[LabelledTransaction]) -> None:
    row = feature_row(
        _tx(events, device_id=None, ip_address=None, ip_country=None, latitude=None, longitude=None)
    )
    assert row[FEATURE_NAMES.index("has_device")] == 0.0
    assert math.isnan(row[FEATURE_NAMES.index("ip_country_mismatch")])
    row = feature_row(_tx(events, ip_country="NG", card_country="US"))
    assert row[FEATURE_NAMES.index("ip_country_mismatch")] == 1.0


def test_feature_set_version_is_stable() -> None:
    assert len(FEATURE_SET_VERSION) == 16
