"""Rebuilding a partition's card history by replaying the input topic.

A partition assigned with no state (a new replica, a lost volume), with state behind its
committed offset (another member scored events since), or with state that cannot serve
its redeliveries (offsets reset behind it) is rebuilt before it is scored: the input
partition is read from where history has to start up to the committed offset, without a
consumer group, and every valid event goes through the scoring core's own ``absorb``,
exactly as if it had been scored. Behind: from the state's applied offset on. Missing or
reset: from the start of the history window: the earliest offset whose time is within
7 days and a margin of now (``offsets_for_times``); a broker that cannot look up times
(the embedded one) gives the partition's first offset, which replays everything it holds.
A window start the topic no longer holds (retention) is counted and logged: some card
history is then missing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from consumer.kafka.messages import MessageBatch
from consumer.kafka.topics import KAFKA_LOG
from consumer.scoring.history import WEEK_MS

log = logging.getLogger(__name__)
WINDOW_MARGIN_MS = 24 * 3_600_000  # late events, clock skew
CHUNK = 2_000


@dataclass(frozen=True)
class Replay:
    topic: str
    partition: int
    start: int | None  # first offset to replay; None: the start of the history window
    end: int  # exclusive: the committed offset


def window_start(conf: dict[str, Any], topic: str, partition: int, now_ms: int) -> int | None:
    """The first offset within the history window of now; None when the broker cannot
    say (the rebuild then starts at the partition's first offset)."""
    consumer = Consumer({**conf, "logger": KAFKA_LOG})
    try:
        wanted = TopicPartition(topic, partition, now_ms - WEEK_MS - WINDOW_MARGIN_MS)
        found = consumer.offsets_for_times([wanted], timeout=10)[0]
        return int(found.offset) if found.offset >= 0 else None
    finally:
        consumer.close()


def low_watermark(conf: dict[str, Any], topic: str, partition: int) -> int:
    consumer = Consumer({**conf, "logger": KAFKA_LOG})
    try:
        low, _ = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        return int(low)
    finally:
        consumer.close()


def replay_batches(conf: dict[str, Any], replay: Replay, start: int) -> Iterator[MessageBatch]:
    """The partition's records from ``start`` to ``replay.end`` (exclusive), in batches."""
    if start >= replay.end:
        return
    consumer = Consumer({**conf, "enable.partition.eof": True, "logger": KAFKA_LOG})
    try:
        consumer.assign([TopicPartition(replay.topic, replay.partition, start)])
        last = start - 1
        while last < replay.end - 1:
            kept: list[Message] = []
            for msg in consumer.consume(CHUNK, 1.0):
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.warning("rebuilding %s[%d]: %s", replay.topic, replay.partition, err)
                    continue
                offset = int(msg.offset() or 0)
                if offset < replay.end:
                    kept.append(msg)
                last = max(last, offset)
            if kept:
                yield MessageBatch(kept)
            elif _at_end(consumer, replay, last):
                return
    finally:
        consumer.close()


def _at_end(consumer: Consumer, replay: Replay, last: int) -> bool:
    _, high = consumer.get_watermark_offsets(
        TopicPartition(replay.topic, replay.partition), cached=True
    )
    return high >= 0 and last >= min(replay.end, high) - 1
