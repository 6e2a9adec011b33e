"""The fraud model: a LightGBM booster plus its model card, loaded and checked together.

The card's checksum is verified before LightGBM parses the model file, because LightGBM
can abort the whole process on some corrupt inputs instead of raising.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from consumer.scoring.attribution import TreeShap
from consumer.scoring.errors import ModelError
from consumer.scoring.feature_sets import FEATURE_SETS, FeatureSet, feature_set
from consumer.scoring.features import CATEGORICAL_FEATURES
from consumer.scoring.models.card import ModelCard
from consumer.scoring.models.files import resolve_card_path, sha256_file
from consumer.scoring.schemas import DECISIONS

log = logging.getLogger(__name__)
lgb.register_logger(logging.getLogger("lightgbm"))

# Below this many rows one thread is faster than a thread pool (see bench/).
_SINGLE_THREAD_ROWS = 64


class FraudModel:
    """Scores feature matrices and turns scores into decisions and reason codes."""

    def __init__(self, booster: lgb.Booster, card: ModelCard, threads: int = 0) -> None:
        self._booster = booster
        self.card = card
        self._threads = threads  # 0 = LightGBM's default (all cores)
        self._explainer: TreeShap | None = None

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def feature_set(self) -> FeatureSet:
        """The features it reads: the first ``len(feature_set.names)`` columns."""
        return FEATURE_SETS[self.card.feature_set]

    @property
    def booster(self) -> lgb.Booster:
        return self._booster

    @property
    def explainer(self) -> TreeShap:
        """Built on first use (a fraction of a second); load_model builds it up front."""
        if self._explainer is None:
            self._explainer = TreeShap(self._booster)
        return self._explainer

    def _threads_for(self, features: npt.NDArray[np.float64]) -> int:
        return 1 if len(features) < _SINGLE_THREAD_ROWS else self._threads

    def predict(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Fraud probability for each row."""
        scores = self._booster.predict(features, num_threads=self._threads_for(features))
        return np.asarray(scores, dtype=np.float64)

    def decide(self, score: float) -> str:
        return DECISIONS[int(self.decisions(np.array([score]))[0])]

    def decisions(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
        """Index into DECISIONS per score: DECLINE at or above the decline threshold,
        REVIEW at or above the review threshold, else APPROVE."""
        t = self.card.thresholds
        out = (scores >= t.review).astype(np.int8)
        out[scores >= t.decline] = 2
        return out

    def reason_indexes(self, features: npt.NDArray[np.float64], top: int) -> npt.NDArray[np.int16]:
        """Per row, the indexes of the ``top`` features with the largest positive SHAP
        value, largest first, -1 past the last (see attribution.py)."""
        return self.explainer.top(features, top)

    def reason_codes(self, features: npt.NDArray[np.float64], top: int) -> list[list[str]]:
        """For each row, the names of its ``top`` reason codes."""
        names = self.card.feature_names
        return [[names[i] for i in row if i >= 0] for row in self.reason_indexes(features, top)]


def _check_card(card: ModelCard, card_path: Path) -> FeatureSet:
    named = f"{card.name}-{card.version}"
    features = feature_set(card.feature_set, card.feature_names, card.feature_set_version, named)
    if card.categorical_features != list(CATEGORICAL_FEATURES):
        raise ModelError(
            f"model {named} treats {card.categorical_features} as categorical; this scorer "
            f"encodes {list(CATEGORICAL_FEATURES)} as categories"
        )
    t = card.thresholds
    if not (0.0 < t.review <= t.decline <= 1.0):
        raise ModelError(
            f"model card {card_path} has bad thresholds: need 0 < review <= decline <= 1"
        )
    return features


def load_model(path: Path, threads: int = 0) -> FraudModel:
    """Load and check a model; raise ModelError with one clear line if anything is off."""
    card_path = resolve_card_path(path)
    card = ModelCard.from_file(card_path)
    features = _check_card(card, card_path)
    model_path = card_path.parent / card.model_file
    if not model_path.exists():
        raise ModelError(f"model file not found: {model_path}")
    digest = sha256_file(model_path)
    if digest != card.model_sha256:
        raise ModelError(
            f"model file {model_path} is corrupt or was replaced: sha256 {digest[:12]}... "
            f"does not match the card's {card.model_sha256[:12]}..."
        )
    try:
        booster = lgb.Booster(model_file=str(model_path))
    except lgb.basic.LightGBMError as exc:
        raise ModelError(f"model file {model_path} cannot be loaded: {exc}") from None
    if booster.feature_name() != list(features.names):
        raise ModelError(f"model file {model_path} features do not match its card")
    model = FraudModel(booster, card, threads)
    probe = model.predict(np.zeros((1, len(features.names))))
    if not (probe.shape == (1,) and math.isfinite(probe[0]) and 0.0 <= probe[0] <= 1.0):
        raise ModelError(f"model {model_path} does not output a probability (binary objective?)")
    model.explainer  # noqa: B018 - build the TreeSHAP tables now, off the hot path
    log.info("model loaded: %s-%s from %s", card.name, card.version, model_path)
    return model
