"""The scoring API as a raw ASGI application (uvicorn runs it, one per worker process).

POST /v1/score, GET /healthz, /readyz, /metrics. No framework: four routes do not need
one, and every layer between the socket and the batcher costs microseconds per request.
The model loads in the lifespan startup: a worker that cannot load it reports startup
failed and uvicorn exits. With --auth-tokens-file, a bearer token is checked before any
route (auth.py); on SIGTERM the worker drains (drain.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from consumer.ops import logs
from consumer.ops.api_metrics import ROUTES, ApiMetrics, scrape_registry
from consumer.ops.model_metrics import ModelMetrics
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.errors import ConfigError
from consumer.scoring.history_context import HistoryContext
from consumer.scoring.merchant_risk_watch import MerchantRiskWatch
from consumer.scoring.models import Models, load_models
from consumer.scoring.models.lifecycle import ModelLifecycle
from consumer.scoring.pipeline import ScoringPipeline
from consumer.serve.auth import BearerAuth
from consumer.serve.batcher import Batcher
from consumer.serve.drain import Drain
from consumer.serve.endpoint import ScoreEndpoint
from consumer.serve.multiproc import clean_dead_workers, die_with_parent
from consumer.serve.reloading import Poller, Reloading
from consumer.serve.responses import error_body
from consumer.serve.settings import ServeSettings
from consumer.serve.tokens import load_tokens
from consumer.state.redis_store import RedisCardReader
from consumer.state.service_history import load_service_merchant_risk, needs_history, service_redis

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"
CLOSE = (b"connection", b"close")
Answer = tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]


class ScoringApp:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.metrics = ApiMetrics()
        self.ready = False
        self.endpoint: ScoreEndpoint | None = None
        self.lifecycle: ModelLifecycle | None = None
        self.auth: BearerAuth | None = None
        self.drain = Drain(
            settings.drain_s,
            self._stop_being_ready,
            lambda: self.ready,
            supervised=settings.workers > 1,
        )
        self._idle_swaps: asyncio.Task[None] | None = None
        self._token_poller: Poller | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    # -- lifespan ------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._startup()
                except Exception as exc:
                    log.error("startup failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _startup(self) -> None:
        s = self.settings
        clean_dead_workers()
        self._start_auth()
        threads = s.inference_threads
        models = load_models(s, threads)
        history = self._history(models)
        pipeline = ScoringPipeline(
            PlainAvroCodec(), models, reason_codes=s.reason_codes, history=history
        )
        # per worker: each polls the model directory and swaps between its own batches
        model_metrics = ModelMetrics(CollectorRegistry(), self.metrics.model_info, True)
        self.lifecycle = ModelLifecycle(
            pipeline, model_metrics, directory=s.model, poll=s.model_poll_s, threads=threads
        )
        batcher = Batcher(
            pipeline,
            self.metrics,
            self.lifecycle,
            max_batch=s.max_batch,
            max_wait=s.max_wait_ms / 1000,
            max_queue=s.max_queue,
        )
        batcher.start()
        await batcher.warm_up()
        self.endpoint = ScoreEndpoint(s, batcher, self.metrics, model_metrics)
        self.lifecycle.start()  # SIGHUP to this worker: look at once
        self._idle_swaps = asyncio.get_running_loop().create_task(self._swap_when_idle())
        self.metrics.ready.set(1)
        # What startup built (model, tables, reference data, code) lives as long as the
        # worker: keep it out of the collector's full passes, which otherwise walk it
        # every few seconds and show up as 10-20 ms stalls in p99 latency.
        gc.collect()
        gc.freeze()
        self.ready = True
        model = models.champion
        log.info("worker %d ready: model %s-%s", os.getpid(), model.name, model.version)

    def _history(self, models: Models) -> HistoryContext | None:
        """Card states from the Redis the stream writes, and the merchant risk snapshot
        (reloaded when a new one is published); None for per-event models."""
        s = self.settings
        if not needs_history(models):
            return None
        client = service_redis(s)
        if client is None:  # serve's command refuses this before any worker starts
            raise ConfigError("a history model needs --redis-url")
        path, risk = load_service_merchant_risk(s)
        history = HistoryContext(RedisCardReader(client, s.redis_prefix), risk)
        self._risk_watch = MerchantRiskWatch(path, history, s.merchant_risk_poll_s).start()
        return history

    def _start_auth(self) -> None:
        path = self.settings.auth_tokens_file
        if path is None:
            return
        tokens = Reloading(
            "the auth tokens file", [path], lambda: load_tokens(path), self.metrics.token_reloads
        )
        self.auth = BearerAuth(tokens, self.metrics, metrics_auth=self.settings.metrics_auth)
        self._token_poller = Poller(self.settings.secrets_poll_s, [tokens.check], "token-file")
        self._token_poller.start()

    def _stop_being_ready(self) -> None:
        """The drain begins: not ready, so the load balancer sends elsewhere; requests that
        still come are answered, each telling its client to close the connection."""
        self.metrics.ready.set(0)
        log.info("worker %d draining: closing its listener in %gs", os.getpid(), self.drain.window)

    async def _shutdown(self) -> None:
        self.ready = False
        self.metrics.ready.set(0)
        if self._token_poller is not None:
            self._token_poller.stop()
        if self._idle_swaps is not None:
            self._idle_swaps.cancel()
        if self.lifecycle is not None:
            self.lifecycle.stop()
        if self.endpoint is not None:
            await self.endpoint.batcher.close()  # answers what is still queued
        log.info("worker %d stopped", os.getpid())

    async def _swap_when_idle(self) -> None:
        """A reloaded model also takes over while no request comes (the batcher swaps
        before each batch; a swap is safe at any time, as a batch reads its models once)."""
        while self.lifecycle is not None:
            await asyncio.sleep(1.0)
            self.lifecycle.before_batch()

    # -- requests ------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        route = path if path in ROUTES else "other"
        self.metrics.in_flight.inc()
        try:
            status, body, content_type, headers = await self._answer(route, method, scope, receive)
        except Exception:  # a bug: answer it as one, keep serving
            log.exception("request to %s failed", route)
            status, body, content_type, headers = (
                500,
                error_body("internal_error", "the server failed to answer; see its log"),
                JSON,
                [],
            )
        finally:
            self.metrics.in_flight.dec()
        if self.drain.draining:
            headers = [*headers, CLOSE]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.requests.labels(route=route, code=str(status)).inc()
        self.metrics.request_seconds.labels(route=route).observe(time.perf_counter() - started)

    async def _answer(self, route: str, method: str, scope: Scope, receive: Receive) -> Answer:
        if self.auth is not None:
            refusal = self.auth.refuse(route, scope.get("headers", ()))
            if refusal is not None:
                status, body, headers = refusal
                return status, body, JSON, headers
        return await self._route(route, method, scope, receive)

    async def _route(self, route: str, method: str, scope: Scope, receive: Receive) -> Answer:
        if route == "/v1/score":
            if method != "POST":
                return (
                    405,
                    error_body("method_not_allowed", "use POST"),
                    JSON,
                    [(b"allow", b"POST")],
                )
            if not self.ready or self.endpoint is None:
                return 503, error_body("not_ready", "the model is not loaded yet"), JSON, []
            status, body, headers = await self.endpoint.handle(scope, receive)
            return status, body, JSON, headers
        if method not in ("GET", "HEAD"):
            return 405, error_body("method_not_allowed", "use GET"), JSON, [(b"allow", b"GET")]
        if route == "/healthz":
            healthy = self.endpoint is None or self.endpoint.batcher.running or not self.ready
            return (200, b"ok\n", TEXT, []) if healthy else (503, b"batcher stopped\n", TEXT, [])
        if route == "/readyz":
            if self.drain.draining:
                return 503, b"not ready: shutting down\n", TEXT, []
            if self.ready:
                return 200, b"ok\n", TEXT, []
            return 503, b"not ready: loading the model or shutting down\n", TEXT, []
        if route == "/metrics":
            text = await asyncio.to_thread(generate_latest, scrape_registry())
            return 200, text, CONTENT_TYPE_LATEST.encode(), []
        return 404, error_body("not_found", "no such path"), JSON, []


def create_app() -> ScoringApp:
    """uvicorn's factory, called in each worker: settings come from the FRAUD_* variables
    the serve command exported."""
    settings = ServeSettings.from_worker_env(os.environ)
    logs.configure(settings.log_level, settings.log_format)
    if settings.workers > 1:
        die_with_parent()
    app = ScoringApp(settings)
    app.drain.install(asyncio.get_running_loop())  # uvicorn calls this in its event loop
    return app
