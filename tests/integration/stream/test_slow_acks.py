"""A broker slow to acknowledge the scorer's outputs, through a proxy that holds them back.

While its in-flight window is full the scorer waits for acknowledgements, with its
partitions paused and the consumer still polled: however long the wait, the group must
not take it for a dead member (``max.poll.interval.ms``), and nothing may be lost. A
partition that moves away during such a wait and comes back later must be fetched again
(librdkafka keeps a partition's pause flag across revocation and reassignment).

Always on an embedded broker of its own, whose advertised address is the proxy's: the
proxy must sit on every connection to tell producers' from consumers'.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consumer.devtools.broker import EmbeddedBroker, free_port
from consumer.kafka.topics import ensure_topics
from tests.integration.helpers import (
    AckHoldingProxy,
    Scorer,
    Sent,
    assert_every_offset_once,
    committed,
    end_offsets,
    landed,
    make_values,
    new_group,
    produce,
)

pytestmark = pytest.mark.integration

MAX_POLL_INTERVAL_MS = 7000  # librdkafka's least is session.timeout.ms (6000 in TEST_ENV)


@dataclass
class Held:
    bootstrap: str  # the proxy's address, which the broker advertises
    proxy: AckHoldingProxy
    started: list[Scorer]

    def scorer(self, names: tuple[str, str, str], group: str, logs: Path, *args: str) -> Scorer:
        scorer = Scorer(self.bootstrap, names, group, logs, *args, metrics=True)
        self.started.append(scorer)
        return scorer


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Held]:
    proxy_port = free_port()
    with EmbeddedBroker(advertised_port=proxy_port, log_path=tmp_path / "broker.log") as broker:
        proxy = AckHoldingProxy(proxy_port, broker.port)
        proxy.start()
        held = Held(broker.bootstrap_servers, proxy, [])
        try:
            yield held
        finally:
            proxy.release()
            for scorer in held.started:  # what a failed test left running
                if scorer.proc.poll() is None:
                    scorer.proc.kill()
                    scorer.proc.wait()
            proxy.close()


def _rebalances(scorer: Scorer) -> dict[str, float]:
    return {
        event: scorer.metric(f'fraud_rebalances_total{{event="{event}"}}')
        for event in ("assign", "revoke", "lost")
    }


def _wait_committed(bootstrap: str, group: str, topic: str, sent: Sent, partitions: int) -> None:
    want = end_offsets(sent, partitions)
    deadline = time.monotonic() + 90
    while (done := committed(bootstrap, group, topic, partitions)) != want:
        assert time.monotonic() < deadline, f"committed {done}, want {want}"
        time.sleep(1)


def test_acks_held_past_max_poll_interval_keep_the_partitions_and_lose_nothing(
    held: Held, tmp_path: Path
) -> None:
    names = ("s.in", "s.out", "s.dlq")
    ensure_topics({"bootstrap.servers": held.bootstrap}, dict.fromkeys(names, 3))
    sent = produce(held.bootstrap, names[0], make_values(2000, malformed_every=50))
    group = new_group()
    held.proxy.hold()
    scorer = held.scorer(
        names,
        group,
        tmp_path,
        "--max-batch",
        "100",  # a window of 200 records: it waits once more than 100 are uncommitted
        "--consumer-config",
        f"max.poll.interval.ms={MAX_POLL_INTERVAL_MS}",
    )
    try:
        scorer.wait_for("fraud_in_flight_records", 101)  # produced, none acknowledged
        consumed = scorer.metric("fraud_events_consumed_total")
        waiting_since = time.monotonic()
        while time.monotonic() - waiting_since < 2.5 * MAX_POLL_INTERVAL_MS / 1000:
            assert scorer.proc.poll() is None, scorer.output()
            time.sleep(1)
        assert scorer.metric("fraud_in_flight_records") > 100, "acknowledgements came through"
        assert scorer.metric("fraud_events_consumed_total") == consumed, "read past its window"
        held.proxy.release()
        scorer.wait_for("fraud_events_consumed_total", len(sent.value))
        _wait_committed(held.bootstrap, group, names[0], sent, 3)
        # one assignment, never revoked or lost: the group never saw it as gone
        assert _rebalances(scorer) == {"assign": 1, "revoke": 0, "lost": 0}, scorer.output()
    finally:
        held.proxy.release()
        scorer.signal(signal.SIGTERM)
    assert scorer.wait(60) == 0, scorer.output()
    assert "maximum poll interval" not in scorer.output()
    assert_every_offset_once(sent, landed(held.bootstrap, names[1], names[2]))


@pytest.mark.parametrize("strategy", ["cooperative-sticky", "range,roundrobin"])
def test_a_partition_revoked_while_paused_is_fetched_when_it_comes_back(
    held: Held, tmp_path: Path, strategy: str
) -> None:
    names = ("p.in", "p.out", "p.dlq")
    ensure_topics({"bootstrap.servers": held.bootstrap}, dict.fromkeys(names, 6))
    first = produce(held.bootstrap, names[0], make_values(3000, malformed_every=50))
    group = new_group()
    args = (
        "--max-batch",
        "50",
        "--flush-timeout",
        "1",  # a revoke under held acknowledgements waits this long, then commits what it can
        "--consumer-config",
        f"partition.assignment.strategy={strategy}",
    )
    held.proxy.hold()
    a = held.scorer(names, group, tmp_path, *args)
    b: Scorer | None = None
    try:
        a.wait_for("fraud_in_flight_records", 51)  # A waits, every partition paused
        b = held.scorer(names, group, tmp_path, *args)
        b.wait_for("fraud_assigned_partitions", 1)  # taken from A while A was paused
        held.proxy.release()
        _wait_committed(held.bootstrap, group, names[0], first, 6)  # both caught up, idle
        b.signal(signal.SIGTERM)
        assert b.wait(60) == 0, b.output()
        a.wait_for("fraud_assigned_partitions", 6)  # A gets them back, waiting for nothing
        # Fewer records than A's window: A never waits for room again, whose end would
        # resume every partition it holds and hide a partition left paused.
        second = produce(held.bootstrap, names[0], make_values(40, seed=2))
        sent = Sent(
            first.key | second.key,
            first.value | second.value,
            first.headers | second.headers,
            first.timestamp | second.timestamp,
            first.malformed | second.malformed,
        )
        _wait_committed(held.bootstrap, group, names[0], sent, 6)
    finally:
        held.proxy.release()
        for scorer in (a, b):
            if scorer is not None and scorer.proc.poll() is None:
                scorer.signal(signal.SIGTERM)
    assert a.wait(60) == 0, a.output()
    assert_every_offset_once(
        sent, landed(held.bootstrap, names[1], names[2]), allow_duplicates=True
    )
