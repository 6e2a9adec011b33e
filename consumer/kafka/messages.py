"""Consumed confluent-kafka Messages as the scoring core sees them."""

from __future__ import annotations

import numpy as np
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from consumer.scoring.records import RawRecord


def to_raw(msg: Message) -> RawRecord:
    """A consumed (error-free) message as a RawRecord."""
    ts_type, ts = msg.timestamp()
    headers = msg.headers()
    key, value = msg.key(), msg.value()
    return RawRecord(
        topic=str(msg.topic()),
        partition=int(msg.partition() or 0),
        offset=int(msg.offset() or 0),
        key=key.encode() if isinstance(key, str) else key,
        value=value.encode() if isinstance(value, str) else value,
        headers=list(headers.items()) if isinstance(headers, dict) else headers,
        timestamp_ms=None if ts_type == TIMESTAMP_NOT_AVAILABLE else ts,
    )


class MessageBatch:
    """Consumed messages as columns (a RecordBatch): values, keys, lineage and
    timestamps read once per message; the whole record only for a dead letter."""

    def __init__(self, messages: list[Message]) -> None:
        n = len(messages)
        self.messages = messages
        self.values: list[bytes | None] = [m.value() for m in messages]
        self.keys: list[bytes | None] = [m.key() for m in messages]
        self.topics: list[str] = [str(m.topic()) for m in messages]
        self.partitions = np.fromiter((m.partition() for m in messages), np.int32, n)
        self.offsets = np.fromiter((m.offset() for m in messages), np.int64, n)
        stamps = [m.timestamp() for m in messages]
        # 0 where the record carries no timestamp (the Kafka timestamp type says so)
        self.timestamps = np.fromiter(
            (ts if kind != TIMESTAMP_NOT_AVAILABLE else 0 for kind, ts in stamps), np.int64, n
        )

    def __len__(self) -> int:
        return len(self.messages)

    def record(self, i: int) -> RawRecord:
        return to_raw(self.messages[i])
