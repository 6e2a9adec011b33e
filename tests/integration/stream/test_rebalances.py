"""Scaling and rolling the scorers: joins, leaves and restarts lose nothing, under either
rebalance protocol; with cooperative-sticky (the default) a rebalance moves only the
partitions that change owner; with static membership a restart moves none.

Traffic keeps arriving throughout, as in production: every scale step and roll happens
while records are produced, and at the end every input offset has an output and the
group's commits are at the end of every partition.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.helpers import (
    Scorer,
    Sent,
    Trickle,
    assert_every_offset_once,
    broker_is_tansu,
    committed,
    end_offsets,
    landed,
    make_values,
    new_group,
)

pytestmark = pytest.mark.integration

PARTITIONS = 6
Topics = Callable[[int], tuple[str, str, str]]
_CHANGE = re.compile(r" (assigned|revoked|lost) (.*)$")


def _changes(scorer: Scorer) -> list[tuple[str, set[int]]]:
    """The scorer's assignment changes, in order, from its log lines."""
    out = []
    for line in scorer.output().splitlines():
        if "consumer.stream.loop" in line and (m := _CHANGE.search(line)):
            parts = {int(p) for p in re.findall(r"\[(\d+)\]", m.group(2))}
            out.append((m.group(1), parts))
    return out


def _handed_straight_back(scorer: Scorer) -> set[int]:
    """Partitions revoked from the scorer and given back to it by the very next assignment:
    what an eager (stop-the-world) rebalance does to every partition a member keeps."""
    changes = _changes(scorer)
    back: set[int] = set()
    for (kind, parts), (next_kind, next_parts) in itertools.pairwise(changes):
        if kind == "revoked" and next_kind == "assigned":
            back |= parts & next_parts
    return back


def _held_at_end(scorer: Scorer) -> set[int]:
    held: set[int] = set()
    for kind, parts in _changes(scorer):
        held = held | parts if kind == "assigned" else held - parts
    return held


def _wait_committed(bootstrap: str, group: str, topic: str, sent: Sent) -> None:
    want = end_offsets(sent, PARTITIONS)
    deadline = time.monotonic() + 120
    while (done := committed(bootstrap, group, topic, PARTITIONS)) != want:
        assert time.monotonic() < deadline, f"committed {done}, want {want}"
        time.sleep(1)


def _settle(*members: Scorer, timeout: float = 90) -> None:
    """Wait until ``members`` hold every partition between them, each at least one, and no
    rebalance callback has run for 5 s (a cooperative rebalance takes several rounds, a
    heartbeat apart): the next step starts from a quiet group, as a scaler's or a
    rollout's next step would. The embedded broker can stall a group whose member leaves
    while a further round is due (README: The embedded broker)."""
    deadline, last, quiet = time.monotonic() + timeout, None, 0
    while quiet < 5:
        held = [s.metric("fraud_assigned_partitions") for s in members]
        state = (held, sum(s.metric("fraud_rebalances_total") for s in members))
        valid = sum(held) == PARTITIONS and min(held) >= 1
        quiet = quiet + 1 if valid and state == last else 0
        last = state
        assert time.monotonic() < deadline, f"never settled: {held}\n" + "\n".join(
            s.output() for s in members
        )
        time.sleep(1)


def _stop(scorer: Scorer) -> None:
    scorer.signal(signal.SIGTERM)
    assert scorer.wait(60) == 0, scorer.output()


@dataclass
class Group:
    """Scorers of one consumer group; whatever still runs when the test ends is killed."""

    bootstrap: str
    names: tuple[str, str, str]
    group: str
    logs: Path
    started: list[Scorer]

    def start(self, *args: str) -> Scorer:
        scorer = Scorer(self.bootstrap, self.names, self.group, self.logs, *args, metrics=True)
        self.started.append(scorer)
        return scorer


@pytest.fixture
def group(bootstrap: str, topics: Topics, tmp_path: Path) -> Iterator[Group]:
    g = Group(bootstrap, topics(PARTITIONS), new_group(), tmp_path, [])
    yield g
    for scorer in g.started:
        if scorer.proc.poll() is None:
            scorer.proc.kill()
            scorer.proc.wait()


def test_the_default_assignment_is_cooperative_sticky() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "consumer", "run", "--print-config"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    consumer = json.loads(out.stdout)["consumer"]
    assert consumer["partition.assignment.strategy"] == "cooperative-sticky"
    assert "group.instance.id" not in consumer  # dynamic membership unless asked


