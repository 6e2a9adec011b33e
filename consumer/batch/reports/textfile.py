"""A batch run's figures for node_exporter's textfile collector (what a schedule's alerts
watch: success, rows, rate, dead letters, decisions)."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from consumer.batch.reports.stats import BatchStats
from consumer.scoring.schemas import DECISIONS


def write_textfile(stats: BatchStats, path: Path, success: bool) -> None:
    """The run's figures in Prometheus text format, for node_exporter's textfile collector."""
    r = CollectorRegistry()
    Gauge("fraud_batch_success", "1 if the last batch run succeeded, else 0.", registry=r).set(
        int(success)
    )
    Gauge(
        "fraud_batch_last_run_timestamp_seconds", "When the last batch run ended.", registry=r
    ).set(time.time())
    Gauge("fraud_batch_duration_seconds", "Duration of the last batch run.", registry=r).set(
        stats.seconds
    )
    Gauge("fraud_batch_rows_read", "Rows read by the last batch run.", registry=r).set(
        stats.rows_read
    )
    Gauge("fraud_batch_rows_scored", "Rows scored by the last batch run.", registry=r).set(
        stats.scored
    )
    Gauge("fraud_batch_rows_per_second", "Throughput of the last batch run.", registry=r).set(
        stats.rows_read / stats.seconds if stats.seconds > 0 else 0
    )
    dead = Gauge(
        "fraud_batch_dead_letters",
        "Rows dead-lettered by the last batch run.",
        ["stage", "reason"],
        registry=r,
    )
    for (stage, reason), n in stats.dead.items():
        dead.labels(stage=stage, reason=reason).set(n)
    decisions = Gauge(
        "fraud_batch_decisions", "Decisions of the last batch run.", ["decision"], registry=r
    )
    for d in DECISIONS:
        decisions.labels(decision=d).set(stats.decisions[d])
    write_to_textfile(str(path), r)  # writes a temporary file and renames it
