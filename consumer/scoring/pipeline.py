"""ScoringPipeline: inputs in, one outcome per input position out. Pure: no Kafka I/O.

A batch goes through as columns: decode (``codec.decode_batch``: a strict native Avro
decoder straight into columns), validate (one mask per rule), features (one vectorized
definition), predict once, decide, explain the flagged rows (TreeSHAP tables), encode
(native). Failures are isolated per record: a bad record becomes a failure of its own and
never fails, delays or drops the rest of its batch. The stream, the offline batch job,
the HTTP API and the benchmarks all call this one class: ``score`` for Transactions a
driver has read into columns (``Inputs``: JSON, Parquet), ``process`` for encoded
records. Both answer ``Outcomes`` (outcomes.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from consumer.scoring.codec import Codec
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import FeatureError, ModelError, ScoreError
from consumer.scoring.features import FEATURE_NAMES, feature_matrix
from consumer.scoring.history_context import (
    NO_REQUEST,
    HistoryBlock,
    HistoryContext,
    HistoryRequest,
    history_block,
)
from consumer.scoring.inputs import Failures, Inputs, IntArray
from consumer.scoring.models.fraud_model import FraudModel
from consumer.scoring.models.routing import Models
from consumer.scoring.outcomes import AT_THE_CLOCK, Outcomes, ScoredAt, ShadowScores
from consumer.scoring.records import RawBatch, RawRecord, RecordBatch
from consumer.scoring.score_encoding import encode_outcomes, encode_shadow
from consumer.scoring.stage_timer import StageTimer
from consumer.scoring.validation import validate

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float64]


class ScoringPipeline:
    def __init__(
        self,
        codec: Codec,
        models: Models,
        *,
        reason_codes: int = 3,
        scored_at: ScoredAt = AT_THE_CLOCK,
        clock: Callable[[], float] = time.time,
        encode: bool = True,
        history: HistoryContext | None = None,
    ) -> None:
        """``models``: the champion, and the canary and shadow if any (routing.py).
        ``encode`` False: the caller writes the score columns itself (files).
        ``history``: card states and merchant risk, for models of a history feature set;
        without it such a model is refused (ModelError, one line)."""
        self._history = history
        for model in models.all():
            self.check(model)
        self._codec = codec
        self._models = models
        self._reason_codes = reason_codes
        self._scored_at = scored_at
        self._clock = clock
        self._encode = encode

    @property
    def model(self) -> FraudModel:
        """The champion."""
        return self._models.champion

    @property
    def models(self) -> Models:
        return self._models

    def replace_champion(self, model: FraudModel) -> None:
        """Serve ``model`` from the next batch on (hot reload: call between batches).
        ModelError if this face cannot supply its features."""
        self.check(model)
        self._models = Models(model, self._models.canary, self._models.shadow)

    @property
    def history(self) -> HistoryContext | None:
        return self._history

    def check(self, model: FraudModel) -> None:
        """ModelError (one line) if this face cannot supply the model's features."""
        if model.feature_set.needs_history and self._history is None:
            raise ModelError(
                f"model {model.name}-{model.version} needs card history (feature set "
                f"{model.feature_set.name}) and this face has no card-state store: "
                "configure one (--state-dir, --redis-url) or serve a per-event model"
            )

    @property
    def reason_code_count(self) -> int:
        return self._reason_codes

    def decode(self, values: list[bytes | None]) -> Inputs:
        """Encoded Transactions as the core's Inputs (the stream's rebuilds)."""
        return self._codec.decode_batch(values)

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- Transactions in columns -------------------------------------------------------
    def score(
        self,
        inputs: Inputs,
        timer: StageTimer | None = None,
        now_ms: int | None = None,
        request: HistoryRequest = NO_REQUEST,
    ) -> Outcomes:
        """Validate, build features, predict, decide and explain every readable input;
        ``request``: how the batch meets card history (history_context.py)."""
        timer = timer or StageTimer()
        now_ms = self.now_ms() if now_ms is None else now_ms
        models = self._models  # one set of models for the whole batch
        tx = inputs.columns
        failures: Failures = list(inputs.failures)
        rows, features = self._valid(inputs, timer, failures)
        history = None
        if models.width() > features.shape[1] and self._history is not None:
            with timer.stage("history"):
                history, columns = _history_features(self._history, inputs, rows, request)
            features = np.hstack([features, columns])
        route = np.zeros(len(rows), np.int8)
        if models.canary is not None and len(rows):
            route[models.canary.chosen([tx.card_id[i] for i in rows])] = 1
        scores, ok = np.zeros(len(rows)), np.zeros(len(rows), bool)
        deciding = models.deciding()
        with timer.stage("predict"):
            for index, model in enumerate(deciding):
                mine = np.flatnonzero(route == index)
                if len(mine):
                    scores[mine], ok[mine] = self._predict(
                        model, _of(model, features[mine]), inputs.positions[rows[mine]], failures
                    )
        rows, scores, features, route = rows[ok], scores[ok], features[ok], route[ok]
        decisions = np.zeros(len(rows), np.int8)
        reasons = np.full((len(rows), max(self._reason_codes, 0)), -1, np.int16)
        for index, model in enumerate(deciding):
            mine = np.flatnonzero(route == index)
            decisions[mine] = model.decisions(scores[mine])
            with timer.stage("reasons"):
                reasons[mine] = self._reasons(model, _of(model, features[mine]), decisions[mine])
        event_time = tx.event_time[rows]
        failures.sort(key=lambda f: f[0])
        out = Outcomes(
            size=inputs.size,
            positions=inputs.positions[rows],
            transaction_id=[tx.transaction_id[i] for i in rows],
            score=scores,
            decision=decisions,
            reasons=reasons,
            model_index=route,
            event_time=event_time,
            scored_at=self._scored_at.times(event_time, now_ms),
            failures=failures,
            models=deciding,
            reason_names=models.widest().feature_set.names,
            timer=timer,
            history=history,
        )
        if models.shadow is not None:
            with timer.stage("shadow"):
                self._shadow(models.shadow, features, out)
        return out

    def absorb(self, inputs: Inputs, request: HistoryRequest = NO_REQUEST) -> HistoryBlock | None:
        """Add events to card history without scoring them (a batch run's history
        context, a stream's rebuild): exactly the events, and in the order, that scoring
        them would add. None when this face keeps no history."""
        if self._history is None:
            return None
        rows, _ = self._valid(inputs, StageTimer(), [])
        return _history_features(self._history, inputs, rows, request)[0]

    def _valid(
        self, inputs: Inputs, timer: StageTimer, failures: Failures
    ) -> tuple[IntArray, Matrix]:
        """The rows of ``inputs`` that pass validation and per-event features, with those
        features; the others' failures are added to ``failures``."""
        tx = inputs.columns
        with timer.stage("validate"):
            invalid = validate(tx)
        rows = np.arange(len(tx), dtype=np.int64)
        if invalid:
            failures += [(int(inputs.positions[i]), e) for i, e in invalid]
            bad = np.zeros(len(tx), bool)
            bad[[i for i, _ in invalid]] = True
            rows = rows[~bad]
        with timer.stage("features"):
            features, rows = self._features(tx, rows, inputs.positions, failures)
        return rows, features

    def _reasons(
        self, model: FraudModel, features: Matrix, decisions: npt.NDArray[np.int8]
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

    def _shadow(self, model: FraudModel, features: Matrix, out: Outcomes) -> None:
        """The shadow's answers for the same rows; whatever goes wrong stays here."""
        features = _of(model, features)
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
        self, tx: TransactionColumns, rows: IntArray, positions: IntArray, failures: Failures
    ) -> tuple[Matrix, IntArray]:
        """The feature matrix of ``rows`` of ``tx``, and the rows it covers."""
        valid = tx if len(rows) == len(tx) else tx.take(rows)
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
                why = f"feature computation failed ({type(exc).__name__})"
                failures.append((int(positions[row]), FeatureError("feature_failed", why)))
        if not matrices:
            return np.empty((0, len(FEATURE_NAMES))), np.empty(0, np.int64)
        return np.vstack(matrices), np.asarray(kept, np.int64)

    def _predict(
        self, model: FraudModel, features: Matrix, positions: IntArray, failures: Failures
    ) -> tuple[Matrix, npt.NDArray[np.bool_]]:
        """Scores for all rows at once; if the batch call fails, row by row to isolate it.
        Returns the scores and which rows have a usable one."""
        ok = np.ones(len(positions), bool)
        try:
            scores = model.predict(features) if len(positions) else np.empty(0)
        except Exception:
            log.warning("batch prediction failed; scoring %d rows one by one", len(positions))
            scores = np.zeros(len(positions))
            for j in range(len(positions)):
                try:
                    scores[j] = model.predict(features[j : j + 1])[0]
                except Exception as exc:
                    ok[j] = False
                    why = f"model prediction failed ({type(exc).__name__})"
                    failures.append((int(positions[j]), ScoreError("predict_failed", why)))
        usable = np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0)
        for bad in np.flatnonzero(ok & ~usable):
            why = "model returned a non-probability"
            failures.append((int(positions[bad]), ScoreError("bad_score", why)))
        return scores, ok & usable

    # -- encoded records ---------------------------------------------------------------
    def process(
        self, records: RecordBatch | Sequence[RawRecord], request: HistoryRequest = NO_REQUEST
    ) -> Outcomes:
        """Score encoded records: decode, score, encode; dead letters for the failures."""
        batch = RawBatch(records) if isinstance(records, Sequence) else records
        timer = StageTimer()
        now_ms = self.now_ms()
        with timer.stage("decode"):
            inputs = self._codec.decode_batch(batch.values)
        out = self.score(inputs, timer, now_ms, request)
        out.batch = batch
        if self._encode and len(out.positions):
            with timer.stage("encode"):
                encode_outcomes(self._codec, out, batch)
            if out.shadow is not None:
                encode_shadow(self._codec, out, batch)
        champion = out.champion
        out.dead_letters = [
            DeadLetter.from_error(
                batch.record(i), e, champion.name, champion.version, now_ms, source_index=i
            )
            for i, e in out.failures
        ]
        return out


def _of(model: FraudModel, features: Matrix) -> Matrix:
    """The columns ``model`` reads: feature sets extend each other (feature_sets.py)."""
    n = len(model.feature_set.names)
    return features if features.shape[1] == n else features[:, :n]


def _history_features(
    context: HistoryContext, inputs: Inputs, rows: IntArray, request: HistoryRequest
) -> tuple[HistoryBlock, Matrix]:
    """The history columns of ``rows``: computed (and applied) for new events, as they
    were for replayed ones; the block of the new ones, with input positions."""
    scope = None if request.scope is None else request.scope[inputs.positions]
    replayed = request.replayed or {}
    fresh = rows
    if replayed:
        fresh = rows[[int(inputs.positions[r]) not in replayed for r in rows]]
    block = history_block(inputs.columns, fresh, context, scope, request.keep_states)
    block.positions = inputs.positions[block.positions]
    if len(fresh) == len(rows):
        return block, block.features
    columns = np.empty((len(rows), block.features.shape[1]))
    is_fresh = np.isin(rows, fresh)
    columns[is_fresh] = block.features
    columns[~is_fresh] = [replayed[int(inputs.positions[r])] for r in rows[~is_fresh]]
    return block, columns
