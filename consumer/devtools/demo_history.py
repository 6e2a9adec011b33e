"""The demo's card-history part: what history adds (the shipped history model's uplift
table), then a day of synthetic traffic with history-only fraud scored in batch with the
days before it as history context and the daily merchant risk snapshot built from the
labels that had arrived, the per-event model shadowing it so each fraud pattern shows
what each model caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from consumer.devtools.demo_batch import cli
from consumer.scoring.merchant_risk import DAY_MS, snapshot_name
from consumer.scoring.models import default_model_path

HISTORY_MODEL = "card-history/fraud-lgbm-2.0.0.json"
PER_EVENT_MODEL = "fraud-lgbm-1.0.0.json"


def run_history_demo(workdir: Path, say: Any, rows: int) -> bool:
    models = default_model_path()
    card = json.loads((models / HISTORY_MODEL).read_text())
    say(f"- card history: {card['name']}-{card['version']} ({card['feature_set']}) against a "
        "per-event model trained on the same events and time split (holdout):")  # fmt: skip
    for line in card["metrics"]["uplift_table"].splitlines():
        say(f"    {line}")
    log = workdir / "history.log"
    traffic, labels = workdir / "history-traffic.parquet", workdir / "history-labels.parquet"
    made = cli("produce", "--history-patterns", "--count", str(rows), "--seed", "11",
               "--fraud-rate", "0.02", "--to-file", str(traffic), "--labels-file", str(labels),
               log=log)  # fmt: skip
    if made.returncode != 0:
        say(f"  producing history traffic failed; see {log}")
        return False
    context, day, as_of = _split_last_day(traffic, workdir)
    risk = workdir / "merchant-risk"
    built = cli("merchant-risk", "build", "--transactions", str(context), "--labels",
                str(labels), "--as-of", as_of, "--out", str(risk), log=log)  # fmt: skip
    if built.returncode != 0:
        say(f"  building the merchant risk snapshot failed; see {log}")
        return False
    say(f"  {built.stdout.strip()}")
    out = workdir / "history-scores"
    run = cli("batch", "--model", str(models / HISTORY_MODEL), "--merchant-risk", str(risk),
              "--input", str(day), "--history-context", str(context), "--output", str(out),
              "--shadow-model", str(models / PER_EVENT_MODEL), log=log)  # fmt: skip
    if run.returncode != 0:
        say(f"  batch with history failed ({run.returncode}); see {log}")
        return False
    say(f"  the last day ({day.name}) scored with the days before it as card history, "
        "on every core (shards by card); by fraud pattern, the history model and the "
        "per-event 1.0.0 shadowing it:")  # fmt: skip
    for line in _by_label(run.stdout.splitlines()):
        say(f"    {line}")
    return True


def _split_last_day(traffic: Path, workdir: Path) -> tuple[Path, Path, str]:
    """The traffic before the last whole day (history context) and that day (to score)."""
    table = pq.read_table(traffic)
    ms = pc.cast(table.column("event_time"), "int64").to_numpy()
    last = int(ms.max()) // DAY_MS * DAY_MS - DAY_MS
    context, day = workdir / "history-context.parquet", workdir / "history-day.parquet"
    pq.write_table(
        table.filter(pc.less(pc.cast(table.column("event_time"), "int64"), last)), context
    )
    in_day = (ms >= last) & (ms < last + DAY_MS)
    pq.write_table(table.filter(in_day), day)

    return context, day, snapshot_name(last).removeprefix("merchant-risk-")


def _by_label(lines: list[str]) -> list[str]:
    at = [i for i, line in enumerate(lines) if line.startswith("by label")]
    if not at:
        return []
    out = [lines[at[0]]]
    for line in lines[at[0] + 1 :]:
        if not line.startswith("  "):
            break
        out.append(line)
    return out
