"""ScoringPipeline: raw records in, FraudScores and dead letters out. Pure: no Kafka I/O.

It decodes and validates each record, builds one feature matrix for the batch, predicts
once per batch and encodes the results. Failures are isolated per record: a bad record
becomes a dead letter and never fails, delays or drops the rest of its batch. The
streaming loop, the offline batch job and the benchmarks all call this one class.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from consumer.scoring.codec import Codec, Record
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import FeatureError, RecordError, ScoreError
from consumer.scoring.features import build_matrix, feature_row
from consumer.scoring.model import FraudModel
from consumer.scoring.records import RawRecord, ScoredRecord
from consumer.scoring.validation import validate_transaction

log = logging.getLogger(__name__)

Outcome = ScoredRecord | DeadLetter


@dataclass
class PipelineResult:
    """Exactly one outcome per input record, in input order."""

    outcomes: list[Outcome]
    inference_seconds: float = 0.0
    scored: list[ScoredRecord] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


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
        self._encode = encode  # False: the caller writes ScoredRecord.record itself (files)

    @property
    def model(self) -> FraudModel:
        return self._model

    def process(
        self, records: Sequence[RawRecord], decoded: Sequence[Record] | None = None
    ) -> PipelineResult:
        """Score ``records``. ``decoded``: their values already decoded (Avro files, whose
        container reader decodes), so only validation, features and the model run here."""
        now_ms = int(self._clock() * 1000)
        outcomes: list[Outcome | None] = [None] * len(records)
        ready: list[tuple[int, Record]] = []
        rows: list[tuple[float, ...]] = []
        for i, record in enumerate(records):
            try:
                tx = (
                    decoded[i]
                    if decoded is not None
                    else self._codec.decode_transaction(record.value)
                )
                validate_transaction(tx)
                rows.append(self._features(tx))
            except RecordError as exc:
                outcomes[i] = self._dead(record, exc, now_ms)
            else:
                ready.append((i, tx))

        inference_seconds = 0.0
        if ready:
            started = time.perf_counter()
            scores, reasons = self._score(build_matrix(rows))
            inference_seconds = time.perf_counter() - started
            for (i, tx), score, why in zip(ready, scores, reasons, strict=True):
                outcomes[i] = self._outcome(records[i], tx, score, why, now_ms)

        done = [o for o in outcomes if o is not None]
        if len(done) != len(records):
            raise RuntimeError("pipeline left a record without an outcome")  # a bug, not data
        return PipelineResult(
            outcomes=done,
            inference_seconds=inference_seconds,
            scored=[o for o in done if isinstance(o, ScoredRecord)],
            dead_letters=[o for o in done if isinstance(o, DeadLetter)],
        )

    def _features(self, tx: Record) -> tuple[float, ...]:
        try:
            return feature_row(tx)
        except Exception as exc:  # one record's failure must not fail the batch
            raise FeatureError(
                "feature_failed", f"feature computation failed ({type(exc).__name__})"
            ) from exc

    def _score(self, features: np.ndarray) -> tuple[list[float | Exception], list[list[str]]]:
        """Scores for all rows at once; if the batch call fails, row by row to isolate it."""
        try:
            scores: list[float | Exception] = [float(s) for s in self._model.predict(features)]
        except Exception:
            log.warning("batch prediction failed; scoring %d rows one by one", len(features))
            scores = [self._score_one(features[i : i + 1]) for i in range(len(features))]
        flagged = [
            i
            for i, s in enumerate(scores)
            if isinstance(s, float) and math.isfinite(s) and self._model.decide(s) != "APPROVE"
        ]
        reasons: list[list[str]] = [[] for _ in scores]
        if flagged and self._reason_codes > 0:
            try:
                codes = self._model.reason_codes(features[flagged], self._reason_codes)
            except Exception:
                log.warning(
                    "reason codes failed for %d rows; scores are kept", len(flagged), exc_info=True
                )
            else:
                for i, c in zip(flagged, codes, strict=True):
                    reasons[i] = c
        return scores, reasons

    def _score_one(self, row: np.ndarray) -> float | Exception:
        try:
            return float(self._model.predict(row)[0])
        except Exception as exc:
            return exc

    def _outcome(
        self,
        record: RawRecord,
        tx: Record,
        score: float | Exception,
        reasons: list[str],
        now_ms: int,
    ) -> Outcome:
        if isinstance(score, Exception):
            err = ScoreError("predict_failed", f"model prediction failed ({type(score).__name__})")
            return self._dead(record, err, now_ms)
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            return self._dead(
                record, ScoreError("bad_score", "model returned a non-probability"), now_ms
            )
        decision = self._model.decide(score)
        out = {
            "transaction_id": tx["transaction_id"],
            "score": score,
            "decision": decision,
            "reason_codes": reasons,
            "model_name": self._model.name,
            "model_version": self._model.version,
            "event_time": tx["event_time"],
            "scored_at": self._scored_at_ms(tx, now_ms),
            "source_topic": record.topic,
            "source_partition": record.partition,
            "source_offset": record.offset,
        }
        try:
            value = self._codec.encode_score(out) if self._encode else b""
        except Exception as exc:
            err = ScoreError("encode_failed", f"score could not be encoded ({type(exc).__name__})")
            return self._dead(record, err, now_ms)
        return ScoredRecord(record, value, score, decision, tx["event_time"], out)

    def _scored_at_ms(self, tx: Record, now_ms: int) -> int:
        if self._scored_at == "clock":
            return now_ms
        if self._scored_at == "event_time":
            return int(tx["event_time"])
        return int(self._scored_at)

    def _dead(self, record: RawRecord, error: RecordError, now_ms: int) -> DeadLetter:
        log.debug("dead letter %s: %s/%s", record.position, error.stage, error.reason)
        return DeadLetter.from_error(record, error, self._model.name, self._model.version, now_ms)
