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
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from consumer.scoring.avro_batch import ScoreColumns
from consumer.scoring.codec import Codec, Record
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import FeatureError, RecordError, ScoreError
from consumer.scoring.features import feature_matrix
from consumer.scoring.model import FraudModel
from consumer.scoring.records import RawBatch, RawRecord, RecordBatch, ScoredRecord
from consumer.scoring.schemas import DECISIONS
from consumer.scoring.stage_timer import StageTimer
from consumer.scoring.validation import validate

log = logging.getLogger(__name__)

Outcome = ScoredRecord | DeadLetter
IntArray = npt.NDArray[np.int64]
Failures = list[tuple[int, RecordError]]


@dataclass
class Scores:
    """What ``score`` makes of columns: per scored row its score, decision and reasons;
    per failed row its error. Positions are rows of the columns scored."""

    rows: IntArray
    score: npt.NDArray[np.float64]
    decision: npt.NDArray[np.int8]  # index into DECISIONS
    reasons: npt.NDArray[np.int16]  # (rows, k) feature indexes, -1 past the last
    failures: Failures

    @classmethod
    def empty(cls, k: int) -> Scores:
        return cls(
            np.empty(0, np.int64),
            np.empty(0),
            np.empty(0, np.int8),
            np.empty((0, k), np.int16),
            [],
        )


