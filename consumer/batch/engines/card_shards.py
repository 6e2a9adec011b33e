"""Shards by card, for models that read card history.

A card's history must be built from all of its events, in input order. So a history
run is split by card, not by file: shard k of n takes the cards whose id hashes (64-bit
FNV-1a, the history definition's) to k modulo n, across every file in order: the
history context's files first (replayed into card state, never scored), then the
input's. Each worker reads every file and keeps its cards' rows before any row becomes a
Python object, so the per-row work is done once; the reading is done n times. Avro
files cannot be filtered before decoding, so a run with Avro files is one card shard.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consumer.batch.engines.shards import ShardTask
from consumer.scoring.history import hash_strings


@dataclass(frozen=True)
class CardShard:
    """One bucket of cards over the whole run: picklable and JSON-able like ShardTask."""

    index: int
    bucket: int
    buckets: int
    context: tuple[ShardTask, ...]  # replayed into card state first, in order
    pieces: tuple[ShardTask, ...]  # then scored, in order

    format = "cards"

    @property
    def id(self) -> str:
        return f"cards {self.bucket + 1} of {self.buckets}"

    @property
    def rows(self) -> int:
        """Unknown before reading: the share of each file's rows that are its cards."""
        return -1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


Shard = ShardTask | CardShard  # what engines run, the manifest lists and --resume skips


def plan_card_shards(
    context: list[ShardTask], pieces: list[ShardTask], buckets: int
) -> list[CardShard]:
    if any(t.format != "parquet" for t in (*context, *pieces)):
        buckets = 1
    return [CardShard(k, k, buckets, tuple(context), tuple(pieces)) for k in range(buckets)]


def card_buckets(card_ids: pa.Array | pa.ChunkedArray, buckets: int) -> npt.NDArray[np.int64]:
    """Each row's bucket: the FNV-1a hash of its card id modulo ``buckets``, computed
    once per distinct card of the batch."""
    encoded = pc.dictionary_encode(card_ids)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    hashes = hash_strings(encoded.dictionary.to_pylist())
    per_card = (hashes % np.uint64(buckets)).astype(np.int64)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    return np.asarray(per_card[indices], np.int64)
