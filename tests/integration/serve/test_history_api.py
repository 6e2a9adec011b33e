"""The API scores with card history read from a real Redis, as the stream writes it: the
same answers as the scoring core with the same states; each request sees its own items'
history, never another request's; no Redis configured refuses a history model with one
line; a Redis that is down is answered by the deadline policy, in time, never a hang."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from consumer.devtools.redis_server import EmbeddedRedis
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.history_context import HistoryContext, HistoryRequest, MemoryCardStates
from consumer.scoring.merchant_risk import load_merchant_risk
from consumer.scoring.models import Models, load_model
from consumer.scoring.outcomes import Scored
from consumer.scoring.pipeline import ScoringPipeline
from consumer.state.partition_state import StateUpdate
from consumer.state.redis_store import RedisStateStore, redis_client
from consumer.training.generator import TransactionGenerator
from tests.conftest import MODELS
from tests.integration.serve.server import serving

pytestmark = pytest.mark.integration
HISTORY = MODELS / "card-history"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def redis() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


def _events(n: int, seed: int = 21) -> list[dict[str, Any]]:
    return [e.record for e in TransactionGenerator(seed, history_patterns=True, n_cards=200)
            .take(n)]  # fmt: skip


def _reference() -> tuple[ScoringPipeline, MemoryCardStates]:
    states = MemoryCardStates()
    model = load_model(HISTORY, threads=1)
    risk = load_merchant_risk(HISTORY / "merchant-risk")
    return ScoringPipeline(
        PlainAvroCodec(), Models(model), history=HistoryContext(states, risk)
    ), states


def _history_in_redis(redis: EmbeddedRedis, earlier: list[dict[str, Any]]) -> ScoringPipeline:
    """What the stream would have written for ``earlier``, in Redis; and the core with
    the same card states, to compare with."""
    pipeline, states = _reference()
    codec = PlainAvroCodec()
    block = pipeline.absorb(codec.decode_batch([codec.encode_transaction(r) for r in earlier]))
    assert block is not None
    states.put(block.changed)
    store = RedisStateStore(redis_client(redis.url, 2.0), "fraud:").open("in", 0)
    store.write(StateUpdate(dict(states.states), len(earlier) - 1))
    return pipeline


def _json(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if v is not None}


def test_answers_equal_the_core_with_the_same_card_history(
    redis: EmbeddedRedis, tmp_path: Path
) -> None:
    events = _events(3000)
    earlier, later = events[:2500], events[2500:]
    pipeline = _history_in_redis(redis, earlier)
    snapshot = load_merchant_risk(HISTORY / "merchant-risk").name
    codec = PlainAvroCodec()
    requests = [later[i : i + 25] for i in range(0, len(later), 25)]
    args = ("--model", str(HISTORY), "--redis-url", redis.url, "--deadline-ms", "5000")
    with serving(tmp_path, *args) as server:
        for items in requests:
            r = httpx.post(server.url + "/v1/score", content=json.dumps(
                {"transactions": [_json(t) for t in items]}), headers=JSON, timeout=30)  # fmt: skip
            assert r.status_code == 200, r.text
            got = r.json()["results"]
            inputs = codec.decode_batch([codec.encode_transaction(t) for t in items])
            want = pipeline.score(inputs, request=HistoryRequest(
                scope=np.zeros(len(items), np.int64), keep_states=False))  # fmt: skip
            assert [g["score"] for g in got] == want.score.tolist()
            decisions = [a.decision for a in want.in_order() if isinstance(a, Scored)]
            assert [g["decision"] for g in got] == decisions
            assert {g["merchant_risk"] for g in got} == {snapshot}


def test_a_request_sees_its_own_items_never_anothers(redis: EmbeddedRedis, tmp_path: Path) -> None:
    burst = [dict(t, card_id="card_alone", device_id=None) for t in _events(6, seed=4)]
    with serving(tmp_path, "--model", str(HISTORY), "--redis-url", redis.url,
                 "--max-wait-ms", "50") as server:  # fmt: skip
        body = json.dumps({"transactions": [_json(t) for t in burst]})
        together = httpx.post(server.url + "/v1/score", content=body, headers=JSON,
                              timeout=30).json()  # fmt: skip
        alone = [httpx.post(server.url + "/v1/score", content=json.dumps(_json(t)),
                            headers=JSON, timeout=30).json() for t in burst]  # fmt: skip
    scores = [r["score"] for r in together["results"]]
    # the first item sees no history either way; after it, together sees the request's
    # earlier items, one by one sees none: answers differ
    assert scores[0] == alone[0]["score"]
    assert scores[1:] != [a["score"] for a in alone][1:]


def test_a_history_model_without_redis_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "consumer", "serve", "--model", str(HISTORY), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "--redis-url" in errors[0], done.stderr


@pytest.mark.parametrize(("policy", "status"), [("error", 503), ("review", 200)])
def test_redis_down_is_answered_by_the_deadline_policy_in_time(
    tmp_path: Path, policy: str, status: int
) -> None:
    server_redis = EmbeddedRedis().start()
    try:
        args = ("--model", str(HISTORY), "--redis-url", server_redis.url, "--on-deadline",
                policy, "--deadline-ms", "300", "--redis-timeout-ms", "50")  # fmt: skip
        with serving(tmp_path, *args) as server:
            tx = _json(_events(1)[0])
            assert httpx.post(server.url + "/v1/score", content=json.dumps(tx),
                              headers=JSON, timeout=30).status_code == 200  # fmt: skip
            server_redis.kill()
            started = time.monotonic()
            r = httpx.post(server.url + "/v1/score", content=json.dumps(tx), headers=JSON,
                           timeout=30)  # fmt: skip
            took = time.monotonic() - started
            assert r.status_code == status, r.text
            assert took < 1.0  # the Redis timeout, not a hang
            if policy == "review":
                assert r.json()["decision"] == "REVIEW" and r.json()["fallback"] is True
            else:
                assert r.json()["error"]["reason"] == "history_unavailable"
            metrics = server.get("/metrics").text
            assert "fraud_api_history_unavailable_total 1.0" in metrics
            server_redis.start()  # back: scored again
            deadline = time.monotonic() + 20
            while True:
                r = httpx.post(server.url + "/v1/score", content=json.dumps(tx), headers=JSON,
                               timeout=30)  # fmt: skip
                if r.status_code == 200 and not r.json().get("fallback"):
                    break
                assert time.monotonic() < deadline, r.text
                time.sleep(0.2)
    finally:
        server_redis.stop()
