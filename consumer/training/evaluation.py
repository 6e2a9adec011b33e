"""Ranking metrics for binary scores, in numpy (no scikit-learn dependency for two formulas)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def roc_auc(labels: Array, scores: Array) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float(
        (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


def average_precision(labels: Array, scores: Array) -> float:
    """Area under the precision-recall curve as average precision (step-wise)."""
    positives = labels.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / positives)


def precision_recall_at(
    labels: Array, scores: Array, threshold: float
) -> tuple[float, float, float]:
    """(precision, recall, flagged share) of the rule ``score >= threshold``."""
    flagged = scores >= threshold
    n_flagged = int(flagged.sum())
    positives = labels.sum()
    true_pos = float(labels[flagged].sum())
    precision = true_pos / n_flagged if n_flagged else float("nan")
    recall = true_pos / positives if positives else float("nan")
    return precision, recall, n_flagged / len(labels) if len(labels) else float("nan")


def threshold_for_precision(
    labels: Array, scores: Array, target: float, min_flagged: int = 20
) -> float:
    """The lowest score threshold whose flagged set still has precision >= ``target``."""
    order = np.argsort(-scores, kind="mergesort")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    ok = np.nonzero(precision >= target)[0]
    ok = ok[ok >= min_flagged - 1]
    if len(ok) == 0:
        return float(scores[order[min(min_flagged, len(order)) - 1]])
    return float(scores[order[ok[-1]]])


def threshold_for_rate(scores: Array, rate: float) -> float:
    """The score threshold that flags about ``rate`` of the rows."""
    return float(np.quantile(scores, 1.0 - rate, method="higher"))
