"""Encoding a batch's FraudScores: one codec call per deciding model (each output names
the model that decided it), a record that cannot be encoded found and turned into a
failure alone, and the shadow's scores encoded apart, where a failure costs only them."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from consumer.scoring.avro_batch import ScoreColumns
from consumer.scoring.codec import Codec
from consumer.scoring.errors import ScoreError
from consumer.scoring.inputs import Failures, IntArray
from consumer.scoring.models.fraud_model import FraudModel
from consumer.scoring.outcomes import Outcomes
from consumer.scoring.records import RecordBatch

log = logging.getLogger(__name__)


def score_columns(out: Outcomes, batch: RecordBatch, at: IntArray | None = None) -> ScoreColumns:
    """The FraudScores of the scored records ``at`` (all by default), named after the
    champion (``named`` renames them), with their lineage from ``batch``."""
    rows = np.arange(len(out.positions)) if at is None else at
    positions = out.positions[rows]
    champion = out.champion
    return ScoreColumns(
        transaction_id=[out.transaction_id[j] for j in rows],
        score=out.score[rows],
        decision=out.decision[rows],
        reasons=out.reasons[rows],
        reason_names=list(out.reason_names),
        model_name=champion.name,
        model_version=champion.version,
        event_time=out.event_time[rows],
        scored_at=out.scored_at[rows],
        source_topic=[batch.topics[i] for i in positions],
        source_partition=batch.partitions[positions],
        source_offset=batch.offsets[positions],
    )


def named(s: ScoreColumns, model: FraudModel) -> ScoreColumns:
    s.model_name, s.model_version = model.name, model.version
    return s


def encode_outcomes(codec: Codec, out: Outcomes, batch: RecordBatch) -> None:
    """Fill ``out.values``; a record that cannot be encoded becomes a failure."""
    values: list[bytes] = [b""] * len(out.positions)
    keep = np.ones(len(out.positions), bool)
    failures: Failures = []
    for index, model in enumerate(out.models):
        mine = np.flatnonzero(out.model_index == index)
        if not len(mine):
            continue
        part = named(score_columns(out, batch, mine), model)
        encoded, good = _isolated(codec, part, out.positions[mine], failures)
        for j, value, ok in zip(mine, encoded, good, strict=True):
            values[j] = value
            keep[j] = ok
    out.values = values
    out.keep(keep, failures)


def encode_shadow(codec: Codec, out: Outcomes, batch: RecordBatch) -> None:
    """Fill ``out.shadow_values``: the shadow's FraudScores for the scored records."""
    shadow = out.shadow
    if shadow is None or not len(out.positions):
        return
    scores = named(score_columns(out, batch), shadow.model)
    scores.score, scores.decision, scores.reasons = shadow.score, shadow.decision, shadow.reasons
    try:
        out.shadow_values = codec.encode_scores(scores)
    except Exception as exc:
        out.shadow_error = type(exc).__name__
        log.warning("shadow scores could not be encoded: %s", exc)


def _take(s: ScoreColumns, at: IntArray) -> ScoreColumns:
    return ScoreColumns(
        transaction_id=[s.transaction_id[i] for i in at],
        score=s.score[at],
        decision=s.decision[at],
        reasons=s.reasons[at],
        reason_names=s.reason_names,
        model_name=s.model_name,
        model_version=s.model_version,
        event_time=s.event_time[at],
        scored_at=s.scored_at[at],
        source_topic=[s.source_topic[i] for i in at],
        source_partition=s.source_partition[at],
        source_offset=s.source_offset[at],
    )


def _isolated(
    codec: Codec, scores: ScoreColumns, positions: IntArray, failures: Failures
) -> tuple[list[bytes], npt.NDArray[np.bool_]]:
    keep = np.ones(len(scores), bool)
    try:
        return codec.encode_scores(scores), keep
    except Exception:  # find the record that cannot be encoded; the rest go out
        log.warning("encoding failed for a batch of %d; encoding record by record", len(scores))
    values = []
    for j in range(len(scores)):
        try:
            values.append(codec.encode_scores(_take(scores, np.array([j])))[0])
        except Exception as exc:
            keep[j] = False
            values.append(b"")
            why = f"score could not be encoded ({type(exc).__name__})"
            failures.append((int(positions[j]), ScoreError("encode_failed", why)))
    return values, keep
