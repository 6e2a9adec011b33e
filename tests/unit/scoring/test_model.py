from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from consumer.scoring.errors import ModelError
from consumer.scoring.features import FEATURE_NAMES
from consumer.scoring.models import FraudModel, load_model, resolve_card_path
from consumer.training.generator import LabelledTransaction
from tests.conftest import MODELS
from tests.tools import features_of


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    for f in MODELS.glob("fraud-lgbm-1.0.0.*"):  # the per-event model, without card-history/
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _card(model_dir: Path) -> Path:
    return resolve_card_path(model_dir)


def test_shipped_model_loads_with_its_card(model: FraudModel) -> None:
    assert model.card.feature_names == list(FEATURE_NAMES)
    assert 0 < model.card.thresholds.review <= model.card.thresholds.decline <= 1
    assert model.card.metrics["holdout_roc_auc"] > 0.9


def test_scores_are_probabilities_and_rank_fraud_higher(
    model: FraudModel, events: list[LabelledTransaction]
) -> None:
    scores = model.predict(features_of([e.record for e in events]))
    assert np.all((scores >= 0) & (scores <= 1))
    fraud = np.array([e.is_fraud for e in events])
    assert scores[fraud].mean() > 5 * scores[~fraud].mean()


def test_decisions_follow_the_card_thresholds(model: FraudModel) -> None:
    t = model.card.thresholds
    assert model.decide(0.0) == "APPROVE"
    assert model.decide(t.review) == "REVIEW"
    assert model.decide((t.review + t.decline) / 2) == "REVIEW"
    assert model.decide(t.decline) == "DECLINE"
    assert model.decide(1.0) == "DECLINE"


def test_reason_codes_name_features_that_raised_the_score(
    model: FraudModel, events: list[LabelledTransaction]
) -> None:
    fraud = [e.record for e in events if e.is_fraud][:5]
    codes = model.reason_codes(features_of(fraud), top=3)
    assert len(codes) == 5
    for row in codes:
        assert 1 <= len(row) <= 3
        assert set(row) <= set(FEATURE_NAMES)
    assert model.reason_codes(features_of(fraud), top=0) == [[]] * 5


def test_directory_resolves_to_the_newest_version(model_dir: Path) -> None:
    card = json.loads(_card(model_dir).read_text())
    stem = Path(card["model_file"]).stem
    name = stem.rsplit("-", 1)[0]
    for version in ("1.2.0", "1.10.0"):
        shutil.copy(model_dir / f"{stem}.txt", model_dir / f"{name}-{version}.txt")
        (model_dir / f"{name}-{version}.json").write_text(
            json.dumps({**card, "version": version, "model_file": f"{name}-{version}.txt"})
        )
    assert load_model(model_dir).version == "1.10.0"


def test_missing_model_refuses_to_load(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nope.txt")


def test_truncated_model_file_is_refused_before_lightgbm_parses_it(model_dir: Path) -> None:
    card = _card(model_dir)
    model_file = card.with_suffix(".txt")
    model_file.write_bytes(model_file.read_bytes()[:5000])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(model_dir)


def test_missing_card_is_refused(model_dir: Path) -> None:
    card = _card(model_dir)
    card.unlink()
    with pytest.raises(ModelError, match="card not found"):
        load_model(card.with_suffix(".txt"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"feature_names": ["amount_log"]}, "trained on features"),
        ({"feature_set_version": "0000"}, "feature set"),
        ({"thresholds": {"review": 0.9, "decline": 0.1}}, "bad thresholds"),
        ({"thresholds": {"review": 0.1}}, "unreadable or incomplete"),
    ],
)
def test_inconsistent_card_is_refused(
    model_dir: Path, change: dict[str, object], message: str
) -> None:
    card = _card(model_dir)
    card.write_text(json.dumps({**json.loads(card.read_text()), **change}))
    with pytest.raises(ModelError, match=message):
        load_model(model_dir)


def test_card_that_is_not_json_is_refused(model_dir: Path) -> None:
    _card(model_dir).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_model(model_dir)


@pytest.mark.parametrize("card", ["fraud-lgbm-1.0.0.json", "card-history/fraud-lgbm-2.0.0.json"])
def test_shipped_models_explain_with_exact_treeshap_tables(card: str) -> None:
    """Reason codes from the tables (microseconds a flagged row), not LightGBM's
    pred_contrib: a model too deep for them would be slow on every flagged row."""
    assert load_model(MODELS / card, threads=1).explainer.exact_tables
