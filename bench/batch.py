"""Batch prediction throughput from Parquet: 1 and 2 worker processes and Ray local, next
to bare LightGBM predict on the same rows, in one run; then peak memory on 10x the rows.

    .venv/bin/python bench/batch.py [--rows 1000000] [--memory-rows 10000000] [--no-ray]

1. writes a synthetic Parquet file (`fraud-consumer produce --to-file x.parquet`, row
   groups of 100,000 rows, 1% rule-breaking rows);
2. runs `fraud-consumer batch` on it as a user would (a child process, reason codes on,
   shards of 100,000 rows) with --workers 1, --workers 2 and --engine ray --workers 2;
   reports rows/s over the whole command (start-up included) and over the scoring
   (first shard start to last shard end, from the manifest);
3. times the model's predict alone on the same rows' feature matrix (the rows the batch
   scored, not its dead letters), with one and with two LightGBM threads;
4. runs the card-history model (models/card-history) on the same file with --workers 2
   (card shards: each worker reads every row and keeps its cards), and on the second half
   with the first half as --history-context;
5. writes --memory-rows rows (the first file repeated) and runs --workers 2 on it and on
   the first file, reporting the peak resident memory (VmHWM) of the driver and of each
   worker: flat in the input size means the two runs peak alike.
Compare figures within one run; absolute ones depend on the (shared) machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from consumer.batch.sources.arrow_columns import to_columns
from consumer.cli import main as cli
from consumer.scoring.features import feature_matrix
from consumer.scoring.models import load_model
from consumer.scoring.validation import validate

MODELS = Path(__file__).resolve().parent.parent / "models"
HISTORY_MODEL = MODELS / "card-history"
SHARD_ROWS = "100000"


def _generate(path: Path, rows: int) -> float:
    started = time.perf_counter()
    args = ["produce", "--to-file", str(path), "--count", str(rows), "--seed", "3"]
    if cli([*args, "--malformed-fraction", "0.01"]) != 0:
        raise SystemExit("generation failed")
    return time.perf_counter() - started


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for c in map(int, children):
        out += [c, *_descendants(c)]
    return out


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Run:
    """`fraud-consumer batch` in a child process: wall time, scoring rate, peak memory."""

    def __init__(self, data: Path, out: Path, *extra: str, model: Path = MODELS) -> None:
        cmd = [sys.executable, "-m", "consumer", "batch", "--model", str(model)]
        cmd += ["--input", str(data), "--output", str(out), "--shard-rows", SHARD_ROWS, *extra]
        started = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        driver, workers = 0, dict[int, int]()
        while child.poll() is None:  # VmHWM: each process's own peak, read while it lives
            driver = max(driver, _vm_hwm_kib(child.pid))
            for pid in _descendants(child.pid):
                if _is_worker(pid):
                    workers[pid] = max(workers.get(pid, 0), _vm_hwm_kib(pid))
            time.sleep(0.2)
        self.seconds = time.perf_counter() - started
        if child.returncode != 0:
            raise SystemExit(
                f"batch failed: {child.stderr.read().decode() if child.stderr else ''}"
            )
        manifest = json.loads((out / "_manifest.json").read_text())
        shards = manifest["shards"].values()
        self.rows = manifest["totals"]["rows_in"]
        first = min(s["started"] for s in shards)
        last = max(s["started"] + s["seconds"] for s in shards)
        self.scoring_seconds = last - first
        self.driver_mib = driver / 1024
        self.worker_mib = [w / 1024 for w in workers.values()]


def _bare_predict(data: Path) -> tuple[float, float, int]:
    """Seconds for predict on the scored rows' features, 1 and 2 threads; rows scored."""
    model = load_model(MODELS, threads=1)
    columns = to_columns(pq.read_table(data).combine_chunks().to_batches()[0]).columns
    bad = {i for i, _ in validate(columns)}
    keep = np.asarray([i for i in range(len(columns)) if i not in bad], np.int64)
    features = feature_matrix(columns.take(keep))
    timings = []
    for threads in (1, 2):
        started = time.perf_counter()
        for i in range(0, len(features), 20_000):
            model.booster.predict(features[i : i + 20_000], num_threads=threads)
        timings.append(time.perf_counter() - started)
    return timings[0], timings[1], len(features)


