"""A Kafka topic as batch input: an offset or time range."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from consumer.batch.errors import BatchError
from consumer.batch.sources.chunks import Chunk
from consumer.kafka.messages import to_raw
from consumer.scoring.errors import ConfigError
from consumer.scoring.records import RawRecord


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
