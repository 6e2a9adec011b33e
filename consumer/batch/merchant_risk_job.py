"""`fraud-consumer merchant-risk build`: the daily merchant risk snapshot, from stored
transactions and the labels that have arrived, published like a model.

Reads the transactions (Parquet or Avro files, as `batch --input` does: merchant_id,
event_time, transaction_id are used) and the labels (Parquet: transaction_id and
label_time, as `produce --labels-file` writes them), builds the snapshot as of --as-of
(default: today 00:00 UTC) by the definition in scoring/merchant_risk.py (only labels that
arrived before it), writes it into --out and, unless --no-promote, names it in CURRENT.
The services and `batch` read what CURRENT names; the stream and the API reload it.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consumer.batch.settings import parse_time
from consumer.batch.sources.avro_files import AvroFileSource
from consumer.batch.sources.files import resolve_inputs
from consumer.options import Option, add_options, nonempty, path, resolve
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.errors import ConfigError
from consumer.scoring.merchant_risk import day_start
from consumer.scoring.merchant_risk_build import MerchantHistory

OPTIONS = (
    Option("--transactions", nonempty, None, "transactions: Parquet or Avro files", metavar="PATH"),
    Option("--labels", path, None, "labels: a Parquet file or dataset", metavar="PATH"),
    Option(
        "--as-of",
        nonempty,
        None,
        "snapshot time, ISO-8601 (default: today 00:00 UTC)",
        metavar="TIME",
    ),
    Option("--out", path, None, "the snapshot directory the services read", metavar="DIR"),
)


def add_merchant_risk_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "merchant-risk",
        help="build and publish the daily merchant risk snapshot",
        description="Build a merchant risk snapshot from transactions and arrived labels.",
    )
    actions = p.add_subparsers(dest="merchant_risk_command", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build a snapshot and name it in CURRENT")
    add_options(build, OPTIONS)
    build.add_argument("--no-promote", action="store_true", help="write it, leave CURRENT")
    build.set_defaults(handler=build_command)


def build_command(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    v = resolve(ns, OPTIONS, environ)
    for flag in ("transactions", "labels", "out"):
        if v[flag] is None:
            raise ConfigError(f"give --{flag}")
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    as_of = parse_time(v["as_of"]) if v["as_of"] is not None else day_start(now)
    merchants, times, ids = _transactions(v["transactions"])
    history = MerchantHistory(merchants, times, ids, _labels(v["labels"]))
    snapshot = history.snapshot(as_of)
    card = snapshot.write(v["out"], promote=not ns.no_promote)
    print(f"{snapshot.name}: {len(snapshot):,} merchants from {len(ids):,} transactions -> {card}")
    return 0


def _transactions(spec: str) -> tuple[list[str], np.ndarray, list[str]]:
    inputs = resolve_inputs(spec)
    merchants: list[str] = []
    ids: list[str] = []
    times: list[np.ndarray] = []
    for f in inputs.files:
        if inputs.format == "parquet":
            table = pq.read_table(f.path, columns=["merchant_id", "event_time", "transaction_id"])
            merchants += table.column("merchant_id").to_pylist()
            ids += table.column("transaction_id").to_pylist()
            times.append(_epoch_ms(table.column("event_time")))
            continue
        codec = PlainAvroCodec()
        for chunk in AvroFileSource([f.path]).chunks(50_000):
            columns = codec.decode_batch([r.value for r in chunk.records]).columns
            merchants += columns.merchant_id
            ids += columns.transaction_id
            times.append(columns.event_time)
    return merchants, np.concatenate(times) if times else np.empty(0, np.int64), ids


def _epoch_ms(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("ms", column.type.tz)).cast(pa.int64())
    return np.asarray(column.to_numpy(), np.int64)


def _labels(path_: Path) -> dict[str, int]:
    try:
        table = pq.read_table(path_, columns=["transaction_id", "label_time"])
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"cannot read labels {path_}: {exc}") from None
    arrived = _epoch_ms(table.column("label_time"))
    return dict(zip(table.column("transaction_id").to_pylist(), arrived.tolist(), strict=True))
