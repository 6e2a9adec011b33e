"""Every card-state store keeps the same promises: one atomic update of card states,
applied offset and replays; replays dropped below the committed offset (the floor); a
reopened store holds what was written; clear forgets cards. RocksDB on disk and a real
Redis server, next to the in-memory store the stream's unit tests use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.devtools.redis_server import EmbeddedRedis
from consumer.state.memory import MemoryStateStore
from consumer.state.partition_state import (
    NOTHING_APPLIED,
    StateInconsistent,
    StateStore,
    StateUnavailable,
    StateUpdate,
)
from consumer.state.redis_store import RedisCardReader, RedisStateStore, redis_client
from consumer.state.rocksdb_store import RocksDBStateStore


@pytest.fixture(scope="module")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(durable=True) as server:
        yield server


@pytest.fixture(params=["memory", "rocksdb", "redis"])
def reopen(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: EmbeddedRedis
) -> Iterator[object]:
    """A function giving a store over the same data each call (a restart)."""
    memory = MemoryStateStore()
    prefix = f"t{id(request)}:"
    stores: list[StateStore] = []

    def make() -> StateStore:
        if request.param == "memory":
            store: StateStore = memory
        elif request.param == "rocksdb":
            store = RocksDBStateStore(tmp_path / "state")
        else:
            store = RedisStateStore(redis_client(redis_server.url, 2.0), prefix)
        stores.append(store)
        return store

    yield make
    for s in stores:
        s.close()


def test_an_update_is_whole_and_survives_a_reopen(reopen: object) -> None:
    store = reopen()  # type: ignore[operator]
    state = store.open("in", 3)
    assert state.applied() == NOTHING_APPLIED and state.cards(["a"]) == [b""]
    state.write(StateUpdate({"a": b"A" * 48, "b": b"B" * 96}, 41, {40: b"f40", 41: b""}))
    state.close()
    again = reopen().open("in", 3)  # type: ignore[operator]
    assert again.applied() == 41
    assert again.cards(["a", "b", "zz"]) == [b"A" * 48, b"B" * 96, b""]
    assert again.replays([40, 41, 42]) == [b"f40", b"", None]
    other = reopen().open("in", 4)  # type: ignore[operator]
    assert other.applied() == NOTHING_APPLIED


def test_replays_below_the_committed_offset_are_dropped(reopen: object) -> None:
    state = reopen().open("in", 0)  # type: ignore[operator]
    state.write(StateUpdate({}, 9, {o: f"f{o}".encode() for o in range(10)}, committed=0))
    state.write(StateUpdate({}, 12, {10: b"x", 11: b"y", 12: b"z"}, committed=7))
    assert state.replays(list(range(13))) == [None] * 7 + [b"f7", b"f8", b"f9", b"x", b"y", b"z"]
    assert state.replay_floor() == 7
    state.write(StateUpdate({}, 13, {13: b"w"}, committed=5))  # never goes down
    assert state.replay_floor() == 7


@pytest.mark.parametrize("kind", ["memory", "rocksdb"])  # Redis: a rebuild overwrites
def test_clear_forgets_cards_but_not_offsets(kind: str, tmp_path: Path) -> None:
    store = MemoryStateStore() if kind == "memory" else RocksDBStateStore(tmp_path)
    state = store.open("in", 1)
    state.write(StateUpdate({"a": b"1" * 48, "b": b"2" * 48}, 5))
    state.clear()
    assert state.cards(["a", "b"]) == [b"", b""] and state.applied() == 5
    state.close()


def test_redis_refuses_to_write_over_state_it_did_not_write(redis_server: EmbeddedRedis) -> None:
    client = redis_client(redis_server.url, 2.0)
    mine = RedisStateStore(client, "w:").open("in", 0)
    mine.write(StateUpdate({"a": b"1" * 48}, 10))
    other = RedisStateStore(client, "w:").open("in", 0)
    other.write(StateUpdate({"a": b"2" * 48}, 11))  # another writer moved it on
    with pytest.raises(StateInconsistent, match="lost or changed"):
        mine.write(StateUpdate({"a": b"3" * 48}, 12))
    assert RedisCardReader(client, "w:").get([(0, "a"), (0, "b")]) == [b"2" * 48, b""]


def test_redis_state_survives_a_restart_and_a_dead_server_is_unavailable(
    tmp_path: Path,
) -> None:
    server = EmbeddedRedis(durable=True).start()
    try:
        client = redis_client(server.url, 0.5)
        state = RedisStateStore(client, "r:").open("in", 2)
        state.write(StateUpdate({"a": b"1" * 48}, 7, {7: b"f"}))
        server.kill()
        with pytest.raises(StateUnavailable):
            state.cards(["a"])
        server.start()
        assert state.cards(["a"]) == [b"1" * 48]
        assert RedisStateStore(redis_client(server.url, 1.0), "r:").open("in", 2).applied() == 7
    finally:
        server.stop()
