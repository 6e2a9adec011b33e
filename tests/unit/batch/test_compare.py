"""`batch --compare-model`: the confusion table, score shifts and per-pattern figures equal
what the two models give on the same rows, on every path (Parquet with 1 and 2
workers, Avro files), and the outputs stay the model's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consumer.batch.reports.comparison import SHIFT_EDGES, ShadowComparison
from consumer.cli import main
from consumer.scoring.models import load_model
from tests.tools import features_of

V1, V2 = "fraud-lgbm-1.0.0.json", "fraud-lgbm-1.1.0.json"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "tx.parquet"
    args = ["produce", "--to-file", str(path), "--count", "6000", "--seed", "8",
            "--fraud-rate", "0.1", "--malformed-fraction", "0.01"]  # fmt: skip
    assert main(args) == 0
    return path


def _expected(path: Path, model_dir: Path) -> dict[str, Any]:
    """The comparison computed here from the two models directly."""
    table = pq.read_table(path)
    rows = table.to_pylist()
    champion, shadow = load_model(model_dir / V1), load_model(model_dir / V2)
    scores = pq.read_table(path.parent / "out").to_pylist()
    scored = {s["source_offset"] for s in scores}
    records = [{k: v for k, v in r.items() if k != "fraud_pattern"} for r in rows]
    for r in records:
        r["event_time"] = int(r["event_time"].timestamp() * 1000)
    keep = sorted(scored)
    x = features_of([records[i] for i in keep])
    a, b = champion.predict(x), shadow.predict(x)
    da, db = champion.decisions(a), shadow.decisions(b)
    expected = ShadowComparison("fraud-lgbm-1.0.0", "fraud-lgbm-1.1.0")
    expected.add(a, da, b, db, [rows[i]["fraud_pattern"] for i in keep])
    return expected.to_dict()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_parquet_comparison_equals_the_two_models_side_by_side(
    labelled: Path,
    model_dir: Path,
    tmp_path: Path,
    workers: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "tx.parquet"
    data.symlink_to(labelled)
    out, report = tmp_path / "out", tmp_path / "report.html"
    args = ["batch", "--model", str(model_dir / V1), "--input", str(data), "--output", str(out),
            "--compare-model", str(model_dir / V2), "--workers", workers, "--shard-rows", "2000",
            "--report", str(report)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "_manifest.json").read_text())
    got = manifest["comparison"]
    want = _expected(data, model_dir)
    assert got["confusion"] == want["confusion"] and got["shift"] == want["shift"]
    assert got["abs_shift_max"] == pytest.approx(want["abs_shift_max"])
    assert got["shift_sum"] == pytest.approx(want["shift_sum"])
    assert set(got["by_label"]) == set(want["by_label"]) and "legit" in got["by_label"]
    assert len(got["by_label"]) >= 3  # legit and fraud patterns
    for label, row in want["by_label"].items():
        assert got["by_label"][label] == pytest.approx(row)
    assert sum(sum(r) for r in got["confusion"]) == manifest["totals"]["scored"]

    # the summary and the report say it
    assert "compared with    fraud-lgbm-1.1.0" in printed and "by label" in printed
    changed = manifest["totals"]["scored"] - sum(got["confusion"][i][i] for i in range(3))
    assert f"decisions changed {changed:>11,}" in printed
    page = report.read_text()
    assert "fraud-lgbm-1.0.0 against fraud-lgbm-1.1.0" in page and "By label" in page

    # the outputs are the model's alone: the same as a run without --compare-model
    plain = tmp_path / "plain"
    args = ["batch", "--model", str(model_dir / V1), "--input", str(data),
            "--output", str(plain), "--workers", workers, "--shard-rows", "2000"]  # fmt: skip
    assert main(args) == 0
    for part in sorted(out.glob("part-*.parquet")):
        assert pq.read_table(part).equals(pq.read_table(plain / part.name))


def test_avro_input_is_compared_without_labels(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "tx.avro"
    assert main(["produce", "--to-file", str(data), "--count", "2000", "--seed", "4"]) == 0
    args = ["batch", "--model", str(model_dir / V1), "--input", str(data), "--output",
            str(tmp_path / "s.avro"), "--compare-model", str(model_dir / V2)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "compared with    fraud-lgbm-1.1.0" in printed and "by label" not in printed


def test_a_model_compared_with_itself_changes_nothing(
    labelled: Path, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["batch", "--model", str(model_dir / V1), "--input", str(labelled), "--output",
            str(out), "--compare-model", str(model_dir / V1), "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    got = json.loads((out / "_manifest.json").read_text())["comparison"]
    assert np.count_nonzero(np.triu(got["confusion"], 1) + np.tril(got["confusion"], -1)) == 0
    middle = SHIFT_EDGES.index(-0.01)
    assert got["shift"][middle] == sum(got["shift"]) and got["abs_shift_max"] == 0.0
    assert "decisions changed           0" in capsys.readouterr().out


def test_a_missing_shadow_model_stops_with_one_line(
    labelled: Path, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["batch", "--model", str(model_dir / V1), "--input", str(labelled), "--output",
            str(tmp_path / "out"), "--compare-model", str(tmp_path / "nope.json")]  # fmt: skip
    assert main(args) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [f"fraud-consumer: error: model card not found: {tmp_path / 'nope.json'}"]
    assert not (tmp_path / "out").exists()


def test_labels_from_an_is_fraud_column_and_rows_without_one(
    labelled: Path, model_dir: Path, tmp_path: Path
) -> None:
    table = pq.read_table(labelled)
    flags = pa.array(
        [
            None if i % 7 == 0 else p != "legit"
            for i, p in enumerate(table["fraud_pattern"].to_pylist())
        ]
    )
    data = tmp_path / "flags.parquet"
    pq.write_table(table.drop(["fraud_pattern"]).append_column("is_fraud", flags), data)
    out = tmp_path / "out"
    args = ["batch", "--model", str(model_dir / V1), "--input", str(data), "--output",
            str(out), "--compare-model", str(model_dir / V2), "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    by = json.loads((out / "_manifest.json").read_text())["comparison"]["by_label"]
    assert set(by) == {"legit", "fraud", "unlabelled"}
    assert (
        by["fraud"]["flagged"] > by["legit"]["flagged"] * by["fraud"]["rows"] / by["legit"]["rows"]
    )


def test_comparisons_merge_like_one_over_all_rows() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(1000), rng.random(1000)
    da, db = (np.digitize(s, [0.5, 0.8]).astype(np.int8) for s in (a, b))
    labels = [("legit", "card_testing", "ato")[i % 3] for i in range(1000)]
    whole = ShadowComparison("m", "c")
    whole.add(a, da, b, db, labels)
    halves = ShadowComparison("m", "c")
    for part in (slice(0, 400), slice(400, 1000)):
        one = ShadowComparison("m", "c")
        one.add(a[part], da[part], b[part], db[part], labels[part])
        halves.merge(ShadowComparison.from_dict(json.loads(json.dumps(one.to_dict()))))
    assert halves.to_dict()["confusion"] == whole.to_dict()["confusion"]
    assert halves.to_dict()["shift"] == whole.to_dict()["shift"]
    assert halves.by_label.keys() == whole.by_label.keys()
    for label, row in whole.by_label.items():
        assert halves.by_label[label] == pytest.approx(row)
    assert whole.rows == 1000 and whole.changed == int((da != db).sum())
