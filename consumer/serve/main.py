"""The API server process (`fraud-consumer serve` execs into it): uvicorn with uvloop
and httptools, N workers sharing the port, HTTPS when configured, a drain window and a
bounded graceful shutdown.

SIGHUP: with one worker (this process) the model reloader looks at once; with several,
uvicorn's supervisor replaces the workers one by one, each replacement loading the model
``CURRENT`` names and taking traffic before its predecessor retires; a replacement that
fails to start (a broken model) leaves the old workers serving. Either way each worker
also polls the model directory itself every --model-poll-s.

SIGTERM: each worker drains (drain.py), then uvicorn closes its listeners and finishes
what is in hand; with several workers the supervisor passes the signal on at once and
closes its own copy of the listening socket (supervisor.py).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from consumer.ops import logs
from consumer.serve.command import OWNED_METRICS_DIR
from consumer.serve.settings import ServeSettings
from consumer.serve.supervisor import Supervisor
from consumer.serve.tls import ContextFactory, TlsFiles

WORKER_STARTUP_S = 30


def config_of(settings: ServeSettings) -> uvicorn.Config:
    tls = TlsFiles.of(settings)
    return uvicorn.Config(
        "consumer.serve.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        ssl_context_factory=None if tls is None else ContextFactory(tls, settings.secrets_poll_s),
        timeout_graceful_shutdown=max(1, round(settings.graceful_timeout)),
        # a worker is up once its model is loaded and warm: give it time before a
        # rolling restart (SIGHUP) gives up on it and keeps the old worker
        timeout_worker_healthcheck=WORKER_STARTUP_S,
        log_config=None,  # ours (logs.configure): text or JSON lines, repeats summarized
        access_log=False,
        server_header=False,
    )


def main() -> None:
    settings = ServeSettings.from_worker_env(os.environ)
    logs.configure(settings.log_level, settings.log_format)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for
    # the handler that was there before it: this one, so a clean shutdown exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: None)
    if os.environ.get(OWNED_METRICS_DIR):
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    config = config_of(settings)
    if settings.workers > 1:
        supervisor = Supervisor(config, sockets=[config.bind_socket()])
        supervisor.run()
        failed = supervisor.startup_failed
    else:
        server = uvicorn.Server(config)
        server.run()
        failed = not server.started
    if failed:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
