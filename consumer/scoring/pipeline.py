"""ScoringPipeline: records in, FraudScores and dead letters out. Pure: no Kafka I/O.

A batch goes through as columns: decode (``codec.decode_batch``: a strict native Avro
decoder straight into columns), validate (one mask per rule), features (one vectorized
definition), predict once, decide, explain the flagged rows (TreeSHAP tables), encode
(native). Failures are isolated per record: a bad record becomes a dead letter and never
fails, delays or drops the rest of its batch. The stream, the offline batch job, the HTTP
API and the benchmarks all call this one class: ``process`` for encoded records,
``score`` for Transactions already in columns (JSON, Parquet).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from consumer.scoring.avro_batch import ScoreColumns
from consumer.scoring.codec import Codec
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import FeatureError, RecordError, ScoreError
from consumer.scoring.features import feature_matrix
from consumer.scoring.model import FraudModel
from consumer.scoring.records import RawBatch, RawRecord, RecordBatch
from consumer.scoring.results import (
    Failures,
    IntArray,
    Outcome,
    PipelineResult,
    Scores,
    ShadowScores,
)
from consumer.scoring.routing import Canary, Models
from consumer.scoring.score_encoding import encode_by_model, take, with_model
from consumer.scoring.stage_timer import StageTimer
from consumer.scoring.validation import validate

log = logging.getLogger(__name__)

__all__ = ["Outcome", "PipelineResult", "Scores", "ScoringPipeline"]


class ScoringPipeline:
    def __init__(
        self,
        codec: Codec,
        model: FraudModel,
        *,
        reason_codes: int = 3,
        clock: Callable[[], float] = time.time,
        scored_at: str | int = "clock",
        encode: bool = True,
        canary: Canary | None = None,
        shadow: FraudModel | None = None,
        models: Models | None = None,
    ) -> None:
        """``scored_at``: "clock" (now), "event_time" (the event's own time) or fixed epoch ms.

        Batch prediction uses the latter two so that re-runs give identical bytes.
        ``canary`` decides for its share of cards; ``shadow`` scores every row as well and
        never decides (routing.py).
        """
        self._codec = codec
        self._models = models or Models(model, canary, shadow)
        self._reason_codes = reason_codes
        self._clock = clock
        self._scored_at = scored_at
        self._encode = encode  # False: the caller writes the score columns itself (files)

    @property
    def model(self) -> FraudModel:
        """The champion."""
        return self._models.champion

    @property
    def models(self) -> Models:
        return self._models

    def replace_champion(self, model: FraudModel) -> None:
        """Serve ``model`` from the next batch on (hot reload: call between batches)."""
        self._models = Models(model, self._models.canary, self._models.shadow)

    @property
    def reason_code_count(self) -> int:
        return self._reason_codes

    # -- Transactions in columns -------------------------------------------------------
    def score(self, tx: TransactionColumns, timer: StageTimer | None = None) -> Scores:
        """Validate, build features, predict, decide and explain the rows of ``tx``."""
        timer = timer or StageTimer()
        k = self._reason_codes
        with timer.stage("validate"):
            failures: Failures = list(validate(tx))
        if failures:
            bad = np.zeros(len(tx), bool)
            bad[[i for i, _ in failures]] = True
            rows = np.flatnonzero(~bad)
            valid = tx.take(rows)
        else:
            rows, valid = np.arange(len(tx), dtype=np.int64), tx
        if len(rows) == 0:
            empty = Scores.empty(k)
            empty.failures = failures
            return empty
        models = self._models  # one set of models for the whole batch
        with timer.stage("features"):
            features, rows = self._features(valid, rows, failures)
        route = np.zeros(len(rows), np.int8)
        if models.canary is not None:
            route[models.canary.chosen([tx.card_id[i] for i in rows])] = 1
        scores = np.zeros(len(rows))
        ok = np.zeros(len(rows), bool)
        with timer.stage("predict"):
            for index, model in enumerate(models.deciding()):
                mine = np.flatnonzero(route == index)
                if len(mine):
                    scores[mine], ok[mine] = self._predict(
                        model, features[mine], rows[mine], failures
                    )
        rows, scores, features, route = rows[ok], scores[ok], features[ok], route[ok]
        decisions = np.zeros(len(rows), np.int8)
        reasons = np.full((len(rows), max(k, 0)), -1, np.int16)
        for index, model in enumerate(models.deciding()):
            mine = np.flatnonzero(route == index)
            decisions[mine] = model.decisions(scores[mine])
            with timer.stage("reasons"):
                reasons[mine] = self._reasons(model, features[mine], decisions[mine])
        out = Scores(rows, scores, decisions, reasons, failures, route, models=models.deciding())
        if models.shadow is not None:
            with timer.stage("shadow"):
                self._shadow(models.shadow, features, out)
        failures.sort(key=lambda f: f[0])
        return out

    def _reasons(
        self, model: FraudModel, features: npt.NDArray[np.float64], decisions: npt.NDArray[np.int8]
    ) -> npt.NDArray[np.int16]:
        k = self._reason_codes
        reasons = np.full((len(features), max(k, 0)), -1, np.int16)
        flagged = np.flatnonzero(decisions > 0)
        if k > 0 and len(flagged):
            try:
                reasons[flagged] = model.reason_indexes(features[flagged], k)
            except Exception:
                log.warning("reason codes failed for %d rows; scores are kept", len(flagged))
        return reasons

    def _shadow(self, model: FraudModel, features: npt.NDArray[np.float64], out: Scores) -> None:
        """The shadow's answers for the same rows; whatever goes wrong stays here."""
        try:
            score = model.predict(features) if len(features) else np.empty(0)
            if not np.all(np.isfinite(score) & (score >= 0) & (score <= 1)):
                raise ValueError("the shadow returned a non-probability")
            decision = model.decisions(score)
            out.shadow = ShadowScores(
                model, score, decision, self._reasons(model, features, decision)
            )
        except Exception as exc:
            out.shadow_error = type(exc).__name__
            log.warning("shadow model %s-%s failed on a batch: %s", model.name, model.version, exc)

    def _features(
        self, valid: TransactionColumns, rows: IntArray, failures: Failures
    ) -> tuple[npt.NDArray[np.float64], IntArray]:
        try:
            return feature_matrix(valid), rows
        except Exception:  # one record's failure must not fail the batch: find it
            log.warning("features failed for a batch of %d; computing them row by row", len(rows))
        kept, matrices = [], []
        for j, row in enumerate(rows):
            try:
                matrices.append(feature_matrix(valid.take(np.array([j]))))
                kept.append(row)
            except Exception as exc:
                failures.append(
                    (
                        int(row),
                        FeatureError(
                            "feature_failed", f"feature computation failed ({type(exc).__name__})"
                        ),
                    )
                )
        if not matrices:
            return np.empty((0, 14)), np.empty(0, np.int64)
        return np.vstack(matrices), np.asarray(kept, np.int64)

    def _predict(
        self,
        model: FraudModel,
        features: npt.NDArray[np.float64],
        rows: IntArray,
        failures: Failures,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Scores for all rows at once; if the batch call fails, row by row to isolate it.
        Returns the scores and which rows have a usable one."""
        ok = np.ones(len(rows), bool)
        try:
            scores = model.predict(features) if len(rows) else np.empty(0)
        except Exception:
            log.warning("batch prediction failed; scoring %d rows one by one", len(rows))
            scores = np.zeros(len(rows))
            for j in range(len(rows)):
                try:
                    scores[j] = model.predict(features[j : j + 1])[0]
                except Exception as exc:
                    ok[j] = False
                    failures.append(
                        (
                            int(rows[j]),
                            ScoreError(
                                "predict_failed", f"model prediction failed ({type(exc).__name__})"
                            ),
                        )
                    )
        usable = np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0)
        for bad in np.flatnonzero(ok & ~usable):
            failures.append(
                (int(rows[bad]), ScoreError("bad_score", "model returned a non-probability"))
            )
        return scores, ok & usable

    # -- encoded records ---------------------------------------------------------------
    def process(self, records: RecordBatch | Sequence[RawRecord]) -> PipelineResult:
        """Score encoded records: decode, score, encode; one outcome per record."""
        batch = RawBatch(records) if isinstance(records, Sequence) else records
        timer = StageTimer()
        now_ms = int(self._clock() * 1000)
        with timer.stage("decode"):
            decoded = self._codec.decode_batch(batch.values)
        failures: Failures = list(decoded.failures)
        s = self.score(decoded.columns, timer)
        rows = decoded.rows[s.rows]
        failures += [(int(decoded.rows[i]), e) for i, e in s.failures]
        tx = decoded.columns
        event_time = tx.event_time[s.rows]
        scored_at = self._scored_at_ms(event_time, now_ms)
        deciding = s.models or (self.model,)
        model_index = s.model_index if s.model_index is not None else np.zeros(len(rows), np.int8)
        scores = ScoreColumns(
            transaction_id=[tx.transaction_id[i] for i in s.rows],
            score=s.score,
            decision=s.decision,
            reasons=s.reasons,
            reason_names=list(self.model.card.feature_names),
            model_name=deciding[0].name,
            model_version=deciding[0].version,
            event_time=event_time,
            scored_at=scored_at,
            source_topic=[batch.topics[i] for i in rows],
            source_partition=batch.partitions[rows],
            source_offset=batch.offsets[rows],
        )
        values: list[bytes] = []
        keep = np.ones(len(rows), bool)
        if self._encode and len(rows):
            with timer.stage("encode"):
                values, keep = encode_by_model(
                    self._codec, scores, model_index, deciding, rows, failures
                )
        result = PipelineResult(
            batch=batch,
            rows=rows[keep],
            values=[v for v, k in zip(values, keep, strict=True) if k] if values else [],
            score=s.score[keep],
            decision=s.decision[keep],
            reasons=s.reasons[keep],
            transaction_id=[t for t, k in zip(scores.transaction_id, keep, strict=True) if k],
            event_time=event_time[keep],
            scored_at=scored_at[keep],
            dead_letters=[],
            reason_names=tuple(self.model.card.feature_names),
            models=deciding,
            model_index=model_index[keep],
            timer=timer,
            shadow_error=s.shadow_error,
        )
        if s.shadow is not None:
            self._shadow_outputs(result, s.shadow, scores, keep)
        failures.sort(key=lambda f: f[0])
        result.dead_letters = [self._dead(batch, i, e, now_ms) for i, e in failures]
        return result

    def _shadow_outputs(
        self,
        result: PipelineResult,
        shadow: ShadowScores,
        scores: ScoreColumns,
        keep: npt.NDArray[np.bool_],
    ) -> None:
        """The shadow's scores for the records the champion scored, encoded apart
        (``scores``: the champion's columns, reused; the result holds its own copies)."""
        result.shadow = ShadowScores(
            shadow.model, shadow.score[keep], shadow.decision[keep], shadow.reasons[keep]
        )
        if not self._encode or not keep.any():
            return
        if not keep.all():
            scores = take(scores, np.flatnonzero(keep))
        scores.score, scores.decision = result.shadow.score, result.shadow.decision
        scores.reasons = result.shadow.reasons
        try:
            result.shadow_values = self._codec.encode_scores(with_model(scores, shadow.model))
        except Exception as exc:
            result.shadow_error = type(exc).__name__
            log.warning("shadow scores could not be encoded: %s", exc)

    def _scored_at_ms(self, event_time: IntArray, now_ms: int) -> IntArray:
        if self._scored_at == "clock":
            return np.full(len(event_time), now_ms, np.int64)
        if self._scored_at == "event_time":
            return event_time
        return np.full(len(event_time), int(self._scored_at), np.int64)

    def _dead(self, batch: RecordBatch, i: int, error: RecordError, now_ms: int) -> DeadLetter:
        record = batch.record(i)
        log.debug("dead letter %s: %s/%s", record.position, error.stage, error.reason)
        return DeadLetter.from_error(
            record, error, self.model.name, self.model.version, now_ms, source_index=i
        )
