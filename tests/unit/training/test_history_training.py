"""Training with card history: point in time, a time split with gaps, M0 and M1 on the same
events, and a model card that says what a face must supply (and is refused without it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.errors import ModelError
from consumer.scoring.feature_sets import CARD_HISTORY
from consumer.scoring.history_context import HistoryContext, MemoryCardStates
from consumer.scoring.merchant_risk import DAY_MS, load_merchant_risk
from consumer.scoring.models import Models, load_model
from consumer.scoring.pipeline import ScoringPipeline
from consumer.training.generator import TransactionGenerator
from consumer.training.history_data import history_data
from consumer.training.history_training import BURN_IN_MS, GAPS_MS, time_split
from consumer.training.spec import TrainingSpec
from consumer.training.train import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("m1")
    spec = TrainingSpec(version="2.0.0", rows=300_000, seed=3, feature_set=CARD_HISTORY.name)
    train(spec, out)
    return out


def test_features_never_look_at_later_events_or_labels() -> None:
    events = TransactionGenerator(8, history_patterns=True, fraud_rate=0.05).take(40_000)
    whole = history_data(events)
    part = history_data(events[:25_000])
    assert np.array_equal(whole.features[:25_000], part.features, equal_nan=True)


def test_the_split_leaves_a_burn_in_and_gaps_between_periods() -> None:
    t = np.arange(0, 40 * DAY_MS, 60_000, dtype=np.int64)
    fit, valid, hold = time_split(t)
    assert t[fit[0]] >= t[0] + BURN_IN_MS
    assert t[valid[0]] - t[fit[-1]] >= GAPS_MS[0]
    assert t[hold[0]] - t[valid[-1]] >= GAPS_MS[1]
    with pytest.raises(ModelError, match="too few days"):
        time_split(t[: len(t) // 8])


def test_the_card_names_its_feature_set_and_the_uplift(trained: Path) -> None:
    card = json.loads((trained / "fraud-lgbm-2.0.0.json").read_text())
    assert card["feature_set"] == CARD_HISTORY.name
    assert card["feature_names"] == list(CARD_HISTORY.names)
    uplift = card["metrics"]["uplift"]
    assert set(uplift) == {"m0_per_event", "m1_history"}
    assert "card_testing_burst" in uplift["m1_history"]["by_pattern"]
    assert "M0 per-event" in card["metrics"]["uplift_table"]
    serving = card["training"]["merchant_risk"]["serving"]
    assert load_merchant_risk(trained / "merchant-risk").name == serving.removesuffix(".json")


def test_the_model_scores_with_history_and_is_refused_without(trained: Path) -> None:
    model = load_model(trained / "fraud-lgbm-2.0.0.json", threads=1)
    codec = PlainAvroCodec()
    values: list[bytes | None] = [
        codec.encode_transaction(e.record)
        for e in TransactionGenerator(2, history_patterns=True).take(500)
    ]
    history = HistoryContext(MemoryCardStates(), load_merchant_risk(trained / "merchant-risk"))
    out = ScoringPipeline(codec, Models(model), history=history).score(codec.decode_batch(values))
    assert len(out.positions) == 500 and out.history is not None
    with pytest.raises(ModelError, match="needs card history"):
        ScoringPipeline(codec, Models(model))
