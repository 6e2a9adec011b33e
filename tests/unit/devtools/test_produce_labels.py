"""`fraud-consumer produce` with labels: one label record per fraudulent Transaction sent
intact, to a topic (keyed by card id, timestamped at label_time) and/or a Parquet file;
undelivered labels exit 1 like undelivered Transactions."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastavro import schemaless_reader

from consumer.cli import main
from consumer.devtools import produce
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.errors import DeliveryError
from consumer.scoring.schemas import parsed
from consumer.training.labels import LABEL_FIELDS, LABEL_SCHEMA

DAY_MS = 86_400_000


@dataclass
class FakeWriter:
    """Stands in for TopicWriter: keeps what is sent; ``fail`` makes close() report
    undelivered records the way TopicWriter does."""

    conf: dict[str, Any]
    topic: str
    total: int | None = None
    fail: bool = False
    sent: list[tuple[bytes | None, bytes | None, Any, int | None]] = field(default_factory=list)
    closed: bool = False

    @property
    def count(self) -> int:
        return len(self.sent)

    @property
    def delivered(self) -> int:
        return 0 if self.fail else self.count

    def send(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Any = None,
        timestamp: int | None = None,
    ) -> None:
        self.sent.append((key, value, headers, timestamp))

    def close(self) -> None:
        self.closed = True
        if self.fail:
            total = max(self.count, self.total or 0)
            raise DeliveryError(
                f"{total:,} of {total:,} records were not delivered to {self.topic}"
            )

    def abandon(self) -> None:
        self.closed = True


def _fake_kafka(
    monkeypatch: pytest.MonkeyPatch, failing: tuple[str, ...] = ()
) -> tuple[dict[str, FakeWriter], list[dict[str, int]]]:
    writers: dict[str, FakeWriter] = {}
    created: list[dict[str, int]] = []

    def writer(conf: dict[str, Any], topic: str, total: int | None = None) -> FakeWriter:
        writers[topic] = FakeWriter(conf, topic, total, fail=topic in failing)
        return writers[topic]

    monkeypatch.setattr(produce, "TopicWriter", writer)
    monkeypatch.setattr(produce, "ensure_topics", lambda _conf, topics: created.append(topics))
    return writers, created


KAFKA_ARGS = ["produce", "--bootstrap-servers", "fake:9092", "--topic", "p.in", "--rate", "0",
              "--simulated-time", "--history-patterns", "--fraud-rate", "0.1"]  # fmt: skip


def _decode_label(value: bytes | None) -> dict[str, Any]:
    assert value is not None
    label = schemaless_reader(io.BytesIO(value), parsed(LABEL_SCHEMA), None)
    assert isinstance(label, dict)
    return label


def test_labels_topic_gets_a_label_for_each_fraudulent_transaction(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    writers, created = _fake_kafka(monkeypatch)
    labels_file = tmp_path / "labels.parquet"
    args = [*KAFKA_ARGS, "--labels-topic", "p.labels", "--count", "3000", "--seed", "3",
            "--malformed-fraction", "0.05", "--labels-file", str(labels_file)]  # fmt: skip
    assert main(args) == 0
    assert created == [{"p.in": 6, "p.labels": 6}]
    codec = PlainAvroCodec()
    fraud, malformed = {}, 0
    for _key, value, headers, _ts in writers["p.in"].sent:
        name, pattern = headers[0]
        if name == "synthetic.malformed":
            malformed += 1
        elif pattern != b"legit":
            tx = codec.decode_transaction(value)
            fraud[tx["transaction_id"]] = (tx, pattern.decode())
    assert malformed > 50 and len(fraud) > 200
    sent = writers["p.labels"].sent
    assert writers["p.labels"].closed and writers["p.in"].closed
    labels = [_decode_label(value) for _key, value, _headers, _ts in sent]
    assert sorted(lab["transaction_id"] for lab in labels) == sorted(fraud)
    assert {lab["fraud_pattern"] for lab in labels} >= {
        "card_testing_burst",
        "compromised_merchant",
    }
    for (key, _value, headers, timestamp), lab in zip(sent, labels, strict=True):
        tx, pattern = fraud[lab["transaction_id"]]
        assert key == tx["card_id"].encode() and headers is None
        assert timestamp == lab["label_time"] >= tx["event_time"] + DAY_MS
        assert lab["fraud_pattern"] == pattern and lab["is_fraud"] is True
        assert (lab["card_id"], lab["merchant_id"], lab["event_time"]) == (
            tx["card_id"],
            tx["merchant_id"],
            tx["event_time"],
        )
    # the file holds the same labels, in arrival order
    rows = pq.read_table(labels_file).to_pylist()
    assert [r["transaction_id"] for r in rows] == [
        lab["transaction_id"] for lab in sorted(labels, key=lambda x: x["label_time"])
    ]


@pytest.mark.parametrize("failing", ["p.labels", "p.in"])
def test_undelivered_records_exit_1_after_both_topics_settle(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failing: str
) -> None:
    writers, _ = _fake_kafka(monkeypatch, failing=(failing,))
    args = [*KAFKA_ARGS, "--labels-topic", "p.labels", "--count", "500", "--seed", "2"]
    assert main(args) == 1
    assert f"records were not delivered to {failing}" in capsys.readouterr().err
    assert writers["p.in"].closed and writers["p.labels"].closed
    assert writers["p.labels"].count > 10


def test_without_labels_topic_nothing_else_is_produced(monkeypatch: pytest.MonkeyPatch) -> None:
    writers, created = _fake_kafka(monkeypatch)
    assert main([*KAFKA_ARGS, "--count", "300"]) == 0
    assert list(writers) == ["p.in"] and created == [{"p.in": 6}]


def test_to_file_with_a_labels_file(tmp_path: Path) -> None:
    data, labels_file = tmp_path / "tx.parquet", tmp_path / "labels.parquet"
    args = ["produce", "--to-file", str(data), "--count", "4000", "--seed", "4", "--fraud-rate",
            "0.1", "--history-patterns", "--labels-file", str(labels_file)]  # fmt: skip
    assert main(args) == 0
    rows = {r["transaction_id"]: r for r in pq.read_table(data).to_pylist()}
    table = pq.read_table(labels_file)
    assert table.column_names == list(LABEL_FIELDS)
    labels = table.to_pylist()
    fraud = {t for t, r in rows.items() if r["fraud_pattern"] != "legit"}
    assert len(labels) == len(fraud) > 300
    assert {lab["transaction_id"] for lab in labels} == fraud
    assert [lab["label_time"] for lab in labels] == sorted(lab["label_time"] for lab in labels)
    for lab in labels:
        row = rows[lab["transaction_id"]]
        assert lab["fraud_pattern"] == row["fraud_pattern"] and lab["is_fraud"] is True
        assert lab["event_time"] == row["event_time"] and lab["card_id"] == row["card_id"]
        delay_days = (lab["label_time"] - lab["event_time"]).total_seconds() / 86_400
        assert 1 <= delay_days <= 30
    assert {lab["fraud_pattern"] for lab in labels} >= {"account_takeover_spend", "counterfeit"}


def test_labels_topic_needs_kafka(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["produce", "--to-file", str(tmp_path / "x.parquet"), "--labels-topic", "p.labels"]
    assert main(args) == 2
    assert "--labels-topic needs Kafka" in capsys.readouterr().err
