"""Prometheus metrics of the HTTP scoring API.

The API runs several worker processes behind one port, so its metrics use
prometheus-client's multiprocess mode: each process writes its values to files in
PROMETHEUS_MULTIPROC_DIR (set by ``fraud-consumer serve`` before any worker starts, and
wiped then), and /metrics aggregates all of them per scrape. Gauges say how to combine
processes: in-flight requests and queued items add up over live workers.

Labels are bounded: route (a fixed set), status code, item status, decision, policy,
auth failure reason, secret kind (tls, tokens), reload result.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)

from consumer.ops.metrics import BATCH_BUCKETS, INFERENCE_BUCKETS
from consumer.scoring.schemas import DECISIONS

REQUEST_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
ROUTES = ("/v1/score", "/healthz", "/readyz", "/metrics", "other")
AUTH_FAILURES = ("missing", "malformed", "invalid", "forbidden")
RELOAD_RESULTS = ("loaded", "failed")


class ApiMetrics:
    """Every metric the API exposes, registered on ``registry`` (in multiprocess mode
    the values live in files; the registry is only where they are declared)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "fraud_api_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "code"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "fraud_api_request_seconds",
            "Time from a request's arrival to its response, by route.",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "fraud_api_queue_wait_seconds",
            "Time a scoring request waited in the queue before its batch started.",
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "fraud_api_batch_size_items",
            "Transactions scored per pipeline call (requests batched together).",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "fraud_api_batch_seconds",
            "Pipeline time per batch (validate, features, predict, reason codes).",
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.items = Counter(
            "fraud_api_items",
            "Transactions answered, by status (scored, invalid, fallback).",
            ["status"],
            registry=r,
        )
        self.decisions = Counter(
            "fraud_api_decisions",
            "Decisions returned for scored transactions.",
            ["decision"],
            registry=r,
        )
        self.fallbacks = Counter(
            "fraud_api_fallbacks",
            "Transactions answered by the --on-deadline policy instead of the model.",
            ["policy"],
            registry=r,
        )
        self.state_unavailable = Counter(
            "fraud_api_history_unavailable",
            "Transactions whose card history could not be read (Redis down or slow): "
            "answered by the --on-deadline policy.",
            registry=r,
        )
        self.in_flight = Gauge(
            "fraud_api_in_flight_requests",
            "Requests received and not yet answered.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.queued = Gauge(
            "fraud_api_queued_items",
            "Transactions waiting for a batch.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.ready = Gauge(
            "fraud_api_ready",
            "1 per worker that is ready to score.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.model_info = Gauge(
            "fraud_model_info",
            "The model a worker serves (value 1; 0 for one it served before a reload).",
            ["name", "version"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.auth_failures = Counter(
            "fraud_api_auth_failures",
            "Requests refused for their bearer token: missing, malformed, invalid (401), "
            "forbidden (403: a valid token without the path's scope).",
            ["reason"],
            registry=r,
        )
        self.token_reloads = ReloadMetrics("tokens", r)
        for route in ROUTES:
            self.request_seconds.labels(route=route)
        for status in ("scored", "invalid", "fallback"):
            self.items.labels(status=status)
        for decision in DECISIONS:
            self.decisions.labels(decision=decision)
        for policy in ("approve", "review", "decline"):
            self.fallbacks.labels(policy=policy)
        for reason in AUTH_FAILURES:
            self.auth_failures.labels(reason=reason)


class ReloadMetrics:
    """Re-reads of one kind of file that changed while serving: the TLS files (``"tls"``)
    or the token file (``"tokens"``). Made where each is loaded: the TLS one where a worker
    builds its TLS context, before the app (and its ApiMetrics) exists. Each process makes
    each kind once, so the two never write the same multiprocess values."""

    def __init__(self, secret: str, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.secret = secret
        self.reloads = Counter(
            "fraud_api_secret_reloads",
            "Changed TLS or token files read again: loaded, or failed (the previous serve).",
            ["secret", "result"],
            registry=r,
        )
        self.failing = Gauge(
            "fraud_api_secret_reload_failing",
            "1 while the newest version of the files cannot be used (the previous serves).",
            ["secret"],
            registry=r,
            multiprocess_mode="livemax",
        )
        for result in RELOAD_RESULTS:
            self.reloads.labels(secret=secret, result=result)
        self.failing.labels(secret=secret).set(0)

    def loaded(self) -> None:
        self.reloads.labels(secret=self.secret, result="loaded").inc()
        self.failing.labels(secret=self.secret).set(0)

    def failed(self) -> None:
        self.reloads.labels(secret=self.secret, result="failed").inc()
        self.failing.labels(secret=self.secret).set(1)


def scrape_registry() -> CollectorRegistry:
    """A fresh registry that aggregates every worker's files, for one /metrics scrape."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
