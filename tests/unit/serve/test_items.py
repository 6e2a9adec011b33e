"""Request bodies to items: shapes, per-item errors, and messages that never echo a value."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.scoring.errors import DecodeError
from consumer.serve.app import ScoringApp
from consumer.serve.items import BodyError, TransactionIn, event_time_ms, parse
from consumer.serve.settings import ServeSettings

GOOD: dict[str, Any] = {
    "transaction_id": "t1", "card_id": "tok_1", "account_id": "a", "amount_minor": 100,
    "currency": "USD", "merchant_id": "m", "merchant_category_code": "5411",
    "merchant_country": "US", "card_country": "US", "channel": "POS", "entry_mode": "CHIP",
    "event_time": 1_790_812_800_000,
}  # fmt: skip


def test_one_object_is_one_item_and_an_array_is_many() -> None:
    single = parse(json.dumps(GOOD).encode())
    assert single.single and isinstance(single.items[0], TransactionIn)
    many = parse(json.dumps({"transactions": [GOOD, GOOD]}).encode())
    assert not many.single and len(many.items) == 2


@pytest.mark.parametrize(
    "body",
    [b"[]", b"1", b"null", b"{", b'{"transactions": null}', b'{"transactions": [], "x": 1}'],
)
def test_neither_shape_is_a_body_error(body: bytes) -> None:
    with pytest.raises(BodyError):
        parse(body)


@given(
    field=st.sampled_from(sorted(GOOD)),
    value=st.one_of(
        st.text(min_size=6).map(lambda s: "SECRET" + s),
        st.integers(min_value=10**16),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.text(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
        st.booleans(),
        st.none(),
    ),
)
@settings(max_examples=500, deadline=None)
def test_an_item_error_never_quotes_the_value(field: str, value: Any) -> None:
    """Whatever a field holds, a failing item's message names the field and the rule
    only (a value may be card data)."""
    body = json.dumps({**GOOD, field: value}).encode()
    try:
        (item,) = parse(body).items
    except BodyError:
        return
    if isinstance(item, DecodeError):
        for part in (json.dumps(value), str(value)):
            if len(part) > 4:
                assert part not in item.message


def test_unknown_field_names_are_not_repeated_either() -> None:
    (item,) = parse(json.dumps({**GOOD, "4111111111111111": 1}).encode()).items
    assert isinstance(item, DecodeError) and item.reason == "unknown_field"
    assert "4111" not in item.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_790_812_800_000, 1_790_812_800_000),
        ("2026-10-01T00:00:00Z", 1_790_812_800_000),
        ("2026-10-01T02:00:00.250+02:00", 1_790_812_800_250),
    ],
)
def test_event_time_is_epoch_ms_or_iso_with_offset(value: int | str, expected: int) -> None:
    assert event_time_ms(value) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000 + b"]" * 30_000,
        b'{"transaction_id": ' + b"[" * 3_000 + b"]" * 3_000 + b"}",
        b'{"transactions": [' + b'{"a": ' * 2_000 + b"1" + b"}" * 2_000 + b"]}",
    ],
)
def test_nesting_too_deep_is_a_body_error_not_a_crash(body: bytes) -> None:
    with pytest.raises(BodyError) as info:
        parse(body)
    assert info.value.reason == "too_deep"


def test_not_ready_is_503() -> None:
    """Before the lifespan has loaded the model, scoring is refused, not queued."""
    app = ScoringApp(ServeSettings.from_worker_env({}))
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": json.dumps(GOOD).encode()}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/v1/score", "method": "POST", "headers": []}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 503
    scope = {"type": "http", "path": "/readyz", "method": "GET", "headers": []}
    asyncio.run(app(scope, receive, send))
    assert sent[2]["status"] == 503
