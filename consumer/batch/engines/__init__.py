"""Engines run shards: ``local`` (spawned worker processes, or this process for one
worker) and ``ray`` (Ray Data tasks on a Ray cluster). Each yields one ``ShardOutcome``
per shard it was given, as shards finish, and never raises for a shard's failure: the
driver decides about retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from consumer.batch.engines.card_shards import Shard
from consumer.scoring.errors import FraudConsumerError

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ShardOutcome:
    task: Shard
    report: dict[str, Any] | None  # the shard's report when it succeeded
    error: str | None = None  # one line when it failed


class Engine(Protocol):
    def run(
        self, tasks: Sequence[Shard], attempt: int, progress: Progress
    ) -> Iterator[ShardOutcome]: ...

    def close(self) -> None: ...


def failure_line(exc: BaseException) -> str:
    """A shard failure in one line that echoes no payload value: our own errors and
    file-level errors (I/O, Arrow) say what they are; anything else only its class."""
    if isinstance(exc, FraudConsumerError | OSError | pa.ArrowException):
        text = " ".join(str(exc).split())[:300]
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return type(exc).__name__
