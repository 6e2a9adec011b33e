"""Is this replica doing its job? The answer behind /readyz and ``fraud_ready``.

Ready once the model is loaded and the consumer holds an assignment from its group.
Not ready while no broker has answered for longer than ``broker_down_after`` seconds,
or while it holds no partitions for longer than ``unassigned_after`` seconds after
having held some (partitions lost in an outage or moved away and not given back).
A replica that joined and was given nothing from the start (more replicas than
partitions) is a ready standby. Liveness is another question (/healthz): a restart does
not bring a broker back, so an outage makes a replica unready, never unhealthy.

Broker reachability comes from librdkafka: ``_ALL_BROKERS_DOWN`` and transport errors
mark it down, any successful exchange (statistics showing a broker UP, a fetched record,
an acknowledged output, a commit) marks it up again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from consumer.ops.metrics import ScorerMetrics

# librdkafka error names that mean no broker is reachable right now.
UNREACHABLE = frozenset({"_ALL_BROKERS_DOWN", "_TRANSPORT", "_RESOLVE"})


class Readiness:
    def __init__(
        self,
        metrics: ScorerMetrics,
        broker_down_after: float,
        unassigned_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._broker_down_after = broker_down_after
        self._unassigned_after = unassigned_after
        self._clock = clock
        self._lock = threading.Lock()  # callbacks run on the loop thread, checks on HTTP threads
        self._joined = False
        self._held_partitions = False  # held some since the last time it was given any
        self._assigned = 0
        self._unassigned_since: float | None = None
        self._down_since: float | None = None
        # Computed at scrape time, so /metrics and /readyz never disagree.
        metrics.ready.set_function(lambda: 1.0 if self.check()[0] else 0.0)
        metrics.kafka_reachable.set_function(lambda: 0.0 if self._down_since else 1.0)

    # -- what the consumer group says --------------------------------------------------
    def assigned(self, count: int) -> None:
        with self._lock:
            self._joined = True
            self._assigned = count
            if count:
                self._held_partitions = True
                self._unassigned_since = None
            elif self._held_partitions and self._unassigned_since is None:
                self._unassigned_since = self._clock()
            self._down_since = None  # a rebalance needs the coordinator: it answered

    # -- what librdkafka says about brokers --------------------------------------------
    def broker_error(self, name: str) -> None:
        if name in UNREACHABLE:
            with self._lock:
                if self._down_since is None:
                    self._down_since = self._clock()

    def broker_answered(self) -> None:
        if self._down_since is not None:
            with self._lock:
                self._down_since = None

    def on_stats(self, stats: dict[str, Any]) -> None:
        """librdkafka statistics: a broker in state UP means the cluster answers."""
        brokers = stats.get("brokers", {}).values()
        if any(b.get("state") == "UP" for b in brokers):
            self.broker_answered()
        elif brokers:
            self.broker_error("_ALL_BROKERS_DOWN")

    # -- the verdict -------------------------------------------------------------------
    def check(self) -> tuple[bool, str]:
        now = self._clock()
        with self._lock:
            if not self._joined:
                return False, "model loaded; waiting to join the consumer group"
            if self._down_since is not None and now - self._down_since > self._broker_down_after:
                return False, f"no Kafka broker has answered for {now - self._down_since:.0f}s"
            if (
                self._unassigned_since is not None
                and now - self._unassigned_since > self._unassigned_after
            ):
                return (
                    False,
                    f"no partitions assigned for {now - self._unassigned_since:.0f}s "
                    "after holding some",
                )
            if self._assigned == 0:
                return True, "ok (standby: the group gave this replica no partitions)"
            return True, "ok"
