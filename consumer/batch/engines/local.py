"""The local engine: shards on this machine's cores.

One worker: the shards run in this process. More: worker processes started with
``spawn`` (LightGBM can hang in a child forked after it used OpenMP), each loading the
model once with one LightGBM thread. The driver hands each idle worker one shard at a
time over its own pipe, so it always knows which shard a worker holds: a worker that
dies (killed, out of memory) fails exactly that shard, with its exit code, and a fresh
worker takes its place (MLServer's dispatcher does the same). Workers ignore SIGINT (the
driver stops them) and die with the driver (PR_SET_PDEATHSIG on Linux, and a parent
check between shards), so a killed run leaves no orphan writing into its staging.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import pyarrow as pa

from consumer.batch.engines import Progress, ShardOutcome, failure_line
from consumer.batch.engines.card_shards import Shard
from consumer.batch.engines.shard_scorer import ShardScorer, ShardSettings
from consumer.batch.errors import BatchError
from consumer.scoring.models import FraudModel

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
_LIVENESS_SECONDS = 0.5
_MAX_IDLE_DEATHS = 3  # workers dying without a shard: the environment, not the data


class InlineEngine:
    """Shards one after another in this process (``--workers 1``)."""

    def __init__(self, settings: ShardSettings, model: FraudModel) -> None:
        self._scorer = ShardScorer(settings, model)

    def run(
        self, tasks: Sequence[Shard], attempt: int, progress: Progress
    ) -> Iterator[ShardOutcome]:
        for task in tasks:
            counted = 0

            def counting(n: int) -> None:
                nonlocal counted
                counted += n
                progress(n)

            try:
                report = self._scorer.run(task, attempt, counting)
            except Exception as exc:
                progress(-counted)
                yield ShardOutcome(task, None, failure_line(exc))
                continue
            yield ShardOutcome(task, report)

    def close(self) -> None:
        pass


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def worker_main(
    settings: ShardSettings, wid: int, tasks: Connection, results: Any, parent: int
) -> None:
    """A worker process: load the model, then run the shards the driver sends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from consumer.ops import logs

    logs.configure("WARNING")
    scorer = ShardScorer(settings)
    while True:
        if not tasks.poll(1.0):
            if os.getppid() != parent:
                return
            continue
        item = tasks.recv()
        if item is None:
            return
        task, attempt = item

        def progress(n: int, index: int = task.index) -> None:
            results.put(("progress", wid, index, n))

        try:
            report = scorer.run(task, attempt, progress)
        except Exception as exc:
            results.put(("failed", wid, task.index, failure_line(exc)))
            continue
        results.put(("done", wid, task.index, report))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: Shard | None = None
    counted: int = 0
    started: float = field(default_factory=time.monotonic)


class ProcessEngine:
    """Shards on ``workers`` spawned processes."""

    def __init__(self, settings: ShardSettings, workers: int) -> None:
        self._settings = settings
        self._ctx = mp.get_context("spawn")
        self._results: Any = self._ctx.Queue()
        self._workers: dict[int, _Worker] = {}
        self._idle_deaths = 0
        for wid in range(workers):
            self._start(wid)

    def _start(self, wid: int) -> None:
        ours, theirs = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main,
            args=(self._settings, wid, theirs, self._results, os.getpid()),
            name=f"fraud-batch-worker-{wid}",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._workers[wid] = _Worker(process, ours)

    def _dispatch(self, backlog: deque[Shard], attempt: int) -> None:
        for w in self._workers.values():
            if w.task is None and backlog:
                w.task, w.counted = backlog.popleft(), 0
                w.conn.send((w.task, attempt))

    def _reap(self, progress: Progress) -> Iterator[ShardOutcome]:
        """Replace dead workers; fail the shard each one held."""
        for wid, w in list(self._workers.items()):
            if w.process.is_alive():
                continue
            code = w.process.exitcode
            w.conn.close()
            self._start(wid)
            if w.task is None:
                self._idle_deaths += 1
                if self._idle_deaths > _MAX_IDLE_DEATHS:
                    raise BatchError(f"batch workers keep dying before any shard (exit {code})")
                continue
            progress(-w.counted)
            log.warning("worker %d died (exit code %s) scoring shard %s", wid, code, w.task.id)
            yield ShardOutcome(w.task, None, f"worker process died (exit code {code})")

    def run(
        self, tasks: Sequence[Shard], attempt: int, progress: Progress
    ) -> Iterator[ShardOutcome]:
        backlog = deque(tasks)
        pending = len(tasks)
        self._dispatch(backlog, attempt)
        checked = time.monotonic()
        while pending:
            if time.monotonic() - checked > _LIVENESS_SECONDS:
                checked = time.monotonic()
                for outcome in self._reap(progress):
                    pending -= 1
                    yield outcome
                self._dispatch(backlog, attempt)
            try:
                kind, wid, index, payload = self._results.get(timeout=_LIVENESS_SECONDS)
            except queue.Empty:
                continue
            w = self._workers.get(wid)
            if w is None or w.task is None or w.task.index != index:
                continue  # from a worker that has since died, about a shard already failed
            if kind == "progress":
                w.counted += payload
                progress(payload)
                continue
            task, w.task = w.task, None
            pending -= 1
            if kind == "done":
                yield ShardOutcome(task, payload)
            else:
                progress(-w.counted)
                yield ShardOutcome(task, None, payload)
            self._dispatch(backlog, attempt)

    def close(self) -> None:
        """Stop the workers: ask, then wait a little, then kill."""
        for w in self._workers.values():
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
        deadline = time.monotonic() + 5
        for w in self._workers.values():
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
        self._workers.clear()

    def kill(self) -> None:
        """Stop at once (an interrupted run): the shards in hand are abandoned."""
        for w in self._workers.values():
            w.process.kill()
        for w in self._workers.values():
            w.process.join()
        self._workers.clear()
