"""The demo's batch part: a Parquet file of labelled synthetic traffic scored into a
dataset on every core, the champion compared with the challenger on the way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def cli(*args: str, log: Path) -> subprocess.CompletedProcess[str]:
    with log.open("a") as err:
        return subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "consumer", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=False,
        )


def run_batch_demo(workdir: Path, models: Path, challenger: str, say: Any, rows: int) -> bool:
    data, out, log = (
        workdir / "transactions.parquet",
        workdir / "batch-scores",
        workdir / "batch.log",
    )
    made = cli("produce", "--to-file", str(data), "--count", str(rows), "--seed", "3",
                "--fraud-rate", "0.02", "--malformed-fraction", "0.005", log=log)  # fmt: skip
    if made.returncode != 0:
        say(f"  producing the Parquet file failed; see {log}")
        return False
    say(f"- batch prediction: {rows:,} labelled transactions in {data.name}, every core, "
        f"compared with {challenger} (fraud-consumer batch --compare-model)")  # fmt: skip
    report = workdir / "batch-report.html"
    run = cli("batch", "--input", str(data), "--output", str(out), "--model", str(models),
               "--compare-model", str(models / challenger), "--shard-rows", "50000",
               "--report", str(report), log=log)  # fmt: skip
    if run.returncode != 0:
        say(f"  batch failed ({run.returncode}); see {log}")
        return False
    for line in _highlights(run.stdout.splitlines()):
        say(f"  {line}")
    say(f"  dataset {out}/, report {report}")
    return True


def _highlights(lines: list[str]) -> list[str]:
    """The summary's totals, decisions, shards, the comparison's confusion table and
    score shift, and its by-label table (not the histograms)."""
    out = [line for line in lines if line.startswith(("rows read", "scored ", "dead-lettered",
                                                      "decisions   ", "shards"))]  # fmt: skip
    starts = [i for i, line in enumerate(lines) if line.startswith("compared with")]
    shifts = [i for i, line in enumerate(lines) if line.startswith("score shift")]
    if starts and shifts:
        out += lines[starts[0] : shifts[0] + 1]
    labels = [i for i, line in enumerate(lines) if line.startswith("by label")]
    if labels:
        out.append(lines[labels[0]])
        for line in lines[labels[0] + 1 :]:
            if not line.startswith("  "):
                break
            out.append(line)
    return out
