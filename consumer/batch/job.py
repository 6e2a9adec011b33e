"""`fraud-consumer batch`: score stored data with the streaming scorer's own pipeline.

Reads Avro container files (a file, a directory or a glob) or a topic range, scores in
chunks (memory stays flat whatever the input size), writes FraudScores and dead letters
to files (atomically) or topics, and reports what it did.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from consumer.batch.avro_files import AvroFileSink, AvroFileSource, expand_inputs
from consumer.batch.report import BatchStats, dead_letter_record, write_html, write_textfile
from consumer.batch.topic_range import Bound, TopicRangeSource, TopicSink
from consumer.config import (
    RELIABLE_PRODUCER,
    Option,
    add_kafka_passthrough,
    add_options,
    kafka_settings,
    non_negative_int,
    nonempty,
    positive_int,
    resolve,
)
from consumer.scoring.codec import FRAUD_SCORE_SCHEMA, PlainAvroCodec, schema_json
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import ConfigError, DecodeError
from consumer.scoring.model import default_model_path, load_model
from consumer.scoring.pipeline import PipelineResult, ScoringPipeline
from consumer.scoring.records import RawRecord

log = logging.getLogger(__name__)

BATCH_OPTIONS = (
    Option(
        "--input",
        nonempty,
        None,
        "Avro container file, directory of *.avro, or glob",
        metavar="PATH",
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
    Option("--output", Path, None, "write FraudScores to this Avro file", metavar="FILE"),
    Option("--to-topic", nonempty, None, "produce FraudScores to this topic", metavar="TOPIC"),
    Option(
        "--dlq-output",
        Path,
        None,
        "write dead letters to this Avro file (default with --output: FILE.dead-letters.avro)",
        metavar="FILE",
    ),
    Option("--dlq-topic", nonempty, None, "produce dead letters to this topic", metavar="TOPIC"),
    Option(
        "--model", Path, None, "model file, card or directory (default as for run)", metavar="PATH"
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


def add_batch_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "batch",
        help="score Avro files or a topic range offline, with the streaming pipeline",
        description="Score stored Transactions with the same pipeline, features and model as "
        "the streaming scorer. Exit 0 on success, non-zero with one line on failure.",
    )
    add_options(p, BATCH_OPTIONS)
    add_kafka_passthrough(p)
    p.set_defaults(handler=batch_command)


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


def _check(v: dict[str, Any]) -> None:
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


def batch_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    v = resolve(ns, BATCH_OPTIONS, environ)
    _check(v)
    kafka = kafka_settings(ns, environ)
    as_of: str | int = "event_time" if v["as_of"] == "event-time" else parse_time(v["as_of"])
    source: AvroFileSource | TopicRangeSource
    if v["input"] is not None:
        source = AvroFileSource(expand_inputs(v["input"]))
    else:
        source = TopicRangeSource(
            kafka.consumer_config({}),
            v["from_topic"],
            parse_bound(v["start"]),
            parse_bound(v["end"]),
        )
    model = load_model(v["model"] or default_model_path())
    producer_conf = kafka.producer_config({**RELIABLE_PRODUCER, "linger.ms": 20})
    # The container sync marker is normally random; derive it so re-runs match byte for byte.
    marker = hashlib.sha256(f"fraud-consumer:{model.card.model_sha256}".encode()).digest()[:16]
    sinks: list[AvroFileSink | TopicSink] = []
    try:
        out = (
            AvroFileSink(v["output"], FRAUD_SCORE_SCHEMA, marker, v["compression"])
            if v["output"] is not None
            else TopicSink(producer_conf, v["to_topic"])
        )
        sinks.append(out)
        dlq_path = v["dlq_output"]
        if dlq_path is None and v["dlq_topic"] is None:
            dlq_path = v["output"].with_name(v["output"].stem + ".dead-letters.avro")
        dlq = (
            AvroFileSink(dlq_path, schema_json("dead_letter"), marker, v["compression"])
            if dlq_path is not None
            else TopicSink(producer_conf, v["dlq_topic"])
        )
        sinks.append(dlq)
        pipeline = ScoringPipeline(
            PlainAvroCodec(),
            model,
            reason_codes=v["reason_codes"],
            scored_at=as_of,
            encode=v["to_topic"] is not None,  # a file sink writes the record itself
        )
        stats = _run(source, pipeline, out, dlq, v["chunk_size"])
        for sink in sinks:
            sink.commit()
    except BaseException:
        for sink in sinks:
            sink.abort()
        if v["metrics_textfile"] is not None:
            write_textfile(BatchStats(), v["metrics_textfile"], success=False)
        raise
    finally:
        if isinstance(source, TopicRangeSource):
            source.close()

    print(stats.summary())
    where = v["output"] or f"topic {v['to_topic']}"
    print(f"scores -> {where}; dead letters -> {dlq_path or 'topic ' + str(v['dlq_topic'])}")
    if v["report"] is not None:
        write_html(stats, v["report"], f"Batch scores, model {model.name}-{model.version}")
    if v["metrics_textfile"] is not None:
        write_textfile(stats, v["metrics_textfile"], success=True)
    return 0


def _run(
    source: AvroFileSource | TopicRangeSource,
    pipeline: ScoringPipeline,
    out: AvroFileSink | TopicSink,
    dlq: AvroFileSink | TopicSink,
    chunk_size: int,
) -> BatchStats:
    stats = BatchStats()
    files = isinstance(source, AvroFileSource)
    bar = tqdm(
        total=source.total_bytes if isinstance(source, AvroFileSource) else None,
        unit="B" if files else " rows",
        unit_scale=True,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        desc="scoring",
    )
    with bar:
        for chunk in source.chunks(chunk_size):
            result = pipeline.process(chunk.records)
            dead = result.dead_letters + [_rejected(pipeline, r, e) for r, e in chunk.rejected]
            _write(result, dead, out, dlq)
            stats.add(result, dead)
            if isinstance(source, AvroFileSource):
                bar.update(source.bytes_done - bar.n)
            else:
                if source.total and bar.total != source.total:
                    bar.total = source.total
                bar.update(len(chunk.records))
            bar.set_postfix(rows=f"{stats.rows_read:,}", dead=stats.dead_total, refresh=False)
    stats.finished = time.monotonic()
    if stats.rows_read == 0:
        log.warning("the input held no records")
    return stats


def _rejected(pipeline: ScoringPipeline, record: RawRecord, error: DecodeError) -> DeadLetter:
    model = pipeline.model
    return DeadLetter.from_error(record, error, model.name, model.version, 0)


def _write(
    result: PipelineResult,
    dead: list[DeadLetter],
    out: AvroFileSink | TopicSink,
    dlq: AvroFileSink | TopicSink,
) -> None:
    if isinstance(out, AvroFileSink):
        out.write(result.score_records())
    else:
        keys = [result.batch.record(int(i)).key for i in result.rows]
        out.write([(k, v, None, None) for k, v in zip(keys, result.values, strict=True)])
    if isinstance(dlq, AvroFileSink):
        dlq.write([dead_letter_record(d, d.source.value) for d in dead])
    else:
        dlq.write(
            [(d.source.key, d.source.value, d.headers(), d.source.timestamp_ms) for d in dead]
        )
