"""`fraud-consumer serve` as a real server process for the API tests."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from consumer.devtools.broker import free_port
from consumer.training.generator import TransactionGenerator

T = TypeVar("T")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    tls: ssl.SSLContext | None = None  # the clients' context (the test CA, a client cert)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str, **kw: Any) -> httpx.Response:
        """GET on a new connection, over TLS when the server serves it."""
        return httpx.get(self.url + path, verify=self.tls or True, **{"timeout": 10, **kw})

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@contextlib.contextmanager
def serving(
    tmp: Path,
    *args: str,
    workers: int = 1,
    ready: bool = True,
    tls: ssl.SSLContext | None = None,
) -> Iterator[Server]:
    port = free_port()
    log = tmp / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "consumer", "serve", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers), *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": ""},
        )  # fmt: skip
    server = Server(proc, f"{'https' if tls else 'http'}://127.0.0.1:{port}", log, tls)
    try:
        if ready:
            wait_ready(server, workers)
        yield server
    finally:
        if proc.poll() is None:  # SIGTERM: uvicorn stops its workers too
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_ready(server: Server, workers: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise AssertionError(f"server exited ({server.proc.returncode}):\n{server.output()}")
        try:
            if server.get("/readyz", timeout=1).status_code == 200 and (
                workers == 1 or server.output().count("Application startup complete") >= workers
            ):
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready in {timeout}s:\n{server.output()}")
        time.sleep(0.1)


def transactions(n: int, seed: int = 3, fraud_rate: float = 0.2) -> list[dict[str, Any]]:
    """Generated Transactions as the API takes them (JSON: enums as symbols, ms times)."""
    return [e.record for e in TransactionGenerator(seed, fraud_rate=fraud_rate).take(n)]


def poll(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """The first value ``check`` returns that is not None, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(every)
