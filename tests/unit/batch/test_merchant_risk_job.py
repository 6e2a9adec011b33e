"""`fraud-consumer merchant-risk build`: the daily snapshot from stored transactions and
the labels that arrived, published with CURRENT, equal to the definition's builder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from consumer.cli import main
from consumer.scoring.merchant_risk import load_merchant_risk
from consumer.scoring.merchant_risk_build import MerchantHistory

AS_OF = "2026-10-12T00:00:00Z"
AS_OF_MS = 1_791_763_200_000


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("risk")
    args = ["produce", "--history-patterns", "--count", "130000", "--seed", "2",
            "--fraud-rate", "0.03", "--to-file", str(tmp / "tx.parquet"),
            "--labels-file", str(tmp / "labels.parquet")]  # fmt: skip
    assert main(args) == 0
    return tmp


def test_the_snapshot_equals_the_definitions_builder(stored: Path) -> None:
    out = stored / "snapshots"
    args = ["merchant-risk", "build", "--transactions", str(stored / "tx.parquet"),
            "--labels", str(stored / "labels.parquet"), "--as-of", AS_OF,
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    got = load_merchant_risk(out)  # CURRENT names it
    assert got.name == "merchant-risk-2026-10-12" and len(got) > 1000
    tx = pq.read_table(stored / "tx.parquet")
    labels = pq.read_table(stored / "labels.parquet")
    want = MerchantHistory(
        tx.column("merchant_id").to_pylist(),
        pc.cast(tx.column("event_time"), "int64").to_numpy(),
        tx.column("transaction_id").to_pylist(),
        dict(
            zip(
                labels.column("transaction_id").to_pylist(),
                pc.cast(labels.column("label_time"), "int64").to_pylist(),
                strict=True,
            )
        ),
    ).snapshot(AS_OF_MS)
    ids = sorted(want.merchants)
    assert sorted(got.merchants) == ids
    assert np.array_equal(got.lookup(ids), want.lookup(ids), equal_nan=True)
    assert np.nanmax(got.lookup(ids)[:, 1]) > 0.1  # some merchant's fraud shows


def test_missing_inputs_stop_with_one_line(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["merchant-risk", "build", "--transactions", str(stored / "tx.parquet")]
    assert main(args) == 2
    assert capsys.readouterr().err.strip().endswith("give --labels")
    bad = ["merchant-risk", "build", "--transactions", str(stored / "tx.parquet"),
           "--labels", str(stored / "nope.parquet"), "--out", str(stored / "x")]  # fmt: skip
    assert main(bad) == 2
