"""External tools some tests need (Prometheus, promtool): skip locally, fail under CI."""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest


def require(tool: str, install: str) -> str:
    """The path of ``tool``; skips the test if missing, or fails when CI=true."""
    path = shutil.which(tool)
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
