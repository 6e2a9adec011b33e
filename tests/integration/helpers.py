"""Drive the real CLI against a broker and check what landed on the topics."""

from __future__ import annotations

import contextlib
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from consumer.devtools.broker import free_port
from consumer.devtools.faults import KINDS, malformed_value
from consumer.kafka.topics import read_all
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.deadletter import dead_letter_source
from consumer.scoring.records import Headers
from consumer.training.generator import TransactionGenerator
from tests.integration.proxy import CuttableProxy

Position = tuple[int, int]
Item = tuple[bytes | None, bytes | None, Headers]  # key, value, headers

# The embedded broker joins groups slowly with librdkafka's 45 s default session timeout,
# and waits out fetch.wait.max.ms even when data is there. Both are valid on real Kafka.
TEST_ENV = {
    "FRAUD_CONSUMER_SESSION_TIMEOUT_MS": "6000",
    "FRAUD_CONSUMER_FETCH_WAIT_MAX_MS": "10",
    "FRAUD_METRICS_PORT": "0",
}


@dataclass
class Sent:
    """What a test produced, by input position."""

    key: dict[Position, bytes | None]
    value: dict[Position, bytes | None]
    headers: dict[Position, Headers | None]
    timestamp: dict[Position, int]
    malformed: set[Position]


