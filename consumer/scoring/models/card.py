"""The model card: what a model was trained on, how it decides, and its checksum."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from consumer.scoring.errors import ModelError


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
    feature_set: str = "per-event"  # feature_sets.py: what a face must supply to score it
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
