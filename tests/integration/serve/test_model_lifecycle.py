"""The model lifecycle in the API server: hot reload under traffic, a failed reload,
SIGHUP with one worker and with several, and a canary and a shadow side by side."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumer.scoring.models import BUCKETS, bucket, load_model
from tests.conftest import half_copied, promote
from tests.integration.serve.server import Server, serving, transactions
from tests.tools import features_of

pytestmark = pytest.mark.integration
V2 = "fraud-lgbm-1.1.0.json"
ANSWER_FIELDS = {"status", "transaction_id", "score", "decision", "reason_codes", "model_name",
                 "model_version"}  # fmt: skip


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "models"
    shutil.copytree(model_dir, directory)
    return directory


def _metrics(server: Server) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def _version(server: Server, tx: dict[str, Any]) -> str:
    r = httpx.post(server.url + "/v1/score", json=tx, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["model_version"])


def _until(check: Any, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


class Traffic(threading.Thread):
    """A client scoring one transaction after another, noting each answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.halt = url, threading.Event()
        self.answers: list[tuple[int, str | None]] = []

    def run(self) -> None:
        txs = transactions(200)
        with httpx.Client(base_url=self.url, timeout=10) as client:
            i = 0
            while not self.halt.is_set():
                r = client.post("/v1/score", json=txs[i % len(txs)])
                version = r.json().get("model_version") if r.status_code == 200 else None
                self.answers.append((r.status_code, version))
                i += 1

    def stop(self) -> list[tuple[int, str | None]]:
        self.halt.set()
        self.join(30)
        return self.answers


def test_a_promoted_model_serves_without_a_restart_and_a_broken_one_never(
    tmp_path: Path, model_dir: Path
) -> None:
    directory = _copy(model_dir, tmp_path)
    with serving(tmp_path, "--model", str(directory), "--model-poll-s", "0.3") as s:
        traffic = Traffic(s.url)
        traffic.start()
        _until(lambda: len(traffic.answers) > 100, what="traffic")
        promote(directory, V2)
        _until(lambda: traffic.answers[-1][1] == "1.1.0", what="1.1.0 serving")
        seen = len(traffic.answers)
        _until(lambda: len(traffic.answers) > seen + 100, what="traffic on 1.1.0")

        promote(directory, half_copied(directory, "1.2.0"))
        _until(lambda: _metrics(s).get("fraud_model_reload_failed") == 1, what="failed metric")
        seen = len(traffic.answers)
        _until(lambda: len(traffic.answers) > seen + 100, what="traffic after the failure")
        answers = traffic.stop()

        assert {code for code, _ in answers} == {200}  # no request failed over the swaps
        versions = [v for _, v in answers]
        switch = versions.index("1.1.0")
        assert set(versions[:switch]) == {"1.0.0"} and set(versions[switch:]) == {"1.1.0"}
        m = _metrics(s)
        assert m['fraud_model_reloads_total{result="loaded"}'] == 1
        assert m['fraud_model_reloads_total{result="failed"}'] == 1
        assert m['fraud_model_info{name="fraud-lgbm",version="1.1.0"}'] == 1
        assert m['fraud_model_info{name="fraud-lgbm",version="1.0.0"}'] == 0
        assert s.stop() == 0
    log = s.output()
    assert log.count("model reload failed") == 1, log
    assert "corrupt" in log


def test_sighup_looks_at_once_with_one_worker(tmp_path: Path, model_dir: Path) -> None:
    directory = _copy(model_dir, tmp_path)
    tx = transactions(1)[0]
    with serving(tmp_path, "--model", str(directory), "--model-poll-s", "3600") as s:
        promote(directory, V2)
        time.sleep(1)
        assert _version(s, tx) == "1.0.0"  # no poll for an hour
        s.proc.send_signal(signal.SIGHUP)
        info = 'fraud_model_info{name="fraud-lgbm",version="1.1.0"}'
        # taken over while idle: no request needed for the metrics to say so
        _until(lambda: _metrics(s).get(info) == 1, timeout=10, what="1.1.0 after SIGHUP")
        assert _version(s, tx) == "1.1.0"
        assert s.stop() == 0


