"""`fraud-consumer demo`: the whole service on the embedded broker, then a report.

1. start the embedded broker and create the topics;
2. produce a backlog (with a share of malformed events), start the scorer processes
   in one consumer group and time how fast they catch up;
3. produce live traffic at a steady rate and watch the scorers' /metrics;
4. let the scorers exit when idle, read every topic back and report: events in, scored,
   dead-lettered by reason, decisions, fraud caught against the generator's labels,
   throughput, latency, and whether every input offset ended in exactly one place;
   Model lifecycle along the way: the scorers serve 1.0.0 from a model directory with a
   freshly trained 1.1.0 as a shadow (its scores to a topic of their own); halfway
   through the live traffic 1.1.0 is promoted by renaming CURRENT and the scorers take
   it over without a restart; afterwards CURRENT is rolled back;
5. batch prediction: a Parquet file scored into a dataset on every core, 1.0.0 compared
   with 1.1.0 (decisions, score shift, by fraud pattern);
6. start the HTTP scoring API with 1.1.0 as a canary for 20% of cards, score one
   transaction and an array with a bad item, and put a short load on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from consumer.devtools.broker import EmbeddedBroker, free_port
from consumer.devtools.demo_api import run_api_demo
from consumer.devtools.demo_batch import run_batch_demo
from consumer.devtools.demo_history import run_history_demo
from consumer.devtools.demo_models import CHALLENGER, CHAMPION, prepare_models
from consumer.devtools.demo_report import DemoReport, read_topics
from consumer.kafka.topics import ensure_topics
from consumer.scoring.models import write_current
from consumer.stream.settings import DEFAULT_DLQ, DEFAULT_INPUT, DEFAULT_OUTPUT

SHADOW_TOPIC = DEFAULT_OUTPUT + ".shadow"


@dataclass(frozen=True)
class DemoSpec:
    duration: float
    rate: int
    backlog: int
    malformed_fraction: float
    scorers: int
    partitions: int
    batch_rows: int = 300_000
    history_rows: int = 150_000


def _say(text: str) -> None:
    print(text, flush=True)


class _Scorers:
    """Scorer processes of one group, each with its own metrics port and log file."""

    def __init__(self, n: int, env: dict[str, str], workdir: Path) -> None:
        self.ports = [free_port() for _ in range(n)]
        self.logs = [workdir / f"scorer-{i}.log" for i in range(n)]
        self.procs = []
        for port, log_path in zip(self.ports, self.logs, strict=True):
            with log_path.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(  # noqa: S603 - our own CLI
                        [
                            sys.executable,
                            "-m",
                            "consumer",
                            "run",
                            "--exit-when-idle",
                            "5",
                            "--metrics-port",
                            str(port),
                            "--metrics-address",
                            "127.0.0.1",
                        ],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )

    def totals(self) -> dict[str, float]:
        sums: dict[str, float] = {}
        for port in self.ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
        return sums

    def wait(self, timeout: float) -> list[int | None]:
        deadline = time.monotonic() + timeout
        codes: list[int | None] = []
        for p in self.procs:
            try:
                codes.append(p.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                p.terminate()
                codes.append(None)
        return codes


def _progress(scorers: _Scorers, started: float) -> str:
    t = scorers.totals()
    return (
        f"  t={time.monotonic() - started:5.1f}s"
        f"  consumed {t.get('fraud_events_consumed_total', 0):>7.0f}"
        f"  scored {t.get('fraud_scores_total', 0):>7.0f}"
        f"  dead-lettered {t.get('fraud_dead_letters_total', 0):>5.0f}"
        f"  lag {t.get('fraud_consumer_lag_messages', 0):>6.0f}"
    )


def _produce(
    env: dict[str, str],
    count: int,
    rate: int,
    seed: int,
    malformed: float,
    partitions: int,
    log_path: Path,
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-m",
                "consumer",
                "produce",
                "--count",
                str(count),
                "--rate",
                str(rate),
                "--seed",
                str(seed),
                "--malformed-fraction",
                str(malformed),
                "--partitions",
                str(partitions),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_demo(spec: DemoSpec) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="fraud-demo-"))
    _say(f"fraud-consumer demo (logs in {workdir})")
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        _say(f"- embedded broker (Tansu) on {broker.bootstrap_servers}")
        env = {
            **os.environ,
            "FRAUD_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            # The embedded broker waits out fetch.wait.max.ms even when data arrives,
            # and joins groups slowly with the default session timeout.
            "FRAUD_CONSUMER_FETCH_WAIT_MAX_MS": "5",
            "FRAUD_CONSUMER_SESSION_TIMEOUT_MS": "6000",
        }
        ensure_topics(
            {"bootstrap.servers": broker.bootstrap_servers},
            {
                DEFAULT_INPUT: spec.partitions,
                DEFAULT_OUTPUT: spec.partitions,
                DEFAULT_DLQ: 1,
                SHADOW_TOPIC: spec.partitions,
            },
        )
        _say(
            f"- topics {DEFAULT_INPUT} ({spec.partitions} partitions), {DEFAULT_OUTPUT}, "
            f"{DEFAULT_DLQ}, {SHADOW_TOPIC}"
        )
        models, trained = prepare_models(workdir)
        _say(
            f"- models in {models}: {CHAMPION} serving (CURRENT), challenger {CHALLENGER} "
            f"trained in {trained:.0f}s on other synthetic data; the scorers shadow it"
        )
        env.update(
            FRAUD_MODEL=str(models),
            FRAUD_MODEL_POLL_S="1",
            FRAUD_SHADOW_MODEL=str(models / CHALLENGER),
            FRAUD_SHADOW_TOPIC=SHADOW_TOPIC,
        )

        producer_log = workdir / "producer.log"
        backlog = _produce(
            env, spec.backlog, 0, 1, spec.malformed_fraction, spec.partitions, producer_log
        )
        if backlog.wait() != 0:
            _say(f"producer failed; see {producer_log}")
            return 1
        _say(f"- backlog of {spec.backlog} events produced; starting {spec.scorers} scorers")
        started = time.monotonic()
        scorers = _Scorers(spec.scorers, env, workdir)
        while scorers.totals().get("fraud_events_consumed_total", 0) < spec.backlog:
            if time.monotonic() - started > 120 or any(p.poll() is not None for p in scorers.procs):
                _say(f"scorers did not catch up; see {workdir}")
                scorers.wait(10)
                return 1
            time.sleep(0.5)
        _say(f"- backlog consumed after {time.monotonic() - started:.1f}s (including group join)")

        live_count = int(spec.duration * spec.rate)
        _say(f"- live traffic: {live_count} events at {spec.rate}/s")
        live = _produce(
            env, live_count, spec.rate, 2, spec.malformed_fraction, spec.partitions, producer_log
        )
        live_started = time.monotonic()
        promoted = False
        while live.poll() is None:
            time.sleep(5)
            _say(_progress(scorers, live_started))
            if not promoted and time.monotonic() - live_started >= spec.duration / 2:
                write_current(models, CHALLENGER)
                promoted = True
                _say(
                    f"- promoted {CHALLENGER}: CURRENT renamed; the scorers load it and "
                    "swap it in between two batches, no restart"
                )
        _say("- producer done; scorers exit after 5s idle")
        codes = scorers.wait(60)
        _say(f"- scorer exit codes: {codes}")

        _say("- reading every topic back")
        data = read_topics(
            broker.bootstrap_servers, DEFAULT_INPUT, DEFAULT_OUTPUT, DEFAULT_DLQ, SHADOW_TOPIC
        )
    report = DemoReport(data, backlog_size=spec.backlog)
    _say("")
    _say(report.render())
    ok = report.accounted_for and all(c == 0 for c in codes) and live.returncode == 0
    _say("")
    write_current(models, CHAMPION)
    _say(f"- rolled back: CURRENT names {CHAMPION} again")
    return 0 if _offline_and_api(spec, workdir, models) and ok else 1


def _offline_and_api(spec: DemoSpec, workdir: Path, models: Path) -> bool:
    """The faces after the stream: batch at scale, card history, the API."""
    ok = run_batch_demo(workdir, models, CHALLENGER, _say, spec.batch_rows)
    _say("")
    ok = run_history_demo(workdir, _say, spec.history_rows) and ok
    _say("")
    return run_api_demo(workdir, _say, models, CHALLENGER) and ok
