"""The models of a batch run, loaded once: the model and, with --shadow-model, its shadow;
and, for a model that reads card history, the merchant risk snapshot the run uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consumer.batch.reports.comparison import ShadowComparison
from consumer.batch.settings import BatchSettings
from consumer.scoring.errors import ConfigError
from consumer.scoring.merchant_risk import MerchantRisk, load_merchant_risk
from consumer.scoring.models import FraudModel, Models, load_model, resolve_card_path

MERCHANT_RISK_DIR = "merchant-risk"  # beside a history model's card, as training writes it


@dataclass(frozen=True)
class BatchModels:
    """The model and, with --shadow-model, its shadow: loaded once, one LightGBM thread
    each (a batch scales by processes), with the card paths workers load them from."""

    card: Path
    model: FraudModel
    shadow_card: Path | None = None
    shadow: FraudModel | None = None
    merchant_risk_path: Path | None = None  # set when a model reads card history
    merchant_risk: MerchantRisk | None = None

    @classmethod
    def load(cls, s: BatchSettings) -> BatchModels:
        card = resolve_card_path(s.model)
        model = load_model(card, threads=1)
        shadow_card = resolve_card_path(s.shadow_model) if s.shadow_model is not None else None
        shadow = load_model(shadow_card, threads=1) if shadow_card is not None else None
        risk_path, risk = None, None
        if any(m.feature_set.needs_history for m in (model, shadow) if m is not None):
            risk_path = s.merchant_risk or card.parent / MERCHANT_RISK_DIR
            if not risk_path.exists():
                raise ConfigError(
                    f"model {_named(model)} reads card history: give its merchant risk "
                    f"snapshot with --merchant-risk (none at {risk_path})"
                )
            risk = load_merchant_risk(risk_path)
        elif s.history_context is not None:
            raise ConfigError("--history-context needs a model that reads card history")
        return cls(card, model, shadow_card, shadow, risk_path, risk)

    @property
    def history(self) -> bool:
        return self.merchant_risk is not None

    @property
    def routing(self) -> Models:
        return Models(self.model, shadow=self.shadow)

    def comparison(self) -> ShadowComparison | None:
        if self.shadow is None:
            return None
        return ShadowComparison(_named(self.model), _named(self.shadow))


def _named(model: FraudModel) -> str:
    return f"{model.name}-{model.version}"
