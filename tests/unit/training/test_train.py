"""Training: reproducible model files and complete, loadable model cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consumer.scoring.errors import ModelError
from consumer.scoring.features import FEATURE_NAMES, FEATURE_SET_VERSION
from consumer.scoring.models import load_model, sha256_file
from consumer.training.train import TrainingSpec, train

SPEC = TrainingSpec(name="t", version="0.1.0", rows=30_000, seed=3)


def test_same_arguments_give_the_same_model_bytes(tmp_path: Path) -> None:
    first = train(SPEC, tmp_path / "a")
    second = train(SPEC, tmp_path / "b")
    assert first.model_sha256 == second.model_sha256
    assert (tmp_path / "a/t-0.1.0.txt").read_bytes() == (tmp_path / "b/t-0.1.0.txt").read_bytes()


def test_the_card_describes_the_model_and_it_loads(tmp_path: Path) -> None:
    card = train(SPEC, tmp_path)
    raw = json.loads((tmp_path / "t-0.1.0.json").read_text())
    assert raw["feature_names"] == list(FEATURE_NAMES)
    assert raw["feature_set_version"] == FEATURE_SET_VERSION
    assert raw["model_sha256"] == sha256_file(tmp_path / "t-0.1.0.txt")
    assert raw["training"]["rows"] == 30_000 and raw["training"]["fraud_rows"] > 100
    for key in ("holdout_roc_auc", "holdout_pr_auc", "flagged_recall", "decline_precision"):
        assert 0 < raw["metrics"][key] <= 1
    assert 0 < card.thresholds.review <= card.thresholds.decline < 1
    assert load_model(tmp_path).version == "0.1.0"


def test_an_existing_version_is_not_overwritten(tmp_path: Path) -> None:
    train(SPEC, tmp_path)
    with pytest.raises(ModelError, match="already exists"):
        train(SPEC, tmp_path)
    train(SPEC, tmp_path, overwrite=True)
