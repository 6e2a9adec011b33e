"""What a service needs to score a model that reads card history, found once at startup:
whether any of its models does, the merchant risk snapshot (``--merchant-risk``, else
``merchant-risk/`` beside a history model's card), and the Redis client when one is
configured. A history model with no way to supply its features stops startup with one
line; a per-event service needs none of it and opens nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import redis

from consumer.scoring.errors import ConfigError
from consumer.scoring.merchant_risk import MerchantRisk, load_merchant_risk
from consumer.scoring.models import Models, resolve_card_path
from consumer.state.redis_store import redis_client

MERCHANT_RISK_DIR = "merchant-risk"


class HistorySettings(Protocol):
    @property
    def model(self) -> Path: ...
    @property
    def shadow_model(self) -> Path | None: ...
    @property
    def canary_model(self) -> Path | None: ...
    @property
    def redis_url(self) -> str | None: ...
    @property
    def redis_timeout_ms(self) -> int: ...
    @property
    def merchant_risk(self) -> Path | None: ...


def needs_history(models: Models) -> bool:
    return any(m.feature_set.needs_history for m in models.all())


def merchant_risk_path(settings: HistorySettings) -> Path:
    """``--merchant-risk``, else the first ``merchant-risk/`` beside a model's card."""
    if settings.merchant_risk is not None:
        return settings.merchant_risk
    for model in (settings.model, settings.canary_model, settings.shadow_model):
        if model is not None:
            candidate = resolve_card_path(model).parent / MERCHANT_RISK_DIR
            if candidate.exists():
                return candidate
    raise ConfigError(
        "a model reads card history: give its merchant risk snapshot with --merchant-risk "
        f"(none in {MERCHANT_RISK_DIR}/ beside the model's card)"
    )


def load_service_merchant_risk(settings: HistorySettings) -> tuple[Path, MerchantRisk]:
    path = merchant_risk_path(settings)
    return path, load_merchant_risk(path)


def service_redis(settings: HistorySettings) -> redis.Redis | None:
    if settings.redis_url is None:
        return None
    return redis_client(settings.redis_url, settings.redis_timeout_ms / 1000)
