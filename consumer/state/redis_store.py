"""Card state in Redis: the stream writes it, the API reads it.

Keys (``--redis-prefix``, default ``fraud:``): ``card:<card id>`` -> card state (one
per card, whichever partition it arrives on: the input topic is keyed by card);
``applied:<topic>:<partition>`` -> the partition's applied offset;
``replay:<topic>:<partition>`` -> a hash of offset -> history features. A stream update is
one MULTI/EXEC transaction (card states, applied offset, new replays, dropped replays):
all of it or none. Every call carries the client's socket timeout, so a Redis that does
not answer costs a bounded wait; errors surface as StateUnavailable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from consumer.state.partition_state import (
    NOTHING_APPLIED,
    StateInconsistent,
    StateUnavailable,
    StateUpdate,
    StoreSize,
)


def redis_client(url: str, timeout_s: float) -> redis.Redis:
    """A client for ``url`` (redis:// or rediss://) whose every call gives up after
    ``timeout_s`` (connect and socket)."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30
    )


def card_key(prefix: str, card: str) -> bytes:
    return f"{prefix}card:{card}".encode("utf-8", "surrogatepass")


class RedisPartitionState:
    def __init__(self, client: redis.Redis, prefix: str, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition
        self._client, self._prefix = client, prefix
        self._applied_key = f"{prefix}applied:{topic}:{partition}"
        self._floor_key = f"{prefix}floor:{topic}:{partition}"
        self._replay_key = f"{prefix}replay:{topic}:{partition}"
        try:
            raw, floor = client.mget([self._applied_key, self._floor_key])
            known = client.hkeys(self._replay_key)
        except redis.RedisError as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}") from None
        self._applied = NOTHING_APPLIED if raw is None else int(raw)
        self._floor = NOTHING_APPLIED if floor is None else int(floor)
        self._replays = {int(k) for k in known}  # offsets with a replay entry

    def cards(self, cards: Sequence[str]) -> list[bytes]:
        if not cards:
            return []
        found = _call(self._client.mget, [card_key(self._prefix, c) for c in cards])
        return [b"" if v is None else v for v in found]

    def applied(self) -> int:
        return self._applied

    def replay_floor(self) -> int:
        return self._floor

    def replays(self, offsets: Sequence[int]) -> list[bytes | None]:
        if not offsets:
            return []
        found: list[bytes | None] = _call(self._client.hmget, self._replay_key, list(offsets))
        return found

    def clear(self) -> None:
        """Card keys are shared by every partition and not listed per partition: the
        rebuild overwrites the cards it meets (README: "Card history in the services")."""

    def write(self, update: StateUpdate) -> None:
        """One MULTI/EXEC, guarded by WATCH on the applied offset: a Redis that lost or
        changed this partition's state (a restart without persistence, another writer)
        is refused (StateInconsistent: the scorer restarts and rebuilds), never
        silently written over."""
        try:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.watch(self._applied_key)  # type: ignore[no-untyped-call]
                current = pipe.get(self._applied_key)
                found = NOTHING_APPLIED if current is None else int(current)
                if found != self._applied:
                    raise StateInconsistent(
                        f"redis holds applied offset {found} for {self.topic}[{self.partition}]"
                        f", this scorer wrote {self._applied}: its state was lost or changed"
                    )
                pipe.multi()
                dropped = self._queue(pipe, update)
                pipe.execute()
        except redis.WatchError:
            raise StateInconsistent(
                f"another writer changed {self.topic}[{self.partition}]'s state"
            ) from None
        except redis.RedisError as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}") from None
        self._applied, self._floor = update.applied, max(self._floor, update.committed)
        self._replays.difference_update(dropped)
        self._replays.update(update.replays)

    def _queue(self, pipe: Any, update: StateUpdate) -> list[int]:
        if update.changed:
            pipe.mset({card_key(self._prefix, c): s for c, s in update.changed.items()})
        if update.replays:
            pipe.hset(self._replay_key, mapping={str(o): f for o, f in update.replays.items()})
        dropped = [o for o in self._replays if o < update.committed]
        if dropped:
            pipe.hdel(self._replay_key, *[str(o) for o in dropped])
        floor = max(self._floor, update.committed)
        pipe.mset({self._applied_key: update.applied, self._floor_key: floor})
        return dropped

    def size(self) -> StoreSize:
        info = _call(self._client.info, "memory")
        return StoreSize(int(_call(self._client.dbsize)), int(info.get("used_memory", 0)))

    def close(self) -> None:
        pass


class RedisStateStore:
    name = "redis"

    def __init__(self, client: redis.Redis, prefix: str = "fraud:") -> None:
        self.client, self.prefix = client, prefix

    def open(self, topic: str, partition: int) -> RedisPartitionState:
        return RedisPartitionState(self.client, self.prefix, topic, partition)

    def close(self) -> None:
        self.client.close()


class RedisCardReader:
    """The API's view: card states by card id, one MGET per batch of requests."""

    def __init__(self, client: redis.Redis, prefix: str = "fraud:") -> None:
        self._client, self._prefix = client, prefix

    def get(self, keys: Sequence[tuple[int, str]]) -> list[bytes]:
        if not keys:
            return []
        found = _call(self._client.mget, [card_key(self._prefix, c) for _, c in keys])
        return [b"" if v is None else v for v in found]


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except redis.RedisError as exc:
        raise StateUnavailable(f"redis: {type(exc).__name__}") from None
