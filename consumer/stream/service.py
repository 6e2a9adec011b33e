"""`fraud-consumer run`: wire settings, model, Kafka clients, metrics and the loop."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import time
from collections.abc import Mapping
from typing import Any

from consumer.kafka.schema_registry import ConfluentSchemaRegistry
from consumer.kafka.settings import add_kafka_passthrough
from consumer.kafka.topics import check_topics
from consumer.ops import logs
from consumer.ops.metrics import ScorerMetrics
from consumer.ops.server import OpsServer
from consumer.options import add_options
from consumer.scoring.codec import Codec, PlainAvroCodec
from consumer.scoring.errors import ConfigError
from consumer.scoring.models import load_models
from consumer.scoring.models.lifecycle import ModelLifecycle
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.registry_codec import RegistryCodec, RegistryUnavailable
from consumer.stream.clients import ScorerParts, make_clients
from consumer.stream.loop import ScoringLoop
from consumer.stream.settings import RUN_OPTIONS, TOPIC_OPTIONS, RunSettings

log = logging.getLogger(__name__)

STUCK_AFTER_SECONDS = 120.0


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


def make_codec(settings: RunSettings) -> Codec:
    """Plain Avro, or the Schema Registry wire format when a registry URL is set."""
    if not settings.schema_registry_url:
        return PlainAvroCodec()
    codec = RegistryCodec(
        ConfluentSchemaRegistry.connect(settings.schema_registry_url, settings.registry_config),
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
    gc.collect()
    gc.freeze()  # the model and tables live as long as the process: no full-GC walks of them
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
    threads = settings.inference_threads
    models = load_models(settings, threads)
    parts = ScorerParts.build(settings, metrics or ScorerMetrics())
    consumer, producer = make_clients(settings, parts)
    topics = [settings.input_topic, settings.output_topic, settings.dlq_topic]
    check_topics(settings.kafka.admin_config(), topics + [t for t in [settings.shadow_topic] if t])
    pipeline = ScoringPipeline(
        codec or make_codec(settings), models, reason_codes=settings.reason_codes
    )
    lifecycle = ModelLifecycle(
        pipeline,
        parts.model_metrics,
        directory=settings.model,
        poll=settings.model_poll_s,
        threads=threads,
    )
    loop = ScoringLoop(consumer, producer, pipeline, settings, parts, lifecycle)
    return loop, parts.metrics


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

    try:
        server = OpsServer(
            settings.metrics_address,
            settings.metrics_port,
            metrics.registry,
            healthy,
            loop.readiness.check,
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
