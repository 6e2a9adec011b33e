"""The small subcommands: train, broker, demo, model (the scorer's `run` is in
stream/service.py, the API's `serve` in serve/command.py, `batch` in batch/job.py)."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from consumer.options import (
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
    Option(
        "--feature-set",
        str,
        "per-event",
        "per-event, or card-history-v1: card history and merchant risk (trains the "
        "per-event baseline too on the same events and prints what history adds)",
        choices=("per-event", "card-history-v1"),
    ),
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
    Option(
        "--history-rows",
        positive_int,
        150_000,
        "events of the card-history part (12,000 a simulated day; at least 10 days' worth)",
    ),
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
        feature_set=v["feature_set"],
    )
    card = train(spec, v["out"], overwrite=ns.force)
    m = card.metrics
    if "uplift_table" in m:
        print(m["uplift_table"])
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


def add_model_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "model",
        help="publish a model into a served model directory; promote or roll back",
        description="Copy a verified model into the directory `run` and `serve` read "
        "(--model DIR) and name it in CURRENT, every step atomic.",
    )
    commands = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    pub = commands.add_parser(
        "publish",
        help="copy a model (card or directory) into DIR, verified",
        description="Verify SOURCE (a card, a model file, or a directory: what it serves), "
        "copy its model file and card into --to, verify the copies; with --promote, "
        "name it in CURRENT.",
    )
    pub.add_argument("source", type=Path, metavar="SOURCE")
    pub.add_argument("--to", type=Path, required=True, metavar="DIR", help="the model directory")
    pub.add_argument("--promote", action="store_true", help="then name it in CURRENT")
    pub.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing if DIR already holds a model (seeding a new volume)",
    )
    pub.set_defaults(handler=publish_command)
    pro = commands.add_parser(
        "promote",
        help="name a card of DIR in CURRENT (a rollback names the old one)",
        description="Verify DIR/CARD, then rename a new CURRENT naming it over the old.",
    )
    pro.add_argument(
        "card", metavar="CARD", help="a card file name in DIR, e.g. fraud-lgbm-1.1.0.json"
    )
    pro.add_argument("--dir", type=Path, required=True, metavar="DIR", help="the model directory")
    pro.set_defaults(handler=promote_command)


def publish_command(ns: argparse.Namespace, _environ: Mapping[str, str]) -> int:
    from consumer.scoring.models.publishing import publish

    print(publish(ns.source, ns.to, ns.promote, ns.if_empty))
    return 0


def promote_command(ns: argparse.Namespace, _environ: Mapping[str, str]) -> int:
    from consumer.scoring.errors import ModelError
    from consumer.scoring.models.publishing import promote

    try:
        print(promote(ns.dir, ns.card))
    except ModelError as exc:
        raise ModelError(f"not promoted: {exc}") from None
    return 0
