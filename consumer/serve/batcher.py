"""Dynamic batching for the API: concurrent requests scored together.

Requests queue; one batcher task takes whole requests from the queue, up to
``max_batch`` transactions (a larger request is a batch of its own), optionally waiting
up to ``max_wait`` for more, scores them in one pipeline call on a thread of its own
(off the event loop) and answers each request. One batch is in flight at a time, so the
queue fills while it runs and batches grow with the load: the stream's adaptive mode,
for HTTP. A request whose deadline passes while it waits is dropped, not scored: its
caller has already been answered by the deadline policy.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from consumer.ops.api_metrics import ApiMetrics
from consumer.scoring.history_context import HistoryRequest
from consumer.scoring.inputs import Inputs
from consumer.scoring.models.lifecycle import ModelLifecycle
from consumer.scoring.outcomes import Outcome, Outcomes
from consumer.scoring.pipeline import ScoringPipeline
from consumer.serve.items import TransactionIn, to_columns
from consumer.state.partition_state import StateUnavailable

log = logging.getLogger(__name__)


_WARM_UP_TIME = 1_790_812_800_000


UNAVAILABLE = "UNAVAILABLE"  # an item's answer when card history could not be read


class QueueFull(Exception):
    """No room for a request's transactions: answer 429."""


@dataclass
class Pending:
    items: list[TransactionIn]
    event_times: list[int]
    deadline: float  # time.monotonic()
    enqueued: float = field(default_factory=time.monotonic)
    future: asyncio.Future[list[Outcome | str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher:
    def __init__(
        self,
        pipeline: ScoringPipeline,
        metrics: ApiMetrics,
        lifecycle: ModelLifecycle | None,
        *,
        max_batch: int,
        max_wait: float,
        max_queue: int,
    ) -> None:
        self.pipeline = pipeline
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._max_queue = max_queue
        self._queue: deque[Pending] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="scoring")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # swaps in reloaded models before each batch; keeps the shadow's metrics
        self._lifecycle = lifecycle

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def submit(
        self, items: list[TransactionIn], event_times: list[int], deadline: float
    ) -> Pending:
        if self._queue and self._queued + len(items) > self._max_queue:
            raise QueueFull
        pending = Pending(items, event_times, deadline)
        self._queue.append(pending)
        self._queued += len(items)
        self._metrics.queued.inc(len(items))
        self._wakeup.set()
        return pending

    async def close(self) -> None:
        """Answer what is queued, then stop (SIGTERM: uvicorn has stopped accepting)."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._max_wait > 0:
                await self._fill()
            if self._lifecycle is not None:
                self._lifecycle.before_batch()  # no batch is being scored here
            batch = self._take()
            if batch:
                await self._score(batch)

    async def _fill(self) -> None:
        """Wait up to max_wait from the oldest request's arrival for a fuller batch."""
        until = self._queue[0].enqueued + self._max_wait
        while self._queued < self._max_batch and not self._closing:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), left)
            except TimeoutError:
                return

    def _take(self) -> list[Pending]:
        batch: list[Pending] = []
        size = 0
        now = time.monotonic()
        while self._queue:
            head = self._queue[0]
            if batch and size + len(head.items) > self._max_batch:
                break
            self._queue.popleft()
            self._queued -= len(head.items)
            self._metrics.queued.dec(len(head.items))
            if head.future.done() or head.deadline <= now:
                continue  # answered already by the deadline policy
            self._metrics.queue_wait.observe(now - head.enqueued)
            batch.append(head)
            size += len(head.items)
        return batch

    async def _score(self, batch: list[Pending]) -> None:
        items = [t for p in batch for t in p.items]
        event_times = [e for p in batch for e in p.event_times]
        # each request sees its own items' card history, never another request's
        scope = np.repeat(np.arange(len(batch)), [len(p.items) for p in batch])
        started = time.perf_counter()
        try:
            outcomes = await self._pipeline_call(items, event_times, scope)
        except StateUnavailable as exc:  # nobody's fault: the deadline policy answers
            log.warning("card history unavailable for a batch of %d: %s", len(items), exc)
            self._metrics.state_unavailable.inc(len(items))
            for p in batch:
                if not p.future.done():
                    p.future.set_result([UNAVAILABLE] * len(p.items))
            return
        except Exception as exc:  # a bug, not data: fail these requests, keep serving
            log.exception("scoring a batch of %d failed", len(items))
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        self._metrics.batch_size.observe(len(items))
        self._metrics.batch_seconds.observe(time.perf_counter() - started)
        if self._lifecycle is not None:
            self._lifecycle.observe(outcomes.shadow, outcomes.decision, outcomes.shadow_error)
        answers: list[Outcome | str] = list(outcomes.in_order())
        offset = 0
        for p in batch:
            mine = answers[offset : offset + len(p.items)]
            offset += len(p.items)
            if not p.future.done():
                p.future.set_result(mine)

    async def _pipeline_call(
        self,
        items: list[TransactionIn],
        event_times: list[int],
        scope: npt.NDArray[np.int64] | None = None,
    ) -> Outcomes:
        inputs = Inputs.of(to_columns(items, event_times))
        request = HistoryRequest(scope=scope, keep_states=False)  # the API reads history only
        loop = asyncio.get_running_loop()
        call = functools.partial(self.pipeline.score, inputs, request=request)
        return await loop.run_in_executor(self._executor, call)

    async def warm_up(self) -> None:
        """Score one synthetic transaction on the scoring thread before taking traffic
        (first-call costs), outside the batch metrics and the shadow's."""
        warm = TransactionIn(
            "warm-up", "tok_warm", "acc_warm", 1000, "USD", "mer_warm", "5411", "US", "US",
            "POS", "CHIP", _WARM_UP_TIME,
        )  # fmt: skip
        await self._pipeline_call([warm], [_WARM_UP_TIME])
