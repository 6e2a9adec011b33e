"""`fraud-consumer produce`: send synthetic Transactions (and, on request, malformed ones).

Valid events carry a header ``synthetic.fraud_pattern`` (``legit`` or the pattern) and
malformed ones ``synthetic.malformed`` (the kind), so demos can grade the scorer against
the truth. The scorer itself never reads these headers.
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
from consumer.scoring.errors import ConfigError
from consumer.scoring.records import Headers
from consumer.training.generator import TransactionGenerator

log = logging.getLogger(__name__)

PRODUCE_OPTIONS = (
    Option("--topic", nonempty, "payments.transactions", "topic to produce Transactions to"),
    Option("--count", non_negative_int, 10_000, "events to send (0: until stopped)"),
    Option("--rate", non_negative_int, 1000, "events per second (0: as fast as possible)"),
    Option("--seed", int, 1, "random seed; the same seed gives the same events"),
    Option("--fraud-rate", fraction, 0.01, "share of fraudulent events"),
    Option("--malformed-fraction", fraction, 0.0, "share of events replaced by malformed bytes"),
    Option("--partitions", positive_int, 6, "partitions if the topic has to be created"),
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
    if ns.to_file is not None:
        return write_file(ns.to_file, values)
    kafka = kafka_settings(ns, environ)
    ensure_topics(kafka.admin_config(), {values["topic"]: values["partitions"]})
    writer = TopicWriter(
        kafka.producer_config({**RELIABLE_PRODUCER, "linger.ms": 5}),
        values["topic"],
        total=values["count"] or None,
    )
    clock = None if ns.simulated_time else (lambda: int(time.time() * 1000))
    events = TransactionGenerator(values["seed"], fraud_rate=values["fraud_rate"], clock=clock)
    chooser = random.Random(values["seed"] + 1)  # noqa: S311 - simulation
    codec = PlainAvroCodec()
    stopper = _Stopper()

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
        if chooser.random() < values["malformed_fraction"]:
            kind = chooser.choice(faults.KINDS)
            value = faults.malformed_value(kind, tx, chooser)
            headers: Headers = [("synthetic.malformed", kind.encode())]
            malformed += 1
        else:
            value = codec.encode_transaction(tx)
            headers = [("synthetic.fraud_pattern", (event.fraud_pattern or "legit").encode())]
        writer.send(tx["card_id"].encode(), value, headers)
        if writer.count % 10_000 == 0:
            log.info("sent %d events", writer.count)
    if stopper.stopped:
        writer.total = writer.count  # stopped on purpose: what was sent is what was meant
    writer.close()  # raises DeliveryError (exit 1) saying how many were not delivered
    elapsed = time.monotonic() - started
    log.info("delivered %d events (%d malformed) in %.1fs", writer.delivered, malformed, elapsed)
    return 0


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


def write_file(path: Path, values: dict[str, Any]) -> int:
    """Synthetic Transactions to an Avro container file or a Parquet file (row groups of
    100,000 rows); the same seed gives the same bytes."""
    count = values["count"]
    if count == 0:
        raise ConfigError("--to-file needs a --count greater than 0")
    events = TransactionGenerator(values["seed"], fraud_rate=values["fraud_rate"])
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
    return 0
