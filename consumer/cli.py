"""The `fraud-consumer` command line: one subcommand per job."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from consumer import __version__
from consumer.ops import logs
from consumer.options import environ
from consumer.scoring.errors import ConfigError, FraudConsumerError, ModelError

log = logging.getLogger("consumer")


def build_parser() -> argparse.ArgumentParser:
    from consumer.batch.command import add_batch_parser
    from consumer.batch.merchant_risk_job import add_merchant_risk_parser
    from consumer.commands import (
        add_broker_parser,
        add_demo_parser,
        add_model_parser,
        add_train_parser,
    )
    from consumer.devtools.dlq import add_dlq_parser
    from consumer.devtools.produce import add_produce_parser
    from consumer.serve.command import add_serve_parser
    from consumer.stream.service import add_run_parser

    parser = argparse.ArgumentParser(
        prog="fraud-consumer",
        description="Streaming fraud scoring on Kafka with LightGBM. Every option can also be "
        "set with a FRAUD_* environment variable (shown in each command's --help).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_parser(sub)
    add_serve_parser(sub)
    add_produce_parser(sub)
    add_train_parser(sub)
    add_broker_parser(sub)
    add_demo_parser(sub)
    add_batch_parser(sub)
    add_merchant_risk_parser(sub)
    add_dlq_parser(sub)
    add_model_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    logs.configure()
    try:
        code: int = ns.handler(ns, environ())
        return code
    except (ConfigError, ModelError) as exc:
        print(f"fraud-consumer: error: {exc}", file=sys.stderr)
        return 2
    except FraudConsumerError as exc:
        print(f"fraud-consumer: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
