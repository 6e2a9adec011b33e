"""CPU and memory of the Kafka scorer and the scoring API, for Kubernetes requests/limits.

    .venv/bin/python bench/resources.py [--backlog 200000] [--partitions 6]
        [--rates 1000,5000] [--shadow-rate 5000] [--live-seconds 20]
        [--api-rates 1000,3000] [--api-seconds 15] [--concurrency 32]

Every figure comes from /proc: CPU cores = (utime + stime) / wall seconds over the
window, RSS = VmRSS at the end of the window, peak = VmHWM (the process's high-water mark
since it started), sampled every 0.1 s by a thread of this script. Inside a CPU window
the script scrapes a scorer's /metrics at most once (live runs, at the window's end).

1. The Kafka scorer (`fraud-consumer run`, defaults) on the embedded broker (Tansu), with
   FRAUD_CONSUMER_FETCH_WAIT_MAX_MS=5 and FRAUD_CONSUMER_SESSION_TIMEOUT_MS=6000 as the
   demo sets them (see README, "The embedded broker"):
   a. a backlog of --backlog events (`fraud-consumer produce --rate 0`), then the scorer
      with `--exit-when-idle 3`: events/s and CPU from its first output to its last
      (the output records' timestamps), peak RSS, and RSS once idle after the backlog;
   b. on a fresh broker, a scorer idle after startup, then `fraud-consumer produce --rate R`
      for --live-seconds at each of --rates and at the first rate again (RSS growth):
      CPU and RSS over the middle of each run (3 s after the producer starts to 2 s
      before it ends), events/s from two scrapes of its /metrics at the window's ends;
   c. on a fresh broker, the scorer with a shadow model (--shadow-model, scoring every
      event twice) at --shadow-rate.
   The broker's own CPU in the same windows is shown for context (it is not the scorer's).
2. The scoring API (`fraud-consumer serve --workers 1`, one process: one container CPU)
   idle after startup, under wrk (bench/serve.py's Lua script, -c --concurrency,
   single-transaction requests) paced at each of --api-rates (wrk's per-request delay,
   less the latency a 3 s trial at that rate showed; the achieved rate is printed) and at
   full speed, and idle after the load. Then `--workers 2` once at idle: the supervisor,
   uvicorn's multiprocessing resource tracker and the two workers, RSS and PSS (PSS
   splits shared pages, closer to what a cgroup charges).
3. Startup: seconds from process start to /healthz 200 and to /readyz 200 (scorer: model
   loaded and clients made, then group joined with partitions; API: model, TreeSHAP
   tables and warm-up done, in both the checking process and the worker).
Client, broker and servers share the machine, which may be shared and noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from serve import _wrk  # bench/serve.py: wrk with its Lua script

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consumer.devtools.broker import EmbeddedBroker, free_port
from consumer.kafka.topics import ensure_topics, read_all
from consumer.training.generator import TransactionGenerator

ROOT = Path(__file__).resolve().parent.parent
IN, OUT, DLQ, SHADOW = "res.in", "res.out", "res.dlq", "res.shadow"
SHADOW_MODEL = ROOT / "models" / "fraud-lgbm-1.0.0.json"
TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
BROKER_ENV = {"FRAUD_CONSUMER_FETCH_WAIT_MAX_MS": "5", "FRAUD_CONSUMER_SESSION_TIMEOUT_MS": "6000"}


# ---------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included, exited children not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_bytes(pid: int, key: str) -> int:
    """A ``kB`` line of /proc/<pid>/status (VmRSS, VmHWM) in bytes; KeyError once exited."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)  # a zombie has no memory lines


def pss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise KeyError("Pss")


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return sorted(out)


@dataclass(frozen=True)
class Sample:
    t: float  # wall clock (time.time()), to line up with Kafka timestamps
    cpu: float
    rss: int
    hwm: int


