"""The columnar core against yesterday's per-row path (tests/oracle/per_row.py): the same
scores bit for bit, the same decisions, reason codes, dead-letter reasons and output
bytes, on a large generated sample with every kind of malformed event mixed in."""

from __future__ import annotations

import random

import numpy as np
import pytest

from consumer.devtools.faults import KINDS, malformed_value
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.models import FraudModel, Models
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord, ScoredRecord
from consumer.training.generator import TransactionGenerator
from tests.oracle import per_row

N = 20_000


@pytest.fixture(scope="module")
def sample() -> list[bytes | None]:
    codec = PlainAvroCodec()
    rng = random.Random(17)
    values: list[bytes | None] = []
    for i, e in enumerate(TransactionGenerator(23, fraud_rate=0.05).take(N)):
        bad = i % 50 == 7
        values.append(
            malformed_value(KINDS[(i // 50) % len(KINDS)], e.record, rng)
            if bad
            else codec.encode_transaction(e.record)
        )
    return values


def test_pipeline_equals_the_per_row_oracle(sample: list[bytes | None], model: FraudModel) -> None:
    codec = PlainAvroCodec()
    records = [RawRecord("in", 1, i, None, v) for i, v in enumerate(sample)]
    pipeline = ScoringPipeline(codec, Models(model), clock=lambda: 1_800_000_000.0)
    got: dict[int, ScoredRecord | DeadLetter] = {}
    for start in range(0, N, 500):
        result = pipeline.process(records[start : start + 500])
        outcomes: list[ScoredRecord | DeadLetter] = [*result.scored_records(), *result.dead_letters]
        got |= {o.source.offset: o for o in outcomes}
    want = per_row.score_values(sample, model)
    flagged = 0
    for i, (kind, detail) in enumerate(want):
        outcome = got[i]
        if kind == "dead":
            assert isinstance(outcome, DeadLetter), i
            assert (outcome.stage, outcome.reason) == detail, i
            continue
        assert isinstance(outcome, ScoredRecord), i
        tx, score, decision, reasons = detail
        assert outcome.score == score
        assert outcome.decision == decision
        assert list(outcome.reason_codes) == reasons
        flagged += decision != "APPROVE"
        expected_bytes = codec.encode_score(
            {
                "transaction_id": tx["transaction_id"],
                "score": score,
                "decision": decision,
                "reason_codes": reasons,
                "model_name": model.name,
                "model_version": model.version,
                "event_time": tx["event_time"],
                "scored_at": 1_800_000_000_000,
                "source_topic": "in",
                "source_partition": 1,
                "source_offset": i,
            }
        )
        assert outcome.value == expected_bytes
    assert flagged > 200, "the sample must exercise reason codes"


def test_reason_codes_equal_lightgbm_treeshap(model: FraudModel) -> None:
    """Top-3 reason codes of 2,000 flagged holdout-like rows, from the TreeSHAP tables
    and from LightGBM's pred_contrib: equal, and the values equal to rounding."""
    from tests.tools import features_of

    events = TransactionGenerator(99, fraud_rate=0.2).take(12_000)
    features = features_of([e.record for e in events])
    flagged = features[model.predict(features) >= model.card.thresholds.review][:2000]
    assert len(flagged) > 500
    ours = model.explainer.contributions(flagged)
    theirs = np.asarray(model.booster.predict(flagged, pred_contrib=True))[:, :-1]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert model.reason_codes(flagged, 3) == per_row.shap_reason_codes(model, flagged, 3)
