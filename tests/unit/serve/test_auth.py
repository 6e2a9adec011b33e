"""Who may call which path with --auth-tokens-file: answers and counted reasons."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from consumer.ops.api_metrics import ApiMetrics
from consumer.serve.auth import BearerAuth
from consumer.serve.reloading import Reloading
from consumer.serve.tokens import load_tokens

FULL = "a" * 32
METRICS = "m" * 32


@pytest.fixture
def metrics() -> tuple[ApiMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return ApiMetrics(registry), registry


def _auth(tmp_path: Path, m: ApiMetrics, metrics_auth: bool) -> BearerAuth:
    path = tmp_path / "tokens"
    path.write_text(f"{FULL}\n{METRICS} metrics\n")
    tokens = Reloading("tokens", [path], lambda: load_tokens(path), m.token_reloads)
    return BearerAuth(tokens, m, metrics_auth=metrics_auth)


def _headers(value: str | None) -> list[tuple[bytes, bytes]]:
    return [] if value is None else [(b"authorization", value.encode())]


@pytest.mark.parametrize(
    ("route", "header", "status", "reason"),
    [
        ("/healthz", None, None, None),
        ("/readyz", None, None, None),
        ("/v1/score", None, 401, "missing"),
        ("/v1/score", f"Basic {FULL}", 401, "malformed"),
        ("/v1/score", "Bearer", 401, "malformed"),
        ("/v1/score", "Bearer    ", 401, "malformed"),
        ("/v1/score", "Bearer " + "b" * 32, 401, "invalid"),
        ("/v1/score", f"Bearer {FULL}", None, None),
        ("/v1/score", f"bearer  {FULL} ", None, None),
        ("/v1/score", f"Bearer {METRICS}", 403, "forbidden"),
        ("/metrics", None, 401, "missing"),
        ("/metrics", f"Bearer {METRICS}", None, None),
        ("other", None, 401, "missing"),
        ("other", f"Bearer {METRICS}", None, None),
    ],
)
def test_each_path_needs_what_it_needs(
    tmp_path: Path,
    metrics: tuple[ApiMetrics, CollectorRegistry],
    route: str,
    header: str | None,
    status: int | None,
    reason: str | None,
) -> None:
    m, registry = metrics
    refusal = _auth(tmp_path, m, metrics_auth=True).refuse(route, _headers(header))
    if status is None:
        assert refusal is None
        return
    assert refusal is not None
    code, body, headers = refusal
    assert code == status
    assert dict(headers)[b"www-authenticate"].startswith(b'Bearer realm="fraud-api"')
    assert b'"error":{"reason":' in body and FULL.encode() not in body
    sample = registry.get_sample_value("fraud_api_auth_failures_total", {"reason": str(reason)})
    assert sample == 1.0


def test_metrics_stay_open_without_metrics_auth(
    tmp_path: Path, metrics: tuple[ApiMetrics, CollectorRegistry]
) -> None:
    auth = _auth(tmp_path, metrics[0], metrics_auth=False)
    assert auth.refuse("/metrics", []) is None
    assert auth.refuse("/v1/score", []) is not None
