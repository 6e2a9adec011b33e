from __future__ import annotations

import numpy as np
import pytest

from consumer.training.evaluation import (
    average_precision,
    precision_recall_at,
    roc_auc,
    threshold_for_precision,
    threshold_for_rate,
)


def test_roc_auc_known_values() -> None:
    y = np.array([0, 0, 1, 1], dtype=np.float64)
    assert roc_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert roc_auc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5  # ties count half


def test_average_precision_known_values() -> None:
    y = np.array([1, 0, 1, 0], dtype=np.float64)
    # ranked: 1 (p=1), 0, 1 (p=2/3), 0 -> AP = (1 + 2/3) / 2
    assert average_precision(y, np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx(5 / 6)


def test_thresholds() -> None:
    y = np.array([1] * 30 + [0] * 70, dtype=np.float64)
    s = np.linspace(1.0, 0.01, 100)
    t = threshold_for_precision(y, s, 0.9, min_flagged=5)
    precision, recall, _ = precision_recall_at(y, s, t)
    assert precision >= 0.9 and recall > 0.9
    assert precision_recall_at(y, s, threshold_for_rate(s, 0.1))[2] == pytest.approx(0.1)
