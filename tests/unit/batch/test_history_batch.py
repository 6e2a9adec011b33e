"""Batch prediction with card history: the preceding days as history context, shards by
card on every core, and answers equal to one scorer reading every event in order (what
the stream computes), for Parquet datasets and Avro files alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastavro import reader

from consumer.cli import main
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.history_context import HistoryContext, MemoryCardStates
from consumer.scoring.merchant_risk_build import MerchantHistory
from consumer.scoring.models import FraudModel, Models
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from consumer.training.generator import TransactionGenerator
from tests.tools import require, tiny_model
from tests.unit.batch.parquet_data import read_dataset, write_records

CODEC = PlainAvroCodec()
N, SPLIT = 12_000, 8_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A history model, its merchant risk snapshot, and events: the first SPLIT as history
    context, the rest to score, as Parquet and as Avro."""
    tmp = tmp_path_factory.mktemp("history-batch")
    model: FraudModel = tiny_model(tmp / "model")
    events = TransactionGenerator(4, history_patterns=True, n_cards=400, fraud_rate=0.05).take(N)
    rows = [e.record for e in events]
    rows[SPLIT + 5] = {**rows[SPLIT + 5], "currency": "XXX"}  # invalid: never in history
    labels = {r["transaction_id"]: e.label_time for r, e in zip(rows, events, strict=True)
              if e.label_time is not None}  # fmt: skip
    merchants = MerchantHistory(
        [r["merchant_id"] for r in rows],
        np.array([r["event_time"] for r in rows], np.int64),
        [r["transaction_id"] for r in rows],
        labels,
    )
    as_of = rows[-1]["event_time"] + 9 * 86_400_000  # every event in its windows
    snapshot = merchants.snapshot(as_of)
    assert len(snapshot) > 100
    snapshot.write(tmp / "model" / "merchant-risk")
    write_records(tmp / "context.parquet", rows[:SPLIT], row_group_size=1500)
    write_records(tmp / "input.parquet", rows[SPLIT:], row_group_size=700)
    for name, part in (("context.avro", rows[:SPLIT]), ("input.avro", rows[SPLIT:])):
        _write_avro(tmp / name, part)
    return {"tmp": tmp, "model": model, "rows": rows}


def _write_avro(path: Path, rows: list[dict[str, Any]]) -> None:
    from fastavro import writer

    from consumer.scoring.codec import TRANSACTION_SCHEMA

    with path.open("wb") as f:
        writer(f, TRANSACTION_SCHEMA, rows)


def _expected(world: dict[str, Any]) -> dict[str, tuple[float, str, list[str]]]:
    """One scorer, every event in order: the context absorbed, then the input scored."""
    states = MemoryCardStates()
    model: FraudModel = world["model"]
    risk_dir = world["tmp"] / "model" / "merchant-risk"
    from consumer.scoring.merchant_risk import load_merchant_risk

    history = HistoryContext(states, load_merchant_risk(risk_dir))
    pipeline = ScoringPipeline(CODEC, Models(model), history=history)
    rows = world["rows"]
    values: list[bytes | None] = [CODEC.encode_transaction(r) for r in rows]
    for a in range(0, SPLIT, 999):
        block = pipeline.absorb(CODEC.decode_batch(values[a : min(a + 999, SPLIT)]))
        assert block is not None
        states.put(block.changed)
    out: dict[str, tuple[float, str, list[str]]] = {}
    for a in range(SPLIT, N, 1234):
        chunk = values[a : min(a + 1234, N)]
        result = pipeline.process([RawRecord("x", 0, i, None, v) for i, v in enumerate(chunk)])
        assert result.history is not None
        states.put(result.history.changed)
        for s in result.score_records():
            out[s["transaction_id"]] = (s["score"], s["decision"], s["reason_codes"])
    return out


def _card(world: dict[str, Any]) -> str:
    return str(world["tmp"] / "model" / "tiny-9.0.0.json")


@pytest.mark.parametrize(("workers", "engine"), [("1", "local"), ("2", "local"), ("2", "ray")])
def test_a_dataset_with_history_context_equals_one_scorer_in_order(
    world: dict[str, Any], tmp_path: Path, workers: str, engine: str
) -> None:
    tmp = world["tmp"]
    out = tmp_path / "scores"
    args = ["batch", "--model", _card(world), "--input", str(tmp / "input.parquet"),
            "--history-context", str(tmp / "context.parquet"), "--output", str(out),
            "--workers", workers, "--chunk-size", "900", "--engine", engine]  # fmt: skip
    if engine == "ray":  # in its own process, as tests/unit/batch/test_ray_engine.py runs Ray
        require("ray", "pip install -e '.[dev,ray]'", module=True)
        done = subprocess.run([sys.executable, "-m", "consumer", *args], capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    else:
        assert main(args) == 0
    want = _expected(world)
    got = {
        r["transaction_id"]: (r["score"], r["decision"], list(r["reason_codes"]))
        for r in read_dataset(out).to_pylist()
    }
    assert got == want and len(got) == N - SPLIT - 1
    errors = pq.read_table(tmp_path / "scores.dead-letters").to_pylist()
    assert [e["reason"] for e in errors] == ["unknown_currency"]
    assert errors[0]["source_offset"] == 5  # the input file's row, whichever shard read it
    manifest = json.loads((out / "_manifest.json").read_text())
    assert len(manifest["shards"]) == int(workers)
    assert manifest["job"]["merchant_risk"]["sha256"]


def test_avro_files_with_history_context_equal_one_scorer_in_order(
    world: dict[str, Any], tmp_path: Path
) -> None:
    tmp = world["tmp"]
    out = tmp_path / "scores.avro"
    args = ["batch", "--model", _card(world), "--input", str(tmp / "input.avro"),
            "--history-context", str(tmp / "context.avro"), "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    with out.open("rb") as f:
        records: list[Any] = list(reader(f))
    got = {r["transaction_id"]: (r["score"], r["decision"], r["reason_codes"]) for r in records}
    assert got == _expected(world)


def test_without_context_the_first_events_of_a_card_start_from_nothing(
    world: dict[str, Any], tmp_path: Path
) -> None:
    tmp = world["tmp"]
    args = ["batch", "--model", _card(world), "--input", str(tmp / "input.parquet"),
            "--output", str(tmp_path / "a"), "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    scores = {r["transaction_id"]: r["score"] for r in read_dataset(tmp_path / "a").to_pylist()}
    want = _expected(world)
    assert scores.keys() == want.keys()
    assert any(scores[t] != want[t][0] for t in scores)  # the context matters


def test_what_a_history_run_needs_is_asked_for_in_one_line(
    world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp = world["tmp"]
    base = ["batch", "--input", str(tmp / "input.parquet"), "--output", str(tmp_path / "o")]
    assert main([*base, "--model", _card(world), "--merchant-risk", str(tmp / "none")]) == 2
    assert main([*base, "--history-context", str(tmp / "context.parquet")]) == 2  # per-event
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 2
    assert "merchant risk snapshot" in errors[0] and "needs a model" in errors[1]
    assert not (tmp_path / "o").exists()
