"""The fraud model: a LightGBM booster plus its model card, loaded and checked together.

A model is two files in ``models/``: ``<name>-<version>.txt`` (LightGBM text format)
and ``<name>-<version>.json`` (the card: features, thresholds, checksum, metrics). The
checksum is verified before LightGBM parses the file, because LightGBM can abort the
whole process on some corrupt inputs instead of raising.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from consumer.scoring.attribution import TreeShap
from consumer.scoring.errors import ModelError
from consumer.scoring.features import CATEGORICAL_FEATURES, FEATURE_NAMES, FEATURE_SET_VERSION
from consumer.scoring.schemas import DECISIONS

log = logging.getLogger(__name__)
lgb.register_logger(logging.getLogger("lightgbm"))

# Below this many rows one thread is faster than a thread pool (see bench/).
_SINGLE_THREAD_ROWS = 64


@dataclass(frozen=True)
class Thresholds:
    """Score cut-offs: DECLINE at or above ``decline``, REVIEW at or above ``review``."""

    review: float
    decline: float


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    created_at: str
    model_file: str
    model_sha256: str
    feature_names: list[str]
    categorical_features: list[str]
    feature_set_version: str
    thresholds: Thresholds
    lightgbm_version: str
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> ModelCard:
        try:
            raw = json.loads(path.read_text())
            raw["thresholds"] = Thresholds(**raw["thresholds"])
            return cls(**raw)
        except FileNotFoundError:
            raise ModelError(f"model card not found: {path}") from None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ModelError(f"model card {path} is unreadable or incomplete: {exc}") from None


def _version_key(card_path: Path) -> tuple[tuple[int, ...], str]:
    version = card_path.stem.rsplit("-", 1)[-1]
    numbers = tuple(int(n) for n in re.findall(r"\d+", version))
    return numbers, card_path.name


CURRENT = "CURRENT"


def resolve_card_path(path: Path) -> Path:
    """The model card for ``path``: a card, a model file, or a directory: the card its
    ``CURRENT`` file names (the promoted version), else its newest version."""
    if path.is_dir():
        current = path / CURRENT
        if current.exists():
            return _current_card(current)
        cards = [p for p in path.glob("*.json") if (p.with_suffix(".txt")).exists()]
        if not cards:
            raise ModelError(f"no model (<name>-<version>.txt with its .json card) in {path}")
        return max(cards, key=_version_key)
    if path.suffix == ".json":
        return path
    if not path.exists():
        raise ModelError(f"model not found: {path}")
    return path.with_suffix(".json")


def _current_card(current: Path) -> Path:
    """The card a CURRENT file names: one file name in the same directory (a card, a
    model file, or their common stem), written by an atomic rename."""
    try:
        name = current.read_text().strip()
    except OSError as exc:
        raise ModelError(f"{current} is unreadable: {exc.strerror}") from None
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ModelError(f"{current} must name one model card in its directory")
    stem = name.removesuffix(".json").removesuffix(".txt")
    card = current.parent / f"{stem}.json"
    if not card.exists():
        raise ModelError(f"{current} names {stem}, which is not in {current.parent}")
    return card


def default_model_path() -> Path:
    """``./models`` when it exists, else the ``models/`` beside this package (a checkout)."""
    here = Path("models")
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def _check_card(card: ModelCard, card_path: Path) -> None:
    if card.feature_names != list(FEATURE_NAMES):
        raise ModelError(
            f"model {card.name}-{card.version} was trained on features {card.feature_names}, "
            f"this scorer computes {list(FEATURE_NAMES)}"
        )
    if card.feature_set_version != FEATURE_SET_VERSION or card.categorical_features != list(
        CATEGORICAL_FEATURES
    ):
        raise ModelError(
            f"model {card.name}-{card.version} was trained on feature set "
            f"{card.feature_set_version}, this scorer computes {FEATURE_SET_VERSION}"
        )
    t = card.thresholds
    if not (0.0 < t.review <= t.decline <= 1.0):
        raise ModelError(
            f"model card {card_path} has bad thresholds: need 0 < review <= decline <= 1"
        )


def load_model(path: Path, threads: int = 0) -> FraudModel:
    """Load and check a model; raise ModelError with one clear line if anything is off."""
    card_path = resolve_card_path(path)
    card = ModelCard.from_file(card_path)
    _check_card(card, card_path)
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
    if booster.feature_name() != list(FEATURE_NAMES):
        raise ModelError(f"model file {model_path} features do not match its card")
    model = FraudModel(booster, card, threads)
    probe = model.predict(np.zeros((1, len(FEATURE_NAMES))))
    if not (probe.shape == (1,) and math.isfinite(probe[0]) and 0.0 <= probe[0] <= 1.0):
        raise ModelError(f"model {model_path} does not output a probability (binary objective?)")
    model.explainer  # noqa: B018 - build the TreeSHAP tables now, off the hot path
    log.info("model loaded: %s-%s from %s", card.name, card.version, model_path)
    return model
