"""The card history kernel equals the definition written out one event at a time
(``tests/oracle/card_history.py``) bit for bit, on generated traffic and on hypothesis
cases built around the edges; cutting a batch anywhere changes nothing."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.scoring.history import CAP, CardState, hash_strings
from tests.oracle import card_history as oracle
from tests.unit.scoring.history.events import (
    DAY,
    HOUR,
    START,
    WEEK,
    Batch,
    assert_bit_identical,
    in_batches,
    kernel,
    reference,
    traffic,
)

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EDGES = [0, 1, -1, HOUR, HOUR - 1, HOUR + 1, DAY, DAY - 1, DAY + 1, WEEK, WEEK - 1, WEEK + 1]
AMOUNTS = st.one_of(
    st.sampled_from([math.nan, 0.0, -0.0, 1.0, 2.5, 3.0, 100.0, -7.0]),
    st.floats(width=64),  # NaN, infinities, subnormals, huge
)


@st.composite
def batches(draw: st.DrawFn, max_events: int = 40) -> tuple[Batch, list[bytes]]:
    """A few cards, times at window edges of each other, a small pool of transaction ids
    (duplicates), merchants, countries and devices (0: absent); states to start from that
    may break the rules (stale entries, later times, over the cap)."""
    slots = draw(st.integers(1, 3))
    states = []
    for _ in range(slots):
        entries = draw(
            st.lists(
                st.tuples(
                    st.integers(-2 * WEEK, WEEK),
                    AMOUNTS,
                    st.integers(0, 4),
                    st.integers(0, 3),
                    st.integers(0, 3),
                    st.integers(0, 30),
                ),
                max_size=draw(st.sampled_from([0, 6, CAP + 3])),
            )
        )
        states.append(
            oracle.encode(
                [dict(zip(oracle.FIELDS, (START + e[0], *e[1:]), strict=True)) for e in entries]
            )
        )
    batch = Batch()
    for _ in range(draw(st.integers(0, max_events))):
        if len(batch) and draw(st.booleans()):  # at an edge of an earlier event
            earlier = batch.time[draw(st.integers(0, len(batch) - 1))]
            time = earlier + draw(st.sampled_from(EDGES)) * draw(st.sampled_from([1, -1]))
        else:
            time = START + draw(st.integers(-WEEK, 2 * WEEK))
        batch.add(
            draw(st.integers(0, slots - 1)),
            time,
            draw(AMOUNTS),
            draw(st.integers(0, 4)),
            draw(st.integers(0, 3)),
            draw(st.integers(0, 3)),
            draw(st.integers(0, 30)),
        )
    return batch, states


@_SETTINGS
@given(batches())
def test_the_kernel_is_the_definition(case: tuple[Batch, list[bytes]]) -> None:
    batch, states = case
    features, new_states = kernel(batch, states)
    want, want_states = reference(batch, states)
    assert_bit_identical(features, want)
    assert new_states == want_states


@_SETTINGS
@given(batches(), st.lists(st.integers(0, 40), max_size=5))
def test_cutting_a_batch_anywhere_changes_nothing(
    case: tuple[Batch, list[bytes]], cuts: list[int]
) -> None:
    batch, states = case
    features, new_states = kernel(batch, states)
    parts, part_states = in_batches(batch, states, [min(c, len(batch)) for c in cuts])
    assert_bit_identical(parts, features)
    assert part_states == new_states
    want, want_states = reference(batch, states)
    assert_bit_identical(parts, want)
    assert part_states == want_states


def test_generated_traffic_equals_the_oracle_in_random_batches() -> None:
    batch, merchant_ids, txids = traffic(seed=11, n=100_000, cards=2500)
    assert np.array_equal(hash_strings(merchant_ids), np.array(batch.merchant, np.uint64))
    assert np.array_equal(hash_strings(txids), np.array(batch.txid, np.uint64))
    states = [b""] * 2500
    cuts = np.random.default_rng(5).integers(0, len(batch), 12).tolist()
    features, new_states = in_batches(batch, states, cuts)
    want, want_states = reference(batch, states)
    assert_bit_identical(features, want)
    assert new_states == want_states
    # the traffic reaches what it is meant to: typical states, the cap, every feature set
    sizes = [len(s) // 48 for s in new_states]
    assert np.median(sizes) >= 10 and features[:, 2].max() == CAP
    assert np.median(features[:, 2]) <= 30
    assert not np.isnan(features).all(axis=0).any()


def test_a_burst_of_a_thousand_events_on_one_card_keeps_the_newest_256() -> None:
    rng = np.random.default_rng(3)
    batch = Batch()
    for i in range(1000):
        batch.add(
            0,
            START + i * 1_000 + int(rng.integers(-5_000, 5_000)),
            float(rng.choice([math.nan, 10.0, 25.5, 99.0])),
            int(rng.integers(0, 20)),
            int(rng.integers(0, 3)),
            int(rng.integers(0, 4)),
            i if rng.random() < 0.95 else int(rng.integers(0, i + 1)),
        )
    batch.add(0, START + 2 * WEEK, 5.0, 1, 1, 1, 10_000)  # a week later: all dropped
    features, new_states = kernel(batch, [b""])
    want, want_states = reference(batch, [b""])
    assert_bit_identical(features, want)
    assert new_states == want_states
    assert features[:-1, 0].max() == CAP  # at most CAP entries in any window
    # after the burst: the cap; then the week-later event drops every other entry
    (state,) = new_states
    assert CardState.decode(state)["txid"].tolist() == [10_000]
    _, burst_states = kernel(batch.part(0, 1000), [b""])
    assert len(CardState.decode(burst_states[0])) == CAP


def test_the_oracle_median_is_numpys() -> None:
    rng = np.random.default_rng(8)
    for size in range(1, 40):
        values = rng.choice([0.0, -0.0, 1.5, 2.0, 3.25, 1e300, -1e300, 5e-324], size).tolist()
        assert oracle.median(values) == float(np.median(values))
