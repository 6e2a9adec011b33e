"""Batch prediction over Avro files (no broker): outputs, determinism, failures, reports."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastavro
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumer.cli import main
from consumer.scoring.codec import TRANSACTION_SCHEMA, PlainAvroCodec
from consumer.scoring.models import FraudModel, Models
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from consumer.training.generator import TransactionGenerator
from tests.conftest import MODELS


def _generate(path: Path, count: int = 3000, seed: int = 5, malformed: float = 0.02) -> None:
    assert (
        main(
            [
                "produce",
                "--to-file",
                str(path),
                "--count",
                str(count),
                "--seed",
                str(seed),
                "--malformed-fraction",
                str(malformed),
            ]
        )
        == 0
    )


def _batch(*args: str) -> int:
    return main(["batch", "--model", str(MODELS), *args])


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        return [dict(r) for r in fastavro.reader(f) if isinstance(r, dict)]


@pytest.fixture
def tx_file(tmp_path: Path) -> Path:
    path = tmp_path / "tx.avro"
    _generate(path)
    return path


def test_scores_every_valid_row_and_dead_letters_the_rest(
    tx_file: Path, tmp_path: Path, model: FraudModel, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scores.avro"
    assert _batch("--input", str(tx_file), "--output", str(out)) == 0
    scores = _read(out)
    dead = _read(tmp_path / "scores.dead-letters.avro")
    inputs = _read(tx_file)
    assert len(scores) + len(dead) == len(inputs) == 3000
    assert 20 < len(dead) < 120

    # The same rows through the streaming pipeline give the same scores and decisions.
    codec = PlainAvroCodec()
    for row in inputs:
        row["event_time"] = int(row["event_time"].timestamp() * 1000)
    expected = ScoringPipeline(codec, Models(model)).process(
        [
            RawRecord(str(tx_file), 0, i, None, codec.encode_transaction(r))
            for i, r in enumerate(inputs)
        ]
    )
    assert [(s["transaction_id"], s["score"], s["decision"]) for s in expected.score_records()] == [
        (s["transaction_id"], s["score"], s["decision"]) for s in scores
    ]
    assert {(d.source.offset, d.reason) for d in expected.dead_letters} == {
        (d["source_offset"], d["reason"]) for d in dead
    }
    for d in dead:  # the dead letter carries the original record
        decoded = codec.decode_transaction(d["value"])
        assert decoded["transaction_id"] == inputs[d["source_offset"]]["transaction_id"]
    summary = capsys.readouterr().out
    assert "rows read" in summary and "3,000" in summary and "score histogram" in summary


def test_a_rerun_in_another_process_gives_the_same_bytes(tx_file: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.avro", tmp_path / "b.avro"
    assert _batch("--input", str(tx_file), "--output", str(first)) == 0
    subprocess.run(
        [
            sys.executable,
            "-m",
            "consumer",
            "batch",
            "--model",
            str(MODELS),
            "--input",
            str(tx_file),
            "--output",
            str(second),
        ],
        check=True,
        capture_output=True,
    )
    assert first.read_bytes() == second.read_bytes()
    assert (tmp_path / "a.dead-letters.avro").read_bytes() == (
        tmp_path / "b.dead-letters.avro"
    ).read_bytes()


def test_directories_and_globs(tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    for seed in (1, 2, 3):
        _generate(data / f"part-{seed}.avro", count=400, seed=seed, malformed=0.0)
    out = tmp_path / "dir.avro"
    assert _batch("--input", str(data), "--output", str(out)) == 0
    assert len(_read(out)) == 1200
    assert _batch("--input", str(data / "part-[12].avro"), "--output", str(out)) == 0
    assert len(_read(out)) == 800


def test_a_file_written_with_an_evolved_schema_is_resolved(tmp_path: Path) -> None:
    schema = copy.deepcopy(TRANSACTION_SCHEMA)
    schema["fields"].append({"name": "loyalty_tier", "type": ["null", "string"], "default": None})
    rows = [{**e.record, "loyalty_tier": "gold"} for e in TransactionGenerator(9).take(50)]
    path = tmp_path / "evolved.avro"
    with path.open("wb") as f:
        fastavro.writer(f, schema, rows)
    out = tmp_path / "s.avro"
    assert _batch("--input", str(path), "--output", str(out)) == 0
    assert [s["transaction_id"] for s in _read(out)] == [r["transaction_id"] for r in rows]


def test_as_of_sets_scored_at(tx_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.avro"
    assert (
        _batch("--input", str(tx_file), "--output", str(out), "--as-of", "2026-01-02T03:04:05Z")
        == 0
    )
    assert {s["scored_at"].isoformat() for s in _read(out)} == {"2026-01-02T03:04:05+00:00"}


def test_report_and_metrics_textfile(tx_file: Path, tmp_path: Path) -> None:
    report, prom = tmp_path / "r.html", tmp_path / "batch.prom"
    assert (
        _batch(
            "--input",
            str(tx_file),
            "--output",
            str(tmp_path / "s.avro"),
            "--report",
            str(report),
            "--metrics-textfile",
            str(prom),
        )
        == 0
    )
    page = report.read_text()
    assert page.count("<svg") == 2 and "APPROVE" in page and "DECLINE" in page
    values = {
        s.name + str(sorted(s.labels.items())): s.value
        for fam in text_string_to_metric_families(prom.read_text())
        for s in fam.samples
    }
    assert values["fraud_batch_success[]"] == 1
    assert values["fraud_batch_rows_read[]"] == 3000
    assert (
        sum(v for k, v in values.items() if k.startswith("fraud_batch_decisions"))
        + sum(v for k, v in values.items() if k.startswith("fraud_batch_dead_letters"))
        == 3000
    )


def _fails(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = _batch(*args)
    lines = capsys.readouterr().err.strip().splitlines()
    return code, lines[-1] if lines else ""


def test_missing_input_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _fails(
        capsys, "--input", str(tmp_path / "nope.avro"), "--output", str(tmp_path / "o.avro")
    )
    assert code == 2 and err.startswith("fraud-consumer: error: input not found")


def test_schema_mismatch_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "other.avro"
    with path.open("wb") as f:
        fastavro.writer(
            f,
            {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]},
            [{"x": 1}],
        )
    code, err = _fails(capsys, "--input", str(path), "--output", str(tmp_path / "o.avro"))
    assert code == 2 and "schema mismatch" in err
    assert not (tmp_path / "o.avro").exists()


def test_not_an_avro_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.avro"
    path.write_text("hello")
    code, err = _fails(capsys, "--input", str(path), "--output", str(tmp_path / "o.avro"))
    assert code == 2 and "not an Avro container file" in err


def test_unwritable_output(
    tx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _fails(
        capsys, "--input", str(tx_file), "--output", str(tmp_path / "no" / "dir" / "o.avro")
    )
    assert code == 2 and err.startswith("fraud-consumer: error: cannot write")


def test_bad_model(tx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "batch",
            "--model",
            str(tmp_path),
            "--input",
            str(tx_file),
            "--output",
            str(tmp_path / "o.avro"),
        ]
    )
    assert code == 2
    assert "no model" in capsys.readouterr().err


def test_a_corrupt_file_fails_the_run_and_leaves_no_output(
    tx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "in"
    good.mkdir()
    (good / "a.avro").write_bytes(tx_file.read_bytes())
    data = tx_file.read_bytes()
    (good / "b.avro").write_bytes(data[: len(data) * 2 // 3])  # cut mid-block
    out = tmp_path / "o.avro"
    code, err = _fails(capsys, "--input", str(good), "--output", str(out), "--chunk-size", "500")
    assert code == 1 and "corrupt" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "tx.avro"]  # nothing half-written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "o.avro"], "exactly one of --input and --from-topic"),
        (["--input", "x", "--from-topic", "t", "--output", "o.avro"], "exactly one of --input"),
        (["--input", "x"], "exactly one of --output and --to-topic"),
        (["--input", "x", "--to-topic", "t"], "say where dead letters go"),
        (
            ["--from-topic", "t", "--start", "5", "--end", "2026-01-01", "--output", "o"],
            "both be offsets",
        ),
        (["--from-topic", "t", "--start", "yesterday", "--output", "o"], "not an ISO-8601 time"),
        (["--input", "x", "--output", "o", "--report", "r.png"], "writes HTML"),
    ],
)
def test_bad_flag_combinations(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _fails(capsys, *args)
    assert code == 2 and message in err
