"""Pipeline throughput by batch size, next to bare LightGBM predict on the same rows.

    .venv/bin/python bench/pipeline.py [--rows 20000]

Prints records/s of ScoringPipeline.process (decode, validate, features, predict,
reason codes, encode) for batch sizes 1..1024, and of the model's predict alone, all
in one run on the same events. Ratios within one run are what to compare: the machine
this runs on may be shared and noisy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.features import feature_matrix
from consumer.scoring.model import load_model
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from consumer.training.generator import TransactionGenerator


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} rec/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--model", default="models")
    args = parser.parse_args()

    model = load_model(Path(args.model))
    codec = PlainAvroCodec()
    events = TransactionGenerator(11).take(args.rows)
    records = [
        RawRecord("bench", 0, i, e.record["card_id"].encode(), codec.encode_transaction(e.record))
        for i, e in enumerate(events)
    ]
    features = feature_matrix([e.record for e in events])
    print(f"{args.rows:,} events, model {model.name}-{model.version}")

    for label, reasons in (("with reason codes", 3), ("no reason codes", 0)):
        pipeline = ScoringPipeline(codec, model, reason_codes=reasons)
        for size in (1, 8, 64, 512, 1024):
            n = min(len(records), 5_000 if size == 1 else len(records))
            started = time.perf_counter()
            for i in range(0, n, size):
                pipeline.process(records[i : i + size])
            print(
                f"pipeline {label:<18} batch {size:>5}: {_rate(n, time.perf_counter() - started)}"
            )

    for size in (1, 64, 1024):
        n = min(len(features), 5_000 if size == 1 else len(features))
        started = time.perf_counter()
        for i in range(0, n, size):
            model.predict(features[i : i + size])
        print(
            f"bare LightGBM predict           batch {size:>5}: "
            f"{_rate(n, time.perf_counter() - started)}"
        )
    started = time.perf_counter()
    _ = feature_matrix([e.record for e in events])
    elapsed = time.perf_counter() - started
    print(f"features only (no decode)                  : {_rate(len(events), elapsed)}")
    started = time.perf_counter()
    for r in records:
        codec.decode_transaction(r.value)
    elapsed = time.perf_counter() - started
    print(f"decode only                                : {_rate(len(records), elapsed)}")


if __name__ == "__main__":
    main()