class Sampler:
    """CPU seconds, VmRSS and VmHWM of one process every ``interval`` s, until it exits."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _take(self) -> Sample | None:
        try:
            s = Sample(
                time.time(),
                cpu_seconds(self.pid),
                status_bytes(self.pid, "VmRSS"),
                status_bytes(self.pid, "VmHWM"),
            )
        except (OSError, KeyError, IndexError, ValueError):
            return None
        with self._lock:
            self.samples.append(s)
        return s

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if self._take() is None:
                return

    def mark(self) -> Sample:
        """A sample now, from the caller's thread."""
        s = self._take()
        if s is None:
            raise SystemExit(f"process {self.pid} exited while being measured")
        return s

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_at(self, t: float) -> float:
        """CPU seconds at wall time ``t``, interpolated between the samples around it."""
        deadline = time.time() + 1.0
        while True:  # a time just past the last sample: wait for the next one
            with self._lock:
                samples = list(self.samples)
            before = [s for s in samples if s.t <= t]
            after = [s for s in samples if s.t >= t]
            if after or time.time() > deadline or not self._thread.is_alive():
                break
            time.sleep(0.05)
        if not before or not after:
            raise SystemExit(f"no samples of process {self.pid} around {t}")
        a, b = before[-1], after[0]
        if b.t == a.t:
            return a.cpu
        return a.cpu + (b.cpu - a.cpu) * (t - a.t) / (b.t - a.t)

    def last(self) -> Sample:
        with self._lock:
            return self.samples[-1]

    def near(self, t: float) -> Sample:
        """The last sample taken at or before ``t`` (the first one if none)."""
        with self._lock:
            before = [s for s in self.samples if s.t <= t]
            return before[-1] if before else self.samples[0]


def cores(sampler: Sampler, t0: float, t1: float) -> float:
    return (sampler.cpu_at(t1) - sampler.cpu_at(t0)) / (t1 - t0)


# ---------------------------------------------------------------- processes and probes


def status_code(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return None


def wait_ready(port: int, proc: subprocess.Popen[bytes], started: float) -> tuple[float, float]:
    """Seconds from ``started`` to /healthz 200 and to /readyz 200, polling every 25 ms."""
    healthy: float | None = None
    deadline = started + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode} before /readyz 200")
        if healthy is None and status_code(port, "/healthz") == 200:
            healthy = time.time() - started
        if healthy is not None and status_code(port, "/readyz") == 200:
            return healthy, time.time() - started
        time.sleep(0.025)
    raise SystemExit(f"{proc.args!r}: no /readyz 200 after 120 s")


def metric_sum(port: int, *names: str) -> float:
    """The sum of the ``_total`` samples of the named counters on the scorer's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        if family.name in names
        for s in family.samples
        if s.name.endswith("_total")
    )


def acknowledged(port: int) -> float:
    return metric_sum(port, "fraud_scores", "fraud_dead_letters")


class Processes:
    """Every process this script starts, stopped (TERM, then KILL) on the way out."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._procs: list[subprocess.Popen[bytes]] = []
        self._brokers: list[EmbeddedBroker] = []

    def start(self, argv: list[str], log: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.work / log).open("ab") as out:
            proc = subprocess.Popen(
                argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
            )
        self._procs.append(proc)
        return proc

    def broker(self, name: str, partitions: int) -> EmbeddedBroker:
        broker = EmbeddedBroker(log_path=self.work / f"{name}.log")
        self._brokers.append(broker)
        broker.start()
        ensure_topics(
            {"bootstrap.servers": broker.bootstrap_servers},
            {IN: partitions, OUT: partitions, DLQ: 1, SHADOW: partitions},
        )
        return broker

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int | None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def close(self) -> None:
        for proc in reversed(self._procs):
            self.stop(proc)
        for broker in reversed(self._brokers):
            broker.stop()


@contextlib.contextmanager
def processes(work: Path) -> Iterator[Processes]:
    procs = Processes(work)
    try:
        yield procs
    finally:
        procs.close()


def broker_pid(broker: EmbeddedBroker) -> int:
    proc = broker._proc  # the Tansu process, for its CPU next to the scorer's
    assert proc is not None
    return proc.pid


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "consumer", *args]


# ---------------------------------------------------------------- results


@dataclass
class Row:
    label: str
    rate: float | None  # events/s or requests/s
    cores: float
    rss: int
    hwm: int
    extra: str = ""


def mib(n: int) -> str:
    return f"{n / MIB:,.0f}"


