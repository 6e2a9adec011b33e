"""A real Kafka-protocol broker for integration tests.

KAFKA_BOOTSTRAP_SERVERS if set; else Apache Kafka in Docker (testcontainers) if a Docker
engine answers; else the embedded Tansu broker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from consumer.devtools.broker import EmbeddedBroker
from consumer.kafka.topics import ensure_topics

pytestmark = pytest.mark.integration


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    named = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if named:
        yield named
        return
    if _docker_engine_answers():
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # testcontainers < 4.10
            from testcontainers.kafka import KafkaContainer
        with KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def topics(bootstrap: str) -> Callable[[int], tuple[str, str, str]]:
    """Make fresh input, output and dead-letter topics (``partitions`` each) for one test."""

    def make(partitions: int = 3) -> tuple[str, str, str]:
        base = f"it-{uuid.uuid4().hex[:10]}"
        names = (f"{base}.in", f"{base}.out", f"{base}.dlq")
        ensure_topics({"bootstrap.servers": bootstrap}, dict.fromkeys(names, partitions))
        return names

    return make
