"""Batch prediction in one process, record by record at the edges: Avro container files
or a topic range in, an Avro file or a topic out, through the streaming pipeline.

Chunks keep memory flat whatever the input size; files are written atomically; re-runs
give the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from consumer.batch.avro_files import AvroFileSink, AvroFileSource
from consumer.batch.chunks import BatchError
from consumer.batch.comparison import ModelComparison
from consumer.batch.inputs import resolve_inputs
from consumer.batch.labels import header_labels
from consumer.batch.options import parse_bound
from consumer.batch.report import dead_letter_record, write_html, write_textfile
from consumer.batch.stats import BatchStats
from consumer.batch.topic_range import TopicRangeSource, TopicSink
from consumer.config import RELIABLE_PRODUCER, KafkaSettings
from consumer.scoring.codec import FRAUD_SCORE_SCHEMA, PlainAvroCodec, schema_json
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import ConfigError, DecodeError
from consumer.scoring.model import default_model_path, load_model
from consumer.scoring.pipeline import PipelineResult, ScoringPipeline
from consumer.scoring.records import RawRecord

log = logging.getLogger(__name__)


def avro_inputs(spec: str, asked: str) -> list[Path]:
    """The Avro files ``spec`` names; Parquet input goes to a dataset, never here."""
    inputs = resolve_inputs(spec, asked)
    if inputs.format != "avro":
        raise ConfigError(
            "Parquet input is scored into a Parquet dataset: give --output DIR (not FILE.avro)"
        )
    return [f.path for f in inputs.files]


def run_records(v: dict[str, Any], kafka: KafkaSettings, as_of: str | int) -> int:
    """Avro files or a topic range, scored in one process into an Avro file or a topic."""
    source: AvroFileSource | TopicRangeSource
    if v["input"] is not None:
        source = AvroFileSource(avro_inputs(v["input"], v["input_format"]))
    else:
        source = TopicRangeSource(
            kafka.consumer_config({}),
            v["from_topic"],
            parse_bound(v["start"]),
            parse_bound(v["end"]),
        )
    model = load_model(v["model"] or default_model_path())
    challenger = load_model(v["compare_model"]) if v["compare_model"] is not None else None
    comparison = (
        ModelComparison(f"{model.name}-{model.version}", f"{challenger.name}-{challenger.version}")
        if challenger is not None
        else None
    )
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
            shadow=challenger,
        )
        stats = _run(source, pipeline, out, dlq, v["chunk_size"], comparison)
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
    if comparison is not None:
        print(comparison.summary())
    where = v["output"] or f"topic {v['to_topic']}"
    print(f"scores -> {where}; dead letters -> {dlq_path or 'topic ' + str(v['dlq_topic'])}")
    if v["report"] is not None:
        title = f"Batch scores, model {model.name}-{model.version}"
        write_html(stats, v["report"], title, comparison=comparison)
    if v["metrics_textfile"] is not None:
        write_textfile(stats, v["metrics_textfile"], success=True)
    return 0


def _run(
    source: AvroFileSource | TopicRangeSource,
    pipeline: ScoringPipeline,
    out: AvroFileSink | TopicSink,
    dlq: AvroFileSink | TopicSink,
    chunk_size: int,
    comparison: ModelComparison | None = None,
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
            if comparison is not None:
                _compare(comparison, result)
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


def _compare(comparison: ModelComparison, result: PipelineResult) -> None:
    """The compared model's answers next to the model's; its failure ends the run."""
    c = result.shadow
    if c is None:
        raise BatchError(f"the compared model failed ({result.shadow_error or 'no scores'})")
    labels = header_labels(result.batch, result.rows.tolist())
    comparison.add(result.score, result.decision, c.score, c.decision, labels)


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
