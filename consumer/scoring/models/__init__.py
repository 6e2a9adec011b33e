"""The model lifecycle, in one place: a model and its card on disk (``files``, ``card``),
loaded and verified (``fraud_model``), which models decide and which one watches
(``routing``: champion, canary, shadow), publishing and promotion (``publishing``), hot
reload (``reloader``) and a service's swap between batches (``lifecycle``).

The word for a model that scores every record but never decides is *shadow*, everywhere
(batch's ``--compare-model`` is an alias of its ``--shadow-model``).
"""

from consumer.scoring.models.card import ModelCard, Thresholds
from consumer.scoring.models.files import (
    CURRENT,
    default_model_path,
    resolve_card_path,
    sha256_file,
    write_current,
)
from consumer.scoring.models.fraud_model import FraudModel, load_model
from consumer.scoring.models.routing import (
    BUCKETS,
    Canary,
    ModelChoice,
    Models,
    bucket,
    load_models,
)

__all__ = [
    "BUCKETS",
    "CURRENT",
    "Canary",
    "FraudModel",
    "ModelCard",
    "ModelChoice",
    "Models",
    "Thresholds",
    "bucket",
    "default_model_path",
    "load_model",
    "load_models",
    "resolve_card_path",
    "sha256_file",
    "write_current",
]
