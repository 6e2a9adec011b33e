"""The pause a rebalance costs the scorers that stay: eager against cooperative-sticky, and
cooperative-sticky with static membership.

    .venv/bin/python bench/rebalance.py [--rate 600] [--sample-ms 100]

On a fresh embedded broker per protocol (or KAFKA_BOOTSTRAP_SERVERS): a 6-partition
topic fed at --rate events/s throughout, two scorers (A, B), then three events, each
once the group has settled after the one before:

  scale up    a third scorer (C) joins                          survivors A, B
  roll        B stops and a new B starts in its place           survivors A, C
  scale down  C stops                                           survivors A, B

Each scorer's fraud_events_consumed_total is read every --sample-ms. A survivor's pause
is the longest stretch in which its count did not move, from the event until the group
settled (every partition held, each scorer holding some, no rebalance for 5 s); "nobody"
is the longest stretch in which no scorer's count moved. Resolution: --sample-ms.
With static membership (--group-instance-id) the new B takes the old one's id; a static
member that stops leaves its partitions waiting until session.timeout.ms (6 s here) runs
out. Not run on the embedded broker, whose static membership is broken (README: The
embedded broker): a static member joining a running group under cooperative-sticky never
gets partitions, and one that stops never lets its partitions go.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' helpers

from consumer.devtools.broker import EmbeddedBroker
from consumer.kafka.topics import ensure_topics
from tests.integration.helpers import Scorer, broker_is_tansu, make_values, new_group

PARTITIONS = 6
PROTOCOLS = {  # name: (partition.assignment.strategy, static membership)
    "eager (range,roundrobin)": ("range,roundrobin", False),
    "cooperative-sticky": ("cooperative-sticky", False),
    "cooperative-sticky, static": ("cooperative-sticky", True),
}


@contextlib.contextmanager
def _bootstrap() -> Iterator[str]:
    named = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if named:
        yield named
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


class Feed:
    """Produce valid Transactions at a steady rate until stopped."""

    def __init__(self, bootstrap: str, topic: str, rate: int) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self._args = (topic, rate, make_values(5000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        topic, rate, values = self._args
        started, sent = time.monotonic(), 0
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * rate)
            for key, value, _ in (values[i % len(values)] for i in range(sent, due)):
                self._producer.produce(topic, value, key)
            sent = max(sent, due)
            self._producer.poll(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._producer.flush(30)


@dataclass
class Samples:
    """(time, consumed) per scorer, read every ``every`` seconds on a thread."""

    every: float
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    scorers: dict[str, Scorer] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def watch(self, name: str, scorer: Scorer) -> None:
        self.scorers[name] = scorer
        self.series.setdefault(name, [])

    def run(self) -> None:
        while not self._stop.wait(self.every):
            for name, scorer in list(self.scorers.items()):
                if scorer.proc.poll() is None:
                    now = time.monotonic()
                    self.series[name].append((now, scorer.metric("fraud_events_consumed_total")))

    def stop(self) -> None:
        self._stop.set()

    def moves(self, name: str, since: float, until: float) -> list[float]:
        """When ``name``'s count moved, from the last move before ``since`` to ``until``."""
        points = self.series[name]
        times = [t for (_, prev), (t, c) in itertools.pairwise(points) if c > prev]
        before = [t for t in times if t < since]
        return before[-1:] + [t for t in times if since <= t <= until]

    def pause(self, name: str, since: float, until: float) -> float:
        t = self.moves(name, since, until)
        return max((b - a for a, b in itertools.pairwise(t)), default=until - since)

    def nobody(self, names: list[str], since: float, until: float) -> float:
        t = sorted({x for n in names for x in self.moves(n, since, until)})
        return max((b - a for a, b in itertools.pairwise(t)), default=until - since)


class NotSettled(Exception):
    pass


