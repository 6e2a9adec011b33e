"""The card history definition on hand-worked cases: the hashes, the state blob, the
windows' edges, duplicates, late events, the cap; and each feature responds to the input
it is about (in the kernel and in the oracle alike)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.scoring.history import (
    CAP,
    ENTRY_BYTES,
    HISTORY_FEATURE_NAMES,
    HISTORY_FEATURE_SET,
    WINDOWS_MS,
    CardHistory,
    CardState,
    CardStateError,
    compute,
    fnv1a64,
    hash_strings,
)
from tests.oracle import card_history as oracle
from tests.unit.scoring.history.events import (
    DAY,
    HOUR,
    START,
    WEEK,
    Batch,
    assert_bit_identical,
    kernel,
    reference,
)

T = START + 30 * DAY
FIELDS = ("slot", "event_time", "amount_usd", "merchant", "country", "device", "txid")
NAMES = HISTORY_FEATURE_NAMES


def test_the_feature_set_is_named_and_versioned() -> None:
    assert HISTORY_FEATURE_SET == "card-history-v1"
    assert len(NAMES) == 15 and len(set(NAMES)) == 15
    assert WINDOWS_MS == (HOUR, DAY, WEEK) and CAP == 256 and ENTRY_BYTES == 48


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0xCBF29CE484222325), ("a", 0xAF63DC4C8601EC8C), ("foobar", 0x85944171F73967E8)],
)
def test_fnv1a64_matches_the_published_vectors(text: str, expected: int) -> None:
    assert fnv1a64(text) == expected
    assert hash_strings([text]).tolist() == [expected]


@given(st.lists(st.one_of(st.none(), st.text(st.characters(exclude_categories=())))))
def test_hash_strings_is_fnv1a64_and_none_is_zero(values: list[str | None]) -> None:
    assert hash_strings(values).tolist() == [oracle.hash_id(v) for v in values]


def test_hash_strings_takes_lone_surrogates_and_refuses_non_strings() -> None:
    assert hash_strings(["\ud800x"]).tolist() == [fnv1a64("\ud800x")]
    assert hash_strings(["é"]).tolist() == [fnv1a64("é")] != [fnv1a64("e")]
    with pytest.raises(TypeError, match="item 1 is int"):
        hash_strings(cast(Any, ["a", 3]))


def test_a_state_round_trips_and_converts_fields_by_name() -> None:
    entries = np.array([(5, 1.5, 1, 2, 0, 9), (7, math.nan, 3, 2, 4, 10)], CardState.dtype)
    blob = CardState.encode(entries)
    assert len(blob) == 2 * ENTRY_BYTES and blob[:8] == (5).to_bytes(8, "little")
    assert CardState.decode(blob).tobytes() == blob and CardState.decode(b"").shape == (0,)
    reordered = entries[["txid", "event_time", "amount_usd", "merchant", "country", "device"]]
    assert CardState.encode(np.array(reordered.tolist(), reordered.dtype)) == blob


@pytest.mark.parametrize("size", [1, 47, 49, 95])
def test_a_state_of_bad_length_is_refused(size: int) -> None:
    with pytest.raises(CardStateError, match=f"{size} bytes is not a multiple of 48"):
        CardState.decode(b"\0" * size)
    batch = Batch()
    batch.add(1, T, 1.0, 1, 1, 1, 1)
    with pytest.raises(CardStateError, match=f"state of slot 1: {size} bytes"):
        kernel(batch, [b"", b"\0" * size])


def test_bad_inputs_are_refused() -> None:
    batch = Batch()
    batch.add(2, T, 1.0, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="slot 2, not in"):
        kernel(batch, [b"", b""])
    with pytest.raises(TypeError, match="not bytes"):
        kernel(batch, [b"", b"", "x"])  # type: ignore[list-item]
    one = batch.columns()
    with pytest.raises(ValueError, match="txid: 2 events, slot has 1"):
        CardHistory(*[getattr(one, f) for f in FIELDS[:-1]] + [np.zeros(2, np.uint64)])
    with pytest.raises(TypeError, match="event_time: float64 is not int64"):
        CardHistory(one.slot, cast(Any, one.amount_usd), *[getattr(one, f) for f in FIELDS[2:]])


def test_untouched_slots_keep_their_state_object_and_an_empty_batch_is_empty() -> None:
    states = [b"", oracle.encode([dict(zip(oracle.FIELDS, (T, 1.0, 1, 1, 1, 1), strict=True))])]
    batch = Batch()
    batch.add(0, T, 1.0, 1, 1, 1, 1)
    _, new_states = kernel(batch, states)
    assert new_states[1] is states[1] and len(new_states[0]) == ENTRY_BYTES
    features, same = kernel(Batch(), states)
    assert features.shape == (0, 15) and same == states


def test_from_strings_hashes_the_ids() -> None:
    columns = CardHistory.from_strings([0], [T], [1.0], ["m"], ["US"], [None], ["t"])
    assert columns.device.tolist() == [0] and columns.txid.tolist() == [fnv1a64("t")]
    assert len(columns) == 1 and compute(columns, [b""]).features.shape == (1, 15)


# A card's state at T and the event at T: the base case every mutation starts from.
Row = tuple[Any, ...]
Case = tuple[list[Row], Row]
BASE_STATE: list[Row] = [  # time, amount, merchant, country, device, txid
    (T - 30 * 60_000, 10.0, 1, 1, 1, 101),
    (T - 2 * HOUR, 20.0, 2, 1, 1, 102),
    (T - 2 * DAY, 40.0, 3, 2, 2, 103),
    (T - 10 * 60_000, 5.0, 1, 1, 1, 104),
]
BASE_EVENT: Row = (T, 30.0, 1, 1, 1, 200)
BASE_FEATURES = [2, 3, 4, 15, 35, 75, 1, 2, 3, 1, 2, 600.0, 0, 0, 30.0 / 15.0]


def run(state: list[Row], event: Row) -> list[float]:
    """The features of ``event`` (kernel), checked to equal the oracle's."""
    blob = oracle.encode([dict(zip(oracle.FIELDS, e, strict=True)) for e in state])
    batch = Batch()
    batch.add(0, *event)
    features, _ = kernel(batch, [blob])
    want, _ = reference(batch, [blob])
    assert_bit_identical(features, want)
    return [float(x) for x in features[0]]