def print_rows(title: str, rate_label: str, extra_label: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(
        f"  {'phase':<40}{rate_label:>11}{'CPU cores':>11}{'RSS MiB':>9}{'peak MiB':>10}"
        f"  {extra_label}"
    )
    for r in rows:
        rate = "-" if r.rate is None else f"{r.rate:,.0f}"
        print(
            f"  {r.label:<40}{rate:>11}{r.cores:>11.2f}{mib(r.rss):>9}{mib(r.hwm):>10}  {r.extra}"
        )


# ---------------------------------------------------------------- 1. the scorer


def scorer_argv(broker: EmbeddedBroker, port: int, group: str, *more: str) -> list[str]:
    return cli(
        "run",
        "--bootstrap-servers", broker.bootstrap_servers,
        "--input-topic", IN, "--output-topic", OUT, "--dlq-topic", DLQ,
        "--group-id", group,
        "--metrics-address", "127.0.0.1", "--metrics-port", str(port),
        *more,
    )  # fmt: skip


def producer_argv(
    broker: EmbeddedBroker, count: int, rate: int, seed: int, parts: int
) -> list[str]:
    return cli(
        "produce",
        "--bootstrap-servers", broker.bootstrap_servers, "--topic", IN,
        "--count", str(count), "--rate", str(rate), "--seed", str(seed),
        "--partitions", str(parts),
    )  # fmt: skip


def scorer_backlog(procs: Processes, events: int, parts: int) -> tuple[list[Row], float, float]:
    broker = procs.broker("broker-backlog", parts)
    producer = procs.start(producer_argv(broker, events, 0, 3, parts), "produce.log", {})
    if producer.wait(600) != 0:
        raise SystemExit(f"producer failed; see {procs.work / 'produce.log'}")
    port = free_port()
    started = time.time()
    proc = procs.start(
        scorer_argv(broker, port, "res-backlog", "--exit-when-idle", "3"),
        "scorer-backlog.log",
        BROKER_ENV,
    )
    scorer, tansu = Sampler(proc.pid), Sampler(broker_pid(broker))
    healthy, ready = wait_ready(port, proc, started)
    code = proc.wait(600)  # scores the backlog, idles 3 s, commits, exits
    scorer.stop()
    tansu.stop()
    if code != 0:
        raise SystemExit(f"backlog scorer exited {code}; see {procs.work}")
    stamps = [m.timestamp()[1] / 1000 for m in read_all(broker.bootstrap_servers, OUT)]
    dead = len(read_all(broker.bootstrap_servers, DLQ))
    broker.stop()
    if len(stamps) + dead < events:
        raise SystemExit(f"backlog: {len(stamps)} scores + {dead} dead letters of {events}")
    first, last = min(stamps), max(stamps)
    end = scorer.last()
    idle = scorer.near(last + 2.0)  # idle before the exit, 3 s after the last batch
    if idle.t < last + 1.0:
        raise SystemExit(f"backlog scorer exited {idle.t - last:.1f} s after its last output")
    rows = [
        Row(
            f"backlog of {events:,}, full speed",
            events / (last - first),
            cores(scorer, first, last),
            scorer.near(last).rss,
            end.hwm,
            f"{cores(tansu, first, last):.2f}",
        ),
        Row(
            f"idle {idle.t - last:.1f} s after the backlog",
            None,
            cores(scorer, last + 0.5, idle.t),
            idle.rss,
            end.hwm,
        ),
    ]
    return rows, healthy, ready


def live_window(
    procs: Processes,
    produce: list[str],
    samplers: tuple[Sampler, Sampler],
    port: int,
    count: int,
    seconds: float,
) -> tuple[float, float, float, Sample]:
    """Run ``produce`` (``count`` events over ``seconds``); events/s, scorer and broker
    cores, end sample."""
    scorer, tansu = samplers
    base = acknowledged(port)
    producer = procs.start(produce, "produce.log", {})
    time.sleep(3.0)  # the producer's startup and the first second of traffic
    a0, s0 = acknowledged(port), scorer.mark()
    time.sleep(seconds - 5.0)
    a1, s1 = acknowledged(port), scorer.mark()
    if producer.wait(120) != 0:
        raise SystemExit(f"producer failed; see {procs.work / 'produce.log'}")
    deadline = time.time() + 60
    while acknowledged(port) < base + count:
        if time.time() > deadline:
            rate = count / seconds
            raise SystemExit(f"scorer did not catch up at {rate:,.0f}/s; see {procs.work}")
        time.sleep(0.2)
    return (
        (a1 - a0) / (s1.t - s0.t),
        (s1.cpu - s0.cpu) / (s1.t - s0.t),
        cores(tansu, s0.t, s1.t),
        s1,
    )


def scorer_live(
    procs: Processes, rates: list[int], seconds: float, parts: int, shadow: bool
) -> tuple[list[Row], float, float]:
    broker = procs.broker("broker-shadow" if shadow else "broker-live", parts)
    port = free_port()
    more = ("--shadow-model", str(SHADOW_MODEL), "--shadow-topic", SHADOW) if shadow else ()
    name = "scorer-shadow" if shadow else "scorer-live"
    started = time.time()
    proc = procs.start(scorer_argv(broker, port, "res-" + name, *more), name + ".log", BROKER_ENV)
    scorer, tansu = Sampler(proc.pid), Sampler(broker_pid(broker))
    rows = []
    try:
        healthy, ready = wait_ready(port, proc, started)
        if not shadow:
            time.sleep(2.0)
            s0 = scorer.mark()
            time.sleep(5.0)
            s1 = scorer.mark()
            idle_broker = cores(tansu, s0.t, s1.t)
            idle_cores = (s1.cpu - s0.cpu) / (s1.t - s0.t)
            rows.append(
                Row("idle after startup", None, idle_cores, s1.rss, s1.hwm, f"{idle_broker:.2f}")
            )
        seen: set[int] = set()
        for i, rate in enumerate(rates):
            count = int(rate * seconds)
            produce = producer_argv(broker, count, rate, 10 + i, parts)
            rate_s, cores_s, broker_s, end = live_window(
                procs, produce, (scorer, tansu), port, count, seconds
            )
            label = f"live {rate:,}/s" + (" with shadow model" if shadow else "")
            label += " (again)" if rate in seen else ""
            seen.add(rate)
            rows.append(Row(label, rate_s, cores_s, end.rss, end.hwm, f"{broker_s:.2f}"))
        if shadow:
            shadowed = metric_sum(port, "fraud_shadow_agreement")
            rows[-1].extra += f"  ({shadowed:,.0f} events shadow-scored in all)"
    finally:
        code = procs.stop(proc)
        scorer.stop()
        tansu.stop()
        broker.stop()
    if code != 0:
        raise SystemExit(f"{name} exited {code}; see {procs.work}")
    return rows, healthy, ready


# ---------------------------------------------------------------- 2. the API


def api_argv(port: int, workers: int) -> list[str]:
    return cli(
        "serve", "--workers", str(workers), "--port", str(port), "--host", "127.0.0.1"
    )  # fmt: skip


def api_one_worker(
    procs: Processes, rates: list[int], seconds: int, concurrency: int
) -> tuple[list[Row], float, float]:
    events = [e.record for e in TransactionGenerator(5, fraud_rate=0.02).take(10)]
    body = procs.work / "one.json"
    body.write_text(json.dumps(events[0]))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.time()
    proc = procs.start(api_argv(port, 1), "api-1.log", {})
    sampler = Sampler(proc.pid)
    rows = []
    try:
        healthy, ready = wait_ready(port, proc, started)
        if children(proc.pid):
            raise SystemExit(f"--workers 1 started child processes: {children(proc.pid)}")
        time.sleep(2.0)
        s0 = sampler.mark()
        time.sleep(5.0)
        s1 = sampler.mark()
        rows.append(
            Row("idle after startup", None, (s1.cpu - s0.cpu) / (s1.t - s0.t), s1.rss, s1.hwm)
        )
        runs: list[tuple[str, float]] = [(f"paced at {r:,}/s", r) for r in rates]
        for label, rate in [*runs, ("full speed", 0.0)]:
            pause = 0.0
            if rate:  # wrk paces with a delay per request: a short run to learn the latency
                nominal = 1000 * concurrency / rate
                trial = _wrk(url + "/v1/score", body, 3, concurrency, pause_ms=nominal)
                latency = 1000 * concurrency / trial["rate"] - nominal
                pause = max(0.0, nominal - latency)
            s0 = sampler.mark()
            r = _wrk(url + "/v1/score", body, seconds, concurrency, pause_ms=pause)
            s1 = sampler.mark()
            rows.append(
                Row(
                    label,
                    r["rate"],
                    (s1.cpu - s0.cpu) / (s1.t - s0.t),
                    s1.rss,
                    s1.hwm,
                    f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms",
                )
            )
        time.sleep(2.0)
        s0 = sampler.mark()
        time.sleep(5.0)
        s1 = sampler.mark()
        rows.append(
            Row("idle after the load", None, (s1.cpu - s0.cpu) / (s1.t - s0.t), s1.rss, s1.hwm)
        )
    finally:
        code = procs.stop(proc)
        sampler.stop()
    if code != 0:
        raise SystemExit(f"API exited {code}; see {procs.work / 'api-1.log'}")
    return rows, healthy, ready


def role(pid: int, supervisor: int) -> str:
    if pid == supervisor:
        return "supervisor"
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    if "spawn_main" in cmdline:
        return "worker"
    if "resource_tracker" in cmdline:
        return "multiprocessing resource tracker"
    return cmdline[:40]


def api_two_workers(procs: Processes) -> tuple[list[str], float, float]:
    port = free_port()
    started = time.time()
    proc = procs.start(api_argv(port, 2), "api-2.log", {})
    try:
        healthy, ready = wait_ready(port, proc, started)
        time.sleep(5.0)  # both workers loaded and warm (/readyz answers from either)
        pids = [proc.pid, *children(proc.pid)]
        roles = [role(pid, proc.pid) for pid in pids]
        if roles.count("worker") != 2:
            raise SystemExit(f"--workers 2: processes {list(zip(pids, roles, strict=True))}")
        lines, rss, pss = [], 0, 0
        for pid, name in zip(pids, roles, strict=True):
            r, p = status_bytes(pid, "VmRSS"), pss_bytes(pid)
            rss, pss = rss + r, pss + p
            lines.append(f"  {name:<40}{mib(r):>9} MiB RSS {mib(p):>6} MiB PSS")
        total = f"sum ({len(pids)} processes)"
        lines.append(f"  {total:<40}{mib(rss):>9} MiB RSS {mib(pss):>6} MiB PSS")
    finally:
        code = procs.stop(proc)
    if code != 0:
        raise SystemExit(f"API (2 workers) exited {code}; see {procs.work / 'api-2.log'}")
    return lines, healthy, ready


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rates", default="1000,5000")
    parser.add_argument("--shadow-rate", type=int, default=5000)
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--api-rates", default="1000,3000")
    parser.add_argument("--api-seconds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    api_rates = [int(r) for r in args.api_rates.split(",")]
    if args.live_seconds < 10:
        raise SystemExit("--live-seconds: at least 10")
    work = Path(tempfile.mkdtemp(prefix="fraud-bench-resources-"))
    print(f"fraud-consumer resources, {os.cpu_count()} cores (logs in {work})", flush=True)
    startup: list[tuple[str, float, float]] = []
    with processes(work) as procs:
        backlog, h, r = scorer_backlog(procs, args.backlog, args.partitions)
        startup.append(("scorer, backlog waiting", h, r))
        live, h, r = scorer_live(
            procs, [*rates, rates[0]], args.live_seconds, args.partitions, shadow=False
        )
        startup.append(("scorer, empty topic", h, r))
        shadow, h, r = scorer_live(
            procs, [args.shadow_rate], args.live_seconds, args.partitions, shadow=True
        )
        startup.append(("scorer with a shadow model", h, r))
        print_rows(
            "Kafka scorer: fraud-consumer run, defaults (--inference-threads 0: all cores), "
            "embedded broker",
            "events/s",
            "broker cores",
            backlog + live + shadow,
        )
        api, h, r = api_one_worker(procs, api_rates, args.api_seconds, args.concurrency)
        startup.append(("API --workers 1", h, r))
        print_rows(
            f"Scoring API: fraud-consumer serve --workers 1 (one process); wrk -t1 "
            f"-c{args.concurrency}, one transaction per request, {args.api_seconds} s per run",
            "req/s",
            "latency",
            api,
        )
        two, h, r = api_two_workers(procs)
        startup.append(("API --workers 2", h, r))
        print("\nScoring API: fraud-consumer serve --workers 2, idle after startup")
        print("\n".join(two))
    print("\nStartup: seconds from process start")
    print(f"  {'process':<40}{'/healthz 200':>13}{'/readyz 200':>13}")
    for label, healthy, ready in startup:
        print(f"  {label:<40}{healthy:>13.2f}{ready:>13.2f}")
    print(
        "\nCPU cores: utime+stime / wall over the window; RSS: VmRSS at its end; "
        "peak: VmHWM since the process started."
    )


if __name__ == "__main__":
    main()
