"""Consumed confluent-kafka Messages as the scoring core's RawRecords."""

from __future__ import annotations

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
