"""Partition state in RocksDB (rocksdict), one database per assigned input partition under
``--state-dir``, as Quix Streams keeps its state stores.

Keys: ``c`` + card id -> card state; ``m:applied`` -> the applied offset; ``r`` + offset
(8 bytes, big-endian, so they sort) -> that offset's history features. Every update is
one WriteBatch (atomic, in the write-ahead log before it returns). All partitions share
one block cache (Quix Streams' users found a cache per partition multiplied memory), and
write buffers are kept small: a card state is at most a few KiB.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from consumer.state.partition_state import NOTHING_APPLIED, StateUpdate, StoreSize

log = logging.getLogger(__name__)
_APPLIED, _FLOOR = b"m:applied", b"m:floor"
_CARD, _REPLAY = b"c", b"r"


def _utf8(card: str) -> bytes:
    return card.encode("utf-8", "surrogatepass")


def _offset_key(offset: int) -> bytes:
    return _REPLAY + max(offset, 0).to_bytes(8, "big")


class RocksDBPartitionState:
    def __init__(self, topic: str, partition: int, db: Rdict) -> None:
        self.topic, self.partition = topic, partition
        self._db = db
        raw = db.get(_APPLIED)
        self._applied = NOTHING_APPLIED if raw is None else int.from_bytes(raw, "big", signed=True)
        floor = db.get(_FLOOR)
        self._pruned = 0 if floor is None else int.from_bytes(floor, "big", signed=True)

    def cards(self, cards: Sequence[str]) -> list[bytes]:
        if not cards:
            return []
        found = cast(list[bytes | None], self._db.get([_CARD + _utf8(c) for c in cards]))
        return [b"" if v is None else v for v in found]

    def applied(self) -> int:
        return self._applied

    def replay_floor(self) -> int:
        return self._pruned

    def replays(self, offsets: Sequence[int]) -> list[bytes | None]:
        if not offsets:
            return []
        return cast(list[bytes | None], self._db.get([_offset_key(o) for o in offsets]))

    def clear(self) -> None:
        batch = WriteBatch(raw_mode=True)
        batch.delete_range(_CARD, _CARD + b"\xff" * 8)
        self._db.write(batch)

    def write(self, update: StateUpdate) -> None:
        batch = WriteBatch(raw_mode=True)
        for card, state in update.changed.items():
            batch.put(_CARD + _utf8(card), state)
        for offset, features in update.replays.items():
            batch.put(_offset_key(offset), features)
        if update.committed > self._pruned:
            batch.delete_range(_offset_key(self._pruned), _offset_key(update.committed))
        batch.put(_APPLIED, update.applied.to_bytes(8, "big", signed=True))
        batch.put(_FLOOR, max(self._pruned, update.committed).to_bytes(8, "big", signed=True))
        self._db.write(batch)
        self._applied = update.applied
        self._pruned = max(self._pruned, update.committed)

    def size(self) -> StoreSize:
        db = self._db
        keys = db.property_int_value("rocksdb.estimate-num-keys") or 0
        on_disk = db.property_int_value("rocksdb.total-sst-files-size") or 0
        in_memory = db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return StoreSize(keys, on_disk + in_memory)

    def close(self) -> None:
        self._db.close()


class RocksDBStateStore:
    name = "rocksdb"

    def __init__(self, directory: Path, cache_bytes: int = 64 << 20) -> None:
        self.directory = directory
        self._cache = Cache(cache_bytes)  # shared by every partition's database

    def _options(self) -> Options:
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        table = BlockBasedOptions()
        table.set_block_cache(self._cache)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_size(4 << 20)
        options.set_max_write_buffer_number(2)
        return options

    def open(self, topic: str, partition: int) -> RocksDBPartitionState:
        path = self.directory / f"{topic}-{partition}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return RocksDBPartitionState(topic, partition, Rdict(str(path), self._options()))

    def close(self) -> None:
        pass