@pytest.mark.parametrize("strategy", [None, "range,roundrobin"], ids=["default", "eager"])
def test_scaling_up_and_down_and_a_roll_lose_nothing(group: Group, strategy: str | None) -> None:
    """Two scorers; a third joins (scale up) and leaves (scale down); one restarts (a
    roll). Under the default protocol no rebalance takes a partition from a scorer only to
    hand it straight back: the scorers that stay keep scoring what they keep."""
    args = (
        []
        if strategy is None
        else ["--consumer-config", f"partition.assignment.strategy={strategy}"]
    )
    a, b = group.start(*args), group.start(*args)
    _settle(a, b)
    trickle = Trickle(group.bootstrap, group.names[0], make_values(12_000, malformed_every=97), 400)
    c = group.start(*args)  # scale up
    _settle(a, b, c)
    _stop(c)  # scale down
    _settle(a, b)
    _stop(b)  # a roll: the pod stops, its replacement starts
    b2 = group.start(*args)
    _settle(a, b2)
    sent = trickle.finish()
    _wait_committed(group.bootstrap, group.group, group.names[0], sent)
    for s in (a, b2):
        _stop(s)
    got = landed(group.bootstrap, group.names[1], group.names[2])
    assert_every_offset_once(sent, got, allow_duplicates=True)
    if strategy is None:
        for s in (a, b, c, b2):
            assert _handed_straight_back(s) == set(), s.output()


def _static(group: Group, instance: str, session_ms: int) -> Scorer:
    return group.start(
        "--group-instance-id", instance, "--consumer-config", f"session.timeout.ms={session_ms}"
    )


def test_a_static_member_restarting_within_its_session_keeps_its_partitions(
    group: Group,
) -> None:
    """With --group-instance-id a restart (a pod rolled) is no rebalance: the other scorer
    keeps every partition it had, and the restarted one gets its own back."""
    a, b = _static(group, "scorer-0", 30_000), _static(group, "scorer-1", 30_000)
    _settle(a, b)
    before = (_held_at_end(a), _held_at_end(b))
    revoked_from_a = a.metric('fraud_rebalances_total{event="revoke"}')
    trickle = Trickle(group.bootstrap, group.names[0], make_values(4000, malformed_every=97), 400)
    _stop(b)
    assert "closing as static member scorer-1" in b.output()
    b2 = _static(group, "scorer-1", 30_000)
    _settle(a, b2)
    sent = trickle.finish()
    _wait_committed(group.bootstrap, group.group, group.names[0], sent)
    assert a.metric('fraud_rebalances_total{event="revoke"}') == revoked_from_a, a.output()
    assert (_held_at_end(a), _held_at_end(b2)) == before
    for s in (a, b2):
        _stop(s)
    got = landed(group.bootstrap, group.names[1], group.names[2])
    assert_every_offset_once(sent, got, allow_duplicates=True)


def test_a_static_member_that_stops_for_good_hands_over_after_its_session(group: Group) -> None:
    """A static member that stops (a scale-down) does not leave the group: its partitions
    wait for it until session.timeout.ms runs out, then move to the others."""
    if broker_is_tansu(group.bootstrap):
        pytest.skip(
            "the embedded broker (Tansu) never expires a static member: one that stops "
            "keeps its partitions for good (README: The embedded broker); set "
            "KAFKA_BOOTSTRAP_SERVERS to a Kafka broker, or run where Docker answers"
        )
    session_s = 10
    a, b = (
        _static(group, "scorer-0", session_s * 1000),
        _static(group, "scorer-1", session_s * 1000),
    )
    _settle(a, b)
    trickle = Trickle(group.bootstrap, group.names[0], make_values(4000, malformed_every=97), 400)
    _stop(b)
    stopped = time.monotonic()
    a.wait_for("fraud_assigned_partitions", PARTITIONS, timeout=session_s + 30)
    waited = time.monotonic() - stopped
    assert waited > session_s * 0.8, f"moved after {waited:.1f}s: did the static member leave?"
    sent = trickle.finish()
    _wait_committed(group.bootstrap, group.group, group.names[0], sent)
    _stop(a)
    got = landed(group.bootstrap, group.names[1], group.names[2])
    assert_every_offset_once(sent, got, allow_duplicates=True)