def make_values(n: int, malformed_every: int = 0, seed: int = 1) -> list[Item]:
    codec = PlainAvroCodec()
    rng = random.Random(seed)
    out: list[Item] = []
    for i, e in enumerate(TransactionGenerator(seed, n_cards=2000, n_merchants=500).take(n)):
        key = e.record["card_id"].encode()
        if malformed_every and i % malformed_every == malformed_every - 1:
            kind = KINDS[(i // malformed_every) % len(KINDS)]
            out.append(
                (
                    key,
                    malformed_value(kind, e.record, rng),
                    [("synthetic.malformed", kind.encode())],
                )
            )
        else:
            out.append((key, codec.encode_transaction(e.record), [("trace", uuid.uuid4().bytes)]))
    return out


def produce(
    bootstrap: str,
    topic: str,
    items: list[Item],
) -> Sent:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "partitioner": "murmur2_random",
        }
    )
    sent = Sent({}, {}, {}, {}, set())
    errors: list[KafkaError] = []
    base_ts = int(time.time() * 1000) - 10_000

    for i, (key, value, headers) in enumerate(items):

        def delivered(
            err: KafkaError | None,
            msg: Any,
            key: bytes | None = key,
            value: bytes | None = value,
            headers: Headers = headers,
        ) -> None:
            if err is not None:
                errors.append(err)
                return
            pos = (msg.partition(), msg.offset())
            sent.key[pos], sent.value[pos], sent.headers[pos] = key, value, headers
            sent.timestamp[pos] = msg.timestamp()[1]
            if headers and headers[0][0] == "synthetic.malformed":
                sent.malformed.add(pos)

        while True:
            try:
                producer.produce(
                    topic,
                    key=key,
                    value=value,
                    headers=headers,
                    timestamp=base_ts + i,
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(60)
    assert not errors, errors
    assert len(sent.value) == len(items)
    return sent


def new_group() -> str:
    """A consumer group id of its own for one test."""
    return f"g-{uuid.uuid4().hex[:8]}"


def run_args(bootstrap: str, topics: tuple[str, str, str], group: str) -> list[str]:
    """`run` and the flags that point a scorer at a broker, its topics and its group."""
    inp, out, dlq = topics
    return [
        "run",
        "--bootstrap-servers",
        bootstrap,
        "--input-topic",
        inp,
        "--output-topic",
        out,
        "--dlq-topic",
        dlq,
        "--group-id",
        group,
    ]


class Scorer:
    """`fraud-consumer run` as a subprocess, logging to a file."""

    def __init__(
        self,
        bootstrap: str,
        topics: tuple[str, str, str],
        group: str,
        log_dir: Path,
        *args: str,
        metrics: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = log_dir / f"scorer-{uuid.uuid4().hex[:6]}.log"
        self.metrics_port = free_port() if metrics else 0
        cmd = [
            sys.executable,
            "-m",
            "consumer",
            *run_args(bootstrap, topics, group),
            "--metrics-port",
            str(self.metrics_port),
            "--metrics-address",
            "127.0.0.1",
            *args,
        ]
        with self.log.open("wb") as f:
            self.proc = subprocess.Popen(
                cmd,
                stdout=f,
                stderr=subprocess.STDOUT,
                env={**os.environ, **TEST_ENV, **(env or {})},
            )

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(
                f"scorer did not exit in {timeout}s; log:\n{self.output()}"
            ) from None

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def metric(self, name: str) -> float:
        """Sum of a metric's samples from /metrics (0 if not up yet)."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2
            ) as r:
                text = r.read().decode()
        except OSError:
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and (line[len(name)] in " {")
        )

    def wait_for(self, name: str, at_least: float, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.metric(name) < at_least:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"scorer exited early ({self.proc.returncode}):\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} < {at_least} after {timeout}s:\n{self.output()}")
            time.sleep(0.2)


@dataclass
class Landed:
    scores: dict[Position, list[dict[str, Any]]]
    score_keys: dict[Position, list[bytes | None]]
    dead: dict[Position, list[Any]]  # Messages

    def positions(self) -> Counter[Position]:
        c: Counter[Position] = Counter()
        for pos, v in self.scores.items():
            c[pos] += len(v)
        for pos, d in self.dead.items():
            c[pos] += len(d)
        return c


def landed(bootstrap: str, out_topic: str, dlq_topic: str) -> Landed:
    codec = PlainAvroCodec()
    result = Landed({}, {}, {})
    for msg in read_all(bootstrap, out_topic):
        s = codec.decode_score(msg.value())
        pos = (s["source_partition"], s["source_offset"])
        result.scores.setdefault(pos, []).append(s)
        result.score_keys.setdefault(pos, []).append(msg.key())
    for msg in read_all(bootstrap, dlq_topic):
        result.dead.setdefault(dead_letter_source(msg.headers()), []).append(msg)
    return result


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def end_offsets(sent: Sent, partitions: int) -> dict[int, int]:
    ends = dict.fromkeys(range(partitions), 0)
    for p, o in sent.value:
        ends[p] = max(ends[p], o + 1)
    return ends


def assert_every_offset_once(sent: Sent, got: Landed, allow_duplicates: bool = False) -> None:
    counts = got.positions()
    missing = set(sent.value) - set(counts)
    unknown = set(counts) - set(sent.value)
    both = set(got.scores) & set(got.dead)
    assert not missing, f"{len(missing)} input offsets have no output, e.g. {sorted(missing)[:5]}"
    assert not unknown, f"outputs name offsets never produced: {sorted(unknown)[:5]}"
    assert not both, f"offsets both scored and dead-lettered: {sorted(both)[:5]}"
    if not allow_duplicates:
        dup = {p: n for p, n in counts.items() if n > 1}
        assert not dup, f"duplicated outputs: {list(dup.items())[:5]}"
    assert set(got.dead) == sent.malformed, "exactly the malformed events are dead-lettered"


def stop(scorer: Scorer, sig: signal.Signals = signal.SIGTERM) -> None:
    scorer.signal(sig)


# -- rebalances and held acknowledgements (tests/integration/stream/test_rebalances.py) ----


def broker_is_tansu(bootstrap: str) -> bool:
    """The embedded broker (Tansu) names its cluster ``tansu_cluster``. It cannot show static
    membership: a static member that stops keeps its partitions for good (seen: none moved
    in 60 s with a 6 s session timeout), so tests of it run on real Kafka only."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).cluster_id == (
        "tansu_cluster"
    )


class Trickle:
    """Produce ``items`` on a thread at about ``per_second`` (chunks every 0.2 s) while a test
    starts and stops scorers; ``finish()`` waits for the rest and returns what was sent."""

    def __init__(self, bootstrap: str, topic: str, items: list[Item], per_second: int) -> None:
        self._args = (bootstrap, topic, items, max(1, per_second // 5))
        self._sent: list[Sent] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        bootstrap, topic, items, chunk = self._args
        for start in range(0, len(items), chunk):
            began = time.monotonic()
            self._sent.append(produce(bootstrap, topic, items[start : start + chunk]))
            time.sleep(max(0.0, 0.2 - (time.monotonic() - began)))

    def finish(self, timeout: float = 300) -> Sent:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the producer did not finish"
        total = Sent({}, {}, {}, {}, set())
        for part in self._sent:  # positions never repeat: each is one record's
            total.key |= part.key
            total.value |= part.value
            total.headers |= part.headers
            total.timestamp |= part.timestamp
            total.malformed |= part.malformed
        return total


PRODUCE_API_KEY = 0  # the Kafka protocol's Produce request


def _carries_produce(pending: bytearray, data: bytes) -> bool:
    """Whether the client's bytes so far hold a Produce request (``pending``: what came
    before, kept until a whole request header is in)."""
    pending += data
    while len(pending) >= 6:
        size = int.from_bytes(pending[:4], "big")
        if int.from_bytes(pending[4:6], "big") == PRODUCE_API_KEY:
            return True
        if len(pending) < 4 + size:
            return False
        del pending[: 4 + size]
    return False


class AckHoldingProxy(CuttableProxy):
    """A proxy that can hold the broker's acknowledgements back from producers.

    A connection that has carried a Produce request is a producer's; while ``hold()`` is
    on, what the broker sends back on it waits in the proxy (its requests still reach the
    broker, which writes the records), and ``release()`` lets it through. Consumers'
    connections (fetch, heartbeats, commits) are never held: the broker answers them,
    only acknowledgements are late. Plaintext Kafka only."""

    def __init__(self, listen_port: int, target_port: int, host: str = "127.0.0.1") -> None:
        super().__init__(listen_port, target_port, host)
        self._holding = threading.Event()

    def hold(self) -> None:
        self._holding.set()

    def release(self) -> None:
        self._holding.clear()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:  # a: client, b: broker
        producer, requests, answers = False, bytearray(), bytearray()
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 0.05)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is a:
                        b.sendall(data)
                        producer = producer or _carries_produce(requests, data)
                    else:
                        answers += data
                if answers and not (producer and self._holding.is_set()):
                    a.sendall(answers)
                    answers.clear()
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
