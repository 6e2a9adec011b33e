"""What a batch run hands the shared reporting tail (``run.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consumer.batch.reports.comparison import ShadowComparison
from consumer.batch.reports.run_sections import Timeline
from consumer.batch.reports.stats import BatchStats


@dataclass
class RunResult:
    stats: BatchStats
    comparison: ShadowComparison | None
    lines: list[str]  # what the run adds to the summary: where the outputs went, shards
    shards: dict[int, dict[str, Any]] | None = None  # a dataset run's shard reports
    timeline: Timeline = field(default_factory=list)
