"""Settings of `fraud-consumer serve`: its flags and FRAUD_* variables.

The command resolves them once (flag, else variable, else default), then hands every
resolved value to the worker processes as FRAUD_* variables, so all workers of one
server run with the same settings and the same validation errors stop startup once.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from consumer.config import (
    LIFECYCLE_OPTIONS,
    Option,
    check_lifecycle,
    non_negative_int,
    nonempty,
    path,
    port,
    positive_float,
    positive_int,
    resolve,
)
from consumer.ops import logs
from consumer.scoring.model import default_model_path

POLICIES = ("error", "approve", "review", "decline")
SERVE_OPTIONS = (
    Option("--host", nonempty, "0.0.0.0", "address to listen on"),  # noqa: S104
    Option("--port", port, 8080, "port for /v1/score, /healthz, /readyz and /metrics"),
    Option(
        "--model",
        path,
        None,
        "model file, card, or directory (newest version); unset: ./models, else the "
        "checkout's models/",
        metavar="PATH",
    ),
    *LIFECYCLE_OPTIONS,
    Option("--workers", positive_int, None, "worker processes sharing the port (unset: all cores)"),
    Option("--max-batch", positive_int, 256, "most transactions per pipeline call"),
    Option(
        "--max-wait-ms",
        non_negative_int,
        0,
        "how long a batch may wait for more requests (0: score what is queued at once)",
    ),
    Option(
        "--max-queue",
        positive_int,
        4096,
        "transactions a worker queues before answering 429",
    ),
    Option("--deadline-ms", positive_int, 100, "answer within this long (a client may shorten it)"),
    Option(
        "--on-deadline",
        str,
        "error",
        "past the deadline: 504 (error), or 200 with this decision (fail open/closed)",
        choices=POLICIES,
    ),
    Option("--max-body-bytes", positive_int, 1_048_576, "larger request bodies get 413"),
    Option("--max-items", positive_int, 1000, "arrays with more transactions get 413"),
    Option(
        "--reason-codes", non_negative_int, 3, "reason codes per REVIEW/DECLINE score (0: none)"
    ),
    Option(
        "--inference-threads",
        non_negative_int,
        1,
        "LightGBM threads per worker for batches of 64 or more (0: all cores)",
    ),
    Option(
        "--graceful-timeout",
        positive_float,
        10.0,
        "on SIGTERM, seconds to finish requests in hand before closing connections",
        metavar="SECONDS",
    ),
    Option("--log-level", str.upper, "INFO", "log level", choices=logs.LEVELS),
    Option("--log-format", str, "text", "log line format", choices=logs.FORMATS),
)


@dataclass(frozen=True)
class ServeSettings:
    host: str
    port: int
    model: Path
    workers: int
    max_batch: int
    max_wait_ms: int
    max_queue: int
    deadline_ms: int
    on_deadline: str
    max_body_bytes: int
    max_items: int
    reason_codes: int
    inference_threads: int
    graceful_timeout: float
    log_level: str
    log_format: str
    model_poll_s: float
    shadow_model: Path | None
    canary_model: Path | None
    canary_percent: float | None

    @classmethod
    def from_args(cls, ns: argparse.Namespace, environ: Mapping[str, str]) -> ServeSettings:
        values = resolve(ns, SERVE_OPTIONS, environ)
        values["model"] = values["model"] or default_model_path()
        values["workers"] = values["workers"] or os.cpu_count() or 1
        check_lifecycle(values)
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServeSettings:
        """In a worker: what the command exported."""
        return cls.from_args(argparse.Namespace(), environ)

    def to_env(self) -> dict[str, str]:
        values: dict[str, Any] = asdict(self)
        return {
            opt.env: str(values[opt.dest]) for opt in SERVE_OPTIONS if values[opt.dest] is not None
        }

    def printable(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
