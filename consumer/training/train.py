"""Train the LightGBM fraud model on synthetic traffic and write it with its model card.

Split by time, as a deployed model meets the future: the oldest 70% trains, the next
10% drives early stopping and picks the thresholds, the newest 20% is the holdout the
card's metrics come from. Single-threaded and seeded, so the same arguments give the
same model file byte for byte.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from consumer.scoring.columns import TransactionColumns
from consumer.scoring.errors import ModelError
from consumer.scoring.feature_sets import PER_EVENT
from consumer.scoring.features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    feature_matrix,
)
from consumer.scoring.models import ModelCard, Thresholds, sha256_file
from consumer.training.evaluation import average_precision, precision_recall_at, roc_auc
from consumer.training.fit import PARAMS, fit
from consumer.training.generator import FRAUD_PATTERNS, TransactionGenerator
from consumer.training.spec import TrainingSpec

__all__ = ["TrainingSpec", "train"]

log = logging.getLogger(__name__)


def train(spec: TrainingSpec, out_dir: Path, overwrite: bool = False) -> ModelCard:
    """Generate data, fit, pick thresholds, evaluate on the holdout, write model + card."""
    if spec.feature_set != PER_EVENT.name:
        from consumer.training.history_training import train_history

        return train_history(spec, out_dir, overwrite)
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
    log.info("training on %d rows, early stopping on %d", fit_end, valid_end - fit_end)
    fitted = fit(
        features, labels, FEATURE_NAMES, (slice(0, fit_end), slice(fit_end, valid_end)),
        spec.policy,
    )  # fmt: skip
    booster, rounds, thresholds = fitted.booster, fitted.rounds, fitted.thresholds
    hold_scores = fitted.predict(features[valid_end:])
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
                "decline_precision": spec.policy.decline_precision,
                "review_rate": spec.policy.review_rate,
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
