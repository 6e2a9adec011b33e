"""Parquet in, Parquet dataset out: the scores equal the streaming pipeline's, the dataset
has the contract's columns, lineage, manifest and _SUCCESS, and every worker count (and
Avro input) gives the same files."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import fastavro
import pyarrow.parquet as pq
import pytest

from consumer.batch.sinks.tables import ERROR_SCHEMA, SCORE_SCHEMA
from consumer.devtools.faults import RECORD_FAULTS
from consumer.scoring.codec import TRANSACTION_SCHEMA, PlainAvroCodec, schema_json
from consumer.scoring.models import FraudModel, Models
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from tests.unit.batch.parquet_data import (
    batch,
    manifest,
    part_bytes,
    read_dataset,
    records,
    write_records,
)


def _with_faults(rows: list[dict[str, Any]], every: int = 40) -> list[dict[str, Any]]:
    rng = random.Random(3)
    kinds = sorted(RECORD_FAULTS)
    return [
        RECORD_FAULTS[kinds[(i // every) % len(kinds)]](r, rng) if i % every == 7 else r
        for i, r in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return _with_faults(records(3000))


def test_scores_equal_the_streaming_pipeline(
    rows: list[dict[str, Any]], tmp_path: Path, model: FraudModel
) -> None:
    data = write_records(tmp_path / "tx.parquet", rows, row_group_size=500)
    out = tmp_path / "scores"
    assert batch("--input", str(data), "--output", str(out), "--shard-rows", "1000") == 0

    codec = PlainAvroCodec()
    expected = ScoringPipeline(codec, Models(model)).process(
        [RawRecord("x", 0, i, None, codec.encode_transaction(r)) for i, r in enumerate(rows)]
    )
    want = {s["source_offset"]: s for s in expected.score_records()}
    scores = read_dataset(out).to_pylist()
    assert [s["source_offset"] for s in scores] == sorted(want)
    flagged = 0
    for s in scores:
        w = want[s["source_offset"]]
        assert s["score"] == w["score"]  # the same bits
        assert (s["transaction_id"], s["decision"], s["reason_codes"]) == (
            w["transaction_id"],
            w["decision"],
            w["reason_codes"],
        )
        assert int(s["event_time"].timestamp() * 1000) == w["event_time"]
        assert (s["source_topic"], s["source_partition"]) == (str(data), 0)
        flagged += s["decision"] != "APPROVE"
    assert flagged > 50, "the sample must exercise reason codes"

    dead = read_dataset(tmp_path / "scores.dead-letters").to_pylist()
    assert [(d["source_offset"], d["stage"], d["reason"]) for d in dead] == [
        (x.source.offset, x.stage, x.reason) for x in expected.dead_letters
    ]
    assert len(dead) == 75
    for d in dead:  # the dead letter carries the original row, as JSON
        original = json.loads(d["value"])
        assert original["transaction_id"] == rows[d["source_offset"]]["transaction_id"]
        assert d["source"] == str(data) and d["model_name"] == model.name


def test_the_dataset_has_the_contract_columns_a_manifest_and_success(
    rows: list[dict[str, Any]], tmp_path: Path, model: FraudModel
) -> None:
    data = write_records(tmp_path / "tx.parquet", rows, row_group_size=500)
    out = tmp_path / "scores"
    assert batch("--input", str(data), "--output", str(out), "--shard-rows", "1000") == 0
    names = [f["name"] for f in schema_json("fraud_score")["fields"]]
    for part in out.glob("part-*.parquet"):
        assert pq.read_schema(part).names == names == SCORE_SCHEMA.names
    dlq = tmp_path / "scores.dead-letters"
    dead_names = [f["name"] for f in schema_json("dead_letter")["fields"]]
    for part in dlq.glob("part-*.parquet"):
        assert pq.read_schema(part).names == dead_names == ERROR_SCHEMA.names
    assert (out / "_SUCCESS").exists() and (dlq / "_SUCCESS").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "scores",
        "scores.dead-letters",
        "tx.parquet",
    ]

    m = manifest(out)
    assert m["job"]["model"]["sha256"] == model.card.model_sha256
    assert m["started"] <= m["finished"]
    assert [s["id"] for s in m["shards"].values()] == [
        f"{data} (row groups 0-1)",
        f"{data} (row groups 2-3)",
        f"{data} (row groups 4-5)",
    ]
    assert sum(s["rows_in"] for s in m["shards"].values()) == m["totals"]["rows_in"] == 3000
    assert m["totals"]["invalid"] == 75
    for s in m["shards"].values():
        assert s["rows_in"] == s["scored"] + s["invalid"] == 1000
        files = {p["dataset"]: p for p in s["parts"]}
        assert files["scores"]["rows"] == s["scored"]
        assert files["errors"]["rows"] == s["invalid"]


def test_every_worker_count_writes_the_same_files(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    data = write_records(tmp_path / "in" / "tx.parquet", rows, row_group_size=500)
    outs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        args = ("--input", str(data), "--output", str(out), "--shard-rows", "500")
        assert batch(*args, "--workers", workers) == 0
        outs[workers] = out
        assert manifest(out)["workers"] == int(workers)
    assert part_bytes(outs["1"]) == part_bytes(outs["2"])
    assert len(part_bytes(outs["1"])) == 6
    assert part_bytes(outs["1"].with_name("w1.dead-letters")) == part_bytes(
        outs["2"].with_name("w2.dead-letters")
    )


def test_avro_input_into_a_dataset_scores_as_parquet_does(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    avro = tmp_path / "tx.avro"
    with avro.open("wb") as f:
        fastavro.writer(f, TRANSACTION_SCHEMA, rows)
    parquet = write_records(tmp_path / "tx.parquet", rows)
    assert batch("--input", str(avro), "--output", str(tmp_path / "a"), "--workers", "2") == 0
    assert batch("--input", str(parquet), "--output", str(tmp_path / "p")) == 0
    a, p = read_dataset(tmp_path / "a"), read_dataset(tmp_path / "p")
    assert a.drop_columns(["source_topic"]) == p.drop_columns(["source_topic"])
    dead_a = read_dataset(tmp_path / "a.dead-letters")
    dead_p = read_dataset(tmp_path / "p.dead-letters")
    assert dead_a.column("reason") == dead_p.column("reason")
    codec = PlainAvroCodec()  # Avro dead letters keep the record's Avro bytes
    first = dead_a.to_pylist()[0]
    assert (
        codec.decode_transaction(first["value"])["transaction_id"]
        == (rows[first["source_offset"]]["transaction_id"])
    )


def test_avro_output_stays_available_for_avro_input(tmp_path: Path) -> None:
    avro = tmp_path / "tx.avro"
    with avro.open("wb") as f:
        fastavro.writer(f, TRANSACTION_SCHEMA, records(200))
    out = tmp_path / "s.avro"
    assert batch("--input", str(avro), "--output", str(out)) == 0
    with out.open("rb") as f:
        assert len(list(fastavro.reader(f))) == 200


def test_a_hive_dataset_names_each_file_relative_to_its_root(tmp_path: Path) -> None:
    rows = records(900)
    root = tmp_path / "lake"
    for day, part in enumerate((rows[:300], rows[300:600], rows[600:])):
        write_records(root / f"dt=2026-10-0{day + 1}" / "part-0.parquet", part)
    (root / "_SUCCESS").touch()  # a finished upstream dataset: its markers are not data
    (root / "dt=2026-10-01" / ".part-0.parquet.crc").write_bytes(b"x")
    out = tmp_path / "scores"
    assert batch("--input", str(root), "--output", str(out)) == 0
    scores = read_dataset(out).to_pylist()
    assert len(scores) == 900
    names = sorted({(s["source_topic"], s["source_partition"]) for s in scores})
    assert names == [(f"dt=2026-10-0{d}/part-0.parquet", d - 1) for d in (1, 2, 3)]
    by_id = {r["transaction_id"]: i for i, r in enumerate(rows)}
    for s in scores:  # source_offset is the row within its own file
        assert by_id[s["transaction_id"]] == 300 * s["source_partition"] + s["source_offset"]
    assert (
        batch(
            "--input", str(root / "dt=2026-10-0[12]" / "*.parquet"), "--output", str(tmp_path / "g")
        )
        == 0
    )
    globbed = read_dataset(tmp_path / "g")
    assert globbed.num_rows == 600
    assert set(globbed.column("source_topic").to_pylist()) == {
        "dt=2026-10-01/part-0.parquet",
        "dt=2026-10-02/part-0.parquet",
    }
