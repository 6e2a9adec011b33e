"""Settings of `fraud-consumer run`: its flags, FRAUD_* variables and librdkafka configs."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import confluent_kafka

from consumer.kafka.settings import RELIABLE_PRODUCER, KafkaSettings, kafka_settings, masked
from consumer.options import (
    LIFECYCLE_OPTIONS,
    LOG_OPTIONS,
    METRICS_SERVER_OPTIONS,
    MODEL_OPTION,
    REASON_CODES_OPTION,
    Option,
    check_canary,
    inference_threads_option,
    non_negative_int,
    nonempty,
    positive_float,
    positive_int,
    resolve,
)
from consumer.scoring.errors import ConfigError
from consumer.scoring.models import default_model_path

MODES = ("single", "batch", "adaptive")

DEFAULT_INPUT, DEFAULT_OUTPUT, DEFAULT_DLQ = (
    "payments.transactions",
    "payments.fraud-scores",
    "payments.transactions.dlq",
)
# Group membership (README "Rebalances and membership"). cooperative-sticky moves only
# the partitions that change owner and lets the others be scored through a rebalance. It
# is the default unless librdkafka is older than 2.10.0, where an offset commit racing a
# rebalance could lose a cooperative member's whole assignment (librdkafka #4059, fixed by
# #4908): this scorer commits every --commit-interval-ms while it scores, so there it
# stays eager. Any strategy passes through (FRAUD_CONSUMER_PARTITION_ASSIGNMENT_STRATEGY,
# --consumer-config).
COOPERATIVE, EAGER = "cooperative-sticky", "range,roundrobin"
COOPERATIVE_COMMITS_SAFE_FROM = 0x020A0000  # librdkafka 2.10.0, as libversion() counts


def default_assignment_strategy(libversion: int | None = None) -> str:
    version = confluent_kafka.libversion()[1] if libversion is None else libversion
    return COOPERATIVE if version >= COOPERATIVE_COMMITS_SAFE_FROM else EAGER


REGISTRY_ENV = {
    "FRAUD_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "basic.auth.user.info",
    "FRAUD_SCHEMA_REGISTRY_SSL_CA_LOCATION": "ssl.ca.location",
}


TOPIC_OPTIONS = (
    Option("--input-topic", nonempty, DEFAULT_INPUT, "topic of Transaction events"),
    Option("--output-topic", nonempty, DEFAULT_OUTPUT, "topic for FraudScore records"),
    Option("--dlq-topic", nonempty, DEFAULT_DLQ, "dead-letter topic"),
)
RUN_OPTIONS = (
    Option("--group-id", nonempty, "fraud-consumer", "consumer group id"),
    Option(
        "--group-instance-id",
        nonempty,
        None,
        "static group membership: this member's stable id, unique in the group (on "
        "Kubernetes the StatefulSet pod's name); a restart within session.timeout.ms keeps "
        "its partitions without a rebalance (unset: dynamic membership)",
        metavar="ID",
    ),
    MODEL_OPTION,
    Option(
        "--mode",
        str,
        "adaptive",
        "poll one record, a batch, or whatever is buffered",
        choices=MODES,
    ),
    Option("--max-batch", positive_int, 500, "most records per pipeline call (batch, adaptive)"),
    Option("--max-wait-ms", non_negative_int, 50, "longest wait to fill a batch (batch mode)"),
    Option(
        "--exit-when-idle",
        positive_float,
        None,
        "commit and exit 0 once every assigned partition is read to its end and nothing "
        "new arrived for this many seconds",
        metavar="SECONDS",
    ),
    REASON_CODES_OPTION,
    inference_threads_option(0, "LightGBM threads for large batches (0: all cores)"),
    Option(
        "--max-in-flight",
        positive_int,
        None,
        "most records produced but not yet committed (what a crash replays); the scorer "
        "waits for commits before fetching past it (unset: 2 x --max-batch)",
        metavar="RECORDS",
    ),
    Option(
        "--commit-interval-ms",
        non_negative_int,
        100,
        "commit acknowledged offsets asynchronously at most this often (0: after every "
        "batch); bounds what a crash replays",
    ),
    Option(
        "--readiness-broker-down-s",
        positive_float,
        30.0,
        "/readyz fails once no broker has answered for this long",
        metavar="SECONDS",
    ),
    Option(
        "--readiness-unassigned-s",
        positive_float,
        60.0,
        "/readyz fails once the scorer has held no partitions for this long after holding some",
        metavar="SECONDS",
    ),
    Option(
        "--flush-timeout",
        positive_float,
        30.0,
        "seconds to wait for acknowledgements on revoke/stop",
    ),
    Option(
        "--schema-registry-url",
        nonempty,
        None,
        "read and write the Confluent wire format with this Schema Registry "
        "(credentials: FRAUD_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO); unset: plain Avro",
        metavar="URL",
    ),
    Option(
        "--shadow-topic",
        nonempty,
        None,
        "with --shadow-model: topic for the shadow's FraudScores (never the output topic)",
        metavar="TOPIC",
    ),
    *LIFECYCLE_OPTIONS,
    *METRICS_SERVER_OPTIONS,
    *LOG_OPTIONS,
)


@dataclass(frozen=True)
class RunSettings:
    kafka: KafkaSettings
    input_topic: str
    output_topic: str
    dlq_topic: str
    group_id: str
    group_instance_id: str | None
    model: Path
    mode: str
    max_batch: int
    max_wait_ms: int
    max_in_flight: int
    exit_when_idle: float | None
    reason_codes: int
    inference_threads: int
    commit_interval_ms: int
    readiness_broker_down_s: float
    readiness_unassigned_s: float
    flush_timeout: float
    metrics_address: str
    metrics_port: int
    schema_registry_url: str | None
    log_level: str
    log_format: str
    registry_config: dict[str, str]
    shadow_topic: str | None
    model_poll_s: float
    shadow_model: Path | None
    canary_model: Path | None
    canary_percent: float | None

    @classmethod
    def from_args(cls, ns: argparse.Namespace, environ: Mapping[str, str]) -> RunSettings:
        values = resolve(ns, TOPIC_OPTIONS + RUN_OPTIONS, environ)
        values["model"] = values["model"] or default_model_path()
        values["max_in_flight"] = values["max_in_flight"] or 2 * values["max_batch"]
        check_canary(values["canary_model"], values["canary_percent"])
        if (values["shadow_model"] is None) != (values["shadow_topic"] is None):
            raise ConfigError("give --shadow-model and --shadow-topic together")
        if values["shadow_topic"] in (values["output_topic"], values["dlq_topic"]):
            raise ConfigError("--shadow-topic must differ from the output and dead-letter topics")
        registry_config = {
            key: environ[name]
            for name, key in REGISTRY_ENV.items()
            if environ.get(name) and values["schema_registry_url"]
        }
        if "basic.auth.user.info" in registry_config:
            registry_config["basic.auth.credentials.source"] = "USER_INFO"
        return cls(kafka=kafka_settings(ns, environ), registry_config=registry_config, **values)

    def consumer_config(self) -> dict[str, Any]:
        membership: dict[str, Any] = {
            "partition.assignment.strategy": default_assignment_strategy()
        }
        if self.group_instance_id is not None:
            membership["group.instance.id"] = self.group_instance_id
        return self.kafka.consumer_config(
            {
                **membership,
                "group.id": self.group_id,
                "client.id": f"fraud-consumer-{socket.gethostname()}",
                "enable.auto.offset.store": False,
                "enable.auto.commit": False,  # commits are the scorer's own (stream/commits.py)
                "enable.partition.eof": True,  # for --exit-when-idle
                "auto.offset.reset": "earliest",  # a new group scores from the start: no loss
                "fetch.wait.max.ms": 100,
                "statistics.interval.ms": 5000,  # lag metrics, from fetch high watermarks
            }
        )

    def session_timeout_s(self) -> float:
        """How long the group waits for a silent member (librdkafka's default: 45 s)."""
        return float(self.consumer_config().get("session.timeout.ms", 45_000)) / 1000

    def producer_config(self) -> dict[str, Any]:
        return self.kafka.producer_config(
            {
                **RELIABLE_PRODUCER,
                "client.id": f"fraud-consumer-{socket.gethostname()}",
                # The loop hands the producer a whole batch at once: lingering only delays
                # the tail of each batch, and with it the acknowledgements commits wait for.
                "linger.ms": 1,
            }
        )

    def printable(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("kafka")
        out["model"] = str(self.model)
        out["consumer"] = masked(self.consumer_config())
        out["producer"] = masked(self.producer_config())
        out["registry_config"] = masked(self.registry_config)
        return out
