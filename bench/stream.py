"""The scorer end to end on the embedded broker, next to a pass-through consumer and a
per-record scorer, in one run.

    .venv/bin/python bench/stream.py [--events 200000] [--partitions 6] [--low-rate-seconds 20]

1. Throughput. For each contender, on a fresh embedded broker (it slows as it fills):
   produce --events valid Transactions, start the contender as its own process, and let
   it score them all. Rate = events / (time the last output was acknowledged by the
   broker - time the first output was produced), so startup and the group join do not
   count and every contender pays for its acknowledgements. Contenders: a pass-through
   consumer (copies bytes, the ceiling), a per-record scorer (bench/stream_peers.py), and
   `fraud-consumer run` in batch and adaptive modes with its defaults (reason codes on).
2. Latency at a low rate. A producer sends 200 events/s for --low-rate-seconds to the
   pass-through consumer and to `fraud-consumer run --mode adaptive`; latency is each
   output's timestamp minus its input's. Prints p50 and p99 of both and the difference.
Ratios within one run are what to compare: the machine may be shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consumer.devtools.broker import EmbeddedBroker, free_port
from consumer.kafka.topics import ensure_topics, read_all
from consumer.scoring.codec import PlainAvroCodec
from tests.integration.helpers import TEST_ENV, make_values, produce

HERE = Path(__file__).resolve().parent
NAMES = ("bench.in", "bench.out", "bench.dlq")
Command = Callable[[str, int], list[str]]


def _peer(role: str) -> Command:
    return lambda bootstrap, count: [
        sys.executable,
        str(HERE / "stream_peers.py"),
        role,
        bootstrap,
        NAMES[0],
        NAMES[1],
        str(count),
    ]


def _scorer(mode: str) -> Command:
    return lambda bootstrap, _count: [
        sys.executable,
        "-m",
        "consumer",
        "run",
        "--bootstrap-servers",
        bootstrap,
        "--input-topic",
        NAMES[0],
        "--output-topic",
        NAMES[1],
        "--dlq-topic",
        NAMES[2],
        "--group-id",
        f"bench-{mode}",
        "--mode",
        mode,
        "--metrics-address",
        "127.0.0.1",
        "--metrics-port",
        str(METRICS_PORT),
    ]


CONTENDERS: dict[str, Command] = {
    "pass-through consumer (no decode, no model)": _peer("passthrough"),
    "batched pass-through (consume 500, no callbacks)": _peer("passthrough-batched"),
    "per-record scorer (no reason codes)": _peer("per-record"),
    "fraud-consumer run --mode batch": _scorer("batch"),
    "fraud-consumer run --mode adaptive": _scorer("adaptive"),
}
PASS_THROUGH = "pass-through consumer (no decode, no model)"  # noqa: S105 - a label
PER_RECORD = "per-record scorer (no reason codes)"
ENV = {**os.environ, **TEST_ENV, "FRAUD_CONSUMER_FETCH_WAIT_MAX_MS": "5"}
METRICS_PORT = free_port()


def _broker(work: Path, partitions: int) -> EmbeddedBroker:
    broker = EmbeddedBroker(log_path=work / f"broker-{time.monotonic_ns()}.log").start()
    ensure_topics(
        {"bootstrap.servers": broker.bootstrap_servers},
        {NAMES[0]: partitions, NAMES[1]: partitions, NAMES[2]: 1},
    )
    return broker


def _acknowledged(port: int) -> float:
    """Scores plus dead letters the scorer reports acknowledged (0 before it serves)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        if family.name in ("fraud_scores", "fraud_dead_letters")
        for s in family.samples
        if s.name.endswith("_total")
    )


