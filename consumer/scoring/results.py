"""What the pipeline makes of a batch: scores (columns) and dead letters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from consumer.scoring.codec import Record
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import RecordError
from consumer.scoring.model import FraudModel
from consumer.scoring.records import RecordBatch, ScoredRecord
from consumer.scoring.schemas import DECISIONS
from consumer.scoring.stage_timer import StageTimer

Outcome = ScoredRecord | DeadLetter
IntArray = npt.NDArray[np.int64]
Failures = list[tuple[int, RecordError]]


@dataclass
class ShadowScores:
    """The shadow model's answers for the rows the champion (or canary) scored."""

    model: FraudModel
    score: npt.NDArray[np.float64]
    decision: npt.NDArray[np.int8]
    reasons: npt.NDArray[np.int16]


@dataclass
class Scores:
    """What ``score`` makes of columns: per scored row its score, decision and reasons;
    per failed row its error. Positions are rows of the columns scored."""

    rows: IntArray
    score: npt.NDArray[np.float64]
    decision: npt.NDArray[np.int8]  # index into DECISIONS
    reasons: npt.NDArray[np.int16]  # (rows, k) feature indexes, -1 past the last
    failures: Failures
    # which model decided each row: 0 the champion, 1 the canary (Models.deciding())
    model_index: npt.NDArray[np.int8] | None = None
    shadow: ShadowScores | None = None
    shadow_error: str | None = None  # the shadow failed on this batch (champion unaffected)
    models: tuple[FraudModel, ...] = ()  # the deciding models the batch was scored with

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
    models: tuple[FraudModel, ...]  # the deciding models (champion, canary)
    model_index: npt.NDArray[np.int8]  # per scored record: index into models
    timer: StageTimer = field(default_factory=StageTimer)
    shadow: ShadowScores | None = None  # aligned with rows
    shadow_values: list[bytes] = field(default_factory=list)  # encoded shadow FraudScores
    shadow_error: str | None = None

    def version(self, j: int) -> str:
        """The version of the model that decided the j-th scored record."""
        version: str = self.models[self.model_index[j]].version
        return version

    def score_records(self) -> list[Record]:
        """The FraudScores as records (file outputs, tests), in input order."""
        b = self.batch
        return [
            {
                "transaction_id": self.transaction_id[j],
                "score": float(self.score[j]),
                "decision": DECISIONS[self.decision[j]],
                "reason_codes": list(self.reason_codes(j)),
                "model_name": self.models[self.model_index[j]].name,
                "model_version": self.models[self.model_index[j]].version,
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
