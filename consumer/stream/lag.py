"""Consumer lag per partition, in records and in seconds, from librdkafka statistics.

The high watermark comes from fetch responses (librdkafka's ``hi_offset``), which is
right on every broker we have seen, including the embedded one whose ListOffsets
answer runs short. Lag in records is high watermark minus the scorer's position; lag
in seconds is the age of the newest record consumed from a partition that still has
lag (0 once caught up), which says how stale the scores are.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from consumer.ops.metrics import ScorerMetrics

log = logging.getLogger(__name__)


class LagTracker:
    def __init__(
        self, topic: str, metrics: ScorerMetrics, clock: Callable[[], float] = time.time
    ) -> None:
        self._topic = topic
        self._metrics = metrics
        self._clock = clock
        self._last_ts_ms: dict[int, int] = {}
        self._partitions: set[int] = set()

    def consumed(self, partition: int, timestamp_ms: int | None) -> None:
        if timestamp_ms:
            self._last_ts_ms[partition] = timestamp_ms

    def assigned(self, partitions: list[int]) -> None:
        self._partitions.update(partitions)

    def released(self, partitions: list[int]) -> None:
        for p in partitions:
            self._partitions.discard(p)
            self._last_ts_ms.pop(p, None)
            for gauge in (self._metrics.lag_messages, self._metrics.lag_seconds):
                with contextlib.suppress(KeyError):
                    gauge.remove(str(p))

    def on_stats(self, stats: dict[str, Any]) -> None:
        """Parsed librdkafka statistics (``stats_cb`` runs inside poll(), on the loop's thread)."""
        topic = stats.get("topics", {}).get(self._topic, {})
        now_ms = self._clock() * 1000
        for key, part in topic.get("partitions", {}).items():
            p = int(key)
            if p not in self._partitions:
                continue
            high, position = part.get("hi_offset", -1), part.get("app_offset", -1)
            if high < 0:
                continue
            if position < 0:  # nothing consumed yet: lag against the committed offset
                position = part.get("committed_offset", -1)
            if position < 0:
                continue
            lag = max(0, high - position)
            self._metrics.lag_messages.labels(partition=str(p)).set(lag)
            last = self._last_ts_ms.get(p)
            age = (now_ms - last) / 1000 if lag and last else 0.0
            self._metrics.lag_seconds.labels(partition=str(p)).set(max(0.0, age))
