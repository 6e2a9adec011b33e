from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from consumer.devtools.faults import KINDS, malformed_value
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.errors import RecordError
from consumer.scoring.inputs import Inputs
from consumer.scoring.models import Canary, FraudModel, Models
from consumer.scoring.outcomes import Scored
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from consumer.training.generator import LabelledTransaction
from tests.tools import features_of


def _raw(value: bytes | None, offset: int, key: bytes | None = b"k", **kw: Any) -> RawRecord:
    return RawRecord(
        "in", 2, offset, key, value, kw.get("headers"), kw.get("timestamp_ms", 1_790_000_000_000)
    )


@pytest.fixture
def pipeline(codec: PlainAvroCodec, model: FraudModel) -> ScoringPipeline:
    return ScoringPipeline(codec, Models(model), clock=lambda: 1_800_000_000.0)


def test_one_outcome_per_record_in_input_order(
    pipeline: ScoringPipeline, codec: PlainAvroCodec, events: list[LabelledTransaction]
) -> None:
    rng = random.Random(5)
    records = []
    for i, e in enumerate(events[:300]):
        bad = i % 7 == 3
        value = (
            malformed_value(KINDS[i % len(KINDS)], e.record, rng)
            if bad
            else codec.encode_transaction(e.record)
        )
        records.append(_raw(value, 1000 + i))
    result = pipeline.process(records)
    outcomes = result.in_order()
    assert len(outcomes) == len(result) == len(records)
    for i, outcome in enumerate(outcomes):
        assert isinstance(outcome, RecordError if i % 7 == 3 else Scored)
        if isinstance(outcome, Scored):
            assert outcome.transaction_id == events[i].record["transaction_id"]
    assert [d.source.offset for d in result.dead_letters] == [
        r.offset for i, r in enumerate(records) if i % 7 == 3
    ]
    assert [records[i].offset for i in result.positions] == [
        r.offset for i, r in enumerate(records) if i % 7 != 3
    ]


def test_scores_match_the_model_and_carry_lineage(
    pipeline: ScoringPipeline,
    codec: PlainAvroCodec,
    model: FraudModel,
    events: list[LabelledTransaction],
) -> None:
    txs = [e.record for e in events[:50]]
    result = pipeline.process(
        [_raw(codec.encode_transaction(t), 10 + i) for i, t in enumerate(txs)]
    )
    expected = model.predict(features_of(txs))
    for i, scored in enumerate(result.scored_records()):
        out = codec.decode_score(scored.value)
        assert out["score"] == expected[i]  # bit for bit: one code path
        assert out["transaction_id"] == txs[i]["transaction_id"]
        assert out["decision"] == model.decide(expected[i])
        assert (out["source_topic"], out["source_partition"], out["source_offset"]) == (
            "in",
            2,
            10 + i,
        )
        assert out["event_time"] == txs[i]["event_time"]
        assert out["scored_at"] == 1_800_000_000_000
        assert out["model_version"] == model.version
        assert bool(out["reason_codes"]) == (out["decision"] != "APPROVE")


def test_single_record_batches_give_the_same_scores_as_one_batch(
    pipeline: ScoringPipeline, codec: PlainAvroCodec, events: list[LabelledTransaction]
) -> None:
    records = [_raw(codec.encode_transaction(e.record), i) for i, e in enumerate(events[:40])]
    together = [s.score for s in pipeline.process(records).scored_records()]
    alone = [pipeline.process([r]).scored_records()[0].score for r in records]
    assert together == alone


def test_dead_letter_keeps_the_record_and_says_why(pipeline: ScoringPipeline) -> None:
    headers = [("trace-id", b"abc"), ("empty", None)]
    record = _raw(b"\x06ab", 77, key=b"card-1", headers=headers, timestamp_ms=1_790_000_000_555)
    (dead,) = pipeline.process([record]).dead_letters
    assert dead.source is record
    assert (dead.stage, dead.reason, dead.error_class) == ("decode", "truncated", "DecodeError")
    hdrs = dead.headers()
    assert hdrs[:2] == headers
    added = {k: v for k, v in hdrs[2:]}
    assert added["dlq.source.topic"] == b"in"
    assert added["dlq.source.partition"] == b"2"
    assert added["dlq.source.offset"] == b"77"
    assert added["dlq.error.stage"] == b"decode"
    assert added["dlq.error.class"] == b"DecodeError"
    assert added["dlq.failed.at"] == b"2027-01-15T08:00:00.000Z"
    assert added["dlq.model.version"]


def test_a_failing_batch_prediction_falls_back_to_rows(
    codec: PlainAvroCodec,
    model: FraudModel,
    events: list[LabelledTransaction],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = model.predict
    calls = []

    def flaky(features: np.ndarray) -> np.ndarray:
        calls.append(len(features))
        if len(features) > 1:
            raise RuntimeError("boom")
        return real(features)

    pipeline = ScoringPipeline(codec, Models(model))
    monkeypatch.setattr(model, "predict", flaky)
    records = [_raw(codec.encode_transaction(e.record), i) for i, e in enumerate(events[:5])]
    result = pipeline.process(records)
    assert len(result.scored_records()) == 5
    assert calls[0] == 5 and calls[1:] == [1] * 5


def test_empty_batch(pipeline: ScoringPipeline) -> None:
    result = pipeline.process([])
    assert result.in_order() == [] and len(result) == 0


def test_columns_answer_by_input_position_with_the_readers_failures(
    pipeline: ScoringPipeline, codec: PlainAvroCodec, events: list[LabelledTransaction]
) -> None:
    """A driver's own read failures (a JSON item, a Parquet row) keep their positions, and
    every other position gets its score or its validation failure: no driver maps rows."""
    good = [e.record for e in events[:6]]
    bad = dict(good[2], currency="XXX")  # valid Avro, fails validation
    rows = [good[0], good[1], bad, good[3]]
    columns = codec.decode_batch([codec.encode_transaction(r) for r in rows]).columns
    unreadable = RecordError("unreadable", "the driver could not read it")
    inputs = Inputs(columns, np.array([0, 2, 3, 5]), [(1, unreadable), (4, unreadable)], 6)
    out = pipeline.score(inputs)
    answers = out.in_order()
    assert [type(a).__name__ for a in answers] == [
        "Scored", "RecordError", "Scored", "ValidationError", "RecordError", "Scored"
    ]  # fmt: skip
    assert out.positions.tolist() == [0, 2, 5]
    assert [a.transaction_id for a in answers if isinstance(a, Scored)] == [
        good[0]["transaction_id"], good[1]["transaction_id"], good[3]["transaction_id"]
    ]  # fmt: skip
    assert [p for p, _ in out.failures] == [1, 3, 4]


def test_the_canary_is_named_in_each_outcome(
    codec: PlainAvroCodec, model: FraudModel, events: list[LabelledTransaction]
) -> None:
    everyone = ScoringPipeline(codec, Models(model, Canary(model, 100.0)))
    inputs = codec.decode_batch([codec.encode_transaction(e.record) for e in events[:20]])
    out = everyone.score(inputs)
    assert set(out.model_index.tolist()) == {1}
    assert all(isinstance(a, Scored) and a.model is model for a in out.in_order())
