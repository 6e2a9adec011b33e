"""Latency of the embedded broker alone: a plain producer and consumer, no scoring.

    .venv/bin/python bench/broker_latency.py [--seconds 40] [--rate 800]

Produces at a steady rate and consumes in the same process, printing produce-to-consume
latency percentiles per 10-second window. On the embedded Tansu broker they grow with
the data it holds, which is why the demo's live latency says more about the broker than
about the scorer.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np
from confluent_kafka import Consumer, Producer

from consumer.devtools.broker import EmbeddedBroker
from consumer.kafka.topics import ensure_topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--rate", type=int, default=800)
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        bs = broker.bootstrap_servers
        ensure_topics({"bootstrap.servers": bs}, {"latency": 6})
        consumer = Consumer(
            {
                "bootstrap.servers": bs,
                "group.id": "latency",
                "session.timeout.ms": 6000,
                "fetch.wait.max.ms": 5,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe(["latency"])
        while not consumer.assignment():
            consumer.poll(0.2)

        def produce() -> None:
            producer = Producer({"bootstrap.servers": bs, "linger.ms": 5, "acks": "all"})
            started, sent = time.time(), 0
            while time.time() - started < args.seconds:
                if sent / args.rate > time.time() - started:
                    time.sleep(0.001)
                    continue
                producer.produce("latency", key=str(sent).encode(), value=b"x" * 200)
                producer.poll(0)
                sent += 1
            producer.flush()

        writer = threading.Thread(target=produce)
        writer.start()
        seen: list[tuple[int, float]] = []
        deadline = time.time() + args.seconds + 3
        while writer.is_alive() or time.time() < deadline:
            for msg in consumer.consume(500, 0.1):
                if msg.error() is None:
                    ts = msg.timestamp()[1]
                    seen.append((ts, time.time() * 1000 - ts))
        writer.join()
        consumer.close()
    data = np.array(seen)
    start = data[:, 0].min()
    print(f"{'window':>8}  {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}  records")
    for w in range(0, args.seconds, 10):
        mask = (data[:, 0] >= start + w * 1000) & (data[:, 0] < start + (w + 10) * 1000)
        if mask.any():
            p50, p95, p99 = np.percentile(data[mask, 1], [50, 95, 99])
            print(f"{w:>3}-{w + 10:<3}s  {p50:7.0f} {p95:7.0f} {p99:7.0f}  {int(mask.sum()):,}")


if __name__ == "__main__":
    main()
