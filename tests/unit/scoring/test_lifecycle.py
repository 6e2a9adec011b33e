"""Promotion (CURRENT), hot reload, canary routing and shadow isolation in the core."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.errors import ModelError
from consumer.scoring.models import (
    BUCKETS,
    Canary,
    FraudModel,
    Models,
    bucket,
    load_model,
    resolve_card_path,
)
from consumer.scoring.models.reloader import ModelReloader
from consumer.scoring.outcomes import ScoredAt
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from consumer.training.generator import TransactionGenerator
from tests.conftest import promote


def test_current_names_the_served_card_else_the_newest(model_dir: Path, tmp_path: Path) -> None:
    assert resolve_card_path(model_dir).name == "fraud-lgbm-1.0.0.json"
    no_current = tmp_path / "m"
    shutil.copytree(model_dir, no_current)
    (no_current / "CURRENT").unlink()
    assert resolve_card_path(no_current).name == "fraud-lgbm-1.1.0.json"
    for bad in ("", "../fraud-lgbm-1.0.0.json", "fraud-lgbm-9.9.9.json"):
        (no_current / "CURRENT").write_text(bad)
        with pytest.raises(ModelError):
            resolve_card_path(no_current)
    (no_current / "CURRENT").write_text("fraud-lgbm-1.1.0")  # a stem is enough
    assert resolve_card_path(no_current).name == "fraud-lgbm-1.1.0.json"


def test_a_promoted_model_is_loaded_then_handed_over_once(model_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "m"
    shutil.copytree(model_dir, directory)
    loaded: list[FraudModel] = []
    failed: list[str] = []
    reloader = ModelReloader(
        directory, load_model(directory), on_loaded=loaded.append, on_failed=failed.append
    )
    reloader.check()
    assert reloader.take() is None  # nothing new
    promote(directory, "fraud-lgbm-1.1.0.json")
    reloader.check()
    new = reloader.take()
    assert new is not None and new.version == "1.1.0" and loaded == [new]
    assert reloader.take() is None  # handed over once
    reloader.check()
    assert reloader.take() is None and failed == []


def test_a_model_that_fails_to_load_leaves_the_old_one_and_says_so_once(
    model_dir: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "m"
    shutil.copytree(model_dir, directory)
    failed: list[str] = []
    reloader = ModelReloader(directory, load_model(directory), on_failed=failed.append)
    (directory / "fraud-lgbm-1.1.0.txt").write_bytes(b"half a model")  # a half-copied file
    promote(directory, "fraud-lgbm-1.1.0.json")
    reloader.check()
    reloader.check()  # no second report for the same failure
    assert reloader.take() is None
    assert len(failed) == 1 and "corrupt or was replaced" in failed[0]
    shutil.copy(model_dir / "fraud-lgbm-1.1.0.txt", directory / "fraud-lgbm-1.1.0.txt")
    reloader.check()  # the directory changed: tried again
    taken = reloader.take()
    assert taken is not None and taken.version == "1.1.0"


def test_canary_routing_is_sticky_and_takes_its_share(model: FraudModel) -> None:
    canary = Canary(model, 5.0)
    cards = [f"tok_{i:08x}" for i in range(100_000)]
    chosen = canary.chosen(cards)
    assert 0.045 < chosen.mean() < 0.055
    assert np.array_equal(chosen, canary.chosen(cards))  # same cards, same model
    first = zip(cards[:1000], chosen[:1000], strict=True)
    assert all(bucket(c) < BUCKETS * 5 // 100 for c, yes in first if yes)
    assert not Canary(model, 0.0).chosen(cards).any()
    assert Canary(model, 100.0).chosen(cards).all()


def _records(n: int) -> list[RawRecord]:
    codec = PlainAvroCodec()
    events = TransactionGenerator(12, fraud_rate=0.2).take(n)
    return [
        RawRecord("in", 0, i, e.record["card_id"].encode(), codec.encode_transaction(e.record))
        for i, e in enumerate(events)
    ]


def test_the_canary_decides_for_its_cards_and_the_output_says_so(model_dir: Path) -> None:
    champion, challenger = load_model(model_dir), load_model(model_dir / "fraud-lgbm-1.1.0.json")
    records = _records(3000)
    alone = {
        r.source.offset: r
        for r in ScoringPipeline(PlainAvroCodec(), Models(challenger))
        .process(records)
        .scored_records()
    }
    with_canary = ScoringPipeline(PlainAvroCodec(), Models(champion, Canary(challenger, 30.0)))
    result = with_canary.process(records)
    codec = PlainAvroCodec()
    versions = []
    for s in result.scored_records():
        out = codec.decode_score(s.value)
        card = s.source.key.decode()  # type: ignore[union-attr]
        expected = "1.1.0" if bucket(card) < 3000 else "1.0.0"
        assert out["model_version"] == expected
        if expected == "1.1.0":  # the canary's own score, decision and reasons
            assert (out["score"], out["decision"]) == (
                alone[s.source.offset].score,
                alone[s.source.offset].decision,
            )
        versions.append(expected)
    assert 0.25 < versions.count("1.1.0") / len(versions) < 0.35


def test_a_shadow_never_changes_the_champions_answers(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion, challenger = load_model(model_dir), load_model(model_dir / "fraud-lgbm-1.1.0.json")
    records = _records(500)

    def pipeline(shadow: FraudModel | None = None) -> ScoringPipeline:
        return ScoringPipeline(
            PlainAvroCodec(),
            Models(champion, shadow=shadow),
            scored_at=ScoredAt.of(1_700_000_000_000),
        )

    plain = pipeline().process(records)
    shadowed = pipeline(challenger).process(records)
    assert shadowed.values == plain.values
    assert shadowed.shadow is not None and len(shadowed.shadow_values) == len(plain.values)
    decoded = [PlainAvroCodec().decode_score(v) for v in shadowed.shadow_values]
    assert {d["model_version"] for d in decoded} == {"1.1.0"}
    assert [d["source_offset"] for d in decoded] == [int(i) for i in plain.positions]

    def broken(_features: object) -> object:
        raise RuntimeError("the shadow's library crashed")

    monkeypatch.setattr(challenger, "predict", broken)
    failing = pipeline(challenger).process(records)
    assert failing.values == plain.values
    assert failing.shadow is None and failing.shadow_values == []
    assert failing.shadow_error == "RuntimeError"
