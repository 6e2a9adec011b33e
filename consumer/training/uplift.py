"""What card history buys: a per-event model (M0) and a history model (M1), trained on the
same events with the same time split, compared on the holdout.

Overall ROC-AUC and PR-AUC of each; per fraud pattern, recall at each model's review
threshold (the shipped policy: REVIEW or DECLINE for the top ``review_rate`` of the
validation traffic) and average precision of the pattern's events against legitimate
traffic. A compromised merchant's fraud can only be seen once its labels arrived, so that
pattern is also reported for its mature events: those 10 days (the usual label delay) or
more after the merchant's first fraudulent transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.training.evaluation import average_precision, roc_auc

Array = npt.NDArray[np.float64]
MATURE_AFTER_MS = 14 * 86_400_000
MATURE = "compromised_merchant (mature)"


@dataclass(frozen=True)
class Holdout:
    labels: Array
    patterns: npt.NDArray[np.str_]  # "" for legitimate
    event_time: npt.NDArray[np.int64]
    merchant_ids: list[str]
    first_fraud_at: dict[str, int]  # compromised merchant -> its first fraud (whole data)


def pattern_masks(h: Holdout, patterns: tuple[str, ...]) -> dict[str, npt.NDArray[np.bool_]]:
    masks = {p: h.patterns == p for p in patterns}
    if "compromised_merchant" in masks:
        start = np.array(
            [h.first_fraud_at.get(m, np.iinfo(np.int64).max) for m in h.merchant_ids], np.int64
        )
        mature = h.event_time >= start + MATURE_AFTER_MS
        masks[MATURE] = masks["compromised_merchant"] & mature
    return masks


def model_figures(
    h: Holdout, scores: Array, review: float, patterns: tuple[str, ...]
) -> dict[str, Any]:
    legit = h.patterns == ""
    flagged = scores >= review
    by_pattern = {}
    for name, mask in pattern_masks(h, patterns).items():
        if not mask.any():
            continue
        both = mask | legit
        by_pattern[name] = {
            "events": int(mask.sum()),
            "recall": round(float(flagged[mask].mean()), 4),
            "average_precision": round(
                average_precision(mask[both].astype(float), scores[both]), 4
            ),
        }
    return {
        "roc_auc": round(roc_auc(h.labels, scores), 5),
        "pr_auc": round(average_precision(h.labels, scores), 5),
        "flagged_rate": round(float(flagged.mean()), 5),
        "by_pattern": by_pattern,
    }


def uplift_table(m0: dict[str, Any], m1: dict[str, Any]) -> str:
    """The report `fraud-consumer train` prints, the README quotes and the demo shows."""
    lines = [
        f"{'':<34}{'M0 per-event':>14}{'M1 history':>14}",
        f"{'holdout ROC-AUC':<34}{m0['roc_auc']:>14.4f}{m1['roc_auc']:>14.4f}",
        f"{'holdout PR-AUC':<34}{m0['pr_auc']:>14.4f}{m1['pr_auc']:>14.4f}"
        f"   ({m1['pr_auc'] / m0['pr_auc']:.2f}x)",
        f"{'flagged (review policy)':<34}{m0['flagged_rate']:>14.2%}{m1['flagged_rate']:>14.2%}",
        "recall at the review threshold / average precision, by pattern:",
    ]
    for name, a in m0["by_pattern"].items():
        b = m1["by_pattern"].get(name, {"recall": float("nan"), "average_precision": float("nan")})
        lines.append(
            f"  {name:<32}{a['recall']:>8.1%} /{a['average_precision']:>5.2f}"
            f"{b['recall']:>8.1%} /{b['average_precision']:>5.2f}   ({a['events']:,} events)"
        )
    return "\n".join(lines)