def throughput(command: Command, events: int, partitions: int, work: Path) -> float:
    broker = _broker(work, partitions)
    try:
        produce(broker.bootstrap_servers, NAMES[0], make_values(events, seed=3))
        log = (work / "contender.log").open("w")
        argv = command(broker.bootstrap_servers, events)
        proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.PIPE, stderr=log, text=True)
        if "consumer" in argv:  # the scorer: watch its metrics until all are acknowledged
            while _acknowledged(METRICS_PORT) < events:
                if proc.poll() is not None:
                    raise SystemExit(f"{argv} exited early; see {log.name}")
                time.sleep(0.02)
            done_ms = time.time() * 1000
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        else:
            out, _ = proc.communicate(timeout=900)
            done_ms = float(out.split("ACKED ")[1])
        stamps = [m.timestamp()[1] for m in read_all(broker.bootstrap_servers, NAMES[1])]
    finally:
        broker.stop()
    if len(stamps) < events:
        raise SystemExit(f"only {len(stamps)} of {events} outputs")
    return float(events / ((done_ms - min(stamps)) / 1000))


def _produce_at(bootstrap: str, rate: int, seconds: float, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    started = time.monotonic()
    for i, value in enumerate(values[: int(rate * seconds)]):
        ahead = started + i / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        producer.produce(NAMES[0], value)
        producer.poll(0)
    producer.flush(30)


def latency(command: Command, seconds: float, partitions: int, work: Path) -> np.ndarray:
    """Milliseconds from each input's timestamp to its output's, at 200 events/s."""
    broker = _broker(work, partitions)
    codec = PlainAvroCodec()
    values = [v for _, v, _ in make_values(int(200 * seconds) + 1, seed=4) if v is not None]
    try:
        bootstrap = broker.bootstrap_servers
        log = (work / "latency.log").open("wb")
        proc = subprocess.Popen(command(bootstrap, 0), env=ENV, stdout=log, stderr=log)
        _produce_at(bootstrap, 1000, 0.001, values[-1:])  # one record: wait for the join
        while not read_all(bootstrap, NAMES[1], timeout=5):
            time.sleep(0.5)
        sender = threading.Thread(target=_produce_at, args=(bootstrap, 200, seconds, values))
        sender.start()
        sender.join()
        expected = int(200 * seconds) + 1
        deadline = time.monotonic() + 60
        while len(outs := read_all(bootstrap, NAMES[1])) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"latency run: {len(outs)} of {expected} outputs")
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        ins = read_all(bootstrap, NAMES[0])
    finally:
        broker.stop()
    by_value = {m.value(): m.timestamp()[1] for m in ins}
    by_position = {(m.partition(), m.offset()): m.timestamp()[1] for m in ins}
    out = []
    for m in outs:
        if m.value() in by_value:  # pass-through: the same bytes
            sent = by_value[m.value()]
        else:  # a FraudScore: its lineage names the input
            s = codec.decode_score(m.value())
            sent = by_position[(s["source_partition"], s["source_offset"])]
        out.append(m.timestamp()[1] - sent)
    return np.array(out[1:], dtype=np.float64)  # the join's warm-up record aside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--low-rate-seconds", type=float, default=20.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fraud-bench-stream-"))
    print(
        f"{args.events:,} events, {args.partitions} partitions, one process each (logs in {work})"
    )
    rates = {}
    for name, command in CONTENDERS.items():
        rates[name] = throughput(command, args.events, args.partitions, work)
        print(f"  {name:<46}{rates[name]:>10,.0f} events/s", flush=True)
    passthrough, per_record = rates[PASS_THROUGH], rates[PER_RECORD]
    print(f"\n{'run':<46}{'events/s':>10}{'vs pass-through':>17}{'vs per-record':>15}")
    for name, rate in rates.items():
        print(f"{name:<46}{rate:>10,.0f}{rate / passthrough:>16.0%}{rate / per_record:>14.1f}x")

    print(f"\nlatency at 200 events/s for {args.low_rate_seconds:.0f}s, input timestamp -> output")
    results = {}
    for name in (
        "pass-through consumer (no decode, no model)",
        "fraud-consumer run --mode adaptive",
    ):
        ms = latency(CONTENDERS[name], args.low_rate_seconds, args.partitions, work)
        results[name] = np.percentile(ms, [50, 99])
        print(
            f"  {name:<46}p50 {results[name][0]:6.1f} ms   p99 {results[name][1]:6.1f} ms "
            f"({len(ms):,} events)",
            flush=True,
        )
    base, ours = results.values()
    print(f"  scoring overhead: p50 {ours[0] - base[0]:+.1f} ms, p99 {ours[1] - base[1]:+.1f} ms")


if __name__ == "__main__":
    main()
