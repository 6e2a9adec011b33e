"""`fraud-consumer run`: wire settings, model, Kafka clients, metrics and the loop."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer

from consumer import logs
from consumer.codec import Codec, PlainAvroCodec
from consumer.config import (
    RELIABLE_PRODUCER,
    KafkaSettings,
    Option,
    add_kafka_passthrough,
    add_options,
    kafka_settings,
    masked,
    non_negative_int,
    nonempty,
    port,
    positive_float,
    positive_int,
    resolve,
)
from consumer.errors import ConfigError
from consumer.lag import LagTracker
from consumer.loop import MODES, LoopSettings, ScoringLoop, commit_callback
from consumer.metrics import ScorerMetrics
from consumer.model import load_model
from consumer.pipeline import ScoringPipeline
from consumer.registry import RegistryCodec, RegistryUnavailable, registry_client
from consumer.server import OpsServer
from consumer.topics import KAFKA_LOG, check_topics

log = logging.getLogger(__name__)

DEFAULT_INPUT, DEFAULT_OUTPUT, DEFAULT_DLQ = (
    "payments.transactions",
    "payments.fraud-scores",
    "payments.transactions.dlq",
)
STUCK_AFTER_SECONDS = 120.0
REGISTRY_ENV = {
    "FRAUD_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "basic.auth.user.info",
    "FRAUD_SCHEMA_REGISTRY_SSL_CA_LOCATION": "ssl.ca.location",
}


def default_model_path() -> Path:
    """``./models`` when it exists, else the ``models/`` beside this package (a checkout)."""
    here = Path("models")
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "models"


TOPIC_OPTIONS = (
    Option("--input-topic", nonempty, DEFAULT_INPUT, "topic of Transaction events"),
    Option("--output-topic", nonempty, DEFAULT_OUTPUT, "topic for FraudScore records"),
    Option("--dlq-topic", nonempty, DEFAULT_DLQ, "dead-letter topic"),
)
RUN_OPTIONS = (
    Option("--group-id", nonempty, "fraud-consumer", "consumer group id"),
    Option(
        "--model",
        Path,
        None,
        "model file, card, or directory (newest version); unset: "
        "./models, else the checkout's models/",
        metavar="PATH",
    ),
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
    Option(
        "--reason-codes", non_negative_int, 3, "reason codes per REVIEW/DECLINE score (0: none)"
    ),
    Option(
        "--inference-threads",
        non_negative_int,
        0,
        "LightGBM threads for large batches (0: all cores)",
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
    Option("--metrics-address", nonempty, "0.0.0.0", "address for /metrics /healthz /readyz"),  # noqa: S104
    Option("--metrics-port", port, 9108, "port for /metrics /healthz /readyz (0: off)"),
    Option("--log-level", str.upper, "INFO", "log level", choices=logs.LEVELS),
    Option("--log-format", str, "text", "log line format", choices=logs.FORMATS),
)


def add_run_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="score the input topic as a consumer group member",
        description="Join the consumer group and score Transactions until SIGTERM/SIGINT.",
    )
    add_kafka_passthrough(p)
    add_options(p, TOPIC_OPTIONS)
    add_options(p, RUN_OPTIONS)
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective configuration (secrets masked) and exit",
    )
    p.set_defaults(handler=run_command)


@dataclass(frozen=True)
class RunSettings:
    kafka: KafkaSettings
    input_topic: str
    output_topic: str
    dlq_topic: str
    group_id: str
    model: Path
    mode: str
    max_batch: int
    max_wait_ms: int
    exit_when_idle: float | None
    reason_codes: int
    inference_threads: int
    flush_timeout: float
    metrics_address: str
    metrics_port: int
    schema_registry_url: str | None
    log_level: str
    log_format: str
    registry_config: dict[str, str]

    @classmethod
    def from_args(cls, ns: argparse.Namespace, environ: Mapping[str, str]) -> RunSettings:
        values = resolve(ns, TOPIC_OPTIONS + RUN_OPTIONS, environ)
        values["model"] = values["model"] or default_model_path()
        registry_config = {
            key: environ[name]
            for name, key in REGISTRY_ENV.items()
            if environ.get(name) and values["schema_registry_url"]
        }
        if "basic.auth.user.info" in registry_config:
            registry_config["basic.auth.credentials.source"] = "USER_INFO"
        return cls(kafka=kafka_settings(ns, environ), registry_config=registry_config, **values)

    def consumer_config(self) -> dict[str, Any]:
        return self.kafka.consumer_config(
            {
                "group.id": self.group_id,
                "client.id": f"fraud-consumer-{socket.gethostname()}",
                "enable.auto.offset.store": False,  # stored only once outputs are acknowledged
                "enable.auto.commit": True,  # commits what was stored, every interval
                "auto.commit.interval.ms": 1000,
                "enable.partition.eof": True,  # for --exit-when-idle
                "auto.offset.reset": "earliest",  # a new group scores from the start: no loss
                "fetch.wait.max.ms": 100,
                "statistics.interval.ms": 5000,  # lag metrics, from fetch high watermarks
            }
        )

    def producer_config(self) -> dict[str, Any]:
        return self.kafka.producer_config(
            {
                **RELIABLE_PRODUCER,
                "client.id": f"fraud-consumer-{socket.gethostname()}",
                "linger.ms": 5,
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


def make_codec(settings: RunSettings) -> Codec:
    """Plain Avro, or the Schema Registry wire format when a registry URL is set."""
    if not settings.schema_registry_url:
        return PlainAvroCodec()
    codec = RegistryCodec(
        registry_client(settings.schema_registry_url, settings.registry_config),
        f"{settings.output_topic}-value",
    )
    try:
        schema_id = codec.register_output_schema()
    except RegistryUnavailable as exc:
        raise ConfigError(str(exc)) from None
    log.info("schema registry %s: FraudScore schema id %d", settings.schema_registry_url, schema_id)
    return codec


def run_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = RunSettings.from_args(ns, environ)
    if ns.print_config:
        print(json.dumps(settings.printable(), indent=2, sort_keys=True, default=str))
        return 0
    logs.configure(settings.log_level, settings.log_format)
    loop, metrics = build_scorer(settings)
    server = _start_server(settings, metrics, loop)
    _install_signal_handlers(loop)
    try:
        return loop.run()
    finally:
        if server is not None:
            server.close()


def build_scorer(
    settings: RunSettings, codec: Codec | None = None, metrics: ScorerMetrics | None = None
) -> tuple[ScoringLoop, ScorerMetrics]:
    """Model, clients, pipeline and loop, checked; raises ConfigError/ModelError with one line."""
    model = load_model(settings.model, settings.inference_threads)
    metrics = metrics or ScorerMetrics()
    metrics.model_info.labels(name=model.name, version=model.version).set(1)
    lag = LagTracker(settings.input_topic, metrics)
    try:
        consumer = Consumer(
            {
                **settings.consumer_config(),
                "stats_cb": lag.on_stats,
                "on_commit": commit_callback(metrics),
                "logger": KAFKA_LOG,
            }
        )
        producer = Producer({**settings.producer_config(), "logger": KAFKA_LOG})
    except KafkaException as exc:
        raise ConfigError(f"bad Kafka client setting: {exc.args[0].str()}") from None
    check_topics(
        settings.kafka.admin_config(),
        [settings.input_topic, settings.output_topic, settings.dlq_topic],
    )
    pipeline = ScoringPipeline(
        codec or make_codec(settings), model, reason_codes=settings.reason_codes
    )
    loop_settings = LoopSettings(
        input_topic=settings.input_topic,
        output_topic=settings.output_topic,
        dlq_topic=settings.dlq_topic,
        mode=settings.mode,
        max_batch=settings.max_batch,
        max_wait_ms=settings.max_wait_ms,
        exit_when_idle=settings.exit_when_idle,
        flush_timeout=settings.flush_timeout,
    )
    return ScoringLoop(consumer, producer, pipeline, loop_settings, metrics, lag), metrics


def _start_server(
    settings: RunSettings, metrics: ScorerMetrics, loop: ScoringLoop
) -> OpsServer | None:
    if settings.metrics_port == 0:
        return None

    def healthy() -> tuple[bool, str]:
        stalled = time.monotonic() - loop.heartbeat
        if stalled > STUCK_AFTER_SECONDS:
            return False, f"loop has not polled Kafka for {stalled:.0f}s"
        return True, "ok"

    def ready() -> tuple[bool, str]:
        if not loop.joined:
            return False, "model loaded; waiting to join the consumer group"
        return True, "ok"

    try:
        server = OpsServer(
            settings.metrics_address, settings.metrics_port, metrics.registry, healthy, ready
        )
    except OSError as exc:
        where = f"{settings.metrics_address}:{settings.metrics_port}"
        raise ConfigError(f"cannot serve metrics on {where}: {exc.strerror}") from None
    server.start()
    return server


def _install_signal_handlers(loop: ScoringLoop) -> None:
    def handle(signum: int, _frame: object) -> None:
        log.info("received %s; finishing the batch in hand", signal.Signals(signum).name)
        loop.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
