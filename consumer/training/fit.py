"""Fitting one LightGBM model and choosing its thresholds: the step every training run
shares (a per-event model, a history model and its per-event baseline).

Single-threaded and seeded, so the same rows give the same model file byte for byte. The
early-stopping rows also choose the thresholds: DECLINE where precision reaches the
target, REVIEW at the score that flags ``review_rate`` of that traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from consumer.scoring.features import CATEGORICAL_FEATURES
from consumer.scoring.models import Thresholds
from consumer.training.evaluation import threshold_for_precision, threshold_for_rate

Matrix = npt.NDArray[np.float64]
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
# Card-history models (and their per-event baseline, trained alike): four times the
# leaves, four times the rows per leaf, no deeper than 8: of the settings whose exact
# TreeSHAP tables fit (reason codes without LightGBM's slow pred_contrib; deeper trees
# with 33 features need hundreds of MB of tables), this kept the most per-event recall on
# the validation period (not the holdout). The per-event model of PARAMS keeps its bytes.
HISTORY_PARAMS: dict[str, Any] = {
    **PARAMS,
    "num_leaves": 127,
    "min_data_in_leaf": 200,
    "max_depth": 8,
}


@dataclass(frozen=True)
class Policy:
    max_rounds: int = 600
    review_rate: float = 0.02  # share of traffic sent to REVIEW or DECLINE
    decline_precision: float = 0.9  # precision required of automatic declines


@dataclass(frozen=True)
class Fitted:
    booster: lgb.Booster
    rounds: int
    thresholds: Thresholds

    def predict(self, features: Matrix) -> Matrix:
        return np.asarray(
            self.booster.predict(features, num_iteration=self.rounds), dtype=np.float64
        )


def fit(
    features: Matrix,
    labels: npt.NDArray[np.float64],
    names: tuple[str, ...],
    rows: tuple[slice | npt.NDArray[np.int64], slice | npt.NDArray[np.int64]],
    policy: Policy,
    params: dict[str, Any] = PARAMS,
) -> Fitted:
    """Fit on ``rows[0]``, stop early and choose thresholds on ``rows[1]``."""
    fit_rows, valid_rows = rows
    train_set = lgb.Dataset(
        features[fit_rows],
        labels[fit_rows],
        feature_name=list(names),
        categorical_feature=list(CATEGORICAL_FEATURES),
        free_raw_data=False,
    )
    valid_set = lgb.Dataset(features[valid_rows], labels[valid_rows], reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=policy.max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(40, verbose=False)],
    )
    rounds = booster.best_iteration or policy.max_rounds
    valid_scores = np.asarray(
        booster.predict(features[valid_rows], num_iteration=rounds), dtype=np.float64
    )
    valid_labels = labels[valid_rows]
    decline = threshold_for_precision(valid_labels, valid_scores, policy.decline_precision)
    review = min(threshold_for_rate(valid_scores, policy.review_rate), decline)
    return Fitted(booster, rounds, Thresholds(review=round(review, 6), decline=round(decline, 6)))