def test_the_base_case_is_worked_out_by_hand() -> None:
    assert run(BASE_STATE, BASE_EVENT) == BASE_FEATURES


def _entry(k: int, **change: float) -> Callable[[Case], Case]:
    def mutate(case: Case) -> Case:
        state, event = case
        fields = dict(zip(oracle.FIELDS, state[k], strict=True)) | change
        return [*state[:k], tuple(fields.values()), *state[k + 1 :]], event

    return mutate


def _event(**change: float) -> Callable[[Case], Case]:
    def mutate(case: Case) -> Case:
        fields = dict(zip(oracle.FIELDS, case[1], strict=True)) | change
        return case[0], tuple(fields.values())

    return mutate


def _both(*mutations: Callable[[Case], Case]) -> Callable[[Case], Case]:
    def mutate(case: Case) -> Case:
        for m in mutations:
            case = m(case)
        return case

    return mutate


# Each feature, an input change it must respond to, and the value it must then have.
MUTATIONS = {
    "card_count_1h": (_entry(1, time=T - 45 * 60_000), 3.0),
    "card_count_24h": (_entry(2, time=T - 20 * HOUR), 4.0),
    "card_count_7d": (_entry(2, time=T - 8 * DAY), 3.0),
    "card_amount_usd_1h": (_entry(0, amount=11.0), 16.0),
    "card_amount_usd_24h": (_entry(1, amount=math.nan), 15.0),
    "card_amount_usd_7d": (_entry(2, amount=41.0), 76.0),
    "card_merchants_1h": (_entry(3, merchant=9), 2.0),
    "card_merchants_24h": (_entry(1, merchant=1), 1.0),
    "card_merchants_7d": (_entry(2, merchant=2), 2.0),
    "card_countries_24h": (_entry(1, country=3), 2.0),
    "card_countries_7d": (_entry(2, country=1), 1.0),
    "card_seconds_since_prev": (_entry(3, time=T - 1), 0.001),
    "card_new_device_7d": (_event(device=7), 1.0),
    "card_new_country_7d": (_event(country=5), 1.0),
    "card_amount_to_median_7d": (_event(amount=45.0), 3.0),
}


