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

from tqdm import tqdm

from consumer.batch.errors import BatchError
from consumer.batch.models import BatchModels
from consumer.batch.reports.comparison import ShadowComparison
from consumer.batch.reports.labels import header_labels
from consumer.batch.reports.result import RunResult
from consumer.batch.reports.stats import BatchStats
from consumer.batch.settings import BatchSettings
from consumer.batch.sinks.avro_file import AvroFileSink, dead_letter_record
from consumer.batch.sinks.topic import TopicSink
from consumer.batch.sources.avro_files import AvroFileSource
from consumer.batch.sources.files import resolve_inputs
from consumer.batch.sources.topic_range import TopicRangeSource
from consumer.kafka.settings import RELIABLE_PRODUCER
from consumer.scoring.codec import FRAUD_SCORE_SCHEMA, PlainAvroCodec, schema_json
from consumer.scoring.deadletter import DeadLetter
from consumer.scoring.errors import ConfigError, DecodeError
from consumer.scoring.history_context import HistoryContext, MemoryCardStates
from consumer.scoring.outcomes import Outcomes
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawBatch, RawRecord, RecordBatch

log = logging.getLogger(__name__)


def avro_inputs(spec: str, asked: str) -> list[Path]:
    """The Avro files ``spec`` names; Parquet input goes to a dataset, never here."""
    inputs = resolve_inputs(spec, asked)
    if inputs.format != "avro":
        raise ConfigError(
            "Parquet input is scored into a Parquet dataset: give --output DIR (not FILE.avro)"
        )
    return [f.path for f in inputs.files]


def run_records(s: BatchSettings, models: BatchModels) -> RunResult:
    """Avro files or a topic range, scored in one process into an Avro file or a topic."""
    source: AvroFileSource | TopicRangeSource
    if s.input is not None:
        source = AvroFileSource(avro_inputs(s.input, s.input_format))
    else:
        topic = str(s.from_topic)  # BatchSettings.check: --input or --from-topic
        source = TopicRangeSource(s.kafka.consumer_config({}), topic, s.start_bound, s.end_bound)
    model = models.model
    comparison = models.comparison()
    producer_conf = s.kafka.producer_config({**RELIABLE_PRODUCER, "linger.ms": 20})
    # The container sync marker is normally random; derive it so re-runs match byte for byte.
    marker = hashlib.sha256(f"fraud-consumer:{model.card.model_sha256}".encode()).digest()[:16]
    dlq_path = s.dlq_output
    if dlq_path is None and s.dlq_topic is None and s.output is not None:
        dlq_path = s.output.with_name(s.output.stem + ".dead-letters.avro")
    sinks: list[AvroFileSink | TopicSink] = []
    try:
        out = (
            AvroFileSink(s.output, FRAUD_SCORE_SCHEMA, marker, s.compression)
            if s.output is not None
            else TopicSink(producer_conf, str(s.to_topic))
        )
        sinks.append(out)
        dlq = (
            AvroFileSink(dlq_path, schema_json("dead_letter"), marker, s.compression)
            if dlq_path is not None
            else TopicSink(producer_conf, str(s.dlq_topic))
        )
        sinks.append(dlq)
        states = MemoryCardStates()
        pipeline = ScoringPipeline(
            PlainAvroCodec(),
            models.routing,
            reason_codes=s.reason_codes,
            scored_at=s.scored_at,
            encode=s.to_topic is not None,  # a file sink writes the record itself
            history=(
                HistoryContext(states, models.merchant_risk)
                if models.merchant_risk is not None
                else None
            ),
        )
        if s.history_context is not None:
            _replay(s.history_context, s.input_format, pipeline, states, s.chunk_size)
        stats = _run(source, pipeline, (out, dlq), s.chunk_size, comparison, states)
        for sink in sinks:
            sink.commit()
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    finally:
        if isinstance(source, TopicRangeSource):
            source.close()
    where = s.output or f"topic {s.to_topic}"
    written = f"scores -> {where}; dead letters -> {dlq_path or 'topic ' + str(s.dlq_topic)}"
    return RunResult(stats, comparison, [written])


def _replay(
    spec: str, asked: str, pipeline: ScoringPipeline, states: MemoryCardStates, size: int
) -> None:
    """The history context: earlier events, in order, into card history; not scored."""
    codec = PlainAvroCodec()
    for chunk in AvroFileSource(avro_inputs(spec, asked)).chunks(size):
        block = pipeline.absorb(codec.decode_batch([r.value for r in chunk.records]))
        if block is not None:
            states.put(block.changed)


def _run(
    source: AvroFileSource | TopicRangeSource,
    pipeline: ScoringPipeline,
    sinks: tuple[AvroFileSink | TopicSink, AvroFileSink | TopicSink],
    chunk_size: int,
    comparison: ShadowComparison | None,
    states: MemoryCardStates,
) -> BatchStats:
    out, dlq = sinks
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
            batch = RawBatch(chunk.records)
            result = pipeline.process(batch)
            if result.history is not None:
                states.put(result.history.changed)
            dead = result.dead_letters + [_rejected(pipeline, r, e) for r, e in chunk.rejected]
            _write(result, batch, dead, out, dlq)
            stats.add(result, dead)
            if comparison is not None:
                _compare(comparison, result, batch)
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


def _compare(comparison: ShadowComparison, result: Outcomes, batch: RecordBatch) -> None:
    """The shadow's answers next to the model's; its failure ends the run."""
    c = result.shadow
    if c is None:
        raise BatchError(f"the shadow model failed ({result.shadow_error or 'no scores'})")
    labels = header_labels(batch, result.positions.tolist())
    comparison.add(result.score, result.decision, c.score, c.decision, labels)


def _rejected(pipeline: ScoringPipeline, record: RawRecord, error: DecodeError) -> DeadLetter:
    model = pipeline.model
    return DeadLetter.from_error(record, error, model.name, model.version, 0)


def _write(
    result: Outcomes,
    batch: RecordBatch,
    dead: list[DeadLetter],
    out: AvroFileSink | TopicSink,
    dlq: AvroFileSink | TopicSink,
) -> None:
    if isinstance(out, AvroFileSink):
        out.write(result.score_records())
    else:
        keys = [batch.record(int(i)).key for i in result.positions]
        out.write([(k, v, None, None) for k, v in zip(keys, result.values, strict=True)])
    if isinstance(dlq, AvroFileSink):
        dlq.write([dead_letter_record(d, d.source.value) for d in dead])
    else:
        dlq.write(
            [(d.source.key, d.source.value, d.headers(), d.source.timestamp_ms) for d in dead]
        )
