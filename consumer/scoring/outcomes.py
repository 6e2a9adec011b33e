"""What the core answers every driver: ``Outcomes``, one outcome per input position.

An input position ends as exactly one of two things: a score (score, decision, reason
codes, the deciding model and version, the shadow's score where one watches) or a
failure (a RecordError: stage, reason code, a message that names no value). The scores
are kept as columns over the scored positions (ascending), the failures as a list; a
driver reads them by position (``at``, ``in_order``) or as columns, never maps rows
itself. ``process`` (encoded records) also fills the encoded values and dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import RecordError
from consumer.scoring.history_context import HistoryBlock
from consumer.scoring.inputs import Failures, IntArray
from consumer.scoring.models.fraud_model import FraudModel
from consumer.scoring.records import RecordBatch, ScoredRecord
from consumer.scoring.schemas import DECISIONS
from consumer.scoring.stage_timer import StageTimer

FloatArray = npt.NDArray[np.float64]
ByteArray = npt.NDArray[np.int8]


@dataclass(frozen=True)
class ScoredAt:
    """The one rule for a score's ``scored_at``: the clock when the batch was scored
    (stream, API), the event's own time, or one fixed time (batch: re-runs give the same
    bytes)."""

    mode: str = "clock"  # "clock" | "event_time" | "fixed"
    fixed_ms: int = 0

    @classmethod
    def of(cls, value: str | int) -> ScoredAt:
        """ "clock", "event_time", or epoch milliseconds."""
        if isinstance(value, int):
            return cls("fixed", value)
        if value not in ("clock", "event_time"):
            raise ValueError(f"scored_at is 'clock', 'event_time' or epoch ms, not {value!r}")
        return cls(value)

    @property
    def as_of(self) -> str | int:
        """How a batch manifest records it: "event_time" or the fixed epoch ms."""
        return self.fixed_ms if self.mode == "fixed" else self.mode

    def times(self, event_time: IntArray, now_ms: int) -> IntArray:
        if self.mode == "event_time":
            return event_time
        return np.full(len(event_time), now_ms if self.mode == "clock" else self.fixed_ms)


AT_THE_CLOCK = ScoredAt()


@dataclass
class ShadowScores:
    """The shadow's answers for the scored positions (aligned with them)."""

    model: FraudModel
    score: FloatArray
    decision: ByteArray
    reasons: npt.NDArray[np.int16]

    def take(self, keep: npt.NDArray[np.bool_]) -> ShadowScores:
        return ShadowScores(self.model, self.score[keep], self.decision[keep], self.reasons[keep])


@dataclass(frozen=True, slots=True)
class Scored:
    """The outcome of one input position that was scored."""

    transaction_id: str
    score: float
    decision: str
    reason_codes: tuple[str, ...]
    model: FraudModel  # the model that decided: the champion or the canary
    shadow_score: float | None = None
    merchant_risk: str | None = None  # the snapshot its history features used, if any


Outcome = Scored | RecordError


@dataclass
class Outcomes:
    size: int  # input positions in all
    positions: IntArray  # input positions of the scored records, ascending
    transaction_id: list[str]
    score: FloatArray
    decision: ByteArray  # index into DECISIONS
    reasons: npt.NDArray[np.int16]  # (scored, k) indexes into reason_names, -1 past the last
    model_index: ByteArray  # which of ``models`` decided each: 0 champion, 1 canary
    event_time: IntArray
    scored_at: IntArray
    failures: Failures  # (input position, why), ascending positions
    models: tuple[FraudModel, ...]  # the deciding models the batch was scored with
    reason_names: tuple[str, ...]
    shadow: ShadowScores | None = None
    shadow_error: str | None = None  # the shadow failed on this batch (scores unaffected)
    timer: StageTimer = field(default_factory=StageTimer)
    # card history: the new state of each card the batch touched, the merchant risk used
    history: HistoryBlock | None = None
    # filled by ScoringPipeline.process (encoded records): the records scored, and the
    # encoded FraudScores (aligned with positions) and dead letters (with failures)
    batch: RecordBatch | None = None
    values: list[bytes] = field(default_factory=list)
    shadow_values: list[bytes] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)  # aligned with failures

    def __len__(self) -> int:
        return self.size

    @property
    def champion(self) -> FraudModel:
        return self.models[0]

    @property
    def inference_seconds(self) -> float:
        return self.timer.seconds.get("predict", 0.0)

    def reason_codes(self, j: int) -> tuple[str, ...]:
        """The reason codes of the j-th scored record."""
        return tuple(self.reason_names[i] for i in self.reasons[j] if i >= 0)

    def model(self, j: int) -> FraudModel:
        """The model that decided the j-th scored record."""
        return self.models[int(self.model_index[j])]

    def scored(self, j: int) -> Scored:
        """The j-th scored record's outcome."""
        return Scored(
            self.transaction_id[j],
            float(self.score[j]),
            DECISIONS[self.decision[j]],
            self.reason_codes(j),
            self.model(j),
            None if self.shadow is None else float(self.shadow.score[j]),
            None if self.history is None else self.history.merchant_risk,
        )

    def in_order(self) -> list[Outcome]:
        """One outcome per input position, in input order."""
        out: list[Outcome | None] = [None] * self.size
        for j, position in enumerate(self.positions):
            out[int(position)] = self.scored(j)
        for position, error in self.failures:
            out[position] = error
        done = [o for o in out if o is not None]
        if len(done) != self.size:  # a bug, not data
            raise RuntimeError("the core left an input position without an outcome")
        return done

    def keep(self, keep: npt.NDArray[np.bool_], failures: Failures) -> None:
        """Drop the scored records where ``keep`` is False; ``failures`` says why."""
        if keep.all():
            return
        at = np.flatnonzero(keep)
        self.positions, self.score = self.positions[at], self.score[at]
        self.decision, self.reasons = self.decision[at], self.reasons[at]
        self.model_index, self.event_time = self.model_index[at], self.event_time[at]
        self.scored_at = self.scored_at[at]
        self.transaction_id = [self.transaction_id[j] for j in at]
        if self.values:
            self.values = [self.values[j] for j in at]
        if self.shadow is not None:
            self.shadow = self.shadow.take(keep)
        self.failures = sorted(self.failures + failures, key=lambda f: f[0])

    # -- views for files and tests -------------------------------------------------------
    def _records(self) -> RecordBatch:
        if self.batch is None:
            raise ValueError("outcomes of columns carry no records (use process)")
        return self.batch

    def score_records(self) -> list[dict[str, Any]]:
        """The FraudScores as records (Avro file outputs), in input order."""
        batch = self._records()
        return [
            {
                "transaction_id": self.transaction_id[j],
                "score": float(self.score[j]),
                "decision": DECISIONS[self.decision[j]],
                "reason_codes": list(self.reason_codes(j)),
                "model_name": self.model(j).name,
                "model_version": self.model(j).version,
                "event_time": int(self.event_time[j]),
                "scored_at": int(self.scored_at[j]),
                "source_topic": batch.topics[i],
                "source_partition": int(batch.partitions[i]),
                "source_offset": int(batch.offsets[i]),
            }
            for j, i in enumerate(self.positions)
        ]

    def scored_records(self) -> list[ScoredRecord]:
        """The scored records with their sources (tests and tools)."""
        batch = self._records()
        values = self.values or [b""] * len(self.positions)
        return [
            ScoredRecord(
                batch.record(int(i)),
                values[j],
                float(self.score[j]),
                DECISIONS[self.decision[j]],
                int(self.event_time[j]),
                self.reason_codes(j),
            )
            for j, i in enumerate(self.positions)
        ]