@pytest.mark.parametrize("name", NAMES)
def test_each_feature_responds_to_its_input(name: str) -> None:
    mutate, expected = MUTATIONS[name]
    state, event = mutate((BASE_STATE, BASE_EVENT))
    got = run(state, event)
    assert got[NAMES.index(name)] == expected != BASE_FEATURES[NAMES.index(name)]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [  # what makes a feature NaN, and the edges of the windows
        (_event(device=0), {"card_new_device_7d": math.nan}),
        (_event(amount=math.nan), {"card_amount_to_median_7d": math.nan}),
        (_event(time=T + 3 * WEEK), {"card_count_7d": 0.0, "card_new_country_7d": math.nan}),
        (_event(time=T - 3 * DAY), {"card_seconds_since_prev": math.nan, "card_count_7d": 0.0}),
        (_entry(3, time=T - HOUR), {"card_count_1h": 1.0, "card_count_24h": 3.0}),
        (_entry(1, time=T - DAY), {"card_count_24h": 2.0, "card_count_7d": 4.0}),
        (_entry(2, time=T - WEEK), {"card_count_7d": 3.0, "card_countries_7d": 1.0}),
        (_entry(2, time=T - WEEK + 1), {"card_count_7d": 4.0}),
        (_entry(3, time=T), {"card_count_1h": 2.0, "card_seconds_since_prev": 0.0}),
        (_entry(3, time=T + 1), {"card_count_1h": 1.0, "card_seconds_since_prev": 1800.0}),
        (_event(txid=104), {"card_count_1h": 1.0, "card_seconds_since_prev": 1800.0}),
        (_entry(0, amount=math.nan), {"card_amount_usd_1h": 5.0, "card_count_1h": 2.0}),
        (  # the median of -5 and 5 is 0
            _both(_entry(0, amount=-5.0), _entry(1, amount=math.nan), _entry(2, amount=math.nan)),
            {"card_amount_to_median_7d": math.nan, "card_amount_usd_7d": 0.0},
        ),
        (_entry(0, amount=-30.0), {"card_amount_to_median_7d": 30.0 / 12.5}),
    ],
)
def test_edges_and_nan(mutate: Callable[[Case], Case], expected: dict[str, float]) -> None:
    got = run(*mutate((BASE_STATE, BASE_EVENT)))
    for name, value in expected.items():
        have = got[NAMES.index(name)]
        assert have == value or (math.isnan(have) and math.isnan(value)), (name, have)


def _txids(blob: bytes) -> list[int]:
    return [int(x) for x in CardState.decode(blob)["txid"]]


def test_a_duplicate_leaves_the_state_as_it_was() -> None:
    batch = Batch()
    batch.add(0, T, 1.0, 1, 1, 1, 7)
    batch.add(0, T + 5 * DAY, 2.0, 1, 1, 1, 8)
    batch.add(0, T + 9 * DAY, 3.0, 1, 1, 1, 7)  # a copy of 7: not applied, nothing pruned
    features, (state,) = kernel(batch, [b""])
    assert _txids(state) == [7, 8] and features[2, 2] == 1.0  # 7 is never in a window


def test_a_late_event_gets_features_and_leaves_no_trace() -> None:
    batch = Batch()
    batch.add(0, T, 1.0, 1, 1, 1, 1)
    batch.add(0, T - WEEK, 2.0, 1, 1, 1, 2)  # exactly 7 d older than the newest: dropped
    batch.add(0, T - WEEK + 1, 4.0, 1, 1, 1, 3)  # kept
    batch.add(0, T - 2 * WEEK, 8.0, 1, 1, 1, 2)  # 2 again: not a duplicate any more
    features, (state,) = kernel(batch, [b""])
    assert _txids(state) == [1, 3]
    assert features[1, 2] == 0.0 and np.isnan(features[1, 11])  # T is later than T - 7 d
    assert features[3, 2] == 0.0


def test_past_the_cap_the_oldest_in_input_order_go() -> None:
    batch = Batch()
    for i in range(CAP + 10):
        batch.add(0, T - i, 1.0, i, 1, 1, i)  # input order runs against time
    _, (state,) = kernel(batch, [b""])
    assert _txids(state) == list(range(10, CAP + 10))
