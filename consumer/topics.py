"""Create topics if they are missing (demo, producer, tests). The scorer never creates."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from consumer.errors import ConfigError

log = logging.getLogger(__name__)


def ensure_topics(
    admin_conf: dict[str, Any], partitions: Mapping[str, int], timeout: float = 30.0
) -> None:
    """Create each topic with its partition count unless it exists (broker-default replication)."""
    admin = AdminClient(admin_conf)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise ConfigError(
            f"cannot reach Kafka at {admin_conf['bootstrap.servers']}: {exc.args[0].str()}"
        ) from None
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
