"""What a batch run counts: rows, scores, decisions, dead letters; and its summary text.

One ``BatchStats`` per shard in the workers, merged in the driver (``merge``); they
travel between processes as JSON (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.outcomes import Outcomes
from consumer.scoring.schemas import DECISIONS

BINS = np.linspace(0.0, 1.0, 21)  # score histogram: 20 bins of 0.05


@dataclass
class BatchStats:
    rows_read: int = 0
    scored: int = 0
    dead: Counter[tuple[str, str]] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(len(BINS) - 1, dtype=np.int64))
    score_sum: float = 0.0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def add(self, result: Outcomes, dead: list[DeadLetter]) -> None:
        self.add_scores(result.score, result.decision, ((d.stage, d.reason) for d in dead))

    def add_scores(
        self,
        score: npt.NDArray[np.float64],
        decision: npt.NDArray[np.int8],
        dead: Iterable[tuple[str, str]],
    ) -> None:
        """Count scored rows (their scores and decisions) and dead letters (stage, reason)."""
        failed = Counter(dead)
        self.dead.update(failed)
        self.rows_read += len(score) + sum(failed.values())
        self.scored += len(score)
        if len(score):
            self.histogram += np.histogram(score, BINS)[0]
            self.score_sum += float(score.sum())
            counts = np.bincount(decision, minlength=len(DECISIONS))
            self.decisions.update({d: int(n) for d, n in zip(DECISIONS, counts, strict=True)})

    def merge(self, other: BatchStats) -> None:
        """Add another shard's counts (not its times)."""
        self.rows_read += other.rows_read
        self.scored += other.scored
        self.dead.update(other.dead)
        self.decisions.update(other.decisions)
        self.histogram += other.histogram
        self.score_sum += other.score_sum

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_read,
            "scored": self.scored,
            "invalid": self.dead_total,
            "dead_letters": {f"{s}/{r}": n for (s, r), n in sorted(self.dead.items())},
            "decisions": {d: self.decisions[d] for d in DECISIONS},
            "histogram": [int(n) for n in self.histogram],
            "score_sum": self.score_sum,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchStats:
        stats = cls()
        stats.rows_read, stats.scored = int(d["rows_in"]), int(d["scored"])
        for key, n in d["dead_letters"].items():
            stage, reason = key.split("/", 1)
            stats.dead[(stage, reason)] = int(n)
        stats.decisions.update({k: int(v) for k, v in d["decisions"].items()})
        stats.histogram = np.asarray(d["histogram"], np.int64)
        stats.score_sum = float(d["score_sum"])
        return stats

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def dead_total(self) -> int:
        return sum(self.dead.values())

    def summary(self) -> str:
        rate = self.rows_read / self.seconds if self.seconds > 0 else 0.0
        flagged = self.decisions["REVIEW"] + self.decisions["DECLINE"]
        lines = [
            f"rows read        {self.rows_read:>12,}  in {self.seconds:.1f}s ({rate:,.0f} rows/s)",
            f"scored           {self.scored:>12,}",
            f"dead-lettered    {self.dead_total:>12,}",
        ]
        lines += [f"  {s}/{r:<30}{n:>10,}" for (s, r), n in self.dead.most_common()]
        lines.append(
            "decisions        "
            + "  ".join(
                f"{d} {self.decisions[d]:,} ({pct(self.decisions[d], self.scored)})"
                for d in DECISIONS
            )
        )
        lines.append(
            f"fraud rate       {pct(flagged, self.scored)} flagged (REVIEW or DECLINE), "
            f"{pct(self.decisions['DECLINE'], self.scored)} declined; "
            f"mean score {self.score_sum / self.scored if self.scored else 0:.4f}"
        )
        lines.append("score histogram  (share of scored rows per 0.05 bin)")
        peak = max(int(self.histogram.max()), 1)
        for lo, n in zip(BINS[:-1], self.histogram, strict=True):
            bar = "#" * round(40 * n / peak) if n else ""
            lines.append(f"  {lo:4.2f}-{lo + 0.05:4.2f} {pct(int(n), self.scored):>7} {bar}")
        return "\n".join(lines)


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.2f}%" if d else "-"
