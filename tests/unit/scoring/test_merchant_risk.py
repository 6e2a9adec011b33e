"""Merchant risk snapshots: the definition (point in time, windows, labels that had
arrived), lookups, and files published like a model (checked, refused when corrupt)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from consumer.scoring.errors import ModelError
from consumer.scoring.merchant_risk import (
    DAY_MS,
    LABEL_DELAY_MS,
    MerchantRisk,
    load_merchant_risk,
)
from consumer.scoring.merchant_risk_build import MerchantHistory

T = 1_790_812_800_000  # 2026-10-01T00:00:00Z
END = T - LABEL_DELAY_MS  # the windows end a label delay before the snapshot


def _history() -> MerchantHistory:
    #      merchant, when (days before END), transaction id
    rows = [
        ("m1", 0.5, "a"),  # inside 1 d
        ("m1", 0.5, "a"),  # the same transaction again: counted once
        ("m1", 3.0, "b"),  # 7 d
        ("m1", 20.0, "c"),  # 30 d
        ("m1", 31.0, "d"),  # outside every window
        ("m2", 2.0, "e"),
        ("m3", 40.0, "f"),  # only outside: not in the snapshot
        ("m2", -1.0, "g"),  # within the label delay: not counted yet
    ]
    labels = {
        "a": T - DAY_MS,  # arrived before T
        "b": T + 1,  # arrives after T: not yet known
        "c": T - 1,
        "e": T,  # arrives exactly at T: not before it
    }
    return MerchantHistory(
        [m for m, _, _ in rows],
        np.array([END - int(d * DAY_MS) for _, d, _ in rows], np.int64),
        [t for _, _, t in rows],
        labels,
    )


def test_rates_count_only_labels_that_had_arrived_in_each_window() -> None:
    snap = _history().snapshot(T)
    assert set(snap.merchants) == {"m1", "m2"}
    m1, m2, unknown = snap.lookup(["m1", "m2", "zzz"])
    assert m1.tolist() == [1.0, 0.5, pytest.approx(2 / 3), 3]  # a | a,b | a,b,c; 3 in 30 d
    assert math.isnan(m2[0]) and m2[1] == 0.0 and m2[2] == 0.0  # e's label not yet in
    assert m2[3] == 1  # g is inside the label delay
    assert np.isnan(unknown).all()


def test_a_later_snapshot_sees_later_labels() -> None:
    later = _history().snapshot(T + DAY_MS)
    m1 = later.lookup(["m1"])[0]
    assert m1[2] == 1.0  # a, b, c in 30 d, and b's label has arrived since
    assert later.name == "merchant-risk-2026-10-02"


def test_a_snapshot_round_trips_through_its_files(tmp_path: Path) -> None:
    snap = _history().snapshot(T)
    card = snap.write(tmp_path)
    loaded = load_merchant_risk(tmp_path)  # through CURRENT
    assert loaded.name == snap.name and loaded.as_of_ms == T and card.name == f"{snap.name}.json"
    ids = ["m1", "m2", "nope"]
    assert np.array_equal(loaded.lookup(ids), snap.lookup(ids), equal_nan=True)


def test_a_corrupt_or_missing_snapshot_is_refused_with_one_line(tmp_path: Path) -> None:
    snap = _history().snapshot(T)
    snap.write(tmp_path)
    table = tmp_path / f"{snap.name}.parquet"
    table.write_bytes(table.read_bytes()[:-10])
    with pytest.raises(ModelError, match="corrupt or was replaced"):
        load_merchant_risk(tmp_path)
    with pytest.raises(ModelError, match="snapshot not found"):
        load_merchant_risk(tmp_path / "not-there.json")
    (tmp_path / "none").mkdir()
    with pytest.raises(ModelError, match="no merchant risk snapshot"):
        load_merchant_risk(tmp_path / "none")


def test_an_empty_snapshot_knows_no_merchant() -> None:
    assert np.isnan(MerchantRisk.empty(T).lookup(["m1"])).all()


def test_a_published_snapshot_takes_over_and_a_broken_one_is_kept_out(tmp_path: Path) -> None:
    from consumer.scoring.history_context import HistoryContext, MemoryCardStates
    from consumer.scoring.merchant_risk_watch import MerchantRiskWatch

    history = _history()
    history.snapshot(T).write(tmp_path)
    context = HistoryContext(MemoryCardStates(), load_merchant_risk(tmp_path))
    changes: list[str] = []
    watch = MerchantRiskWatch(tmp_path, context, on_change=lambda r: changes.append(r.name))
    watch.check()
    assert changes == []  # nothing new
    newer = history.snapshot(T + DAY_MS)
    newer.write(tmp_path)  # table, card, then CURRENT
    watch.check()
    assert context.merchant_risk.name == newer.name and changes == [newer.name]
    table = tmp_path / f"{newer.name}.parquet"
    later = history.snapshot(T + 2 * DAY_MS)
    later.write(tmp_path)
    (tmp_path / f"{later.name}.parquet").write_bytes(table.read_bytes())  # not its table
    watch.check()
    assert context.merchant_risk.name == newer.name  # the broken one is not served
