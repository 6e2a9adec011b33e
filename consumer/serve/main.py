"""The API server process (`fraud-consumer serve` execs into it): uvicorn with uvloop
and httptools, N workers sharing the port, a bounded graceful shutdown.

SIGHUP: with one worker (this process) the model reloader looks at once; with several,
uvicorn's supervisor replaces the workers one by one, each replacement loading the model
``CURRENT`` names and taking traffic before its predecessor retires; a replacement that
fails to start (a broken model) leaves the old workers serving. Either way each worker
also polls the model directory itself every --model-poll-s.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal

import uvicorn

from consumer.ops import logs
from consumer.serve.command import OWNED_METRICS_DIR
from consumer.serve.settings import ServeSettings

WORKER_STARTUP_S = 30


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
    uvicorn.run(
        "consumer.serve.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(settings.graceful_timeout)),
        # a worker is up once its model is loaded and warm: give it time before a
        # rolling restart (SIGHUP) gives up on it and keeps the old worker
        timeout_worker_healthcheck=WORKER_STARTUP_S,
        log_config=None,  # ours (logs.configure): text or JSON lines, repeats summarized
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
