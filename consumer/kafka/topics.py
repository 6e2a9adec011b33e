"""Kafka plumbing shared by the commands: topic checks and creation, reading a whole
topic, and a reliable producer for one topic. The scorer checks topics, never creates."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from consumer.scoring.errors import ConfigError, DeliveryError
from consumer.scoring.records import Headers

log = logging.getLogger(__name__)
# librdkafka's own log lines go through Python logging, so --log-format json covers them.
KAFKA_LOG = logging.getLogger("librdkafka")


def _existing(admin: AdminClient, bootstrap: str, timeout: float) -> Mapping[str, Any]:
    """Metadata of every topic (all of them: asking for one could auto-create it)."""
    try:
        return admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise ConfigError(f"cannot reach Kafka at {bootstrap}: {exc.args[0].str()}") from None


def check_topics(admin_conf: dict[str, Any], topics: list[str], timeout: float = 15.0) -> None:
    """Fail startup with one line if Kafka is unreachable or a topic is missing."""
    conf: dict[str, Any] = {**admin_conf, "logger": KAFKA_LOG}
    existing = _existing(AdminClient(conf), admin_conf["bootstrap.servers"], timeout)
    missing = [t for t in topics if t not in existing]
    if missing:
        raise ConfigError(f"topic(s) do not exist: {', '.join(missing)} (create them first)")


def ensure_topics(
    admin_conf: dict[str, Any], partitions: Mapping[str, int], timeout: float = 30.0
) -> None:
    """Create each topic with its partition count unless it exists (broker-default replication)."""
    admin = AdminClient({**admin_conf, "logger": KAFKA_LOG})  # type: ignore[dict-item]
    existing = _existing(admin, admin_conf["bootstrap.servers"], timeout)
    wanted = [NewTopic(t, n) for t, n in partitions.items() if t not in existing]
    if not wanted:
        return
    for topic, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result()
            log.info("created topic %s (%d partitions)", topic, partitions[topic])
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ConfigError(f"cannot create topic {topic}: {exc.args[0].str()}") from None


def read_all(
    bootstrap: str, topic: str, timeout: float = 60.0, extra: dict[str, Any] | None = None
) -> list[Any]:
    """Every record of ``topic`` from the beginning to the current end, as Messages.

    Reads without a consumer group (assign, no commits) until every partition reports
    end-of-partition. Used by the demo report and the tests.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "fraud-consumer-reader",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 10,
        "logger": KAFKA_LOG,
        **(extra or {}),
    }
    consumer = Consumer(conf)
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise LookupError(f"topic does not exist: {topic}")
        partitions = sorted(meta.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        done: set[int] = set()
        out = []
        deadline = time.monotonic() + timeout
        while len(done) < len(partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"reading {topic}: partitions {set(partitions) - done} never reached their end"
                )
            for msg in consumer.consume(1000, 0.5):
                err = msg.error()
                if err is None:
                    out.append(msg)
                    done.discard(int(msg.partition() or 0))
                elif err.code() == KafkaError._PARTITION_EOF:
                    done.add(int(msg.partition() or 0))
                else:
                    raise KafkaException(err)
        return out
    finally:
        consumer.close()


class TopicWriter:
    """Produces to one topic through a producer configured by the caller (acks=all,
    idempotent: see config.RELIABLE_PRODUCER). A full local queue waits for room.

    Every record ends delivered or not: close() waits until librdkafka has settled each
    one (acknowledged, or failed after its delivery timeout) and raises DeliveryError
    saying how many were not delivered; send() raises it too, once a delivery has failed
    (the rest would fail alike), after settling what is in flight. ``total`` is how many
    records the caller meant to send, so the count includes those never sent.
    """

    def __init__(self, conf: dict[str, Any], topic: str, total: int | None = None) -> None:
        self.topic = topic
        self.total = total
        timeout_ms = conf.get("delivery.timeout.ms", conf.get("message.timeout.ms", 300_000))
        self.delivery_timeout = float(timeout_ms) / 1000
        try:
            self._producer = Producer({**conf, "logger": KAFKA_LOG})
        except KafkaException as exc:
            raise ConfigError(f"bad Kafka client setting: {exc.args[0].str()}") from None
        self._first_error: KafkaError | None = None
        self.count = 0  # handed to the producer
        self.delivered = 0
        self.failed = 0

    def _delivered(self, err: KafkaError | None, _msg: object) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        if self._first_error is None:
            self._first_error = err

    def send(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    key=key,
                    value=value,
                    headers=headers,
                    timestamp=timestamp or 0,
                    on_delivery=self._delivered,
                )
                break
            except BufferError:
                self._producer.poll(0.1)
                if self.failed:
                    break
            except KafkaException as exc:
                self._settle()
                raise DeliveryError(self._report(f"refused locally: {exc.args[0].str()}")) from None
        if self.failed:
            self._settle()
            raise DeliveryError(self._report())
        self.count += 1
        self._producer.poll(0)

    def _settle(self) -> int:
        """Wait until every record handed over is acknowledged or has failed."""
        return int(self._producer.flush(self.delivery_timeout + 5))

    def close(self) -> None:
        """Wait for every outcome; DeliveryError if any record was not delivered."""
        self._settle()
        if self.delivered < max(self.count, self.total or 0):
            raise DeliveryError(self._report())

    def _report(self, why: str | None = None) -> str:
        total = max(self.count, self.total or 0)
        unconfirmed = self.count - self.delivered - self.failed
        parts = []
        if self.failed:
            parts.append(f"{self.failed:,} failed ({self._first_error})")
        if unconfirmed:
            parts.append(f"{unconfirmed:,} unconfirmed after {self.delivery_timeout + 5:.0f}s")
        if total > self.count:
            parts.append(f"{total - self.count:,} never sent")
        if why:
            parts.append(why)
        return (
            f"{total - self.delivered:,} of {total:,} records were not delivered to "
            f"{self.topic}: {'; '.join(parts)}"
        )

    def abandon(self) -> None:
        """Give in-flight records a moment, without raising (the run has failed anyway)."""
        self._producer.flush(10)
