"""Encoding a batch's FraudScores: one codec call per deciding model (each output names
the model that decided it), a record that cannot be encoded found and dead-lettered
alone, and the shadow's scores encoded apart, where a failure costs only them."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from consumer.scoring.avro_batch import ScoreColumns
from consumer.scoring.codec import Codec
from consumer.scoring.errors import ScoreError
from consumer.scoring.model import FraudModel
from consumer.scoring.results import Failures, IntArray

log = logging.getLogger(__name__)


def take(s: ScoreColumns, at: IntArray) -> ScoreColumns:
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


def with_model(s: ScoreColumns, model: FraudModel) -> ScoreColumns:
    s.model_name, s.model_version = model.name, model.version
    return s


def encode_by_model(
    codec: Codec,
    scores: ScoreColumns,
    model_index: npt.NDArray[np.int8],
    models: tuple[FraudModel, ...],
    rows: IntArray,
    failures: Failures,
) -> tuple[list[bytes], npt.NDArray[np.bool_]]:
    """Values aligned with ``scores`` (b"" where encoding failed) and which are good."""
    values: list[bytes] = [b""] * len(scores)
    keep = np.ones(len(scores), bool)
    for index, model in enumerate(models):
        mine = np.flatnonzero(model_index == index)
        if not len(mine):
            continue
        part = with_model(scores if len(mine) == len(scores) else take(scores, mine), model)
        encoded, good = _isolated(codec, part, rows[mine], failures)
        for j, value, ok in zip(mine, encoded, good, strict=True):
            values[j] = value
            keep[j] = ok
    return values, keep


def _isolated(
    codec: Codec, scores: ScoreColumns, rows: IntArray, failures: Failures
) -> tuple[list[bytes], npt.NDArray[np.bool_]]:
    keep = np.ones(len(scores), bool)
    try:
        return codec.encode_scores(scores), keep
    except Exception:  # find the record that cannot be encoded; the rest go out
        log.warning("encoding failed for a batch of %d; encoding record by record", len(rows))
    values = []
    for j in range(len(scores)):
        try:
            values.append(codec.encode_scores(take(scores, np.array([j])))[0])
        except Exception as exc:
            keep[j] = False
            values.append(b"")
            why = f"score could not be encoded ({type(exc).__name__})"
            failures.append((int(rows[j]), ScoreError("encode_failed", why)))
    return values, keep