def test_sighup_with_a_model_file_is_ignored_not_fatal(tmp_path: Path, model_dir: Path) -> None:
    tx = transactions(1)[0]
    with serving(tmp_path, "--model", str(model_dir / V2)) as s:
        s.proc.send_signal(signal.SIGHUP)
        _until(lambda: "SIGHUP ignored" in s.output(), timeout=10, what="the warning")
        assert _version(s, tx) == "1.1.0" and s.proc.poll() is None
        assert s.stop() == 0


def test_sighup_with_workers_replaces_them_and_keeps_them_if_the_model_is_broken(
    tmp_path: Path, model_dir: Path
) -> None:
    directory = _copy(model_dir, tmp_path)
    txs = transactions(20)
    args = ("--model", str(directory), "--model-poll-s", "3600")
    with serving(tmp_path, *args, workers=2) as s:

        def versions() -> set[str]:
            return {_version(s, tx) for tx in txs}

        promote(directory, V2)
        assert versions() == {"1.0.0"}
        traffic = Traffic(s.url)
        traffic.start()
        s.proc.send_signal(signal.SIGHUP)  # a rolling restart: each new worker loads 1.1.0
        _until(lambda: versions() == {"1.1.0"}, timeout=90, what="both workers on 1.1.0")

        promote(directory, half_copied(directory, "1.2.0"))
        s.proc.send_signal(signal.SIGHUP)
        _until(lambda: "keeping worker" in s.output(), timeout=90, what="the restart aborted")
        assert versions() == {"1.1.0"} and s.proc.poll() is None
        answers = traffic.stop()
        assert {code for code, _ in answers} == {200}, Counter(code for code, _ in answers)
        assert s.stop() == 0


def test_a_canary_decides_for_its_cards_and_a_shadow_only_counts(
    tmp_path: Path, model_dir: Path
) -> None:
    champion, challenger = load_model(model_dir), load_model(model_dir / V2)
    txs = transactions(600, seed=9)
    args = (
        "--model", str(model_dir / "fraud-lgbm-1.0.0.json"),
        "--canary-model", str(model_dir / V2), "--canary-percent", "25",
        "--shadow-model", str(model_dir / V2),
    )  # fmt: skip
    with serving(tmp_path, *args) as s:
        results = []
        for i in range(0, len(txs), 100):
            r = httpx.post(s.url + "/v1/score", json={"transactions": txs[i : i + 100]}, timeout=30)
            assert r.status_code == 200, r.text
            results += r.json()["results"]
        again = httpx.post(s.url + "/v1/score", json=txs[0], timeout=10).json()
        m = _metrics(s)
        assert s.stop() == 0

    scores = {
        v: mod.predict(features_of(txs)) for v, mod in (("1.0.0", champion), ("1.1.0", challenger))
    }
    limit = 25 * BUCKETS // 100
    versions = []
    for j, (tx, out) in enumerate(zip(txs, results, strict=True)):
        expected = "1.1.0" if bucket(tx["card_id"]) < limit else "1.0.0"
        assert out["model_version"] == expected  # the card's hash decides, every time
        assert out["score"] == scores[expected][j]
        versions.append(expected)
    assert again["model_version"] == results[0]["model_version"]  # sticky
    share = versions.count("1.1.0") / len(versions)
    assert 0.17 < share < 0.33
    for v in ("1.0.0", "1.1.0"):
        decided = sum(
            m.get(f'fraud_model_decisions_total{{decision="{d}",version="{v}"}}', 0)
            for d in ("APPROVE", "REVIEW", "DECLINE")
        )
        assert decided == versions.count(v) + (again["model_version"] == v)
    agreement = sum(v for k, v in m.items() if k.startswith("fraud_shadow_agreement_total"))
    assert agreement == m["fraud_shadow_score_count"] == len(txs) + 1
    assert all(set(out) <= ANSWER_FIELDS for out in results)  # the shadow never answers
