"""A network outage between the scorer and the broker, through a proxy the test cuts.

Readiness must follow the outage (not ready while the broker is unreachable, ready again
once the group hands back partitions), liveness must not (a restart fixes no broker), and
the outage must cost tens of log lines, not one per reconnect attempt. Tools that
produce must say how many records were not delivered, never exit as if all were.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consumer.devtools.broker import EmbeddedBroker, free_port
from consumer.kafka.topics import TopicWriter, ensure_topics, read_all
from consumer.scoring.errors import DeliveryError
from tests.integration.helpers import TEST_ENV, Scorer, make_values, new_group, produce
from tests.integration.proxy import CuttableProxy

pytestmark = pytest.mark.integration


@dataclass
class Proxied:
    via_proxy: str  # the broker advertises the proxy: every connection goes through it
    proxy: CuttableProxy


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Proxied]:
    """An embedded broker of its own that advertises a proxy's port (always embedded:
    the outage is between client and proxy, whatever broker a run uses elsewhere)."""
    proxy_port = free_port()
    with EmbeddedBroker(advertised_port=proxy_port, log_path=tmp_path / "broker.log") as broker:
        proxy = CuttableProxy(proxy_port, broker.port).start()
        try:
            yield Proxied(broker.bootstrap_servers, proxy)
        finally:
            proxy.close()


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait_status(port: int, path: str, want: int, timeout: float) -> float:
    started = time.monotonic()
    while _status(port, path) != want:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{path} did not answer {want} within {timeout}s")
        time.sleep(0.5)
    return time.monotonic() - started


_WARNING_PLUS = re.compile(r" (WARNING|ERROR|CRITICAL) ")


def test_outage_makes_the_scorer_unready_not_unhealthy_and_costs_few_log_lines(
    proxied: Proxied, tmp_path: Path
) -> None:
    names = ("o.in", "o.out", "o.dlq")
    ensure_topics({"bootstrap.servers": proxied.via_proxy}, dict.fromkeys(names, 3))
    produce(proxied.via_proxy, names[0], make_values(300))
    scorer = Scorer(
        proxied.via_proxy,
        names,
        new_group(),
        tmp_path,
        "--readiness-broker-down-s",
        "3",
        "--readiness-unassigned-s",
        "5",
        metrics=True,
    )
    try:
        scorer.wait_for("fraud_events_consumed_total", 300)
        _wait_status(scorer.metrics_port, "/readyz", 200, 30)
        lines_before = len(scorer.output().splitlines())

        proxied.proxy.cut()
        cut_at = time.monotonic()
        unready_after = _wait_status(scorer.metrics_port, "/readyz", 503, 20)
        assert scorer.metric("fraud_ready") == 0
        assert scorer.metric("fraud_kafka_reachable") == 0
        while time.monotonic() - cut_at < 25:  # a 25 s outage, liveness checked throughout
            assert _status(scorer.metrics_port, "/healthz") == 200
            time.sleep(1)
        during = scorer.output().splitlines()[lines_before:]

        proxied.proxy.restore()
        _wait_status(scorer.metrics_port, "/readyz", 200, 60)
        assert scorer.metric("fraud_kafka_reachable") == 1
        assert scorer.metric("fraud_kafka_client_errors_total") > 0
        assert scorer.proc.poll() is None, "the outage must not stop the scorer"
    finally:
        scorer.signal(signal.SIGTERM)
        scorer.wait(60)

    noisy = [line for line in during if _WARNING_PLUS.search(line)]
    assert unready_after < 15
    assert len(noisy) <= 30, f"{len(noisy)} warning/error lines in a 25 s outage:\n" + "\n".join(
        noisy[:40]
    )
    assert re.search(r"\(repeated \d+ times in the last \d+ s\)", scorer.output()), (
        "suppressed lines must be summarized"
    )


def test_writer_says_how_many_records_were_not_delivered(proxied: Proxied) -> None:
    topic = "w.out"
    ensure_topics({"bootstrap.servers": proxied.via_proxy}, {topic: 1})
    conf = {
        "bootstrap.servers": proxied.via_proxy,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 4000,
    }
    writer = TopicWriter(conf, topic, total=5000)
    for i in range(1000):
        writer.send(None, b"%d" % i)
    writer._producer.flush(10)  # the first thousand are in
    proxied.proxy.cut()
    with pytest.raises(DeliveryError) as caught:
        for i in range(1000, 5000):
            writer.send(None, b"%d" % i)
        writer.close()
    message = str(caught.value)
    not_delivered = int(message.split(" of ", 1)[0].replace(",", ""))
    assert " of 5,000 records were not delivered to w.out" in message
    proxied.proxy.restore()
    delivered = len(read_all(proxied.via_proxy, topic))
    assert delivered >= 1000
    # Records in flight at the cut may have been written though never confirmed.
    assert delivered + not_delivered >= 5000
    assert not_delivered == 5000 - writer.delivered


def _until_delivered(
    bootstrap: str, topic: str, at_least: int, proc: subprocess.Popen[str]
) -> None:
    """Wait until ``topic`` holds ``at_least`` records (the producer is mid-run)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "probe"})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the producer finished before the cut"
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=2)
            except Exception:  # the topic is not there yet
                high = 0
            if high >= at_least:
                return
            assert time.monotonic() < deadline, f"{topic} never reached {at_least} records"
            time.sleep(0.05)
    finally:
        consumer.close()


def test_produce_command_exits_nonzero_saying_how_many_were_not_delivered(
    proxied: Proxied,
) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "consumer",
            "produce",
            "--bootstrap-servers",
            proxied.via_proxy,
            "--topic",
            "p.in",
            "--count",
            "20000",
            "--rate",
            "4000",
            "--producer-config",
            "message.timeout.ms=4000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **TEST_ENV},
    )
    _until_delivered(proxied.via_proxy, "p.in", 2000, proc)  # mid-run: some delivered
    proxied.proxy.cut()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    match = re.search(r"([\d,]+) of 20,000 records were not delivered to p\.in", err)
    assert match, err
    proxied.proxy.restore()
    delivered = len(read_all(proxied.via_proxy, "p.in"))
    assert delivered + int(match.group(1).replace(",", "")) >= 20_000
    assert delivered < 20_000
