"""`fraud-consumer batch`: score stored data with the streaming scorer's own core.

Two ways through, by output. A Parquet dataset (``--output DIR``): Avro or Parquet files
split into shards, scored on every core (or on Ray), written as part files with a
manifest, committed by rename (``dataset_run``). An Avro file or a topic: Avro files or
a topic range scored in one process (``record_run``). Either way: the same features,
model and reason codes as the stream, a summary, and on request an HTML report and a
node_exporter textfile.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from consumer.batch.options import (
    BATCH_OPTIONS,
    check,
    check_dataset_flags,
    output_format,
    parse_time,
)
from consumer.config import add_kafka_passthrough, add_options, kafka_settings, resolve


def add_batch_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "batch",
        help="score Avro or Parquet files, or a topic range, offline with the streaming core",
        description="Score stored Transactions with the same features, model and reason codes "
        "as the streaming scorer. Exit 0 on success, 2 with one line for bad input or flags, "
        "1 with one line for a failure mid-run.",
    )
    add_options(p, BATCH_OPTIONS)
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish a failed Parquet dataset run: skip the shards its manifest lists as done",
    )
    add_kafka_passthrough(p)
    p.set_defaults(handler=batch_command)


def batch_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    v = resolve(ns, BATCH_OPTIONS, environ)
    check(v)
    dataset = output_format(v) == "parquet"
    check_dataset_flags(v, dataset, ns.resume)
    as_of: str | int = "event_time" if v["as_of"] == "event-time" else parse_time(v["as_of"])
    if dataset:
        from consumer.batch.dataset_run import run_dataset_command

        return run_dataset_command(v, as_of, ns.resume)
    from consumer.batch.record_run import run_records

    return run_records(v, kafka_settings(ns, environ), as_of)
