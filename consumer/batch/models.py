"""The models of a batch run, loaded once: the model and, with --shadow-model, its shadow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consumer.batch.reports.comparison import ShadowComparison
from consumer.batch.settings import BatchSettings
from consumer.scoring.models import FraudModel, Models, load_model, resolve_card_path


@dataclass(frozen=True)
class BatchModels:
    """The model and, with --shadow-model, its shadow: loaded once, one LightGBM thread
    each (a batch scales by processes), with the card paths workers load them from."""

    card: Path
    model: FraudModel
    shadow_card: Path | None = None
    shadow: FraudModel | None = None

    @classmethod
    def load(cls, s: BatchSettings) -> BatchModels:
        card = resolve_card_path(s.model)
        shadow_card = resolve_card_path(s.shadow_model) if s.shadow_model is not None else None
        return cls(
            card,
            load_model(card, threads=1),
            shadow_card,
            load_model(shadow_card, threads=1) if shadow_card is not None else None,
        )

    @property
    def routing(self) -> Models:
        return Models(self.model, shadow=self.shadow)

    def comparison(self) -> ShadowComparison | None:
        if self.shadow is None:
            return None
        return ShadowComparison(_named(self.model), _named(self.shadow))


def _named(model: FraudModel) -> str:
    return f"{model.name}-{model.version}"
