"""Where batch prediction reads from and writes to: Avro container files and Kafka topics.

Sources hand out chunks of RawRecords, so batch prediction runs the very pipeline the
streaming scorer runs. File records are re-encoded to the plain Avro bytes a Kafka value
would carry; that costs a few microseconds per record and buys one code path.
File sinks write to a temporary name and rename on success: a failed run leaves no
half-written file behind, and the same input gives the same bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fastavro
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from fastavro.read import SchemaResolutionError
from fastavro.schema import to_parsing_canonical_form
from fastavro.write import Writer

from consumer.codec import TRANSACTION_SCHEMA, PlainAvroCodec, parsed
from consumer.errors import ConfigError, FraudConsumerError
from consumer.loop import to_raw
from consumer.records import Headers, RawRecord
from consumer.topics import TopicWriter

log = logging.getLogger(__name__)


_PLAIN = PlainAvroCodec()


class BatchError(FraudConsumerError):
    """The run failed after it started (corrupt input, failed write); nothing is kept."""


def expand_inputs(spec: str) -> list[Path]:
    """A file, a directory (its *.avro files) or a glob, as a sorted list of files."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.avro") if p.is_file())
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
    if not files:
        raise ConfigError(f"input not found: {spec} (no file, directory of *.avro, or glob match)")
    return files


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def _mismatch(path: Path, exc: Exception) -> ConfigError:
    return ConfigError(f"{path}: schema mismatch, cannot read it as a Transaction: {exc}")


def _epoch_millis(tx: dict[str, Any]) -> None:
    """fastavro turns a file's timestamp-millis into datetimes; back to exact epoch ms."""
    value = tx.get("event_time")  # the Transaction's only logical-type field
    if isinstance(value, dt.datetime):
        tx["event_time"] = (value - _EPOCH) // _MS


# -- sources ----------------------------------------------------------------------------
@dataclass
class Chunk:
    """Records to score; for files also their decoded values (the RawRecord value is None
    until a dead letter needs the bytes)."""

    records: list[RawRecord]
    decoded: list[dict[str, Any]] | None = None

    def value_of(self, record: RawRecord) -> bytes | None:
        if record.value is not None or self.decoded is None:
            return record.value
        return _PLAIN.encode_transaction(self.decoded[record.offset - self.records[0].offset])


class AvroFileSource:
    """Transaction records from Avro container files, resolved to schemas/transaction.avsc."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.total_bytes = sum(f.stat().st_size for f in files)
        self.bytes_done = 0
        self._reader_schema = parsed(TRANSACTION_SCHEMA)
        self._canonical = to_parsing_canonical_form(TRANSACTION_SCHEMA)
        for f in files:  # fail before any work if a file is not what it should be
            with f.open("rb") as fo:
                try:
                    next(self._records(f, fo), None)
                except BatchError as exc:
                    raise ConfigError(str(exc)) from None

    def _records(self, path: Path, fo: IO[bytes]) -> Iterator[Any]:
        """The file's Transactions, resolved to ours; file-level problems name the file."""
        try:
            reader = fastavro.reader(fo)
            if to_parsing_canonical_form(reader.writer_schema) != self._canonical:
                # Written with another version of the schema: resolve it to ours (slower).
                fo.seek(0)
                reader = fastavro.reader(fo, reader_schema=self._reader_schema)
        except (ValueError, EOFError, OSError) as exc:
            raise ConfigError(f"{path} is not an Avro container file ({exc})") from None
        except SchemaResolutionError as exc:
            raise _mismatch(path, exc) from None
        records = iter(reader)
        offset = 0
        while True:
            try:
                tx = next(records)
            except StopIteration:
                return
            except SchemaResolutionError as exc:
                raise _mismatch(path, exc) from None
            except Exception as exc:  # a damaged block: the file, not a record, is bad
                raise BatchError(
                    f"{path} is corrupt after record {offset}: {type(exc).__name__}"
                ) from None
            if not isinstance(tx, dict):  # resolution to our record schema rules this out
                raise _mismatch(path, TypeError("its values are not records"))
            _epoch_millis(tx)
            yield tx
            offset += 1

    def chunks(self, size: int) -> Iterator[Chunk]:
        for index, path in enumerate(self.files):
            done_before = self.bytes_done
            with path.open("rb") as fo:
                decoded: list[dict[str, Any]] = []
                chunk = Chunk([], decoded)
                for offset, tx in enumerate(self._records(path, fo)):
                    card = tx.get("card_id")
                    chunk.records.append(
                        RawRecord(
                            topic=str(path),
                            partition=index,
                            offset=offset,
                            key=card.encode() if isinstance(card, str) and card else None,
                            value=None,  # encoded only if it becomes a dead letter
                        )
                    )
                    decoded.append(tx)
                    if len(chunk.records) >= size:
                        self.bytes_done = done_before + fo.tell()
                        yield chunk
                        decoded = []
                        chunk = Chunk([], decoded)
                self.bytes_done = done_before + path.stat().st_size
                if chunk.records:  # chunks never span files, so offsets stay file-relative
                    yield chunk


@dataclass(frozen=True)
class Bound:
    """A range end: an offset (same for every partition) or a timestamp in epoch ms."""

    kind: str  # "offset" | "time"
    value: int


