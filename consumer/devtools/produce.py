"""`fraud-consumer produce`: send synthetic Transactions (and, on request, malformed ones).

Valid events carry a header ``synthetic.fraud_pattern`` (``legit`` or the pattern) and
malformed ones ``synthetic.malformed`` (the kind), so demos can grade the scorer against
the truth. The scorer itself never reads these headers.

Labels, on request, are records of their own (``schemas/label.avsc``): one for every
fraudulent Transaction sent intact (a malformed one is dead-lettered, never labelled),
to a topic (``--labels-topic``: keyed by card id, record timestamp = label_time, sent
right after the Transaction, not in label-time order) and/or a Parquet file
(``--labels-file``, in label-time order).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import random
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from consumer.batch.reports.labels import PATTERN_COLUMN
from consumer.batch.sinks.avro_file import AvroFileSink
from consumer.batch.sinks.tables import TRANSACTION_SCHEMA as TRANSACTION_ARROW_SCHEMA
from consumer.batch.sinks.tables import transaction_table
from consumer.devtools import faults
from consumer.kafka.settings import RELIABLE_PRODUCER, add_kafka_passthrough, kafka_settings
from consumer.kafka.topics import TopicWriter, ensure_topics
from consumer.options import (
    Option,
    add_options,
    fraction,
    non_negative_int,
    nonempty,
    positive_int,
    resolve,
)
from consumer.scoring.codec import TRANSACTION_SCHEMA, PlainAvroCodec
from consumer.scoring.errors import ConfigError, DeliveryError
from consumer.scoring.records import Headers
from consumer.training.generator import TransactionGenerator
from consumer.training.labels import LABEL_FIELDS, encode_label

log = logging.getLogger(__name__)

PRODUCE_OPTIONS = (
    Option("--topic", nonempty, "payments.transactions", "topic to produce Transactions to"),
    Option("--count", non_negative_int, 10_000, "events to send (0: until stopped)"),
    Option("--rate", non_negative_int, 1000, "events per second (0: as fast as possible)"),
    Option("--seed", int, 1, "random seed; the same seed gives the same events"),
    Option("--fraud-rate", fraction, 0.01, "share of fraudulent events"),
    Option("--malformed-fraction", fraction, 0.0, "share of events replaced by malformed bytes"),
    Option("--partitions", positive_int, 6, "partitions if the topic has to be created"),
    Option(
        "--labels-topic",
        nonempty,
        None,
        "also produce a fraud label for each fraudulent Transaction to this topic "
        "(keyed by card id, timestamped when the label arrives)",
    ),
)


def add_produce_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "produce",
        help="send synthetic card transactions to Kafka",
        description="Send synthetic, labelled Transactions keyed by card id; "
        "creates the topic if missing.",
    )
    add_kafka_passthrough(p)
    add_options(p, PRODUCE_OPTIONS)
    p.add_argument(
        "--simulated-time",
        action="store_true",
        help="use the generator's simulated clock for event_time instead of now",
    )
    p.add_argument(
        "--to-file",
        type=Path,
        metavar="FILE.avro|FILE.parquet",
        help="write an Avro container file, or a Parquet file (by the extension), instead of "
        "producing to Kafka (simulated time; malformed events are rule-breaking records, "
        "since every record in a file must fit the schema)",
    )
    p.add_argument(
        "--labels-file",
        type=Path,
        metavar="FILE.parquet",
        help="also write the fraud labels (one per fraudulent Transaction, in the order "
        "they arrive) to this Parquet file",
    )
    p.add_argument(
        "--history-patterns",
        action="store_true",
        help="add the fraud patterns only a card's or a merchant's history reveals "
        "(card-testing bursts, account takeovers, compromised merchants)",
    )
    p.set_defaults(handler=produce_command)


class _Stopper:
    def __init__(self) -> None:
        self.stopped = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, _signum: int, _frame: object) -> None:
        self.stopped = True


def produce_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    values = resolve(ns, PRODUCE_OPTIONS, environ)
    values["history_patterns"] = bool(getattr(ns, "history_patterns", False))
    labels_file: Path | None = getattr(ns, "labels_file", None)
    if ns.to_file is not None:
        if values["labels_topic"]:
            raise ConfigError("--labels-topic needs Kafka; with --to-file use --labels-file")
        return write_file(ns.to_file, values, labels_file)
    kafka = kafka_settings(ns, environ)
    labels_topic = values["labels_topic"]
    topics = {values["topic"]: values["partitions"]}
    if labels_topic:
        topics[labels_topic] = values["partitions"]
    ensure_topics(kafka.admin_config(), topics)
    producer_conf = kafka.producer_config({**RELIABLE_PRODUCER, "linger.ms": 5})
    writer = TopicWriter(producer_conf, values["topic"], total=values["count"] or None)
    labels = _LabelOutputs(
        TopicWriter(producer_conf, labels_topic) if labels_topic else None, labels_file
    )
    clock = None if ns.simulated_time else (lambda: int(time.time() * 1000))
    events = TransactionGenerator(
        values["seed"],
        fraud_rate=values["fraud_rate"],
        clock=clock,
        history_patterns=values["history_patterns"],
    )
    stopper = _Stopper()
    started = time.monotonic()
    try:
        malformed = _send_all(events, writer, labels, values, stopper)
    except BaseException:
        labels.abandon()
        raise
    if stopper.stopped:
        writer.total = writer.count  # stopped on purpose: what was sent is what was meant
    # Each raises DeliveryError (exit 1) saying how many were not delivered; all settle.
    _close_all([writer, *labels.writers])
    elapsed = time.monotonic() - started
    log.info("delivered %d events (%d malformed) in %.1fs", writer.delivered, malformed, elapsed)
    labels.finish()
    return 0


def _send_all(
    events: TransactionGenerator,
    writer: TopicWriter,
    labels: _LabelOutputs,
    values: dict[str, Any],
    stopper: _Stopper,
) -> int:
    """Send events (and their labels) at the rate asked until the count or a stop;
    returns how many were malformed."""
    chooser = random.Random(values["seed"] + 1)  # noqa: S311 - simulation
    codec = PlainAvroCodec()
    count, rate = values["count"], values["rate"]
    started = time.monotonic()
    malformed = 0
    while (count == 0 or writer.count < count) and not stopper.stopped:
        if rate:
            ahead = started + writer.count / rate - time.monotonic()
            if ahead > 0:
                time.sleep(min(ahead, 0.05))
                continue
        event = next(events)
        tx = event.record
        label = None
        if chooser.random() < values["malformed_fraction"]:
            kind = chooser.choice(faults.KINDS)
            value = faults.malformed_value(kind, tx, chooser)
            headers: Headers = [("synthetic.malformed", kind.encode())]
            malformed += 1
        else:
            value = codec.encode_transaction(tx)
            headers = [("synthetic.fraud_pattern", (event.fraud_pattern or "legit").encode())]
            label = event.label()
        writer.send(tx["card_id"].encode(), value, headers)
        if label is not None:
            labels.add(label)
        if writer.count % 10_000 == 0:
            log.info("sent %d events", writer.count)
    return malformed


class _LabelOutputs:
    """Where the labels of what was sent go: a topic (keyed by card id, timestamped at
    label_time, sent right after the Transaction) and/or a Parquet file written at the
    end."""

    def __init__(self, writer: TopicWriter | None, path: Path | None) -> None:
        self.writers = [writer] if writer is not None else []
        self._path = path
        self._kept: list[dict[str, Any]] = []

    def add(self, label: dict[str, Any]) -> None:
        if self._path is not None:
            self._kept.append(label)
        for w in self.writers:
            w.send(label["card_id"].encode(), encode_label(label), timestamp=label["label_time"])

    def abandon(self) -> None:
        for w in self.writers:
            w.abandon()

    def finish(self) -> None:
        for w in self.writers:
            log.info("delivered %d labels to %s", w.delivered, w.topic)
        if self._path is not None:
            _write_labels_file(self._path, self._kept)


def _close_all(writers: list[TopicWriter]) -> None:
    """Close every writer, then raise one DeliveryError naming what each missed."""
    failures = []
    for w in writers:
        try:
            w.close()
        except DeliveryError as exc:
            failures.append(str(exc))
    if failures:
        raise DeliveryError("; ".join(failures))


LABELS_ARROW_SCHEMA = pa.schema(
    [
        *(pa.field(n, pa.string(), nullable=False) for n in LABEL_FIELDS[:3]),
        pa.field("event_time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("label_time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("fraud_pattern", pa.string(), nullable=False),
        pa.field("is_fraud", pa.bool_(), nullable=False),
    ]
)


def _write_labels_file(path: Path, labels: list[dict[str, Any]]) -> None:
    """Labels (``schemas/label.avsc`` fields) to a Parquet file in label_time order,
    written under a temporary name and renamed."""
    rows = sorted(labels, key=lambda lab: (lab["label_time"], lab["transaction_id"]))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(pa.Table.from_pylist(rows, schema=LABELS_ARROW_SCHEMA), str(tmp))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    log.info("wrote %d labels to %s", len(rows), path)


class _ParquetFileSink:
    """A Parquet file of Transactions under a temporary name, renamed on commit(). A
    ``fraud_pattern`` column ("legit" or the pattern) labels each row for
    `batch --compare-model`; scoring ignores it."""

    SCHEMA = TRANSACTION_ARROW_SCHEMA.append(pa.field(PATTERN_COLUMN, pa.string()))

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            self._writer = pq.ParquetWriter(str(self._tmp), self.SCHEMA)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None

    def write(self, records: list[dict[str, Any]], patterns: list[str]) -> None:
        table = transaction_table(records).append_column(
            PATTERN_COLUMN, pa.array(patterns, pa.string())
        )
        self._writer.write_table(table)  # one row group per call

    def commit(self) -> None:
        self._writer.close()
        self._tmp.replace(self.path)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


def write_file(path: Path, values: dict[str, Any], labels_file: Path | None = None) -> int:
    """Synthetic Transactions to an Avro container file or a Parquet file (row groups of
    100,000 rows), and their labels to ``labels_file``; the same seed gives the same
    bytes."""
    count = values["count"]
    if count == 0:
        raise ConfigError("--to-file needs a --count greater than 0")
    events = TransactionGenerator(
        values["seed"],
        fraud_rate=values["fraud_rate"],
        history_patterns=values.get("history_patterns", False),
    )
    labels: list[dict[str, Any]] = []
    chooser = random.Random(values["seed"] + 1)  # noqa: S311 - simulation
    marker = hashlib.sha256(f"fraud-consumer-generate:{values['seed']}".encode()).digest()[:16]
    parquet = path.suffix.lower() in (".parquet", ".parq", ".pq")
    sink: AvroFileSink | _ParquetFileSink = (
        _ParquetFileSink(path)
        if parquet
        else AvroFileSink(path, TRANSACTION_SCHEMA, marker, "deflate")
    )
    step = 100_000 if parquet else 10_000
    kinds = tuple(faults.RECORD_FAULTS)
    malformed = 0
    try:
        for start in range(0, count, step):
            chunk, patterns = [], []
            for event in events.take(min(step, count - start)):
                tx = event.record
                if chooser.random() < values["malformed_fraction"]:
                    tx = faults.RECORD_FAULTS[chooser.choice(kinds)](tx, chooser)
                    malformed += 1
                elif (label := event.label()) is not None:
                    labels.append(label)
                chunk.append(tx)
                patterns.append(event.fraud_pattern or "legit")
            if isinstance(sink, _ParquetFileSink):
                sink.write(chunk, patterns)
            else:
                sink.write(chunk)
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    log.info("wrote %d transactions (%d rule-breaking) to %s", count, malformed, path)
    if labels_file is not None:
        _write_labels_file(labels_file, labels)
    return 0
