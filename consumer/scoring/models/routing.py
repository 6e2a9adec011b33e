"""Which model decides, and which only watches: the champion, a canary, a shadow.

A canary decides for a stable share of cards: a card's id hashed (CRC-32, the same in
every process and every release) into 10,000 buckets, the first ``percent`` x 100 of
which go to the canary, so one card stays on one model and the share is exact over
many cards. A shadow scores every transaction too but never decides: its scores go to
a topic or to metrics, and a failure of it never touches the champion's answer.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from consumer.scoring.models.fraud_model import FraudModel, load_model

BUCKETS = 10_000


def bucket(card_id: str) -> int:
    return zlib.crc32(card_id.encode("utf-8", "surrogatepass")) % BUCKETS


@dataclass(frozen=True)
class Canary:
    model: FraudModel
    percent: float  # 0..100

    def chosen(self, card_ids: list[str]) -> npt.NDArray[np.bool_]:
        """True for the cards the canary decides."""
        limit = round(self.percent * BUCKETS / 100)
        return np.fromiter((bucket(c) < limit for c in card_ids), bool, len(card_ids))


@dataclass(frozen=True)
class Models:
    """The models a pipeline scores with. ``champion`` decides unless the canary does."""

    champion: FraudModel
    canary: Canary | None = None
    shadow: FraudModel | None = None

    def deciding(self) -> tuple[FraudModel, ...]:
        """Index 0: the champion; 1: the canary (the ``model_index`` of a score)."""
        return (self.champion,) if self.canary is None else (self.champion, self.canary.model)

    def all(self) -> tuple[FraudModel, ...]:
        """Every model that scores: the deciding ones, then the shadow."""
        return self.deciding() + (() if self.shadow is None else (self.shadow,))

    def widest(self) -> FraudModel:
        """The model of the largest feature set (its names cover every other's)."""
        return max(self.all(), key=lambda m: len(m.feature_set.names))

    def width(self) -> int:
        """Feature columns a batch needs: those of the widest model."""
        return len(self.widest().feature_set.names)


class ModelChoice(Protocol):
    """The settings that name a service's models (`run` and `serve` alike)."""

    @property
    def model(self) -> Path: ...
    @property
    def canary_model(self) -> Path | None: ...
    @property
    def canary_percent(self) -> float | None: ...
    @property
    def shadow_model(self) -> Path | None: ...


def load_models(choice: ModelChoice, threads: int = 0) -> Models:
    """The champion with the canary and shadow the settings name (ModelError: one line)."""
    canary = choice.canary_model
    return Models(
        load_model(choice.model, threads),
        None
        if canary is None
        else Canary(load_model(canary, threads), choice.canary_percent or 0.0),
        None if choice.shadow_model is None else load_model(choice.shadow_model, threads),
    )
