"""The same events scored three ways give the same answers: through the HTTP API, by the
Kafka scorer, and by batch prediction over the topic. Scores bit for bit, decisions,
reason codes; the invalid ones rejected with the same reasons."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pytest

from consumer.cli import main as cli
from consumer.devtools.faults import RECORD_FAULTS
from consumer.scoring.codec import PlainAvroCodec
from tests.integration.helpers import Scorer, landed, new_group, produce
from tests.integration.serve.server import serving, transactions

pytestmark = pytest.mark.integration


def test_api_stream_and_batch_agree(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    rng = random.Random(8)
    records = transactions(600, seed=21, fraud_rate=0.1)
    kinds = sorted(k for k in RECORD_FAULTS if k != "nan_latitude")  # NaN is not JSON
    for i in range(0, len(records), 37):  # rule-breaking records among them
        records[i] = RECORD_FAULTS[kinds[(i // 37) % len(kinds)]](records[i], rng)
    codec = PlainAvroCodec()
    names = topics(3)
    sent = produce(bootstrap, names[0], [(None, codec.encode_transaction(r), []) for r in records])

    # the Kafka scorer
    scorer = Scorer(bootstrap, names, new_group(), tmp_path, "--exit-when-idle", "2")
    assert scorer.wait() == 0, scorer.output()
    got = landed(bootstrap, names[1], names[2])
    stream: dict[str, tuple[Any, ...]] = {}
    for scores in got.scores.values():
        score = scores[0]
        stream[score["transaction_id"]] = (score["score"], score["decision"], score["reason_codes"])
    stream_dead = {
        codec.decode_transaction(sent.value[pos])["transaction_id"]: dict(msgs[0].headers())[
            "dlq.error.reason"
        ].decode()
        for pos, msgs in got.dead.items()
        if sent.value[pos] is not None
    }

    # batch prediction over the same topic
    out = tmp_path / "scores.avro"
    args = ["batch", "--bootstrap-servers", bootstrap, "--from-topic", names[0]]
    assert cli([*args, "--output", str(out), "--dlq-output", str(tmp_path / "dl.avro")]) == 0
    with out.open("rb") as f:
        batch = {
            r["transaction_id"]: (r["score"], r["decision"], r["reason_codes"])
            for r in fastavro.reader(f)
            if isinstance(r, dict)
        }

    # the API
    with serving(tmp_path, "--max-items", "1000") as s:
        r = httpx.post(
            s.url + "/v1/score",
            content=json.dumps({"transactions": records}),
            headers={"content-type": "application/json"},
            timeout=60,
        )
    assert r.status_code == 200
    api, api_dead = {}, {}
    for record, result in zip(records, r.json()["results"], strict=True):
        if result["status"] == "scored":
            api[result["transaction_id"]] = (
                result["score"],
                result["decision"],
                result["reason_codes"],
            )
        else:
            api_dead[record["transaction_id"]] = result["error"]["reason"]

    assert len(api) > 500 and len(api_dead) > 10
    assert api == stream == batch
    assert api_dead == stream_dead
