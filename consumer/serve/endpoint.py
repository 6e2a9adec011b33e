"""POST /v1/score: read the body, split it into transactions, queue the valid ones for
the batcher, wait for their scores until the request's deadline, answer each item."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from consumer.ops.api_metrics import ApiMetrics
from consumer.ops.model_metrics import ModelMetrics
from consumer.scoring.errors import DecodeError, RecordError
from consumer.scoring.outcomes import Outcome
from consumer.serve.batcher import UNAVAILABLE, Batcher, QueueFull
from consumer.serve.items import BodyError, TransactionIn, event_time_ms, parse
from consumer.serve.responses import (
    InvalidOut,
    Results,
    ScoredOut,
    encode,
    error_body,
    invalid,
)
from consumer.serve.settings import ServeSettings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Headers = list[tuple[bytes, bytes]]
Out = ScoredOut | InvalidOut
DEADLINE_HEADER = b"x-request-deadline-ms"


class RequestError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class ScoreEndpoint:
    def __init__(
        self,
        settings: ServeSettings,
        batcher: Batcher,
        metrics: ApiMetrics,
        model_metrics: ModelMetrics,
    ) -> None:
        self.settings = settings
        self.batcher = batcher
        self._metrics = metrics
        self._model_metrics = model_metrics

    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        arrived = time.monotonic()
        try:
            deadline = arrived + self._deadline_ms(scope) / 1000
            body = await self._body(scope, receive)
            try:
                parsed = parse(body)
            except BodyError as exc:
                raise RequestError(400, exc.reason, str(exc)) from None
            if len(parsed.items) > self.settings.max_items:
                raise RequestError(
                    413, "too_many_items", f"at most {self.settings.max_items} transactions"
                )
            results = await self._score(parsed.items, parsed.ids, deadline)
        except RequestError as exc:
            headers = [(b"retry-after", b"1")] if exc.status == 429 else []
            return exc.status, error_body(exc.reason, exc.message), headers
        if parsed.single:
            (result,) = results
            return (422 if isinstance(result, InvalidOut) else 200), encode(result), []
        return 200, encode(Results(results)), []

    def _deadline_ms(self, scope: Scope) -> int:
        limit = self.settings.deadline_ms
        for name, value in scope.get("headers", []):
            if name == DEADLINE_HEADER:
                try:
                    asked = int(value)
                except ValueError:
                    asked = 0
                if asked <= 0:
                    raise RequestError(
                        400, "bad_deadline", "X-Request-Deadline-Ms must be a positive integer"
                    )
                return min(asked, limit)  # a client may shorten its deadline, never lengthen
        return limit

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.settings.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and _over(value, limit):
                raise RequestError(413, "body_too_large", f"the body is over {limit} bytes")
            if name == b"content-type":
                kind = value.split(b";", 1)[0].strip().lower()
                if kind not in (b"application/json", b""):
                    raise RequestError(
                        415, "unsupported_media_type", "send Content-Type: application/json"
                    )
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, "disconnected", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, "body_too_large", f"the body is over {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _score(
        self,
        items: list[TransactionIn | DecodeError],
        ids: list[str | None],
        deadline: float,
    ) -> list[Out]:
        results: list[Out | None] = [None] * len(items)
        valid: list[int] = []
        event_times: list[int] = []
        for i, item in enumerate(items):
            if isinstance(item, DecodeError):
                results[i] = invalid(item, ids[i])
                continue
            try:
                event_times.append(event_time_ms(item.event_time))
            except DecodeError as exc:
                results[i] = invalid(exc, item.transaction_id)
                continue
            valid.append(i)
        if valid:
            answers = await self._answers([items[i] for i in valid], event_times, deadline)  # type: ignore[misc]
            for i, answer in zip(valid, answers, strict=True):
                results[i] = self._out(items[i], answer)  # type: ignore[arg-type]
        done = [r for r in results if r is not None]
        self._count(done)
        return done

    async def _answers(
        self, items: list[TransactionIn], event_times: list[int], deadline: float
    ) -> list[Outcome | str]:
        try:
            pending = self.batcher.submit(items, event_times, deadline)
        except QueueFull:
            raise RequestError(429, "queue_full", "too many transactions waiting; retry") from None
        try:
            answers = list(
                await asyncio.wait_for(asyncio.shield(pending.future), deadline - time.monotonic())
            )
        except TimeoutError:
            return self._fallback(len(items), 504, "deadline_exceeded",
                                  "the scores were not ready before the deadline")  # fmt: skip
        if answers and answers[0] == UNAVAILABLE:
            return self._fallback(len(items), 503, "history_unavailable",
                                  "card history could not be read in time")  # fmt: skip
        return answers

    def _fallback(self, n: int, status: int, reason: str, message: str) -> list[Outcome | str]:
        """The --on-deadline policy: an error, or its decision for every item."""
        policy = self.settings.on_deadline
        if policy == "error":
            raise RequestError(status, reason, message)
        self._metrics.fallbacks.labels(policy=policy).inc(n)
        return [policy.upper()] * n

    def _out(self, item: TransactionIn, answer: Outcome | str) -> Out:
        if isinstance(answer, RecordError):
            return invalid(answer, item.transaction_id)
        if isinstance(answer, str):  # the deadline policy's decision, for the champion
            champion = self.batcher.pipeline.model
            return ScoredOut(
                item.transaction_id,
                None,
                answer,
                [],
                champion.name,
                champion.version,
                fallback=True,
            )
        return ScoredOut(
            item.transaction_id,
            answer.score,
            answer.decision,
            list(answer.reason_codes),
            answer.model.name,
            answer.model.version,
            merchant_risk=answer.merchant_risk,
        )

    def _count(self, outs: list[Out]) -> None:
        """One increment per status and decision per request: in multiprocess mode each
        increment is a locked write to a shared file."""
        statuses: Counter[str] = Counter()
        decisions: Counter[tuple[str, str]] = Counter()
        for out in outs:
            if isinstance(out, InvalidOut):
                statuses["invalid"] += 1
            elif out.fallback:
                statuses["fallback"] += 1
            else:
                statuses["scored"] += 1
                decisions[out.model_version, out.decision] += 1
        for status, n in statuses.items():
            self._metrics.items.labels(status=status).inc(n)
        by_decision: Counter[str] = Counter()
        for (version, decision), n in decisions.items():
            by_decision[decision] += n
            self._model_metrics.decisions.labels(version=version, decision=decision).inc(n)
        for decision, n in by_decision.items():
            self._metrics.decisions.labels(decision=decision).inc(n)


def _over(digits: bytes, limit: int) -> bool:
    """A decimal length over ``limit``; more digits than the limit has is over it (and
    int() of thousands of digits would raise)."""
    return len(digits) > len(str(limit)) or int(digits) > limit
