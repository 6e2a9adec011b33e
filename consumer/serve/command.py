"""`fraud-consumer serve`: check the settings and the model once, then run the workers.

Everything a worker could fail on at startup is checked here first (flags, variables,
the model, the TLS files, the token file, the port), so a bad setting stops the server
with one line instead of every worker failing in turn. Then this process becomes the
server (exec): uvicorn in a fresh interpreter, whose prometheus-client sees
PROMETHEUS_MULTIPROC_DIR from the start, with the resolved settings handed whole to every
worker (one JSON variable).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from consumer.ops import logs
from consumer.options import add_options
from consumer.scoring.errors import ConfigError
from consumer.scoring.models import Models, load_models
from consumer.serve.settings import SERVE_OPTIONS, SETTINGS_ENV, ServeSettings
from consumer.serve.tls import TlsFiles, server_context
from consumer.serve.tokens import load_tokens
from consumer.state.service_history import load_service_merchant_risk, needs_history

OWNED_METRICS_DIR = "FRAUD_SERVE_OWNS_METRICS_DIR"


def add_serve_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="serve the scoring API over HTTP (POST /v1/score)",
        description="Score one transaction or an array per request, batching concurrent "
        "requests, with the stream's validation, features, model and reason codes.",
    )
    add_options(p, SERVE_OPTIONS)
    p.add_argument(
        "--print-config", action="store_true", help="print the effective settings and exit"
    )
    p.set_defaults(handler=serve_command)


def serve_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = ServeSettings.from_args(ns, environ)
    if ns.print_config:
        print(json.dumps(settings.printable(), indent=2, sort_keys=True))
        return 0
    logs.configure(settings.log_level, settings.log_format)
    # ConfigError, ModelError: one line, exit 2, before any worker starts
    _check_security(settings)
    _check_history(settings, load_models(settings))
    _check_port(settings.host, settings.port)
    env = {**environ, SETTINGS_ENV: settings.to_json(), **_metrics_dir(environ)}
    os.execve(sys.executable, [sys.executable, "-m", "consumer.serve.main"], env)  # noqa: S606
    return 1  # not reached


def _check_security(settings: ServeSettings) -> None:
    """ConfigError, one line: a file missing or unreadable, not PEM, a key that is not the
    certificate's, an encrypted key, a token file with no usable token."""
    tls = TlsFiles.of(settings)
    if tls is not None:
        server_context(tls)
    if settings.auth_tokens_file is not None:
        load_tokens(settings.auth_tokens_file)


def _check_history(settings: ServeSettings, models: Models) -> None:
    """A model that reads card history needs the shared store and its merchant risk
    snapshot: one line if either is missing (the store's reachability is the workers'
    concern: an unreachable Redis is answered by the deadline policy, never a crash)."""
    if not needs_history(models):
        return
    if settings.redis_url is None:
        model = next(m for m in models.all() if m.feature_set.needs_history)
        raise ConfigError(
            f"model {model.name}-{model.version} reads card history: give the card-state "
            "store the stream writes with --redis-url (the API reads it)"
        )
    load_service_merchant_risk(settings)


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _metrics_dir(environ: Mapping[str, str]) -> dict[str, str]:
    """PROMETHEUS_MULTIPROC_DIR, emptied: the given one, or a new one the server removes."""
    given = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        try:
            path.mkdir(parents=True, exist_ok=True)
            for stale in path.glob("*.db"):
                stale.unlink()
        except OSError as exc:
            raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR {given}: {exc.strerror}") from None
        return {"PROMETHEUS_MULTIPROC_DIR": str(path)}
    path = Path(tempfile.mkdtemp(prefix="fraud-api-metrics-"))
    return {"PROMETHEUS_MULTIPROC_DIR": str(path), OWNED_METRICS_DIR: "1"}
