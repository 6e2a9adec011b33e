"""SIGTERM on the API, with one worker and with two: /readyz answers 503 at once, the
worker answers on through the drain window (each answer with Connection: close), then new
connections are refused; the requests in flight are answered; the server exits 0. And a
worker that cannot start stops the server with exit 3, however many workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.serve.server import Server, poll, serving, transactions

pytestmark = pytest.mark.integration
JSON = {"content-type": "application/json"}
WINDOW = 1.0  # --drain-s
AT_ONCE = 0.3  # readiness fails within this of SIGTERM
SLACK = 0.5  # the listeners close within this after the window (a 0.1 s tick, a busy machine)


def _readyz(s: Server) -> tuple[str, bool]:
    """/readyz on a new connection: the status, or refused/reset; and Connection: close."""
    try:
        r = s.get("/readyz", timeout=2)
    except httpx.ConnectError:
        return "refused", False
    except httpx.TransportError:
        return "reset", False
    return str(r.status_code), r.headers.get("connection") == "close"


def _watch(s: Server, t0: float) -> list[tuple[float, str, bool]]:
    """Every 50 ms, a new connection, until the server has exited."""
    seen = []
    while s.proc.poll() is None and time.monotonic() - t0 < 20:
        at = time.monotonic() - t0
        status, close = _readyz(s)
        seen.append((at, status, close))
        time.sleep(0.05)
    return seen


def _queued(s: Server) -> float | None:
    text = s.get("/metrics").text
    values = [float(line.split()[1]) for line in text.splitlines()
              if line.startswith("fraud_api_queued_items ")]  # fmt: skip
    return values[0] if values and values[0] >= 4 else None


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_fails_readiness_drains_then_refuses_new_connections(
    tmp_path: Path, workers: int
) -> None:
    txs = transactions(5)
    args = ("--drain-s", str(WINDOW), "--max-wait-ms", "2500", "--deadline-ms", "10000")
    with serving(tmp_path, *args, workers=workers) as s:

        async def scenario() -> tuple[
            list[httpx.Response], httpx.Response, list[tuple[float, str, bool]]
        ]:
            async with httpx.AsyncClient(base_url=s.url, headers=JSON, timeout=30) as c:
                # four requests in flight: queued, the batcher waiting 2.5 s for more
                in_flight = [asyncio.create_task(c.post("/v1/score", json=tx)) for tx in txs[:4]]
                await asyncio.to_thread(poll, lambda: _queued(s), 10, "4 transactions queued")
                t0 = time.monotonic()
                s.proc.send_signal(signal.SIGTERM)
                watch = asyncio.create_task(asyncio.to_thread(_watch, s, t0))
                await asyncio.to_thread(
                    poll, lambda: _readyz(s)[0] == "503" or None, AT_ONCE, "/readyz 503"
                )
                # a request on a new connection during the window is still answered
                async with httpx.AsyncClient(base_url=s.url, headers=JSON, timeout=30) as late:
                    during = await late.post("/v1/score", json=txs[4])
                return list(await asyncio.gather(*in_flight)), during, await watch

        answers, during, seen = asyncio.run(scenario())
        assert s.proc.wait(30) == 0, s.output()

    assert [a.status_code for a in answers] == [200] * 4
    assert during.status_code == 200 and during.headers["connection"] == "close"
    assert seen, "nothing was watched"
    in_window = [(at, status, close) for at, status, close in seen if AT_ONCE <= at < WINDOW - 0.05]
    after = [(at, status) for at, status, _ in seen if at > WINDOW + SLACK]
    assert in_window and all(status == "503" and close for _, status, close in in_window), seen
    assert all(status != "200" for at, status, _ in seen if at >= AT_ONCE), seen
    assert after and all(status in ("refused", "reset") for _, status in after), seen
    assert after[-1][1] == "refused", seen
    assert "Application shutdown complete" in s.output()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_that_cannot_start_stops_the_server_with_exit_3(
    tmp_path: Path, workers: int
) -> None:
    """The server process on its own (the command checks the model first): every worker
    fails its startup on a model that is not there."""
    metrics = tmp_path / "metrics"  # set, even empty, it is where the workers write
    metrics.mkdir()
    env = {**os.environ, "FRAUD_MODEL": str(tmp_path / "nope"), "FRAUD_WORKERS": str(workers),
           "FRAUD_HOST": "127.0.0.1", "FRAUD_PORT": "0",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics)}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "consumer.serve.main"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 3, out.stderr[-2000:]
    assert "startup failed" in out.stderr
