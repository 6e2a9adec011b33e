"""The feature sets a model can be trained on, and what a face must supply for each.

- ``per-event``: the 14 features of the event alone (``features.py``).
- ``card-history-v1``: those 14, then the 15 card-history features
  (``history/definition.py``), then the 3 merchant-risk features (``merchant_risk.py``).

Each set's names start with the previous set's, so one feature matrix serves a champion
and a shadow or canary of different sets: a model reads the first ``len(names)`` columns.
A model card names its set; a face that cannot supply a set (no card-state store, no
merchant risk snapshot) refuses a model that needs it, with one line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from consumer.scoring.errors import ModelError
from consumer.scoring.features import FEATURE_NAMES, FEATURE_SET_VERSION
from consumer.scoring.history import HISTORY_FEATURE_NAMES, HISTORY_FEATURE_SET
from consumer.scoring.merchant_risk import MERCHANT_RISK_FEATURE_NAMES, MERCHANT_RISK_VERSION


@dataclass(frozen=True)
class FeatureSet:
    name: str
    names: tuple[str, ...]
    version: str  # changes with the names or any definition behind them

    @property
    def needs_history(self) -> bool:
        return len(self.names) > len(FEATURE_NAMES)


def _version(*parts: str) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


PER_EVENT = FeatureSet("per-event", FEATURE_NAMES, FEATURE_SET_VERSION)
CARD_HISTORY = FeatureSet(
    HISTORY_FEATURE_SET,
    (*FEATURE_NAMES, *HISTORY_FEATURE_NAMES, *MERCHANT_RISK_FEATURE_NAMES),
    _version(
        FEATURE_SET_VERSION,
        HISTORY_FEATURE_SET,
        *HISTORY_FEATURE_NAMES,
        MERCHANT_RISK_VERSION,
        *MERCHANT_RISK_FEATURE_NAMES,
    ),
)
FEATURE_SETS = {s.name: s for s in (PER_EVENT, CARD_HISTORY)}


def feature_set(name: str, names: list[str], version: str, model: str) -> FeatureSet:
    """The set a model card declares, checked against what this scorer computes."""
    found = FEATURE_SETS.get(name)
    if found is None:
        known = ", ".join(FEATURE_SETS)
        raise ModelError(f"model {model} needs feature set {name!r}; this scorer computes {known}")
    if list(found.names) != names:
        raise ModelError(
            f"model {model} was trained on features {names}; feature set {name} is "
            f"{list(found.names)}"
        )
    if found.version != version:
        raise ModelError(
            f"model {model} was trained on another version of feature set {name} "
            f"({version}); this scorer computes {found.version}"
        )
    return found
