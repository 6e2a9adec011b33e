"""`fraud-consumer batch`: score stored data with the streaming scorer's own core.

The flags become one ``BatchSettings``; ``run.py`` does the rest: Avro or Parquet files
or a topic range in, a Parquet dataset, an Avro file or a topic out, the same features,
model and reason codes as the stream, a summary, and on request an HTML report and a
node_exporter textfile.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from consumer.batch.settings import BATCH_OPTIONS, BatchSettings
from consumer.kafka.settings import add_kafka_passthrough
from consumer.options import add_options


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
    from consumer.batch.run import run_batch

    return run_batch(BatchSettings.from_args(ns, environ))