def _context_run(data: Path, work: Path, n: int) -> None:
    """The history model on the second half of the rows with the first half as history
    context: what replaying the days before costs."""
    table = pq.read_table(data)
    half = n // 2
    context, day = work / "context.parquet", work / "day.parquet"
    pq.write_table(table.slice(0, half), context, row_group_size=100_000)
    pq.write_table(table.slice(half), day, row_group_size=100_000)
    r = Run(day, work / "hc", "--workers", "2", "--history-context", str(context),
            model=HISTORY_MODEL)  # fmt: skip
    print(
        f"history model, --workers 2, {n - half:,} rows scored after {half:,} rows of "
        f"context: {(n - half) / r.seconds:,.0f} scored rows/s, {n / r.seconds:,.0f} rows/s "
        "read (command)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=0)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    work = Path(tempfile.mkdtemp(prefix="fraud-bench-"))
    data = work / "tx.parquet"
    gen = _generate(data, args.rows)
    size = data.stat().st_size / 1e6
    print(f"generated {args.rows:,} rows in {gen:.0f}s ({size:.0f} MB of Parquet)", flush=True)

    runs = {
        "batch --workers 1": Run(data, work / "w1", "--workers", "1"),
        "batch --workers 2": Run(data, work / "w2", "--workers", "2"),
    }
    if not args.no_ray:
        runs["batch --engine ray --workers 2"] = Run(
            data, work / "ray", "--engine", "ray", "--workers", "2"
        )
    runs["history model, --workers 2"] = Run(
        data, work / "h2", "--workers", "2", model=HISTORY_MODEL
    )
    one, two, scored = _bare_predict(data)
    n = args.rows
    base = scored / one  # rows/s of bare predict, one thread
    bare = {"bare LightGBM predict, 1 thread": one, "bare LightGBM predict, 2 threads": two}

    print(f"\n{n:,} rows, reason codes on (batch: every input row; predict: the rows scored)")
    print(f"{'':36}{'command rows/s':>15}{'scoring rows/s':>16}{'vs bare 1 thread':>18}")
    for label, r in runs.items():
        rate = n / r.scoring_seconds
        print(f"{label:<36}{n / r.seconds:>15,.0f}{rate:>16,.0f}{rate / base:>17.0%}")
    for label, seconds in bare.items():
        rate = scored / seconds
        print(f"{label:<36}{'':>15}{rate:>16,.0f}{rate / base:>17.0%}")
    w1, w2 = runs["batch --workers 1"], runs["batch --workers 2"]
    print(f"1 -> 2 workers: {w1.scoring_seconds / w2.scoring_seconds:.2f}x (scoring)")
    h2 = runs["history model, --workers 2"]
    print(
        f"card history (models/card-history, card shards, state carried in order) / "
        f"per-event, 2 workers: {w2.seconds / h2.seconds:.2f}x (command), "
        f"{w2.scoring_seconds / h2.scoring_seconds:.2f}x (scoring)"
    )
    _context_run(data, work, n)

    if args.memory_rows:
        big = work / "big.parquet"
        table = pq.read_table(data)
        with pq.ParquetWriter(big, table.schema) as writer:
            for _ in range(args.memory_rows // n):
                writer.write_table(table, row_group_size=100_000)
        m = args.memory_rows // n * n
        print(f"\npeak resident memory (VmHWM), --workers 2; {m:,}-row file = the first, repeated")
        for rows, r in ((n, w2), (m, Run(big, work / "big", "--workers", "2"))):
            workers = ", ".join(f"{w:,.0f}" for w in sorted(r.worker_mib))
            print(
                f"{rows:>12,} rows: {r.seconds:5.0f}s ({rows / r.seconds:,.0f} rows/s), "
                f"driver {r.driver_mib:,.0f} MiB, workers {workers} MiB"
            )


if __name__ == "__main__":
    main()
