"""External tools some tests need (Prometheus, promtool): skip locally, fail under CI."""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest


def require(tool: str, install: str, module: bool = False) -> str:
    """The path of ``tool`` (or, with ``module``, its Python module's name); skips the
    test if missing, or fails when CI=true."""
    import importlib.util

    path = tool if module and importlib.util.find_spec(tool) else shutil.which(tool)
    if path:
        return path
    message = f"{tool} is not installed; install it with: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing tool is a failure)")
    pytest.skip(message)


def features_of(records: list[dict[str, Any]]) -> npt.NDArray[np.float64]:
    """The feature matrix of Transaction records (through the columns, as the core does)."""
    from consumer.scoring.columns import TransactionColumns
    from consumer.scoring.features import feature_matrix

    return feature_matrix(TransactionColumns.from_records(records))


def tiny_model(directory: Any, feature_set: str = "card-history-v1", version: str = "9.0.0") -> Any:
    """A small LightGBM model of ``feature_set`` with a valid card, trained in a second on
    random rows (a model to exercise the scoring core with, not to score well)."""
    import datetime as dt
    from pathlib import Path

    import lightgbm as lgb

    from consumer.scoring.feature_sets import FEATURE_SETS
    from consumer.scoring.features import CATEGORICAL_FEATURES
    from consumer.scoring.models import ModelCard, Thresholds, load_model, sha256_file

    fs = FEATURE_SETS[feature_set]
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, len(fs.names)))
    x[:, :4] = rng.integers(0, 5, size=(4000, 4))  # the categorical columns
    y = (x[:, 4] + x[:, -1] + x[:, -6] > 0.5).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1},
        lgb.Dataset(x, y, feature_name=list(fs.names),
                    categorical_feature=list(CATEGORICAL_FEATURES)),
        num_boost_round=20,
    )  # fmt: skip
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"tiny-{version}.txt"
    booster.save_model(str(model_path))
    card = ModelCard(
        name="tiny",
        version=version,
        created_at=dt.datetime.now(dt.UTC).isoformat(),
        model_file=model_path.name,
        model_sha256=sha256_file(model_path),
        feature_names=list(fs.names),
        categorical_features=list(CATEGORICAL_FEATURES),
        feature_set_version=fs.version,
        feature_set=fs.name,
        thresholds=Thresholds(0.3, 0.8),
        lightgbm_version=lgb.__version__,
    )
    (out / f"tiny-{version}.json").write_text(card.to_json())
    return load_model(out / f"tiny-{version}.json", threads=1)
