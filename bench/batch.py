"""Batch prediction throughput next to bare LightGBM predict on the same rows, one run.

    .venv/bin/python bench/batch.py [--rows 200000] [--memory-rows 5000000]

1. writes a synthetic Avro file (`fraud-consumer produce --to-file`);
2. times `fraud-consumer batch` on it end to end (read, validate, features, predict,
   reason codes, write), with and without reason codes;
3. times the model's predict alone on the same rows' feature matrix;
4. with --memory-rows, runs `batch` in a child process on a file that large and reports
   its peak resident memory.
Compare the ratios within one run; absolute figures depend on the (shared) machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fastavro

from consumer.cli import main as cli
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.features import feature_matrix
from consumer.scoring.model import load_model
from consumer.scoring.validation import validate

MODELS = Path(__file__).resolve().parent.parent / "models"


def _generate(path: Path, rows: int) -> float:
    started = time.perf_counter()
    code = cli(
        [
            "produce",
            "--to-file",
            str(path),
            "--count",
            str(rows),
            "--seed",
            "3",
            "--malformed-fraction",
            "0.01",
        ]
    )
    if code != 0:
        raise SystemExit("generation failed")
    return time.perf_counter() - started


def _batch(path: Path, out: Path, *extra: str) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the run's own summary
        code = cli(
            ["batch", "--model", str(MODELS), "--input", str(path), "--output", str(out), *extra]
        )
    if code != 0:
        raise SystemExit("batch failed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--memory-rows", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    work = Path(tempfile.mkdtemp(prefix="fraud-bench-"))
    data = work / "tx.avro"
    gen = _generate(data, args.rows)
    print(
        f"generated {args.rows:,} rows in {gen:.1f}s ({data.stat().st_size / 1e6:.1f} MB)",
        file=sys.stderr,
    )

    with_reasons = _batch(data, work / "a.avro")
    without = _batch(data, work / "b.avro", "--reason-codes", "0")

    model = load_model(MODELS)
    with data.open("rb") as f:
        rows = [r for r in fastavro.reader(f) if isinstance(r, dict)]
    for r in rows:
        r["event_time"] = int(r["event_time"].timestamp() * 1000)
    columns = TransactionColumns.from_records(rows)
    invalid = [i for i, _ in validate(columns)]
    keep = sorted(set(range(len(rows))) - set(invalid))
    valid = columns.take(__import__("numpy").asarray(keep, dtype="int64"))
    features = feature_matrix(valid)  # the rows batch scored, not its dead letters
    started = time.perf_counter()
    for i in range(0, len(features), 20_000):
        model.predict(features[i : i + 20_000])
    bare = (time.perf_counter() - started) * args.rows / len(valid)  # per input row

    n = args.rows
    print(f"\n{'':34}{'rows/s':>12}  {'vs bare predict':>16}")
    for label, seconds in (
        ("batch, reason codes (default)", with_reasons),
        ("batch, no reason codes", without),
        ("bare LightGBM predict", bare),
    ):
        print(f"{label:<34}{n / seconds:>12,.0f}  {bare / seconds:>15.1%}")

    if args.memory_rows:
        big = work / "big.avro"
        gen = _generate(big, args.memory_rows)
        print(
            f"\ngenerated {args.memory_rows:,} rows in {gen:.0f}s "
            f"({big.stat().st_size / 1e6:.0f} MB)"
        )
        started = time.perf_counter()
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "consumer",
                "batch",
                "--model",
                str(MODELS),
                "--input",
                str(big),
                "--output",
                str(work / "big-scores.avro"),
            ],
            stdout=subprocess.DEVNULL,
        )
        peak_kib = 0
        while child.poll() is None:  # VmHWM: this process's own peak, read while it lives
            peak_kib = max(peak_kib, _vm_hwm_kib(child.pid))
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            raise SystemExit("batch failed")
        print(
            f"batch over {args.memory_rows:,} rows: {seconds:.0f}s "
            f"({args.memory_rows / seconds:,.0f} rows/s), peak RSS {peak_kib / 1024:,.0f} MiB"
        )


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    main()
