"""The `batch` command's options, and the checks of how they combine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from consumer.batch.inputs import FORMATS
from consumer.batch.topic_range import Bound
from consumer.config import Option, non_negative_int, nonempty, path, positive_int
from consumer.scoring.errors import ConfigError

BATCH_OPTIONS = (
    Option(
        "--input",
        nonempty,
        None,
        "Avro or Parquet: a file, a directory (Parquet: a dataset, hive partitions included) "
        "or a glob",
        metavar="PATH",
    ),
    Option(
        "--input-format",
        str,
        "auto",
        "input file format (auto: from the file extensions)",
        choices=FORMATS,
    ),
    Option("--from-topic", nonempty, None, "read this topic instead of files", metavar="TOPIC"),
    Option(
        "--start",
        nonempty,
        None,
        "topic range start: an offset (every partition) or an ISO-8601 time",
        metavar="OFFSET|TIME",
    ),
    Option(
        "--end",
        nonempty,
        None,
        "topic range end, exclusive: an offset or an ISO-8601 time (unset: current end)",
        metavar="OFFSET|TIME",
    ),
    Option(
        "--output",
        Path,
        None,
        "write FraudScores to a Parquet dataset directory, or to an Avro file (FILE.avro)",
        metavar="DIR|FILE.avro",
    ),
    Option(
        "--output-format",
        str,
        "auto",
        "auto: Avro if --output ends in .avro, else a Parquet dataset",
        choices=FORMATS,
    ),
    Option("--to-topic", nonempty, None, "produce FraudScores to this topic", metavar="TOPIC"),
    Option(
        "--dlq-output",
        Path,
        None,
        "where dead letters go: a Parquet dataset (default OUTPUT.dead-letters/) or, with Avro "
        "output, an Avro file (default FILE.dead-letters.avro)",
        metavar="DIR|FILE",
    ),
    Option("--dlq-topic", nonempty, None, "produce dead letters to this topic", metavar="TOPIC"),
    Option(
        "--model", Path, None, "model file, card or directory (default as for run)", metavar="PATH"
    ),
    Option(
        "--compare-model",
        path,
        None,
        "score with this challenger too and report how its answers differ (decisions, "
        "score shift, by fraud pattern where the input has labels); outputs stay --model's",
        metavar="PATH",
    ),
    Option("--chunk-size", positive_int, 20_000, "records per pipeline call"),
    Option("--reason-codes", non_negative_int, 3, "reason codes per REVIEW/DECLINE score"),
    Option(
        "--as-of",
        nonempty,
        "event-time",
        "scored_at of the output: event-time (each event's own time) or an ISO-8601 time; "
        "never the clock, so re-runs give the same bytes",
        metavar="event-time|TIME",
    ),
    Option("--compression", str, "deflate", "Avro file codec", choices=("deflate", "null")),
    Option(
        "--parquet-compression",
        str,
        "zstd",
        "Parquet part file codec",
        choices=("zstd", "snappy", "gzip", "none"),
    ),
    Option(
        "--workers",
        positive_int,
        None,
        "processes (local engine) or actors (Ray) scoring shards (default: all cores)",
        metavar="N",
    ),
    Option("--engine", str, "local", "where shards run", choices=("local", "ray")),
    Option(
        "--ray-address",
        nonempty,
        None,
        "Ray cluster to run on (default: start a local Ray)",
        metavar="ADDR",
    ),
    Option("--retries", non_negative_int, 2, "attempts after the first for a failed shard"),
    Option(
        "--shard-rows",
        positive_int,
        250_000,
        "rows per shard at most, in whole Parquet row groups (a file is at least one shard)",
    ),
    Option(
        "--report",
        Path,
        None,
        "write an HTML report (score distribution, decision mix)",
        metavar="FILE.html",
    ),
    Option(
        "--metrics-textfile",
        Path,
        None,
        "write the run's figures for node_exporter's textfile collector",
        metavar="FILE.prom",
    ),
)


def parse_time(text: str) -> int:
    """ISO-8601 (a date, or a time with Z or an offset; naive means UTC) -> epoch ms."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"not an ISO-8601 time: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def parse_bound(text: str | None) -> Bound | None:
    if text is None:
        return None
    if text.isdigit():
        return Bound("offset", int(text))
    return Bound("time", parse_time(text))


def check(v: dict[str, Any]) -> None:
    if (v["input"] is None) == (v["from_topic"] is None):
        raise ConfigError("give exactly one of --input and --from-topic")
    if (v["output"] is None) == (v["to_topic"] is None):
        raise ConfigError("give exactly one of --output and --to-topic")
    if v["dlq_output"] is not None and v["dlq_topic"] is not None:
        raise ConfigError("give at most one of --dlq-output and --dlq-topic")
    if v["to_topic"] is not None and v["dlq_output"] is None and v["dlq_topic"] is None:
        raise ConfigError("with --to-topic, say where dead letters go: --dlq-topic or --dlq-output")
    if v["input"] is not None and (v["start"] or v["end"]):
        raise ConfigError("--start and --end apply to --from-topic only")
    start, end = parse_bound(v["start"]), parse_bound(v["end"])
    if start and end and start.kind != end.kind:
        raise ConfigError("--start and --end must both be offsets or both be times")
    if start and end and end.value < start.value:
        raise ConfigError("--end is before --start")
    if v["report"] is not None and v["report"].suffix.lower() not in (".html", ".htm"):
        raise ConfigError("--report writes HTML: give a .html file name")


def output_format(v: dict[str, Any]) -> str | None:
    """ "avro" or "parquet" for --output; None for --to-topic."""
    if v["output"] is None:
        return None
    if v["output_format"] != "auto":
        return str(v["output_format"])
    return "avro" if v["output"].suffix.lower() == ".avro" else "parquet"


def check_dataset_flags(v: dict[str, Any], dataset: bool, resume: bool) -> None:
    """Flags that only a Parquet dataset run can honour, and what it cannot read."""
    if dataset:
        if v["from_topic"] is not None:
            raise ConfigError(
                "a Parquet dataset is written from files (--input); score a topic range "
                "into --output FILE.avro or --to-topic"
            )
        return
    if v["workers"] not in (None, 1) or v["engine"] != "local" or resume:
        raise ConfigError(
            "--workers, --engine and --resume apply to Parquet dataset output "
            "(--output DIR): an Avro file or a topic is written by one process"
        )
