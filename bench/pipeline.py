"""The scoring pipeline in process, stage by stage, next to bare LightGBM predict.

    .venv/bin/python bench/pipeline.py [--rows 100000] [--threads 1] [--batch 500]

On the same generated events (1% malformed, the fraud rate the model was trained on),
one run prints:
1. per stage, microseconds per record for batches of --batch records: decode, validate,
   features, predict, reasons (TreeSHAP tables, only flagged rows pay), encode, and the
   rest (objects, bookkeeping), with reason codes and without;
2. records/s of ScoringPipeline.process by batch size, next to LightGBM's predict on
   the same rows' features with the same thread count (--threads, default 1: one scorer
   process per core is how the service scales; 0 = all cores);
3. the ratio pipeline / bare predict at --batch, the figure the speed goal is about.
The per-row path the core replaced (tests/oracle/per_row.py) is timed too, for scale.
4. the card-history model (models/card-history) on traffic with history-only fraud, card
   state carried from batch to batch as the stream does: per stage, and the share of
   pipeline time the history stage takes.
Compare ratios within one run: the machine may be shared and noisy.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' oracle

from consumer.devtools.faults import KINDS, malformed_value
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.features import feature_matrix
from consumer.scoring.history_context import HistoryContext, MemoryCardStates
from consumer.scoring.merchant_risk import load_merchant_risk
from consumer.scoring.models import Models, load_model
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawBatch, RawRecord
from consumer.scoring.stage_timer import StageTimer
from consumer.training.generator import TransactionGenerator
from tests.oracle import per_row

STAGES = ("decode", "validate", "features", "history", "predict", "reasons", "encode")


def _records(rows: int) -> tuple[list[RawRecord], np.ndarray]:
    codec = PlainAvroCodec()
    rng = random.Random(5)
    records, valid = [], []
    for i, e in enumerate(TransactionGenerator(11).take(rows)):
        if rng.random() < 0.01:
            value = malformed_value(KINDS[i % len(KINDS)], e.record, rng)
        else:
            value = codec.encode_transaction(e.record)
            valid.append(e.record)
        records.append(RawRecord("bench", i % 6, i, e.record["card_id"].encode(), value))
    return records, feature_matrix(TransactionColumns.from_records(valid))


def _history_table(rows: int, size: int, threads: int) -> None:
    """The card-history model on traffic with history-only fraud, card state carried
    from batch to batch as the stream carries it: what history costs, stage by stage."""
    model = load_model(Path("models/card-history"), threads=threads)
    codec = PlainAvroCodec()
    events = TransactionGenerator(11, history_patterns=True).take(rows)
    records = [
        RawRecord(
            "bench", i % 6, i, e.record["card_id"].encode(), codec.encode_transaction(e.record)
        )
        for i, e in enumerate(events)
    ]
    states = MemoryCardStates()
    risk = load_merchant_risk(Path("models/card-history/merchant-risk"))
    pipeline = ScoringPipeline(
        codec, Models(model), reason_codes=3, history=HistoryContext(states, risk)
    )
    total = StageTimer()
    started = time.perf_counter()
    for b in _batches(records, size):
        out = pipeline.process(b)
        if out.history is not None:
            states.put(out.history.changed)
        for stage, seconds in out.timer.seconds.items():
            total.seconds[stage] = total.seconds.get(stage, 0.0) + seconds
    wall = time.perf_counter() - started
    per = {s: 1e6 * total.seconds.get(s, 0.0) / rows for s in STAGES}
    per["other"] = 1e6 * wall / rows - sum(per.values())
    print(
        f"\ncard history: {model.name}-{model.version} ({model.feature_set.name}), "
        f"{rows:,} events with history-only fraud, state carried across batches of {size}"
    )
    print(f"{'stage':<12}{'us/record':>12}")
    for stage, us in per.items():
        print(f"{stage:<12}{us:>12.2f}")
    print(f"{'total':<12}{1e6 * wall / rows:>12.2f}")
    sizes = [len(v) for v in states.states.values()]
    print(
        f"history is {per['history'] / (1e6 * wall / rows):.0%} of pipeline time; "
        f"{len(sizes):,} cards, {np.mean(sizes):.0f} bytes of state per card on average"
    )


def _batches(records: list[RawRecord], size: int) -> list[RawBatch]:
    return [RawBatch(records[i : i + size]) for i in range(0, len(records), size)]


def _stage_table(pipeline: ScoringPipeline, batches: list[RawBatch], n: int) -> dict[str, float]:
    total = StageTimer()
    started = time.perf_counter()
    for b in batches:
        for stage, seconds in pipeline.process(b).timer.seconds.items():
            total.seconds[stage] = total.seconds.get(stage, 0.0) + seconds
    wall = time.perf_counter() - started
    out = {s: 1e6 * total.seconds.get(s, 0.0) / n for s in STAGES}
    out["other"] = 1e6 * wall / n - sum(out.values())
    out["total"] = 1e6 * wall / n
    return out


def _predict_rate(model: object, features: np.ndarray, size: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(features), size):
        model.predict(features[i : i + size])  # type: ignore[attr-defined]
    return len(features) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads (0: all)")
    parser.add_argument("--model", default="models")
    args = parser.parse_args()

    model = load_model(Path(args.model), threads=args.threads)
    codec = PlainAvroCodec()
    records, features = _records(args.rows)
    n = len(records)
    print(
        f"{n:,} events ({n - len(features):,} malformed), model {model.name}-{model.version}, "
        f"LightGBM threads {args.threads or 'all'}, batches of {args.batch}"
    )

    with_rc = ScoringPipeline(codec, Models(model), reason_codes=3)
    without_rc = ScoringPipeline(codec, Models(model), reason_codes=0)
    batches = _batches(records, args.batch)
    with_rc.process(batches[0])  # warm up
    tables = {
        "reason codes": _stage_table(with_rc, batches, n),
        "no reason codes": _stage_table(without_rc, batches, n),
    }
    print(f"\nmicroseconds per record, batches of {args.batch}")
    print(f"{'stage':<12}" + "".join(f"{k:>18}" for k in tables))
    for stage in (*STAGES, "other", "total"):
        print(f"{stage:<12}" + "".join(f"{t[stage]:>18.2f}" for t in tables.values()))

    print("\nrecords/s by batch size")
    print(f"{'batch':>7}{'pipeline+reasons':>18}{'pipeline':>12}{'bare predict':>14}{'ratio':>8}")
    at_batch = 0.0
    for size in sorted({1, 8, 64, args.batch, 1024}):
        m = min(n, 20_000 if size == 1 else n)
        bs = _batches(records[:m], size)
        rates = []
        for pipeline in (with_rc, without_rc):
            started = time.perf_counter()
            for b in bs:
                pipeline.process(b)
            rates.append(m / (time.perf_counter() - started))
        bare = _predict_rate(model, features[: min(len(features), m)], size)
        ratio = rates[0] / bare
        if size == args.batch:
            at_batch = ratio
        print(f"{size:>7}{rates[0]:>18,.0f}{rates[1]:>12,.0f}{bare:>14,.0f}{ratio:>8.2f}")
    print(
        f"\npipeline with reason codes at batch {args.batch} = {at_batch:.2f} x bare LightGBM "
        f"predict (same rows, same threads)"
    )

    m = min(n, 20_000)
    values = [r.value for r in records[:m]]
    started = time.perf_counter()
    for i in range(0, m, args.batch):
        per_row.score_values(values[i : i + args.batch], model)
    old = m / (time.perf_counter() - started)
    print(
        f"yesterday's per-row path (tests/oracle/per_row.py), batch {args.batch}: "
        f"{old:,.0f} records/s"
    )
    _history_table(args.rows, args.batch, args.threads)


if __name__ == "__main__":
    main()
