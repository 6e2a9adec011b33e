"""The small subcommands: train, broker, demo (the scorer's `run` lives in app.py)."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from consumer.config import (
    Option,
    add_options,
    fraction,
    port,
    positive_float,
    positive_int,
    resolve,
)

log = logging.getLogger(__name__)

TRAIN_OPTIONS = (
    Option("--name", str, "fraud-lgbm", "model name"),
    Option("--version", str, "1.0.0", "model version (part of the file name)"),
    Option("--rows", positive_int, 500_000, "synthetic events to generate"),
    Option("--seed", int, 42, "generator seed"),
    Option("--fraud-rate", fraction, 0.01, "share of fraudulent events"),
    Option("--out", Path, Path("models"), "directory for the model file and card", metavar="DIR"),
)
BROKER_OPTIONS = (Option("--port", port, 9092, "port on 127.0.0.1 (0: any free port)"),)
DEMO_OPTIONS = (
    Option("--duration", positive_float, 60.0, "seconds of live traffic", metavar="SECONDS"),
    Option("--rate", positive_int, 800, "live events per second"),
    Option("--backlog", positive_int, 20_000, "events waiting before the scorers start"),
    Option("--malformed-fraction", fraction, 0.01, "share of malformed events"),
    Option("--scorers", positive_int, 2, "scorer processes in the consumer group"),
    Option("--partitions", positive_int, 6, "input topic partitions"),
    Option("--batch-rows", positive_int, 300_000, "rows of the batch prediction part"),
)


def add_train_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "train",
        help="train a LightGBM model on synthetic data into models/",
        description="Generate labelled synthetic traffic, train LightGBM, pick thresholds and "
        "write models/<name>-<version>.txt with its model card (.json).",
    )
    add_options(p, TRAIN_OPTIONS)
    p.add_argument("--force", action="store_true", help="overwrite an existing model version")
    p.set_defaults(handler=train_command)


def train_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from consumer.training.train import TrainingSpec, train

    v = resolve(ns, TRAIN_OPTIONS, environ)
    spec = TrainingSpec(
        name=v["name"],
        version=v["version"],
        rows=v["rows"],
        seed=v["seed"],
        fraud_rate=v["fraud_rate"],
    )
    card = train(spec, v["out"], overwrite=ns.force)
    m = card.metrics
    print(
        f"{card.name}-{card.version}: holdout ROC-AUC {m['holdout_roc_auc']:.4f}, "
        f"PR-AUC {m['holdout_pr_auc']:.4f}; thresholds review {card.thresholds.review:.4f}, "
        f"decline {card.thresholds.decline:.4f} -> {v['out']}/{card.model_file}"
    )
    return 0


def add_broker_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "broker",
        help="run the embedded Kafka-compatible broker (Tansu) on loopback",
        description="Run Tansu, an Apache Kafka-compatible broker, in memory on 127.0.0.1 "
        "until stopped. Data does not survive a restart.",
    )
    add_options(p, BROKER_OPTIONS)
    p.set_defaults(handler=broker_command)


def broker_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from consumer.devtools.broker import EmbeddedBroker

    v = resolve(ns, BROKER_OPTIONS, environ)
    broker = EmbeddedBroker(port=v["port"]).start()
    print(
        f"embedded broker on {broker.bootstrap_servers} (memory only); Ctrl-C stops it",
        flush=True,
    )

    def stop(_signum: int, _frame: object) -> None:
        # Only signal the child here: the main thread is inside Popen.wait(), whose lock
        # a waiting call from this handler would deadlock on.
        broker.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = broker.wait()
    return 0 if code in (0, -signal.SIGTERM) else code


def add_demo_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="embedded broker + scorers + producer for about a minute, then a summary",
        description="Start the embedded broker, create topics, start scorer processes and a "
        "producer with a share of malformed events, then print what happened.",
    )
    add_options(p, DEMO_OPTIONS)
    p.set_defaults(handler=demo_command)


def demo_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from consumer.devtools.demo import DemoSpec, run_demo

    return run_demo(DemoSpec(**resolve(ns, DEMO_OPTIONS, environ)))
