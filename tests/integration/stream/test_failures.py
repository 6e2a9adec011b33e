"""Crashes, signals, rebalances and produce failures: nothing is lost."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.helpers import (
    Item,
    Scorer,
    assert_every_offset_once,
    committed,
    end_offsets,
    landed,
    make_values,
    new_group,
    produce,
)

pytestmark = pytest.mark.integration


def test_sigkill_mid_stream_then_restart_loses_nothing(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(3)
    sent = produce(bootstrap, inp, make_values(30_000, malformed_every=97))
    group = new_group()
    first = Scorer(bootstrap, (inp, out, dlq), group, tmp_path, "--mode", "single", metrics=True)
    first.wait_for("fraud_events_consumed_total", 3000)
    first.signal(signal.SIGKILL)
    first.wait()
    consumed_before = len(landed(bootstrap, out, dlq).positions())
    assert consumed_before < len(sent.value), "killed too late to test anything"

    second = Scorer(bootstrap, (inp, out, dlq), group, tmp_path, "--exit-when-idle", "2")
    assert second.wait() == 0, second.output()
    got = landed(bootstrap, out, dlq)
    assert_every_offset_once(sent, got, allow_duplicates=True)
    assert committed(bootstrap, group, inp, 3) == end_offsets(sent, 3)


@pytest.mark.parametrize("max_batch", [100, 500])
def test_a_kill_at_full_speed_replays_at_most_two_batches(
    bootstrap: str,
    topics: Callable[[int], tuple[str, str, str]],
    tmp_path: Path,
    max_batch: int,
) -> None:
    """Commits follow acknowledgements closely and the in-flight window (2 x --max-batch by
    default) bounds what a SIGKILL replays, whatever the speed."""
    inp, out, dlq = topics(3)
    sent = produce(bootstrap, inp, make_values(40_000, malformed_every=97))
    group = new_group()
    args = ("--mode", "adaptive", "--max-batch", str(max_batch))
    first = Scorer(bootstrap, (inp, out, dlq), group, tmp_path, *args, metrics=True)
    first.wait_for("fraud_events_consumed_total", 8000)
    first.signal(signal.SIGKILL)
    first.wait()
    before = len(landed(bootstrap, out, dlq).positions())
    assert 0 < before < len(sent.value), f"the kill did not land mid-stream ({before} done)"
    second = Scorer(bootstrap, (inp, out, dlq), group, tmp_path, *args, "--exit-when-idle", "2")
    assert second.wait() == 0, second.output()
    got = landed(bootstrap, out, dlq)
    assert_every_offset_once(sent, got, allow_duplicates=True)
    duplicates = sum(n - 1 for n in got.positions().values())
    assert duplicates <= 2 * max_batch


def test_sigterm_finishes_the_batch_commits_and_exits_zero(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(3)
    sent = produce(bootstrap, inp, make_values(30_000, malformed_every=101))
    group = new_group()
    scorer = Scorer(bootstrap, (inp, out, dlq), group, tmp_path, "--mode", "single", metrics=True)
    scorer.wait_for("fraud_events_consumed_total", 2000)
    scorer.signal(signal.SIGTERM)
    assert scorer.wait(30) == 0, scorer.output()

    # Every offset below each committed offset has its output: commits never run ahead.
    done = committed(bootstrap, group, inp, 3)
    got = landed(bootstrap, out, dlq).positions()
    for p, o in sent.value:
        if o < done[p]:
            assert (p, o) in got, f"committed past {(p, o)} without an output"
    assert sum(max(0, o) for o in done.values()) >= 2000

    # A restart picks up exactly where the commit left off.
    rest = Scorer(bootstrap, (inp, out, dlq), group, tmp_path, "--exit-when-idle", "2")
    assert rest.wait() == 0, rest.output()
    assert_every_offset_once(sent, landed(bootstrap, out, dlq))


def test_sigterm_when_idle_leaves_offsets_at_the_end(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(2)
    sent = produce(bootstrap, inp, make_values(500, malformed_every=10))
    group = new_group()
    scorer = Scorer(
        bootstrap, (inp, out, dlq), group, tmp_path, "--log-format", "json", metrics=True
    )
    scorer.wait_for("fraud_scores_total", 450)
    scorer.wait_for("fraud_dead_letters_total", 50)
    scorer.signal(signal.SIGTERM)
    assert scorer.wait(30) == 0, scorer.output()
    assert committed(bootstrap, group, inp, 2) == end_offsets(sent, 2)
    lines = [json.loads(line) for line in scorer.output().splitlines()]  # every line is JSON
    assert any("stopped cleanly" in line["message"] for line in lines)


def test_two_scorers_share_the_partitions_of_one_group(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(4)
    group = new_group()
    a = Scorer(bootstrap, (inp, out, dlq), group, tmp_path, "--exit-when-idle", "4", metrics=True)
    b = Scorer(bootstrap, (inp, out, dlq), group, tmp_path, "--exit-when-idle", "4", metrics=True)
    a.wait_for("fraud_assigned_partitions", 1)
    b.wait_for("fraud_assigned_partitions", 1)
    items = make_values(8000, malformed_every=50)
    sent_box = []
    writer = threading.Thread(target=lambda: sent_box.append(produce(bootstrap, inp, items)))
    writer.start()
    writer.join()
    assert a.wait() == 0, a.output()
    assert b.wait() == 0, b.output()
    (sent,) = sent_box
    assert_every_offset_once(sent, landed(bootstrap, out, dlq), allow_duplicates=True)
    for s in (a, b):
        consumed = int(s.output().rsplit("after consuming ", 1)[1].split()[0])
        assert consumed > 0, f"one scorer did no work:\n{s.output()}"
    assert committed(bootstrap, group, inp, 4) == end_offsets(sent, 4)


def test_a_produce_that_keeps_failing_stops_the_scorer_without_committing_past_it(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(1)
    items = make_values(100)
    big: Item = (
        b"card-x",
        b"\xff" * 50_000,
        [("synthetic.malformed", b"oversized")],
    )  # -> dead letter
    sent = produce(bootstrap, inp, [*items[:40], big, *items[40:]])
    big_offset = 40
    group = new_group()
    scorer = Scorer(
        bootstrap,
        (inp, out, dlq),
        group,
        tmp_path,
        "--exit-when-idle",
        "2",
        "--producer-config",
        "message.max.bytes=20000",
        "--producer-config",
        "batch.size=10000",
    )
    code = scorer.wait()
    assert code != 0, scorer.output()
    assert "refused" in scorer.output()
    done = committed(bootstrap, group, inp, 1)[0]
    assert done <= big_offset, f"committed {done}, past the record whose output failed"
    got = landed(bootstrap, out, dlq).positions()
    assert all((0, o) in got for o in range(done))
    assert (0, big_offset) not in got
    assert len(sent.value) == 101
    time.sleep(0)  # keep the module's imports honest for linters


def test_failed_deliveries_stop_the_scorer_and_nothing_after_them_is_committed(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    # A 1 ms delivery timeout with one message per request and one request in flight
    # makes librdkafka fail the deliveries queued behind the first once its timeout scan
    # (about once a second) runs: the asynchronous delivery-report path, with the real
    # broker acknowledging the rest. A window as large as the input keeps a second's
    # worth of outputs queued.
    inp, out, dlq = topics(2)
    sent = produce(bootstrap, inp, make_values(10_000, malformed_every=20))
    group = new_group()
    scorer = Scorer(
        bootstrap,
        (inp, out, dlq),
        group,
        tmp_path,
        "--exit-when-idle",
        "2",
        "--producer-config",
        "delivery.timeout.ms=1",
        "--producer-config",
        "linger.ms=0",
        "--producer-config",
        "batch.num.messages=1",
        "--producer-config",
        "max.in.flight.requests.per.connection=1",
        "--max-in-flight",
        "100000",
    )
    assert scorer.wait() != 0, scorer.output()
    assert "failed" in scorer.output()
    done = committed(bootstrap, group, inp, 2)
    got = landed(bootstrap, out, dlq).positions()
    for p, o in sent.value:
        if o < done[p]:
            assert (p, o) in got, f"committed past {(p, o)}, whose output was never acknowledged"
    assert sum(1 for pos in sent.value if pos not in got) > 0