@dataclass
class Run:
    bootstrap: str
    names: tuple[str, str, str]
    group: str
    logs: Path
    args: tuple[str, ...]
    static: bool
    samples: Samples

    def start(self, name: str) -> Scorer:
        instance = ("--group-instance-id", f"scorer-{name.lower()}") if self.static else ()
        scorer = Scorer(
            self.bootstrap, self.names, self.group, self.logs, *self.args, *instance, metrics=True
        )
        self.samples.watch(name, scorer)
        return scorer

    def settle(self, members: list[str], quiet: float = 5.0, timeout: float = 120) -> float:
        """Wait until ``members`` hold every partition, each some, and no rebalance callback
        has run for ``quiet`` seconds (cooperative rebalances take several rounds, a
        heartbeat apart); returns when the last change was seen."""
        deadline, last, changed = time.monotonic() + timeout, None, time.monotonic()
        while True:
            scorers = [self.samples.scorers[m] for m in members]
            held = tuple(s.metric("fraud_assigned_partitions") for s in scorers)
            state = (held, sum(s.metric("fraud_rebalances_total") for s in scorers))
            now = time.monotonic()
            if state != last:
                last, changed = state, now
            elif sum(held) == PARTITIONS and min(held) >= 1 and now - changed >= quiet:
                return changed
            if now > deadline:
                raise NotSettled(f"never settled: {dict(zip(members, held, strict=True))}")
            time.sleep(0.25)


def _stop(scorer: Scorer) -> None:
    scorer.signal(signal.SIGTERM)
    if scorer.wait(60) != 0:
        raise SystemExit(scorer.output())


def _event(
    run: Run, label: str, survivors: list[str], members: list[str], act: Callable[[], None]
) -> str:
    """Do ``act``, wait for the group to settle, and say what it cost."""
    began = time.monotonic()
    act()
    settled = run.settle(members)
    until = time.monotonic()
    pauses = "  ".join(f"{s} {run.samples.pause(s, began, until):5.2f}" for s in survivors)
    nobody = run.samples.nobody(members, began, until)
    return f"{label:<11} {settled - began:6.1f}   {nobody:6.2f}    {pauses}"


def measure(bootstrap: str, protocol: str, rate: int, sample_s: float) -> list[str]:
    strategy, static = PROTOCOLS[protocol]
    if static and broker_is_tansu(bootstrap):
        return ["not run: the embedded broker's static membership is broken (module docstring)"]
    base = f"rebalance-{new_group()}"
    names = (f"{base}.in", f"{base}.out", f"{base}.dlq")
    ensure_topics({"bootstrap.servers": bootstrap}, dict.fromkeys(names, PARTITIONS))
    samples = Samples(sample_s)
    logs = Path(tempfile.mkdtemp(prefix="fraud-rebalance-"))
    args = ("--consumer-config", f"partition.assignment.strategy={strategy}")
    run = Run(bootstrap, names, new_group(), logs, args, static, samples)
    feed = Feed(bootstrap, names[0], rate)
    sampler = threading.Thread(target=samples.run, daemon=True)
    sampler.start()
    scorers = {"A": run.start("A"), "B": run.start("B")}
    rows = []
    try:
        run.settle(["A", "B"])
        time.sleep(3.0)  # steady scoring before the first event

        def scale_up() -> None:
            scorers["C"] = run.start("C")

        def roll() -> None:
            _stop(scorers["B"])
            scorers["B"] = run.start("B")

        rows.append(_event(run, "scale up", ["A", "B"], ["A", "B", "C"], scale_up))
        rows.append(_event(run, "roll", ["A", "C"], ["A", "B", "C"], roll))
        rows.append(_event(run, "scale down", ["A", "B"], ["A", "B"], lambda: _stop(scorers["C"])))
    except NotSettled as exc:  # a broker that cannot: say so, go on with the next protocol
        rows.append(f"stopped after {len(rows)} events: {exc}")
    finally:
        samples.stop()
        feed.stop()
        for scorer in scorers.values():
            if scorer.proc.poll() is None:
                scorer.signal(signal.SIGTERM)
                scorer.wait(60)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=600, help="events/s produced throughout")
    parser.add_argument("--sample-ms", type=int, default=100, help="metrics read this often")
    args = parser.parse_args()
    print(
        f"6 partitions, {args.rate} events/s throughout; pauses in seconds (longest stretch "
        f"with nothing scored, read every {args.sample_ms} ms)\n"
    )
    print(f"{'event':<11} {'settle':>6}   {'nobody':>6}    survivors' pauses")
    for protocol in PROTOCOLS:
        with _bootstrap() as bootstrap:
            print(f"-- {protocol}")
            for row in measure(bootstrap, protocol, args.rate, args.sample_ms / 1000):
                print(row, flush=True)


if __name__ == "__main__":
    main()
