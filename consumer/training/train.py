"""Train the LightGBM fraud model on synthetic traffic and write it with its model card.

Split by time, as a deployed model meets the future: the oldest 70% trains, the next
10% drives early stopping and picks the thresholds, the newest 20% is the holdout the
card's metrics come from. Single-threaded and seeded, so the same arguments give the
same model file byte for byte.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from consumer.scoring.columns import TransactionColumns
from consumer.scoring.errors import ModelError
from consumer.scoring.features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    feature_matrix,
)
from consumer.scoring.model import ModelCard, Thresholds, sha256_file
from consumer.training.evaluation import (
    average_precision,
    precision_recall_at,
    roc_auc,
    threshold_for_precision,
    threshold_for_rate,
)
from consumer.training.generator import FRAUD_PATTERNS, TransactionGenerator

log = logging.getLogger(__name__)

PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "cat_smooth": 10,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}


@dataclass(frozen=True)
class TrainingSpec:
    name: str = "fraud-lgbm"
    version: str = "1.0.0"
    rows: int = 500_000
    seed: int = 42
    fraud_rate: float = 0.01
    max_rounds: int = 600
    review_rate: float = 0.02  # share of traffic sent to REVIEW or DECLINE
    decline_precision: float = 0.9  # precision required of automatic declines


def train(spec: TrainingSpec, out_dir: Path, overwrite: bool = False) -> ModelCard:
    """Generate data, fit, pick thresholds, evaluate on the holdout, write model + card."""
    stem = f"{spec.name}-{spec.version}"
    model_path, card_path = out_dir / f"{stem}.txt", out_dir / f"{stem}.json"
    if not overwrite and (model_path.exists() or card_path.exists()):
        raise ModelError(f"{model_path} already exists; choose another --version or pass --force")

    log.info("generating %d events (seed %d)", spec.rows, spec.seed)
    events = TransactionGenerator(spec.seed, fraud_rate=spec.fraud_rate).take(spec.rows)
    features = feature_matrix(TransactionColumns.from_records([e.record for e in events]))
    labels = np.array([e.is_fraud for e in events], dtype=np.float64)
    patterns = np.array([e.fraud_pattern or "" for e in events])
    fit_end, valid_end = int(spec.rows * 0.7), int(spec.rows * 0.8)

    train_set = lgb.Dataset(
        features[:fit_end],
        labels[:fit_end],
        feature_name=list(FEATURE_NAMES),
        categorical_feature=list(CATEGORICAL_FEATURES),
        free_raw_data=False,
    )
    valid_set = lgb.Dataset(
        features[fit_end:valid_end], labels[fit_end:valid_end], reference=train_set
    )
    log.info("training on %d rows, early stopping on %d", fit_end, valid_end - fit_end)
    booster = lgb.train(
        PARAMS,
        train_set,
        num_boost_round=spec.max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(40, verbose=False)],
    )
    rounds = booster.best_iteration or spec.max_rounds

    valid_scores = np.asarray(
        booster.predict(features[fit_end:valid_end], num_iteration=rounds), dtype=np.float64
    )
    valid_labels = labels[fit_end:valid_end]
    decline = threshold_for_precision(valid_labels, valid_scores, spec.decline_precision)
    review = min(threshold_for_rate(valid_scores, spec.review_rate), decline)
    thresholds = Thresholds(review=round(review, 6), decline=round(decline, 6))

    hold_scores = np.asarray(
        booster.predict(features[valid_end:], num_iteration=rounds), dtype=np.float64
    )
    metrics = _holdout_metrics(labels[valid_end:], hold_scores, patterns[valid_end:], thresholds)

    out_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_path), num_iteration=rounds)
    card = ModelCard(
        name=spec.name,
        version=spec.version,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        model_file=model_path.name,
        model_sha256=sha256_file(model_path),
        feature_names=list(FEATURE_NAMES),
        categorical_features=list(CATEGORICAL_FEATURES),
        feature_set_version=FEATURE_SET_VERSION,
        thresholds=thresholds,
        lightgbm_version=lgb.__version__,
        training={
            "rows": spec.rows,
            "fraud_rows": int(labels.sum()),
            "fit_rows": fit_end,
            "early_stopping_rows": valid_end - fit_end,
            "holdout_rows": spec.rows - valid_end,
            "seed": spec.seed,
            "fraud_rate": spec.fraud_rate,
            "generator": "consumer.training.generator.TransactionGenerator",
            "boosting_rounds": rounds,
            "threshold_policy": {
                "decline_precision": spec.decline_precision,
                "review_rate": spec.review_rate,
            },
        },
        metrics=metrics,
        params=PARAMS,
    )
    card_path.write_text(card.to_json())
    log.info("wrote %s and %s", model_path, card_path)
    return card


def _holdout_metrics(
    labels: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any],
    patterns: np.ndarray[Any, Any],
    thresholds: Thresholds,
) -> dict[str, Any]:
    d_prec, d_rec, d_rate = precision_recall_at(labels, scores, thresholds.decline)
    r_prec, r_rec, r_rate = precision_recall_at(labels, scores, thresholds.review)
    by_pattern = {}
    for pattern in FRAUD_PATTERNS:
        mask = patterns == pattern
        if mask.any():
            by_pattern[pattern] = round(float((scores[mask] >= thresholds.review).mean()), 4)
    return {
        "holdout_roc_auc": round(roc_auc(labels, scores), 5),
        "holdout_pr_auc": round(average_precision(labels, scores), 5),
        "holdout_fraud_rate": round(float(labels.mean()), 5),
        "decline_precision": round(d_prec, 4),
        "decline_recall": round(d_rec, 4),
        "decline_rate": round(d_rate, 5),
        "flagged_precision": round(r_prec, 4),
        "flagged_recall": round(r_rec, 4),
        "flagged_rate": round(r_rate, 5),
        "flagged_recall_by_pattern": by_pattern,
    }