class TopicRangeSource:
    """Records of a topic in [start, end): offsets, or timestamps as Kafka's
    offsets_for_times defines them (from the first record at or after ``start`` up to
    the first record at or after ``end``). Without ``end``: up to the current end."""

    def __init__(
        self, conf: dict[str, Any], topic: str, start: Bound | None, end: Bound | None
    ) -> None:
        self.topic = topic
        self._start, self._end = start, end
        self._consumer = Consumer(
            {
                **conf,
                "group.id": "fraud-consumer-batch",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            metadata = self._consumer.list_topics(topic, timeout=30)
        except KafkaException as exc:
            raise ConfigError(
                f"cannot reach Kafka at {conf['bootstrap.servers']}: {exc.args[0].str()}"
            ) from None
        meta = metadata.topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise ConfigError(f"topic does not exist: {topic}")
        self.partitions = sorted(meta.partitions)
        self.total: int | None = None
        self.done = 0

    def _start_positions(self) -> list[TopicPartition]:
        if self._start is None:
            return [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self.partitions]
        if self._start.kind == "offset":
            return [TopicPartition(self.topic, p, self._start.value) for p in self.partitions]
        # A hint: records before it are skipped by timestamp anyway, so a broker that
        # answers this lookup badly costs reading time, never correctness.
        asked = [TopicPartition(self.topic, p, self._start.value) for p in self.partitions]
        found = self._consumer.offsets_for_times(asked, timeout=30)
        return [
            TopicPartition(
                self.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            )
            for tp in found
        ]

    def chunks(self, size: int) -> Iterator[Chunk]:
        starts = self._start_positions()
        self._consumer.assign(starts)
        active = set(self.partitions)
        started = {p: self._start is None or self._start.kind == "offset" for p in self.partitions}
        chunk: list[RawRecord] = []
        while active:
            for msg in self._consumer.consume(min(size, 10_000), 1.0):
                err = msg.error()
                p = int(msg.partition() or 0)
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        self._finish(p, active)
                        continue
                    raise BatchError(f"reading {self.topic}[{p}]: {err}")
                if p not in active:
                    continue
                record = to_raw(msg)
                if self._past_end(record):
                    self._finish(p, active)
                    continue
                if not started[p]:
                    if self._start is not None and (record.timestamp_ms or 0) < self._start.value:
                        continue
                    started[p] = True
                chunk.append(record)
                if len(chunk) >= size:
                    self._estimate_total(starts)
                    yield Chunk(chunk)
                    chunk = []
        if chunk:
            yield Chunk(chunk)

    def _past_end(self, record: RawRecord) -> bool:
        if self._end is None:
            return False
        if self._end.kind == "offset":
            return record.offset >= self._end.value
        return (record.timestamp_ms or 0) >= self._end.value

    def _finish(self, partition: int, active: set[int]) -> None:
        if partition in active:
            active.discard(partition)
            self._consumer.pause([TopicPartition(self.topic, partition)])

    def _estimate_total(self, starts: list[TopicPartition]) -> None:
        """For the progress bar only: high watermarks seen in fetch responses."""
        total = 0
        for tp in starts:
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, tp.partition), cached=True
            )
            low = tp.offset if tp.offset >= 0 else 0
            if self._end is not None and self._end.kind == "offset":
                high = min(high, self._end.value)
            total += max(0, high - low)
        self.total = total or None

    def close(self) -> None:
        self._consumer.close()


# -- sinks ------------------------------------------------------------------------------
class AvroFileSink:
    """An Avro container file written under a temporary name and renamed on commit()."""

    def __init__(self, path: Path, schema: dict[str, Any], sync_marker: bytes, codec: str) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            self._fo = self._tmp.open("wb")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
        # The raw schema, not a parsed one: fastavro writes a parsed schema into the header
        # with its keys in hash order, which changes between processes.
        self._writer = Writer(self._fo, schema, codec=codec, sync_marker=sync_marker)
        self.count = 0

    def write(self, records: list[dict[str, Any]]) -> None:
        try:
            for r in records:
                self._writer.write(r)
        except OSError as exc:
            raise BatchError(f"writing {self.path} failed: {exc.strerror}") from None
        self.count += len(records)

    def commit(self) -> None:
        try:
            self._writer.flush()
            self._fo.flush()
            os.fsync(self._fo.fileno())
            self._fo.close()
            self._tmp.replace(self.path)
        except OSError as exc:
            self.abort()
            raise BatchError(f"writing {self.path} failed: {exc.strerror}") from None

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fo.close()
        self._tmp.unlink(missing_ok=True)


class TopicSink:
    """Batch output to a topic; commit() waits for every acknowledgement."""

    def __init__(self, conf: dict[str, Any], topic: str) -> None:
        self._writer = TopicWriter(conf, topic)

    def write(
        self, items: list[tuple[bytes | None, bytes | None, Headers | None, int | None]]
    ) -> None:
        for key, value, headers, timestamp in items:
            self._writer.send(key, value, headers, timestamp)

    def commit(self) -> None:
        self._writer.close(60)

    def abort(self) -> None:
        self._writer.abandon()
