"""Metrics of the stream's card-history state: its size, rebuilds, read and write
latency, how far behind history is, and events that break the keyed-by-card contract.

Labels are bounded: the store (memory, rocksdb, redis), a rebuild reason, and partition
(which grows with the deployment, as the lag metrics' does). Never a card id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
REBUILD_REASONS = ("missing", "behind", "offsets_reset")


class StateMetrics:
    def __init__(self, registry: CollectorRegistry, store: str) -> None:
        r = registry
        self.info = Gauge(
            "fraud_state_store_info", "The card-state store in use (value 1).", ["store"],
            registry=r,
        )  # fmt: skip
        self.info.labels(store=store).set(1)
        self.cards = Gauge(
            "fraud_state_cards",
            "Cards whose history the assigned partitions' stores hold (an estimate for "
            "RocksDB; every card for Redis, which all partitions share).",
            registry=r,
        )
        self.bytes = Gauge(
            "fraud_state_bytes", "Bytes the card-state store takes (disk and memory).", registry=r
        )
        self.rebuilds = Counter(
            "fraud_state_rebuilds",
            "Partition state rebuilt from the input topic, by why.",
            ["reason"],
            registry=r,
        )
        self.rebuild_events = Counter(
            "fraud_state_rebuild_events",
            "Input events replayed into card history by rebuilds.",
            registry=r,
        )
        self.rebuild_seconds = Counter(
            "fraud_state_rebuild_seconds", "Time spent rebuilding partition state.", registry=r
        )
        self.truncated = Counter(
            "fraud_state_history_truncated",
            "Rebuilds that could not start where history needed them to: the input topic "
            "no longer holds those events (retention), so some card history is missing.",
            registry=r,
        )
        self.read_seconds = Histogram(
            "fraud_state_read_seconds",
            "Time to read a batch's card states (and replays) from the store.",
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.write_seconds = Histogram(
            "fraud_state_write_seconds",
            "Time of one atomic state write (card states, applied offset, replays).",
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.newest_event = Gauge(
            "fraud_history_newest_event_timestamp_seconds",
            "Event time of the newest event applied to card history, per input partition "
            "(how stale history is: compare with time()).",
            ["partition"],
            registry=r,
        )
        self.key_not_card = Counter(
            "fraud_events_key_not_card",
            "Events whose record key is not their card id: the input topic must be keyed "
            "by card, or a card's history is split across partitions.",
            registry=r,
        )
        self.replayed = Counter(
            "fraud_history_replayed_events",
            "Redelivered events scored with the history features of their first scoring.",
            registry=r,
        )
        for reason in REBUILD_REASONS:
            self.rebuilds.labels(reason=reason)
