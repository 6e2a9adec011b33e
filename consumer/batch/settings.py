"""The `batch` command's settings: its options, resolved once into ``BatchSettings``,
and the checks of how they combine."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from consumer.batch.sources.files import FORMATS
from consumer.batch.sources.topic_range import Bound
from consumer.kafka.settings import KafkaSettings, kafka_settings
from consumer.options import (
    LOG_OPTIONS,
    MODEL_OPTION,
    REASON_CODES_OPTION,
    SHADOW_OPTION,
    Option,
    non_negative_int,
    nonempty,
    path,
    positive_int,
    resolve,
)
from consumer.scoring.errors import ConfigError
from consumer.scoring.models import default_model_path
from consumer.scoring.outcomes import ScoredAt

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
    MODEL_OPTION,
    Option(
        SHADOW_OPTION.flag,
        SHADOW_OPTION.type,
        None,
        "score with this shadow model too and report how its answers differ (decisions, "
        "score shift, by fraud pattern where the input has labels); outputs stay --model's",
        metavar="PATH",
        aliases=("--compare-model",),
    ),
    Option(
        "--history-context",
        nonempty,
        None,
        "for a model that reads card history: the events before --input (same formats), "
        "replayed in order into card history first and not scored",
        metavar="PATH",
    ),
    Option(
        "--merchant-risk",
        path,
        None,
        "for a model that reads card history: the merchant risk snapshot (a card or a "
        "directory; default: merchant-risk/ beside the model's card)",
        metavar="PATH",
    ),
    Option("--chunk-size", positive_int, 20_000, "records per pipeline call"),
    REASON_CODES_OPTION,
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
    *LOG_OPTIONS,
)


@dataclass(frozen=True)
class BatchSettings:
    kafka: KafkaSettings
    resume: bool
    input: str | None
    input_format: str
    from_topic: str | None
    start: str | None
    end: str | None
    output: Path | None
    output_format: str
    to_topic: str | None
    dlq_output: Path | None
    dlq_topic: str | None
    model: Path
    shadow_model: Path | None
    history_context: str | None
    merchant_risk: Path | None
    chunk_size: int
    reason_codes: int
    as_of: str
    compression: str
    parquet_compression: str
    workers: int | None
    engine: str
    ray_address: str | None
    retries: int
    shard_rows: int
    report: Path | None
    metrics_textfile: Path | None
    log_level: str
    log_format: str

    @classmethod
    def from_args(cls, ns: argparse.Namespace, environ: Mapping[str, str]) -> BatchSettings:
        values = resolve(ns, BATCH_OPTIONS, environ)
        values["model"] = values["model"] or default_model_path()
        resume = bool(getattr(ns, "resume", False))
        s = cls(kafka=kafka_settings(ns, environ), resume=resume, **values)
        s.check()
        return s

    @property
    def dataset(self) -> bool:
        """Scores go to a Parquet dataset (sharded, every core or Ray), not a file or topic."""
        return self.written_format == "parquet"

    @property
    def written_format(self) -> str | None:
        """ "avro" or "parquet" for --output; None for --to-topic."""
        if self.output is None:
            return None
        if self.output_format != "auto":
            return self.output_format
        return "avro" if self.output.suffix.lower() == ".avro" else "parquet"

    @property
    def scored_at(self) -> ScoredAt:
        """Each event's own time, or one fixed time: never the clock (re-runs match)."""
        if self.as_of == "event-time":
            return ScoredAt("event_time")
        return ScoredAt("fixed", parse_time(self.as_of))

    @property
    def start_bound(self) -> Bound | None:
        return parse_bound(self.start)

    @property
    def end_bound(self) -> Bound | None:
        return parse_bound(self.end)

    def check(self) -> None:
        _check(self)
        self.scored_at  # noqa: B018 - a bad --as-of stops startup here
        if self.dataset:
            if self.from_topic is not None:
                raise ConfigError(
                    "a Parquet dataset is written from files (--input); score a topic range "
                    "into --output FILE.avro or --to-topic"
                )
        elif self.workers not in (None, 1) or self.engine != "local" or self.resume:
            raise ConfigError(
                "--workers, --engine and --resume apply to Parquet dataset output "
                "(--output DIR): an Avro file or a topic is written by one process"
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


def _check(s: BatchSettings) -> None:
    if (s.input is None) == (s.from_topic is None):
        raise ConfigError("give exactly one of --input and --from-topic")
    if (s.output is None) == (s.to_topic is None):
        raise ConfigError("give exactly one of --output and --to-topic")
    if s.dlq_output is not None and s.dlq_topic is not None:
        raise ConfigError("give at most one of --dlq-output and --dlq-topic")
    if s.to_topic is not None and s.dlq_output is None and s.dlq_topic is None:
        raise ConfigError("with --to-topic, say where dead letters go: --dlq-topic or --dlq-output")
    if s.input is not None and (s.start or s.end):
        raise ConfigError("--start and --end apply to --from-topic only")
    start, end = parse_bound(s.start), parse_bound(s.end)
    if start and end and start.kind != end.kind:
        raise ConfigError("--start and --end must both be offsets or both be times")
    if start and end and end.value < start.value:
        raise ConfigError("--end is before --start")
    if s.report is not None and s.report.suffix.lower() not in (".html", ".htm"):
        raise ConfigError("--report writes HTML: give a .html file name")