@dataclass
class PipelineResult:
    """Exactly one outcome per input record: a score (columns below, in input order) or
    a dead letter. ``rows`` are the input positions of the scored records."""

    batch: RecordBatch
    rows: IntArray
    values: list[bytes]  # encoded FraudScores, aligned with rows (empty if not encoded)
    score: npt.NDArray[np.float64]
    decision: npt.NDArray[np.int8]
    reasons: npt.NDArray[np.int16]
    transaction_id: list[str]
    event_time: IntArray
    scored_at: IntArray
    dead_letters: list[DeadLetter]
    reason_names: tuple[str, ...]
    model_name: str
    model_version: str
    timer: StageTimer = field(default_factory=StageTimer)

    def score_records(self) -> list[Record]:
        """The FraudScores as records (file outputs, tests), in input order."""
        b = self.batch
        return [
            {
                "transaction_id": self.transaction_id[j],
                "score": float(self.score[j]),
                "decision": DECISIONS[self.decision[j]],
                "reason_codes": list(self.reason_codes(j)),
                "model_name": self.model_name,
                "model_version": self.model_version,
                "event_time": int(self.event_time[j]),
                "scored_at": int(self.scored_at[j]),
                "source_topic": b.topics[i],
                "source_partition": int(b.partitions[i]),
                "source_offset": int(b.offsets[i]),
            }
            for j, i in enumerate(self.rows)
        ]

    @property
    def inference_seconds(self) -> float:
        return self.timer.seconds.get("predict", 0.0)

    def reason_codes(self, j: int) -> tuple[str, ...]:
        """Reason codes of the j-th scored record."""
        return tuple(self.reason_names[i] for i in self.reasons[j] if i >= 0)

    @property
    def scored(self) -> list[ScoredRecord]:
        """The scored records as objects (tests and reports; the drivers read columns)."""
        values = self.values or [b""] * len(self.rows)
        return [
            ScoredRecord(
                self.batch.record(int(i)),
                values[j],
                float(self.score[j]),
                DECISIONS[self.decision[j]],
                int(self.event_time[j]),
                self.reason_codes(j),
            )
            for j, i in enumerate(self.rows)
        ]

    @property
    def outcomes(self) -> list[Outcome]:
        """One outcome per input record, in input order."""
        out: list[Outcome | None] = [None] * len(self.batch)
        for j, s in zip(self.rows, self.scored, strict=True):
            out[int(j)] = s
        for d in self.dead_letters:
            out[d.source_index] = d
        done = [o for o in out if o is not None]
        if len(done) != len(out):
            raise RuntimeError("pipeline left a record without an outcome")  # a bug, not data
        return done


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
    ) -> None:
        """``scored_at``: "clock" (now), "event_time" (the event's own time) or fixed epoch ms.

        Batch prediction uses the latter two so that re-runs give identical bytes.
        """
        self._codec = codec
        self._model = model
        self._reason_codes = reason_codes
        self._clock = clock
        self._scored_at = scored_at
        self._encode = encode  # False: the caller writes the score columns itself (files)

    @property
    def model(self) -> FraudModel:
        return self._model

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
        with timer.stage("features"):
            features, rows = self._features(valid, rows, failures)
        with timer.stage("predict"):
            scores, ok = self._predict(features, rows, failures)
        rows, scores, features = rows[ok], scores[ok], features[ok]
        decisions = self._model.decisions(scores)
        reasons = np.full((len(rows), max(k, 0)), -1, np.int16)
        flagged = np.flatnonzero(decisions > 0)
        if k > 0 and len(flagged):
            with timer.stage("reasons"):
                try:
                    reasons[flagged] = self._model.reason_indexes(features[flagged], k)
                except Exception:
                    log.warning("reason codes failed for %d rows; scores are kept", len(flagged))
        failures.sort(key=lambda f: f[0])
        return Scores(rows, scores, decisions, reasons, failures)

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
        self, features: npt.NDArray[np.float64], rows: IntArray, failures: Failures
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Scores for all rows at once; if the batch call fails, row by row to isolate it.
        Returns the scores and which rows have a usable one."""
        ok = np.ones(len(rows), bool)
        try:
            scores = self._model.predict(features) if len(rows) else np.empty(0)
        except Exception:
            log.warning("batch prediction failed; scoring %d rows one by one", len(rows))
            scores = np.zeros(len(rows))
            for j in range(len(rows)):
                try:
                    scores[j] = self._model.predict(features[j : j + 1])[0]
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
        tids = [tx.transaction_id[i] for i in s.rows]
        event_time = tx.event_time[s.rows]
        scored_at = self._scored_at_ms(event_time, now_ms)
        scores = ScoreColumns(
            transaction_id=tids,
            score=s.score,
            decision=s.decision,
            reasons=s.reasons,
            reason_names=list(self._model.card.feature_names),
            model_name=self._model.name,
            model_version=self._model.version,
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
                values, keep = self._encode_isolated(scores, rows, failures)
        if not keep.all():
            values = [v for v, k in zip(values, keep, strict=True) if k]
            tids = [t for t, k in zip(tids, keep, strict=True) if k]
        failures.sort(key=lambda f: f[0])
        dead = [self._dead(batch, i, e, now_ms) for i, e in failures]
        return PipelineResult(
            batch=batch,
            rows=rows[keep],
            values=values,
            score=s.score[keep],
            decision=s.decision[keep],
            reasons=s.reasons[keep],
            transaction_id=tids,
            event_time=event_time[keep],
            scored_at=scored_at[keep],
            dead_letters=dead,
            reason_names=tuple(self._model.card.feature_names),
            model_name=self._model.name,
            model_version=self._model.version,
            timer=timer,
        )

    def _encode_isolated(
        self, scores: ScoreColumns, rows: IntArray, failures: Failures
    ) -> tuple[list[bytes], npt.NDArray[np.bool_]]:
        keep = np.ones(len(rows), bool)
        try:
            return self._codec.encode_scores(scores), keep
        except Exception:  # find the row that cannot be encoded; the rest go out
            log.warning("encoding failed for a batch of %d; encoding row by row", len(rows))
        values = []
        for j in range(len(rows)):
            try:
                values.append(self._codec.encode_scores(_row(scores, j))[0])
            except Exception as exc:
                keep[j] = False
                values.append(b"")
                failures.append(
                    (
                        int(rows[j]),
                        ScoreError(
                            "encode_failed", f"score could not be encoded ({type(exc).__name__})"
                        ),
                    )
                )
        return values, keep

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
            record, error, self._model.name, self._model.version, now_ms, source_index=i
        )


def _row(s: ScoreColumns, j: int) -> ScoreColumns:
    return ScoreColumns(
        transaction_id=s.transaction_id[j : j + 1],
        score=s.score[j : j + 1],
        decision=s.decision[j : j + 1],
        reasons=s.reasons[j : j + 1],
        reason_names=s.reason_names,
        model_name=s.model_name,
        model_version=s.model_version,
        event_time=s.event_time[j : j + 1],
        scored_at=s.scored_at[j : j + 1],
        source_topic=s.source_topic[j : j + 1],
        source_partition=s.source_partition[j : j + 1],
        source_offset=s.source_offset[j : j + 1],
    )
