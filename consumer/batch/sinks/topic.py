"""A Kafka topic as batch output: a reliable writer (acks=all, every record delivered or
the run fails)."""

from __future__ import annotations

from typing import Any

from consumer.kafka.topics import TopicWriter
from consumer.scoring.records import Headers


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
        self._writer.close()

    def abort(self) -> None:
        self._writer.abandon()
