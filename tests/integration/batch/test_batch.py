"""Batch prediction from topics, and parity with the streaming scorer, on a real broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer

from consumer.batch.sinks.tables import transaction_table
from consumer.cli import main
from consumer.kafka.topics import read_all
from consumer.scoring.codec import TRANSACTION_SCHEMA, PlainAvroCodec
from consumer.scoring.deadletter import dead_letter_source
from consumer.training.generator import TransactionGenerator
from tests.conftest import MODELS
from tests.integration.helpers import Scorer, landed, make_values, new_group, produce

pytestmark = pytest.mark.integration


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        return [dict(r) for r in fastavro.reader(f) if isinstance(r, dict)]


def _batch(bootstrap: str, *args: str) -> int:
    return main(
        [
            "batch",
            "--model",
            str(MODELS),
            "--bootstrap-servers",
            bootstrap,
            "--consumer-config",
            "fetch.wait.max.ms=10",
            *args,
        ]
    )


def test_streaming_and_batch_agree_to_the_last_bit(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(3)
    sent = produce(bootstrap, inp, make_values(3000, malformed_every=25))
    scorer = Scorer(bootstrap, (inp, out, dlq), new_group(), tmp_path, "--exit-when-idle", "2")
    assert scorer.wait() == 0, scorer.output()
    streamed = landed(bootstrap, out, dlq)

    scores, dead = tmp_path / "batch.avro", tmp_path / "batch-dlq.avro"
    assert (
        _batch(bootstrap, "--from-topic", inp, "--output", str(scores), "--dlq-output", str(dead))
        == 0
    )
    batch_scores = {(s["source_partition"], s["source_offset"]): s for s in _read(scores)}
    batch_dead = {(d["source_partition"], d["source_offset"]): d for d in _read(dead)}

    assert set(batch_scores) == set(streamed.scores)
    for pos, s in batch_scores.items():
        (live,) = streamed.scores[pos]
        assert s["score"] == live["score"]  # float equality: the same bits
        assert (s["decision"], s["reason_codes"], s["transaction_id"]) == (
            live["decision"],
            live["reason_codes"],
            live["transaction_id"],
        )
    assert set(batch_dead) == set(streamed.dead) == sent.malformed
    for pos, d in batch_dead.items():
        (msg,) = streamed.dead[pos]
        headers = dict(msg.headers() or [])
        assert (d["stage"].encode(), d["reason"].encode()) == (
            headers["dlq.error.stage"],
            headers["dlq.error.reason"],
        )
        assert d["value"] == sent.value[pos] and d["key"] == sent.key[pos]

    # The same events from an Avro file and from Parquet score the same as well.
    file_in = tmp_path / "tx.avro"
    codec = PlainAvroCodec()
    valid = [
        (pos, codec.decode_transaction(sent.value[pos]))
        for pos in sorted(set(sent.value) - sent.malformed)
    ]
    with file_in.open("wb") as f:
        fastavro.writer(f, TRANSACTION_SCHEMA, [tx for _, tx in valid])
    from_file = tmp_path / "from-file.avro"
    assert (
        main(["batch", "--model", str(MODELS), "--input", str(file_in), "--output", str(from_file)])
        == 0
    )
    from_parquet = tmp_path / "from-parquet"
    parquet_in = tmp_path / "tx.parquet"
    pq.write_table(transaction_table([tx for _, tx in valid]), parquet_in, row_group_size=500)
    assert (
        main(
            [
                "batch",
                "--model",
                str(MODELS),
                "--input",
                str(parquet_in),
                "--output",
                str(from_parquet),
                "--workers",
                "2",
                "--shard-rows",
                "1000",
            ]
        )
        == 0
    )
    parquet_scores = pa.concat_tables(
        [pq.read_table(p) for p in sorted(from_parquet.glob("part-*.parquet"))]
    ).to_pylist()
    assert len(parquet_scores) == len(valid)
    for (pos, _), s, p in zip(valid, _read(from_file), parquet_scores, strict=True):
        live = streamed.scores[pos][0]
        assert s["score"] == p["score"] == live["score"]  # Avro file, Parquet, Kafka: same bits
        assert s["decision"] == p["decision"] == live["decision"]
        assert s["reason_codes"] == p["reason_codes"] == live["reason_codes"]
        assert s["transaction_id"] == p["transaction_id"] == live["transaction_id"]


def test_offset_range(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, _, _ = topics(2)
    sent = produce(bootstrap, inp, make_values(400))
    out = tmp_path / "s.avro"
    assert (
        _batch(bootstrap, "--from-topic", inp, "--start", "10", "--end", "30", "--output", str(out))
        == 0
    )
    got = sorted((s["source_partition"], s["source_offset"]) for s in _read(out))
    assert got == sorted(pos for pos in sent.value if 10 <= pos[1] < 30)


def test_time_range(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, _, _ = topics(2)
    codec = PlainAvroCodec()
    base = 1_790_000_000_000  # 2026-09-21T14:13:20Z
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, e in enumerate(TransactionGenerator(4).take(600)):
        producer.produce(
            inp,
            key=e.record["card_id"].encode(),
            value=codec.encode_transaction(e.record),
            timestamp=base + i * 1000,
        )
    producer.flush(30)
    out = tmp_path / "s.avro"
    assert (
        _batch(
            bootstrap,
            "--from-topic",
            inp,
            "--start",
            "2026-09-21T14:15:00Z",
            "--end",
            "2026-09-21T14:20:00Z",
            "--output",
            str(out),
        )
        == 0
    )
    ids = {s["transaction_id"] for s in _read(out)}
    expected = {
        e.record["transaction_id"]
        for i, e in enumerate(TransactionGenerator(4).take(600))
        if base + 100_000 <= base + i * 1000 < base + 400_000
    }
    assert ids == expected and len(ids) == 300


def test_topic_output(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(2)
    sent = produce(bootstrap, inp, make_values(300, malformed_every=10))
    assert _batch(bootstrap, "--from-topic", inp, "--to-topic", out, "--dlq-topic", dlq) == 0
    codec = PlainAvroCodec()
    scores = [codec.decode_score(m.value()) for m in read_all(bootstrap, out)]
    assert len(scores) == 270
    dead = read_all(bootstrap, dlq)
    assert {dead_letter_source(m.headers()) for m in dead} == sent.malformed


def test_a_topic_range_is_compared_by_the_fraud_pattern_its_headers_carry(
    bootstrap: str,
    topics: Callable[[int], tuple[str, str, str]],
    tmp_path: Path,
    model_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inp, _out, _dlq = topics(2)
    sent = ["produce", "--bootstrap-servers", bootstrap, "--topic", inp, "--count", "3000",
            "--fraud-rate", "0.2", "--seed", "6"]  # fmt: skip
    assert main(sent) == 0
    capsys.readouterr()
    args = ["--from-topic", inp, "--output", str(tmp_path / "s.avro"),
            "--compare-model", str(model_dir / "fraud-lgbm-1.1.0.json")]  # fmt: skip
    assert _batch(bootstrap, *args) == 0
    printed = capsys.readouterr().out
    after = printed[printed.index("by label") :].splitlines()[3:]  # past its two headings
    table = [line for line in after[: next(i for i, t in enumerate(after) if t[:2] != "  ")]]
    labels = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in table}
    assert labels["legit"] > 2000 and len(labels) >= 3  # legit and fraud patterns
    assert sum(labels.values()) == 3000
