"""The demo's API part: start `fraud-consumer serve`, score one transaction and an array
with a bad item in it, then a short load at fixed concurrency (an asyncio client)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from consumer.devtools.broker import free_port
from consumer.training.generator import TransactionGenerator

JSON = {"content-type": "application/json"}


CANARY_PERCENT = 20


def _start(workdir: Path, models: Path, canary: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (workdir / "api.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "consumer",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model",
            str(models),
            "--canary-model",
            str(models / canary),
            "--canary-percent",
            str(CANARY_PERCENT),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the API did not start; see {workdir / 'api.log'}")


async def _load(
    url: str, bodies: list[bytes], concurrency: int
) -> tuple[float, list[float], Counter[str]]:
    """``concurrency`` keep-alive HTTP/1.1 connections, each sending its next request as
    soon as the last is answered. Plain asyncio streams: a general HTTP client would
    spend more of this shared machine's CPU than the server does."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    versions: Counter[str] = Counter()
    queue = list(reversed(bodies))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                writer.write(
                    b"POST /v1/score HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                versions[answer.split(b'"model_version":"', 1)[1].split(b'"', 1)[0].decode()] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, versions


def run_api_demo(
    workdir: Path,
    say: Any,
    models: Path,
    canary: str,
    requests: int = 5000,
    concurrency: int = 16,
) -> bool:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per request
    proc, url = _start(workdir, models, canary)
    try:
        say(
            f"- scoring API on {url} (fraud-consumer serve), {canary} deciding for "
            f"{CANARY_PERCENT}% of cards (a canary)"
        )
        labelled = TransactionGenerator(77, fraud_rate=0.3).take(requests + 3)
        events = [e.record for e in labelled]
        fraud = next(e.record for e in labelled if e.fraud_pattern == "account_takeover")
        r = httpx.post(url + "/v1/score", content=json.dumps(fraud), headers=JSON)
        say(f"  POST /v1/score one transaction -> {r.status_code} {r.text}")
        bad = {**events[2], "amount_minor": -100}
        array = {"transactions": [events[1], bad]}
        r = httpx.post(url + "/v1/score", content=json.dumps(array), headers=JSON)
        say(f"  POST /v1/score an array, the second breaking a rule -> {r.status_code}")
        for result in r.json()["results"]:
            say(f"    {json.dumps(result)}")
        bodies = [json.dumps(e).encode() for e in events[3:]]
        seconds, latencies, versions = asyncio.run(_load(url, bodies, concurrency))
        p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
        say(
            f"  load: {len(bodies):,} single-transaction requests, {concurrency} at a time: "
            f"{len(bodies) / seconds:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            "(client and server share this machine)"
        )
        say(
            "  decided by: "
            + ", ".join(
                f"{v} {n:,} ({100 * n / len(bodies):.1f}%)" for v, n in sorted(versions.items())
            )
        )
        return True
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
