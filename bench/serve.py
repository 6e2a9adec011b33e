"""The scoring API under load, next to the tutorial baseline, in one run.

    .venv/bin/python bench/serve.py [--seconds 10] [--concurrency 32] [--workers 2]

The load generator is wrk (Debian package `wrk`; `apt-get install wrk`): a C program,
so it spends far less of this 2-core machine than any Python client would, keeps a
fixed number of connections busy (closed loop), reports latency percentiles, and takes
a Lua script for the POST body and, for the fixed-rate run, a per-request delay.

1. `fraud-consumer serve` (--workers) and bench/serve_flask.py (a Flask app predicting
   one row per request) with single-transaction requests at --concurrency: requests/s,
   p50, p99, and the ratio;
2. the API with arrays of 100 transactions: transactions/s, next to the in-process
   pipeline's records/s on batches of 100 measured in this run (one LightGBM thread);
3. the API with single transactions paced at half the rate measured in 1: p50, p99.
Client and servers share the machine: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consumer.devtools.broker import free_port
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.models import Models, load_model
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawBatch, RawRecord
from consumer.training.generator import TransactionGenerator

HERE = Path(__file__).resolve().parent
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY"), "r"); wrk.body = f:read("*a"); f:close()
local pause = tonumber(os.getenv("PAUSE_MS") or "0")
if pause > 0 then function delay() return pause end end
"""


def _wrk(
    url: str, body: Path, seconds: int, concurrency: int, pause_ms: float = 0
) -> dict[str, float]:
    script = body.with_suffix(".lua")
    script.write_text(LUA)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench/serve.py needs wrk: apt-get install wrk")
    out = subprocess.run(
        [wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        env={**os.environ, "BODY": str(body), "PAUSE_MS": str(pause_ms)},
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"errors under load:\n{out}")

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rate": rate, "p50": ms("50%"), "p99": ms("99%")}


def _ready(url: str, proc: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited early")
        try:
            r = httpx.get(url + path, timeout=1)
            if r.status_code in (200, 405):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not start")


def _pipeline_rate(records: list[dict[str, object]]) -> float:
    model = load_model(HERE.parent / "models", threads=1)
    codec = PlainAvroCodec()
    pipeline = ScoringPipeline(codec, Models(model))
    raw = [RawRecord("b", 0, i, None, codec.encode_transaction(r)) for i, r in enumerate(records)]
    batches = [RawBatch(raw[i : i + 100]) for i in range(0, len(raw), 100)]
    started = time.perf_counter()
    for b in batches:
        pipeline.process(b)
    return len(raw) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fraud-bench-serve-"))
    events = [e.record for e in TransactionGenerator(5, fraud_rate=0.02).take(20_000)]
    one, hundred = work / "one.json", work / "hundred.json"
    one.write_text(json.dumps(events[0]))
    hundred.write_text(json.dumps({"transactions": events[:100]}))

    api_port, flask_port = free_port(), free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "consumer", "serve", "--host", "127.0.0.1", "--port",
         str(api_port), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL, stderr=(work / "api.log").open("wb"),
    )  # fmt: skip
    flask = subprocess.Popen(
        [sys.executable, str(HERE / "serve_flask.py"), str(flask_port)],
        stdout=subprocess.DEVNULL, stderr=(work / "flask.log").open("wb"),
    )  # fmt: skip
    api_url, flask_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{flask_port}"
    try:
        _ready(api_url, api, "/readyz")
        _ready(flask_url, flask, "/predict")
        c, s = args.concurrency, args.seconds
        print(f"wrk, {c} connections, {s}s per run; API with {args.workers} workers")
        flask_single = _wrk(flask_url + "/predict", one, s, c)
        api_single = _wrk(api_url + "/v1/score", one, s, c)
        # Arrays at a quarter of the connections: 100 transactions each keep the queue
        # as full as the single requests do, inside the default 100 ms deadline.
        api_array = _wrk(api_url + "/v1/score", hundred, s, max(1, c // 4))
        half = api_single["rate"] / 2
        paced = _wrk(api_url + "/v1/score", one, s, c, pause_ms=1000 * c / half)
    finally:
        for proc in (api, flask):
            proc.terminate()
            proc.wait(30)
    in_process = _pipeline_rate(events)

    print(f"\n{'run':<52}{'req/s':>10}{'items/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    rows = [
        ("Flask tutorial app, one transaction per request", flask_single, 1),
        ("fraud-consumer serve, one transaction per request", api_single, 1),
        (f"fraud-consumer serve, arrays of 100 ({max(1, c // 4)} connections)", api_array, 100),
        (f"fraud-consumer serve, one per request, paced at {half:,.0f}/s", paced, 1),
    ]
    for label, r, n in rows:
        print(
            f"{label:<52}{r['rate']:>10,.0f}{r['rate'] * n:>10,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}"
        )
    print(f"\nsingle requests: {api_single['rate'] / flask_single['rate']:.1f}x the Flask baseline")
    print(
        f"arrays of 100: {api_array['rate'] * 100:,.0f} transactions/s = "
        f"{api_array['rate'] * 100 / in_process:.0%} of the in-process pipeline on batches of "
        f"100 ({in_process:,.0f} records/s, one thread)"
    )
    print(f"p99 at half the maximum single-request rate: {paced['p99']:.2f} ms")


if __name__ == "__main__":
    main()
