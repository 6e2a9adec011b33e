"""The scoring API as a user meets it: `fraud-consumer serve` in its own process, httpx as
the client. One transaction or an array, per-item errors, every error status, deadline
policies, a full queue, SIGTERM with requests in flight, several workers."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumer.scoring.models import FraudModel
from tests.integration.serve.server import serving, transactions
from tests.tools import features_of

pytestmark = pytest.mark.integration
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with serving(
        tmp_path_factory.mktemp("api"), "--max-items", "50", "--max-body-bytes", "200000"
    ) as s:
        yield s


def _post(url: str, body: Any, **kw: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + "/v1/score", content=content, headers={**JSON, **kw}, timeout=30)


def test_one_transaction_is_scored_like_the_model_scores_it(server: Any, model: FraudModel) -> None:
    txs = transactions(40)
    expected = model.predict(features_of(txs))
    for tx, score in zip(txs, expected, strict=True):
        r = _post(server.url, tx)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "scored" and body["transaction_id"] == tx["transaction_id"]
        assert body["score"] == score  # bit for bit: JSON floats round-trip
        assert body["decision"] == model.decide(score)
        assert (body["model_name"], body["model_version"]) == (model.name, model.version)
        assert bool(body["reason_codes"]) == (body["decision"] != "APPROVE")
        assert "fallback" not in body


def test_an_array_answers_each_item_in_order_and_bad_items_alone(server: Any) -> None:
    txs = transactions(12)
    items: list[Any] = list(txs)
    items[2] = {**txs[2], "amount_minor": -5}  # breaks a rule
    items[5] = {**txs[5], "channel": "CARRIER_PIGEON"}  # not a symbol
    items[7] = {**txs[7], "favourite_colour": "blue"}  # unknown field
    items[9] = "not an object"
    del items[10]["currency"]
    r = _post(server.url, {"transactions": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(items)
    reasons = {2: "negative_amount", 5: "bad_enum", 7: "unknown_field", 9: "not_an_object",
               10: "missing_field"}  # fmt: skip
    for i, result in enumerate(results):
        if i in reasons:
            assert result["status"] == "invalid", result
            assert result["error"]["reason"] == reasons[i]
        else:
            assert (
                result["status"] == "scored"
                and result["transaction_id"] == txs[i]["transaction_id"]
            )
    assert results[2]["transaction_id"] == txs[2]["transaction_id"]  # readable: named
    assert "transaction_id" not in results[9]
    # the bad items change nothing for the others
    alone = _post(server.url, {"transactions": [txs[0], txs[11]]}).json()["results"]
    assert [alone[0]["score"], alone[1]["score"]] == [results[0]["score"], results[11]["score"]]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount_minor": "100"}, "wrong_type"),
        ({"amount_minor": 1.5}, "wrong_type"),
        ({"amount_minor": True}, "wrong_type"),
        ({"amount_minor": 2**70}, "amount_out_of_range"),
        ({"event_time": "yesterday"}, "bad_event_time"),
        ({"event_time": "2026-11-30T10:00:00"}, "bad_event_time"),  # no UTC offset
        ({"event_time": 1_700_000_000}, "bad_event_time"),  # seconds, not ms
        ({"card_id": "4111 1111 1111 1111"}, "card_number_in_card_id"),
        ({"latitude": 91.0, "longitude": 0.0}, "bad_geo"),
        ({"latitude": 1.0, "longitude": None}, "bad_geo"),
        ({"ip_address": "999.0.0.1"}, "bad_ip_address"),
        ({"currency": "usd"}, "unknown_currency"),
    ],
)
def test_a_single_invalid_transaction_is_422_with_the_dead_letter_reason(
    server: Any, changes: dict[str, Any], reason: str
) -> None:
    tx = {**transactions(1)[0], **changes}
    r = _post(server.url, tx)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["status"] == "invalid" and body["error"]["reason"] == reason
    assert body["transaction_id"] == tx["transaction_id"]
    for value in changes.values():
        if isinstance(value, str) and len(value) > 2:
            assert value not in body["error"]["message"], "messages never echo a value"


def test_iso_timestamps_with_an_offset_equal_epoch_milliseconds(server: Any) -> None:
    tx = transactions(1)[0]
    tx["event_time"] = 1_790_834_400_123  # 2026-10-01T06:00:00.123Z
    iso = {**tx, "event_time": "2026-10-01T08:00:00.123+02:00"}
    assert _post(server.url, iso).json()["score"] == _post(server.url, tx).json()["score"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "bad_request"),
        (b'{"transaction_id": "t", "amount_minor": NaN}', 400, "bad_request"),
        (b'{"transactions": [{"latitude": Infinity}]}', 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (b'"a string"', 400, "bad_request"),
        (b'{"transactions": {"a": 1}}', 400, "bad_request"),
        (b'{"transactions": [], "extra": 1}', 400, "bad_request"),
        (b"", 400, "bad_request"),
    ],
)
def test_bodies_that_are_not_one_of_the_two_shapes_are_400(
    server: Any, body: bytes, status: int, reason: str
) -> None:
    r = _post(server.url, body)
    assert r.status_code == status and r.json()["error"]["reason"] == reason


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("name", "body", "status", "reason"),
    [
        ("a 30,000-deep array", _deep(30_000), 400, "too_deep"),
        ("a field holding a 3,000-deep value",
         b'{"transaction_id": ' + _deep(3_000) + b"}", 400, "too_deep"),
        ("an array item 3,000 deep",
         b'{"transactions": [' + _deep(3_000) + b"]}", 400, "too_deep"),
        ("a 1,000-deep object",
         b'{"a":' * 1_000 + b"1" + b"}" * 1_000, 400, "too_deep"),
        ("a 100,000-digit number",
         b'{"transaction_id": "t", "amount_minor": ' + b"9" * 100_000 + b"}", 400,
         "out_of_range"),
        ("a number past float range", b'{"amount_minor": 1e999999}', 400, "out_of_range"),
        ("10,000 keys", json.dumps({f"k{i}": i for i in range(10_000)}).encode(), 422, None),
        ("a 90,000-character string",
         json.dumps({"transaction_id": "é" * 90_000}, ensure_ascii=False).encode(), 422,
         None),
    ],
)  # fmt: skip
def test_hostile_bodies_get_a_4xx_with_a_reason_never_a_500(
    server: Any, name: str, body: bytes, status: int, reason: str | None
) -> None:
    r = _post(server.url, body)
    assert r.status_code == status, f"{name}: {r.status_code} {r.text[:200]}"
    error = r.json().get("error") or r.json()["results"][0]["error"]
    if reason is not None:
        assert error["reason"] == reason, name
    assert len(r.content) < 1_000, "an error never echoes the body"
    assert _post(server.url, transactions(1)[0]).status_code == 200  # and it keeps serving


def test_a_content_length_of_thousands_of_digits_is_refused(server: Any) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + b"9" * 5_000 + b"\r\n\r\n{}"
        )
        status = s.recv(100).split(b" ", 2)[1]
    assert status in (b"400", b"413")  # the server's HTTP parser or ours; never a 500


def test_an_empty_array_is_an_empty_answer(server: Any) -> None:
    r = _post(server.url, {"transactions": []})
    assert r.status_code == 200 and r.json() == {"results": []}


def test_too_many_items_and_too_large_bodies_are_413(server: Any) -> None:
    tx = transactions(1)[0]
    r = _post(server.url, {"transactions": [tx] * 51})
    assert r.status_code == 413 and r.json()["error"]["reason"] == "too_many_items"
    assert _post(server.url, {"transactions": [tx] * 50}).status_code == 200
    huge = json.dumps({**tx, "transaction_id": "x" * 300_000}).encode()
    r = _post(server.url, huge)
    assert r.status_code == 413 and r.json()["error"]["reason"] == "body_too_large"

    def chunks() -> Any:  # no Content-Length: the limit holds while streaming
        for _ in range(50):
            yield b" " * 10_000

    r = httpx.post(server.url + "/v1/score", content=chunks(), headers=JSON, timeout=30)
    assert r.status_code == 413


def test_other_methods_paths_and_media_types(server: Any) -> None:
    assert httpx.get(server.url + "/v1/score").status_code == 405
    assert httpx.get(server.url + "/nope").status_code == 404
    tx = json.dumps(transactions(1)[0])
    r = httpx.post(server.url + "/v1/score", content=tx, headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = httpx.post(server.url + "/v1/score", content=tx, headers={"x-request-deadline-ms": "soon"})
    assert r.status_code == 400 and r.json()["error"]["reason"] == "bad_deadline"
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert httpx.get(server.url + "/readyz").status_code == 200
    metrics = httpx.get(server.url + "/metrics").text
    assert 'fraud_api_requests_total{code="405",route="/v1/score"}' in metrics


@pytest.mark.parametrize("policy", ["error", "approve", "review", "decline"])
def test_past_the_deadline_the_policy_answers(tmp_path: Path, policy: str) -> None:
    txs = transactions(1000)
    with serving(
        tmp_path, "--on-deadline", policy, "--deadline-ms", "1", "--max-items", "1000"
    ) as s:
        r = _post(s.url, {"transactions": txs})
        if policy == "error":
            assert r.status_code == 504 and r.json()["error"]["reason"] == "deadline_exceeded"
        else:
            assert r.status_code == 200
            results = r.json()["results"]
            assert all(x["fallback"] is True and x["score"] is None for x in results)
            assert {x["decision"] for x in results} == {policy.upper()}
        fallbacks = httpx.get(s.url + "/metrics").text
        counted = f'fraud_api_fallbacks_total{{policy="{policy}"}} 1000.0' in fallbacks
        assert counted == (policy != "error")


def test_a_client_may_shorten_its_deadline_but_not_lengthen_it(tmp_path: Path) -> None:
    txs = transactions(1000)
    with serving(tmp_path, "--deadline-ms", "5000", "--max-items", "1000") as s:
        r = _post(s.url, {"transactions": txs}, **{"x-request-deadline-ms": "1"})
        assert r.status_code == 504
        r = _post(s.url, {"transactions": txs}, **{"x-request-deadline-ms": "999999"})
        assert r.status_code == 200


def test_a_full_queue_is_429_with_retry_after(tmp_path: Path) -> None:
    """The batcher waits 300 ms to fill a batch: the first request queues, the second does
    not fit in a queue of 5 transactions."""
    txs = transactions(3)
    with serving(
        tmp_path, "--max-queue", "5", "--max-wait-ms", "300", "--deadline-ms", "2000"
    ) as s:

        async def both() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=s.url, headers=JSON, timeout=30) as c:
                first = asyncio.create_task(c.post("/v1/score", json={"transactions": txs}))
                await _until_queued(c, 3)
                second = await c.post("/v1/score", json={"transactions": txs})
                return [await first, second]

        first, second = asyncio.run(both())
        assert first.status_code == 200
        assert second.status_code == 429 and second.headers["retry-after"] == "1"


async def _until_queued(client: httpx.AsyncClient, n: int) -> None:
    """Until the server reports ``n`` transactions waiting for a batch."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        text = (await client.get("/metrics")).text
        queued = [line for line in text.splitlines() if line.startswith("fraud_api_queued_items")]
        if queued and float(queued[0].split()[-1]) >= n:
            return
        assert loop.time() < deadline, f"never {n} queued:\n{queued}"
        await asyncio.sleep(0.01)


