"""Events for the card history tests: a column batch both the kernel and the oracle take,
and synthetic card traffic with the awkward cases mixed in."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from consumer.scoring.history import HISTORY_FEATURE_NAMES, CardHistory, compute
from tests.oracle import card_history as oracle

HOUR = 3_600_000
DAY = 24 * HOUR
WEEK = 7 * DAY
START = 1_700_000_000_000  # epoch ms, November 2023


@dataclass
class Batch:
    """Events as plain lists: slot, time, amount_usd and the four hashes."""

    slot: list[int] = field(default_factory=list)
    time: list[int] = field(default_factory=list)
    amount: list[float] = field(default_factory=list)
    merchant: list[int] = field(default_factory=list)
    country: list[int] = field(default_factory=list)
    device: list[int] = field(default_factory=list)
    txid: list[int] = field(default_factory=list)

    def add(
        self,
        slot: int,
        time: int,
        amount: float,
        merchant: int,
        country: int,
        device: int,
        txid: int,
    ) -> None:
        for name, value in zip(
            ("slot", "time", "amount", "merchant", "country", "device", "txid"),
            (slot, time, amount, merchant, country, device, txid),
            strict=True,
        ):
            getattr(self, name).append(value)

    def __len__(self) -> int:
        return len(self.slot)

    def part(self, lo: int, hi: int) -> Batch:
        return Batch(*(getattr(self, name)[lo:hi] for name in _NAMES))

    def columns(self) -> CardHistory:
        return CardHistory(
            np.array(self.slot, np.int64),
            np.array(self.time, np.int64),
            np.array(self.amount, np.float64),
            np.array(self.merchant, np.uint64),
            np.array(self.country, np.uint64),
            np.array(self.device, np.uint64),
            np.array(self.txid, np.uint64),
        )


_NAMES = ("slot", "time", "amount", "merchant", "country", "device", "txid")


def kernel(batch: Batch, states: list[bytes]) -> tuple[npt.NDArray[np.float64], list[bytes]]:
    features, new_states = compute(batch.columns(), states)
    return features, new_states


def in_batches(
    batch: Batch, states: list[bytes], cuts: list[int]
) -> tuple[npt.NDArray[np.float64], list[bytes]]:
    """The kernel over ``batch`` cut at ``cuts``, each slot's state carried as bytes."""
    parts = []
    bounds = [0, *sorted(cuts), len(batch)]
    for lo, hi in itertools.pairwise(bounds):
        features, states = kernel(batch.part(lo, hi), [bytes(s) for s in states])
        parts.append(features)
    return np.concatenate(parts), states


def reference(batch: Batch, states: list[bytes]) -> tuple[npt.NDArray[np.float64], list[bytes]]:
    rows, new_states = oracle.card_history(
        batch.slot,
        batch.time,
        batch.amount,
        batch.merchant,
        batch.country,
        batch.device,
        batch.txid,
        states=states,
    )
    return np.array(rows, np.float64).reshape(-1, len(HISTORY_FEATURE_NAMES)), new_states


def assert_bit_identical(got: npt.NDArray[np.float64], want: npt.NDArray[np.float64]) -> None:
    """Equal as 64-bit patterns (so NaN == NaN, 0.0 != -0.0); names the first difference."""
    assert got.shape == want.shape
    differ = got.view(np.uint64) != want.view(np.uint64)
    if differ.any():
        row, column = (int(x[0]) for x in np.nonzero(differ))
        raise AssertionError(
            f"{int(differ.sum())} values differ; first: event {row} "
            f"{HISTORY_FEATURE_NAMES[column]}: {got[row, column]!r} != {want[row, column]!r}"
        )


def traffic(seed: int, n: int, cards: int) -> tuple[Batch, list[str], list[str]]:
    """Synthetic card traffic, plus the merchant and transaction ids as strings (hashed
    with the oracle's fnv1a64, so generated traffic checks the fast hashes too).

    Time runs forward with jitter; mixed in: late events (up to 9 d), events exactly 0,
    1 h, 24 h and 7 d after an earlier event of the card, redelivered and colliding
    transaction ids, NaN and zero amounts, absent devices, one card in a burst past the cap.
    """
    rng = np.random.default_rng(seed)
    batch = Batch()
    merchant_ids: list[str] = []
    txids: list[str] = []
    ids: dict[str, int] = {}

    def hashed(text: str) -> int:
        if text not in ids:
            ids[text] = oracle.hash_id(text)
        return ids[text]

    span = 21 * DAY
    card = rng.integers(0, cards, n)
    card[n // 2 : n // 2 + 600] = 0  # a burst on card 0
    clock = START + np.sort(rng.integers(0, span, n))
    kind = rng.random(n)
    amount = np.round(rng.lognormal(3.5, 1.2, n), 2)
    amount[rng.random(n) < 0.03] = np.nan
    amount[rng.random(n) < 0.01] = 0.0
    pool = rng.integers(0, 400, (cards, 4))
    last: dict[int, list[tuple[int, int]]] = {}  # card -> recent (time, index)
    for i in range(n):
        c = int(card[i])
        t = int(clock[i])
        recent = last.setdefault(c, [])
        if kind[i] < 0.03 and recent:  # exactly at a window edge of an earlier event
            edge = int(rng.choice([0, HOUR, DAY, WEEK, -HOUR, -1, 1]))
            t = recent[int(rng.integers(0, len(recent)))][0] + edge
        elif kind[i] < 0.06:  # late
            t -= int(rng.integers(0, 9 * DAY))
        elif kind[i] < 0.08:  # to the minute: ties
            t -= t % 60_000
        merchant = (
            f"m-{pool[c, rng.integers(0, 4)] if rng.random() < 0.8 else rng.integers(0, 5000)}"
        )
        if kind[i] > 0.98 and recent:  # redelivered
            txid = txids[recent[int(rng.integers(0, len(recent)))][1]]
        elif kind[i] > 0.975:  # the id of another card's transaction
            txid = txids[int(rng.integers(0, i))] if i else "t-0"
        else:
            txid = f"t-{seed}-{i}"
        country = "US" if rng.random() < 0.85 else str(rng.choice(["FR", "GB", "NG", "BR", "CN"]))
        device = None if rng.random() < 0.1 else f"d-{c}-{rng.integers(0, 2)}"
        merchant_ids.append(merchant)
        txids.append(txid)
        batch.add(
            c,
            t,
            float(amount[i]),
            hashed(merchant),
            hashed(country),
            0 if device is None else hashed(device),
            hashed(txid),
        )
        recent.append((t, i))
        del recent[:-40]
    return batch, merchant_ids, txids
