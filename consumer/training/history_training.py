"""Train a card-history model (M1) and, on the very same events and split, its per-event
baseline (M0); write M1, the merchant risk snapshot it starts serving with, and the uplift.

The events come from the generator with its history-only fraud patterns. The split is by
time, with gaps: a 7-day burn-in (card windows still filling) is left out, then the fit
period, a 2-day gap, the early-stopping and threshold period, a 1-day gap, the holdout.
Features are point in time (``history_data.py``), so no aggregate crosses the split.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from consumer.scoring.errors import ModelError
from consumer.scoring.feature_sets import CARD_HISTORY, PER_EVENT
from consumer.scoring.features import CATEGORICAL_FEATURES
from consumer.scoring.merchant_risk import DAY_MS
from consumer.scoring.models import ModelCard, sha256_file
from consumer.training.fit import HISTORY_PARAMS, Fitted, fit
from consumer.training.generator import ALL_PATTERNS, TransactionGenerator
from consumer.training.history_data import HistoryData, history_data
from consumer.training.spec import TrainingSpec
from consumer.training.uplift import Holdout, model_figures, uplift_table

log = logging.getLogger(__name__)
BURN_IN_MS = 7 * DAY_MS
GAPS_MS = (2 * DAY_MS, DAY_MS)
MERCHANT_RISK_DIR = "merchant-risk"
Rows = npt.NDArray[np.int64]


def time_split(event_time: npt.NDArray[np.int64]) -> tuple[Rows, Rows, Rows]:
    """Fit, validation and holdout rows: after the burn-in, 60% / 18% / the rest of the
    time span, with a 2-day gap before validation and a 1-day gap before the holdout."""
    start, end = int(event_time[0]) + BURN_IN_MS, int(event_time[-1])
    span = end - start
    fit_end = start + int(span * 0.6)
    valid_start = fit_end + GAPS_MS[0]
    valid_end = valid_start + int(span * 0.18)
    hold_start = valid_end + GAPS_MS[1]
    t = event_time
    rows = (
        np.flatnonzero((t >= start) & (t < fit_end)),
        np.flatnonzero((t >= valid_start) & (t < valid_end)),
        np.flatnonzero(t >= hold_start),
    )
    if any(len(r) == 0 for r in rows):
        raise ModelError("too few days of events for a time split: generate more --rows")
    return rows


def train_history(spec: TrainingSpec, out_dir: Path, overwrite: bool = False) -> ModelCard:
    stem = f"{spec.name}-{spec.version}"
    model_path, card_path = out_dir / f"{stem}.txt", out_dir / f"{stem}.json"
    if not overwrite and (model_path.exists() or card_path.exists()):
        raise ModelError(f"{model_path} already exists; choose another --version or pass --force")
    log.info("generating %d events with history patterns (seed %d)", spec.rows, spec.seed)
    generator = TransactionGenerator(spec.seed, fraud_rate=spec.fraud_rate, history_patterns=True)
    events = generator.take(spec.rows)
    data = history_data(events)
    fit_rows, valid_rows, hold_rows = time_split(data.event_time)
    log.info("fit %d, validation %d, holdout %d rows", len(fit_rows), len(valid_rows),
             len(hold_rows))  # fmt: skip
    width = len(PER_EVENT.names)
    split = (fit_rows, valid_rows)
    m0 = fit(data.features[:, :width], data.labels, PER_EVENT.names, split, spec.policy,
             HISTORY_PARAMS)  # fmt: skip
    m1 = fit(data.features, data.labels, CARD_HISTORY.names, split, spec.policy, HISTORY_PARAMS)
    holdout = _holdout(data, hold_rows)
    figures = [
        model_figures(holdout, f.predict(x[hold_rows]), f.thresholds.review, ALL_PATTERNS)
        for f, x in ((m0, data.features[:, :width]), (m1, data.features))
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    m1.booster.save_model(str(model_path), num_iteration=m1.rounds)
    snapshot = data.last_snapshot.write(out_dir / MERCHANT_RISK_DIR)
    card = _card(spec, model_path, m1, data, (fit_rows, valid_rows, hold_rows), figures)
    card.training["merchant_risk"] = {"definition": "merchant-risk-v1", "serving": snapshot.name}
    card_path.write_text(card.to_json())
    log.info("wrote %s, %s and %s", model_path, card_path, snapshot)
    return card


def _holdout(data: HistoryData, rows: Rows) -> Holdout:
    first: dict[str, int] = {}
    for i in np.flatnonzero(data.patterns == "compromised_merchant"):
        first.setdefault(data.merchant_ids[i], int(data.event_time[i]))
    return Holdout(
        data.labels[rows],
        data.patterns[rows],
        data.event_time[rows],
        [data.merchant_ids[i] for i in rows],
        first,
    )


def _card(
    spec: TrainingSpec,
    model_path: Path,
    m1: Fitted,
    data: HistoryData,
    split: tuple[Rows, Rows, Rows],
    figures: list[dict[str, Any]],
) -> ModelCard:
    m0_figures, m1_figures = figures
    fit_rows, valid_rows, hold_rows = split
    first = dt.datetime.fromtimestamp(int(data.event_time[0]) / 1000, dt.UTC)
    days = (int(data.event_time[-1]) - int(data.event_time[0])) / DAY_MS
    return ModelCard(
        name=spec.name,
        version=spec.version,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        model_file=model_path.name,
        model_sha256=sha256_file(model_path),
        feature_names=list(CARD_HISTORY.names),
        categorical_features=list(CATEGORICAL_FEATURES),
        feature_set_version=CARD_HISTORY.version,
        feature_set=CARD_HISTORY.name,
        thresholds=m1.thresholds,
        lightgbm_version=lgb.__version__,
        training={
            "rows": spec.rows,
            "fraud_rows": int(data.labels.sum()),
            "first_event": first.isoformat(timespec="seconds"),
            "days": round(days, 2),
            "split": "time: 7-day burn-in, fit 60%, 2-day gap, validation 18%, 1-day gap, holdout",
            "fit_rows": len(fit_rows),
            "early_stopping_rows": len(valid_rows),
            "holdout_rows": len(hold_rows),
            "seed": spec.seed,
            "fraud_rate": spec.fraud_rate,
            "generator": "TransactionGenerator(history_patterns=True)",
            "boosting_rounds": m1.rounds,
            "threshold_policy": {
                "decline_precision": spec.policy.decline_precision,
                "review_rate": spec.policy.review_rate,
            },
        },
        metrics={
            "holdout_roc_auc": m1_figures["roc_auc"],
            "holdout_pr_auc": m1_figures["pr_auc"],
            "uplift": {"m0_per_event": m0_figures, "m1_history": m1_figures},
            "uplift_table": uplift_table(m0_figures, m1_figures),
        },
        params=HISTORY_PARAMS,
    )