def test_sigterm_answers_requests_in_flight_then_exits_zero(tmp_path: Path) -> None:
    txs = transactions(20)
    with serving(tmp_path, "--max-wait-ms", "1500", "--deadline-ms", "5000") as s:

        async def in_flight() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=s.url, headers=JSON, timeout=30) as c:
                calls = [asyncio.create_task(c.post("/v1/score", json=tx)) for tx in txs]
                await _until_queued(c, len(txs))  # the batcher still waiting for more
                s.proc.send_signal(signal.SIGTERM)
                return list(await asyncio.gather(*calls))

        answers = asyncio.run(in_flight())
        assert [a.status_code for a in answers] == [200] * len(txs)
        assert s.proc.wait(30) == 0, s.output()
    assert "Application shutdown complete" in s.output()


def test_several_workers_share_the_port_and_the_metrics(tmp_path: Path) -> None:
    txs = transactions(200)
    with serving(tmp_path, workers=2) as s:

        async def many() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=s.url, headers=JSON, timeout=30) as c:
                return list(await asyncio.gather(*(c.post("/v1/score", json=t) for t in txs)))

        answers = asyncio.run(many())
        assert {a.status_code for a in answers} == {200}
        metrics = httpx.get(s.url + "/metrics").text
        lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
                 if line and not line.startswith("#")}  # fmt: skip
        assert lines["fraud_api_ready"] == 2.0
        assert lines['fraud_api_requests_total{code="200",route="/v1/score"}'] == 200.0
        assert lines['fraud_api_items_total{status="scored"}'] == 200.0
        assert s.stop() == 0


def test_a_missing_model_stops_startup_with_one_line(tmp_path: Path) -> None:
    with serving(tmp_path, "--model", str(tmp_path / "nope"), ready=False) as s:
        assert s.proc.wait(30) == 2
        assert "fraud-consumer: error: model not found" in s.output()


def test_numbers_survive_json(server: Any) -> None:
    """Scores are finite floats that round-trip through JSON exactly."""
    body = _post(server.url, {"transactions": transactions(30)}).json()
    for r in body["results"]:
        assert math.isfinite(r["score"]) and 0 <= r["score"] <= 1
