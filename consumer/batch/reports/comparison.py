"""`batch --compare-model`: how a shadow's answers differ from the model's on the same
rows. Decisions side by side (a confusion table), how far scores move, and, where the
input carries labels, how each model does on each fraud pattern.

One ``ShadowComparison`` per shard, merged in the driver like ``BatchStats``; they travel
between processes as JSON (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.batch.reports.stats import pct
from consumer.scoring.schemas import DECISIONS

# shadow score - model score, in bins that separate "the same" from small and large
SHIFT_EDGES = (-1.0, -0.5, -0.2, -0.1, -0.05, -0.01, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
LEGIT = "legit"
# per label: rows, flagged and declined by each model, score sums of each model
_BY_LABEL = ("rows", "flagged", "declined", "shadow_flagged", "shadow_declined",
             "score_sum", "shadow_score_sum")  # fmt: skip


@dataclass
class ShadowComparison:
    model: str  # name-version of --model
    shadow: str  # name-version of --compare-model
    confusion: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((3, 3), np.int64)
    )  # [model decision, shadow decision]
    shift: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(SHIFT_EDGES) - 1, np.int64)
    )
    shift_sum: float = 0.0
    abs_shift_sum: float = 0.0
    abs_shift_max: float = 0.0
    by_label: dict[str, list[float]] = field(default_factory=dict)

    def add(
        self,
        score: npt.NDArray[np.float64],
        decision: npt.NDArray[np.int8],
        shadow_score: npt.NDArray[np.float64],
        shadow_decision: npt.NDArray[np.int8],
        labels: Sequence[str] | None = None,
    ) -> None:
        """Rows both models scored; ``labels`` ("legit" or a fraud pattern) if known."""
        if not len(score):
            return
        pairs = decision.astype(np.int64) * 3 + shadow_decision
        self.confusion += np.bincount(pairs, minlength=9).reshape(3, 3)
        delta = shadow_score - score
        self.shift += np.histogram(delta, SHIFT_EDGES)[0]
        self.shift_sum += float(delta.sum())
        self.abs_shift_sum += float(np.abs(delta).sum())
        self.abs_shift_max = max(self.abs_shift_max, float(np.abs(delta).max()))
        if labels is None:
            return
        names = np.asarray(labels, dtype=object)
        for label in np.unique(names):
            mine = names == label
            row = self.by_label.setdefault(str(label), [0.0] * len(_BY_LABEL))
            values = (
                mine.sum(),
                (decision[mine] > 0).sum(),
                (decision[mine] == 2).sum(),
                (shadow_decision[mine] > 0).sum(),
                (shadow_decision[mine] == 2).sum(),
                score[mine].sum(),
                shadow_score[mine].sum(),
            )
            for i, v in enumerate(values):
                row[i] += float(v)

    def merge(self, other: ShadowComparison) -> None:
        self.confusion += other.confusion
        self.shift += other.shift
        self.shift_sum += other.shift_sum
        self.abs_shift_sum += other.abs_shift_sum
        self.abs_shift_max = max(self.abs_shift_max, other.abs_shift_max)
        for label, values in other.by_label.items():
            row = self.by_label.setdefault(label, [0.0] * len(_BY_LABEL))
            for i, v in enumerate(values):
                row[i] += v

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "shadow": self.shadow,
            "confusion": self.confusion.tolist(),
            "shift": self.shift.tolist(),
            "shift_sum": self.shift_sum,
            "abs_shift_sum": self.abs_shift_sum,
            "abs_shift_max": self.abs_shift_max,
            "by_label": {k: dict(zip(_BY_LABEL, v, strict=True)) for k, v in self.by_label.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShadowComparison:
        return cls(
            d["model"],
            d["shadow"],
            np.asarray(d["confusion"], np.int64),
            np.asarray(d["shift"], np.int64),
            float(d["shift_sum"]),
            float(d["abs_shift_sum"]),
            float(d["abs_shift_max"]),
            {k: [float(v[name]) for name in _BY_LABEL] for k, v in d["by_label"].items()},
        )

    @property
    def rows(self) -> int:
        return int(self.confusion.sum())

    @property
    def changed(self) -> int:
        return self.rows - int(np.trace(self.confusion))

    def summary(self) -> str:
        n = self.rows
        lines = [
            f"compared with    {self.shadow} (decisions below: rows = {self.model}, "
            f"columns = {self.shadow})",
            f"decisions changed {self.changed:>11,}  ({pct(self.changed, n)} of {n:,} rows)",
            "                 " + "".join(f"{d:>12}" for d in DECISIONS),
        ]
        for i, d in enumerate(DECISIONS):
            lines.append(f"  {d:<15}" + "".join(f"{int(c):>12,}" for c in self.confusion[i]))
        mean = self.shift_sum / n if n else 0.0
        mean_abs = self.abs_shift_sum / n if n else 0.0
        lines.append(
            f"score shift      mean {mean:+.4f}, mean |shift| {mean_abs:.4f}, "
            f"largest |shift| {self.abs_shift_max:.4f}"
        )
        for lo, hi, count in zip(SHIFT_EDGES[:-1], SHIFT_EDGES[1:], self.shift, strict=True):
            lines.append(f"  {lo:+.2f} to {hi:+.2f} {pct(int(count), n):>9}")
        if self.by_label:
            width = max(len(label) for label in self.by_label) + 2
            lines.append("by label")
            lines.append(
                f"  {'':<{width}}{'rows':>8}  {'flagged':>10} {'flagged':>10}  "
                f"{'declined':>10} {'declined':>10}"
            )
            lines.append(f"  {'':<{width}}{'':>8}  {'model':>10} {'shadow':>10}  "
                         f"{'model':>10} {'shadow':>10}")  # fmt: skip
            for label, row in self._labels():
                rows = int(row[0])
                lines.append(
                    f"  {label:<{width}}{rows:>8,}  {pct(int(row[1]), rows):>10} "
                    f"{pct(int(row[3]), rows):>10}  {pct(int(row[2]), rows):>10} "
                    f"{pct(int(row[4]), rows):>10}"
                )
        return "\n".join(lines)

    def _labels(self) -> list[tuple[str, list[float]]]:
        """Legitimate traffic first, then the fraud patterns by name."""
        return sorted(self.by_label.items(), key=lambda kv: (kv[0] != LEGIT, kv[0]))

    def html(self) -> str:
        """The report's comparison section."""
        e = html.escape
        n = self.rows
        head = "".join(f"<th>{e(self.shadow)} {d}</th>" for d in DECISIONS)
        body = "".join(
            f"<tr><th>{e(self.model)} {d}</th>"
            + "".join(
                f'<td style="background:{"#fff" if i == j else "#fde2e0"}">{int(c):,}'
                f"<br><small>{pct(int(c), n)}</small></td>"
                for j, c in enumerate(self.confusion[i])
            )
            + "</tr>"
            for i, d in enumerate(DECISIONS)
        )
        top = max(int(self.shift.max()), 1)
        bars = "".join(
            f"<tr><td>{lo:+.2f} to {hi:+.2f}</td><td>{pct(int(c), n)}</td>"
            f'<td><div style="background:#4a78c2;height:12px;width:{300 * int(c) / top:.0f}px">'
            "</div></td></tr>"
            for lo, hi, c in zip(SHIFT_EDGES[:-1], SHIFT_EDGES[1:], self.shift, strict=True)
        )
        labels = ""
        if self.by_label:
            rows = "".join(
                f"<tr><td>{e(label)}</td><td>{int(r[0]):,}</td>"
                + "".join(f"<td>{pct(int(r[i]), int(r[0]))}</td>" for i in (1, 3, 2, 4))
                + f"<td>{r[5] / r[0]:.4f}</td><td>{r[6] / r[0]:.4f}</td></tr>"
                for label, r in self._labels()
            )
            labels = (
                "<h3>By label</h3><table class='shards'><thead><tr><th>label</th><th>rows</th>"
                f"<th>flagged {e(self.model)}</th><th>flagged {e(self.shadow)}</th>"
                f"<th>declined {e(self.model)}</th><th>declined {e(self.shadow)}</th>"
                f"<th>mean score {e(self.model)}</th><th>mean score {e(self.shadow)}</th>"
                f"</tr></thead><tbody>{rows}</tbody></table>"
            )
        return (
            f"<h2>{e(self.model)} against {e(self.shadow)}</h2>"
            f"<p>{self.changed:,} of {n:,} decisions change ({pct(self.changed, n)}); "
            f"mean score shift {self.shift_sum / n if n else 0:+.4f}, largest "
            f"{self.abs_shift_max:.4f}.</p>"
            f"<table class='shards'><thead><tr><th></th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
            "<h3>Score shift (shadow minus model)</h3>"
            f"<table class='shards'><tbody>{bars}</tbody></table>{labels}"
        )
