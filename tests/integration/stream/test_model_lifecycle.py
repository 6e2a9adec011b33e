"""The model lifecycle in the running scorer: hot reload under load, a failed reload,
SIGHUP, and a canary and a shadow side by side."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.kafka.topics import ensure_topics, read_all
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.models import BUCKETS, Models, bucket, load_model
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from tests.conftest import half_copied, promote
from tests.integration.helpers import (
    Scorer,
    Sent,
    assert_every_offset_once,
    landed,
    make_values,
    new_group,
    produce,
)

pytestmark = pytest.mark.integration
V1, V2 = "fraud-lgbm-1.0.0.json", "fraud-lgbm-1.1.0.json"


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "models"
    shutil.copytree(model_dir, directory)
    return directory


class Producing(threading.Thread):
    """Load: chunks of events produced one after another until stopped."""

    def __init__(self, bootstrap: str, topic: str, chunk: int = 300) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.chunk = bootstrap, topic, chunk
        self.sent = Sent({}, {}, {}, {}, set())
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        seed = 1
        try:
            while not self.halt.is_set():
                part = produce(self.bootstrap, self.topic, make_values(self.chunk, seed=seed))
                for name in ("key", "value", "headers", "timestamp"):
                    getattr(self.sent, name).update(getattr(part, name))
                seed += 1
                time.sleep(0.05)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def stop(self) -> Sent:
        self.halt.set()
        self.join(120)
        assert self.error is None, self.error
        return self.sent


def _wait_for_versions(
    bootstrap: str, topic: str, versions: set[str], partitions: int, timeout: float = 60
) -> None:
    """Until every input partition has outputs by each of ``versions``."""
    deadline = time.monotonic() + timeout
    codec = PlainAvroCodec()
    while True:
        seen: dict[int, set[str]] = {p: set() for p in range(partitions)}
        for msg in read_all(bootstrap, topic):
            score = codec.decode_score(msg.value())
            seen[score["source_partition"]].add(score["model_version"])
        if all(versions <= v for v in seen.values()):
            return
        assert time.monotonic() < deadline, f"outputs by version per partition: {seen}"
        time.sleep(0.5)


def _versions_by_partition(
    got: dict[tuple[int, int], list[dict[str, object]]],
) -> dict[int, list[str]]:
    by: dict[int, list[str]] = {}
    for (p, _o), (score,) in sorted(got.items()):
        by.setdefault(p, []).append(str(score["model_version"]))
    return by


def test_a_promoted_model_takes_over_under_load_without_loss_or_double_scoring(
    bootstrap: str,
    topics: Callable[[int], tuple[str, str, str]],
    tmp_path: Path,
    model_dir: Path,
) -> None:
    directory = _copy(model_dir, tmp_path)
    inp, out, dlq = topics(3)
    load = Producing(bootstrap, inp)
    load.start()
    scorer = Scorer(
        bootstrap,
        (inp, out, dlq),
        new_group(),
        tmp_path,
        "--model", str(directory),
        "--model-poll-s", "0.3",
        "--mode", "adaptive",
        "--max-batch", "64",
        "--exit-when-idle", "3",
        metrics=True,
    )  # fmt: skip
    scorer.wait_for("fraud_scores_total", 1000)
    _wait_for_versions(bootstrap, out, {"1.0.0"}, 3)  # every partition scored by 1.0.0
    promote(directory, V2)
    scorer.wait_for('fraud_model_reloads_total{result="loaded"}', 1)
    before = scorer.metric("fraud_scores_total")
    scorer.wait_for("fraud_scores_total", before + 1000)  # the new model under load

    promote(directory, half_copied(directory, "1.2.0"))  # a reload that fails
    scorer.wait_for('fraud_model_reloads_total{result="failed"}', 1)
    assert scorer.metric("fraud_model_reload_failed") == 1
    assert scorer.metric('fraud_model_info{name="fraud-lgbm",version="1.1.0"}') == 1
    failed = scorer.metric("fraud_scores_total")
    scorer.wait_for("fraud_scores_total", failed + 500)  # 1.1.0 scores on
    _wait_for_versions(bootstrap, out, {"1.0.0", "1.1.0"}, 3)
    sent = load.stop()
    assert scorer.wait() == 0, scorer.output()

    got = landed(bootstrap, out, dlq)
    assert_every_offset_once(sent, got)
    for p, versions in _versions_by_partition(got.scores).items():
        runs = [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
        assert runs == ["1.0.0", "1.1.0"], (p, runs)  # one switch per partition
    log = scorer.output()
    assert log.count("model reload failed") == 1, log
    assert "now scoring with fraud-lgbm-1.1.0" in log

    # Each record's score is the one the model that decided it gives offline.
    codec = PlainAvroCodec()
    offline = {
        v: ScoringPipeline(codec, Models(load_model(model_dir / f"fraud-lgbm-{v}.json")))
        for v in ("1.0.0", "1.1.0")
    }
    sample = sorted(got.scores)[::97]
    for pos in sample:
        (score,) = got.scores[pos]
        raw = RawRecord(inp, pos[0], pos[1], sent.key[pos], sent.value[pos])
        (expected,) = offline[str(score["model_version"])].process([raw]).scored_records()
        assert score["score"] == expected.score


def test_sighup_looks_for_a_promoted_model_at_once(
    bootstrap: str,
    topics: Callable[[int], tuple[str, str, str]],
    tmp_path: Path,
    model_dir: Path,
) -> None:
    directory = _copy(model_dir, tmp_path)
    inp, out, dlq = topics(1)
    scorer = Scorer(
        bootstrap,
        (inp, out, dlq),
        new_group(),
        tmp_path,
        "--model", str(directory),
        "--model-poll-s", "3600",
        metrics=True,
    )  # fmt: skip
    try:
        scorer.wait_for("fraud_ready", 1)
        promote(directory, V2)
        time.sleep(1)
        assert scorer.metric('fraud_model_reloads_total{result="loaded"}') == 0  # no poll yet
        scorer.signal(signal.SIGHUP)
        scorer.wait_for('fraud_model_reloads_total{result="loaded"}', 1, timeout=20)
        sent = produce(bootstrap, inp, make_values(50))
        scorer.wait_for("fraud_scores_total", 50)
    finally:
        scorer.signal(signal.SIGTERM)
    assert scorer.wait() == 0, scorer.output()
    got = landed(bootstrap, out, dlq)
    assert_every_offset_once(sent, got)
    assert {s[0]["model_version"] for s in got.scores.values()} == {"1.1.0"}


def test_a_canary_decides_for_its_cards_and_a_shadow_only_watches(
    bootstrap: str,
    topics: Callable[[int], tuple[str, str, str]],
    tmp_path: Path,
    model_dir: Path,
) -> None:
    inp, out, dlq = topics(2)
    shadow_topic = inp.replace(".in", ".shadow")
    ensure_topics({"bootstrap.servers": bootstrap}, {shadow_topic: 2})
    sent = produce(bootstrap, inp, make_values(1500, malformed_every=50))
    scorer = Scorer(
        bootstrap,
        (inp, out, dlq),
        new_group(),
        tmp_path,
        "--model", str(model_dir / V1),
        "--canary-model", str(model_dir / V2),
        "--canary-percent", "20",
        "--shadow-model", str(model_dir / V2),
        "--shadow-topic", shadow_topic,
        "--max-batch", "100",
        metrics=True,
    )  # fmt: skip
    scorer.wait_for("fraud_model_decisions_total", len(sent.value) - len(sent.malformed))
    decided = {
        v: sum(
            scorer.metric(f'fraud_model_decisions_total{{decision="{d}",version="{v}"}}')
            for d in ("APPROVE", "REVIEW", "DECLINE")
        )
        for v in ("1.0.0", "1.1.0")
    }
    agreement = scorer.metric("fraud_shadow_agreement_total")
    shadow_seen = scorer.metric("fraud_shadow_score_count")
    scorer.signal(signal.SIGTERM)
    assert scorer.wait() == 0, scorer.output()

    got = landed(bootstrap, out, dlq)
    assert_every_offset_once(sent, got)
    codec = PlainAvroCodec()
    champion, challenger = (load_model(model_dir / c) for c in (V1, V2))
    alone = {
        m.version: {
            (s.source.partition, s.source.offset): s.score
            for s in ScoringPipeline(codec, Models(m))
            .process(
                [RawRecord(inp, p, o, sent.key[p, o], sent.value[p, o]) for p, o in sent.value]
            )
            .scored_records()
        }
        for m in (champion, challenger)
    }
    limit = 20 * BUCKETS // 100
    versions = []
    for pos, (score,) in got.scores.items():
        card = sent.key[pos].decode()  # type: ignore[union-attr]
        expected = "1.1.0" if bucket(card) < limit else "1.0.0"  # the card's hash decides
        assert score["model_version"] == expected
        assert score["score"] == alone[expected][pos]
        versions.append(expected)
    assert 0.12 < versions.count("1.1.0") / len(versions) < 0.28
    assert decided == {"1.0.0": versions.count("1.0.0"), "1.1.0": versions.count("1.1.0")}

    shadows = {}
    for msg in read_all(bootstrap, shadow_topic):
        s = codec.decode_score(msg.value())
        shadows[s["source_partition"], s["source_offset"]] = s
    assert set(shadows) == set(got.scores)  # one shadow score per scored event, none else
    assert {s["model_version"] for s in shadows.values()} == {"1.1.0"}
    assert all(s["score"] == alone["1.1.0"][pos] for pos, s in shadows.items())
    assert agreement == shadow_seen == len(got.scores)
