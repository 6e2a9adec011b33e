"""Settings of `fraud-consumer serve`: its flags and FRAUD_* variables.

The command resolves them once (flag, else variable, else default), checks them, and
hands them whole to the worker processes (as JSON in one variable), so all workers of
one server run with the same settings and a bad one stops startup once, with one line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumer.options import (
    HISTORY_OPTIONS,
    LIFECYCLE_OPTIONS,
    LOG_OPTIONS,
    MODEL_OPTION,
    REASON_CODES_OPTION,
    Option,
    check_canary,
    from_json,
    inference_threads_option,
    non_negative_int,
    nonempty,
    path,
    port,
    positive_float,
    positive_int,
    printable,
    resolve,
    to_json,
)
from consumer.scoring.errors import ConfigError
from consumer.scoring.models import default_model_path

SETTINGS_ENV = "FRAUD_SERVE_SETTINGS"  # the resolved settings, as JSON, for the workers

POLICIES = ("error", "approve", "review", "decline")


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more, got {text}")
    return value


def on_off(text: str) -> bool:
    value = text.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


SECURITY_OPTIONS = (
    Option("--tls-cert", path, None, "serve HTTPS with this PEM certificate chain", metavar="FILE"),
    Option("--tls-key", path, None, "its PEM private key (unencrypted)", metavar="FILE"),
    Option(
        "--tls-client-ca",
        path,
        None,
        "require client certificates signed by this PEM CA bundle (mutual TLS)",
        metavar="FILE",
    ),
    Option(
        "--auth-tokens-file",
        path,
        None,
        "require Authorization: Bearer with a token from this file (one a line, # comments)",
        metavar="FILE",
    ),
    Option("--metrics-auth", on_off, False, "/metrics needs a token too", metavar="on|off"),
    Option(
        "--secrets-poll-s",
        positive_float,
        5.0,
        "look for changed TLS and token files this often (new ones apply without a restart)",
        metavar="SECONDS",
    ),
)
SERVE_OPTIONS = (
    Option("--host", nonempty, "0.0.0.0", "address to listen on"),  # noqa: S104
    Option("--port", port, 8080, "port for /v1/score, /healthz, /readyz and /metrics"),
    MODEL_OPTION,
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
    REASON_CODES_OPTION,
    inference_threads_option(
        1, "LightGBM threads per worker for batches of 64 or more (0: all cores)"
    ),
    Option(
        "--drain-s",
        non_negative_float,
        2.0,
        "on SIGTERM, seconds to keep answering (with /readyz 503 and Connection: close) "
        "before the listeners close (0: close them at once)",
        metavar="SECONDS",
    ),
    Option(
        "--graceful-timeout",
        positive_float,
        10.0,
        "once the listeners are closed, seconds to finish the requests in hand",
        metavar="SECONDS",
    ),
    *SECURITY_OPTIONS,
    *HISTORY_OPTIONS,
    *LOG_OPTIONS,
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
    drain_s: float
    graceful_timeout: float
    tls_cert: Path | None
    tls_key: Path | None
    tls_client_ca: Path | None
    auth_tokens_file: Path | None
    metrics_auth: bool
    secrets_poll_s: float
    redis_url: str | None
    redis_prefix: str
    redis_timeout_ms: int
    merchant_risk: Path | None
    merchant_risk_poll_s: float
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
        check_canary(values["canary_model"], values["canary_percent"])
        check_security(values)
        return cls(**values)

    @classmethod
    def from_worker_env(cls, environ: Mapping[str, str]) -> ServeSettings:
        """In a worker: what the command resolved (defaults if started on its own)."""
        text = environ.get(SETTINGS_ENV)
        return cls.from_args(argparse.Namespace(), environ) if text is None else cls.from_json(text)

    def to_json(self) -> str:
        return to_json(self)

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        return from_json(cls, text)

    def printable(self) -> dict[str, Any]:
        return printable(self)


def check_security(values: Mapping[str, Any]) -> None:
    """One line for TLS or token settings that cannot work together (the files themselves
    are checked by the command, before any worker starts)."""
    if (values["tls_cert"] is None) != (values["tls_key"] is None):
        raise ConfigError("give --tls-cert and --tls-key together")
    if values["tls_client_ca"] is not None and values["tls_cert"] is None:
        raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)")
    if values["metrics_auth"] and values["auth_tokens_file"] is None:
        raise ConfigError("--metrics-auth on needs --auth-tokens-file")
