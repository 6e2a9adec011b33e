"""What a training run is asked for: the model's name and version, the data, the feature
set and the threshold policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from consumer.scoring.feature_sets import PER_EVENT
from consumer.training.fit import Policy


@dataclass(frozen=True)
class TrainingSpec:
    name: str = "fraud-lgbm"
    version: str = "1.0.0"
    rows: int = 500_000
    seed: int = 42
    fraud_rate: float = 0.01
    feature_set: str = PER_EVENT.name
    policy: Policy = field(default_factory=Policy)
