"""The scoring core with card history: one definition fed by a state store, the same
answers however a stream is cut into batches, scopes kept apart, and models refused by a
face that cannot feed them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.errors import ModelError
from consumer.scoring.feature_sets import CARD_HISTORY, PER_EVENT
from consumer.scoring.features import amount_usd
from consumer.scoring.history_context import HistoryContext, HistoryRequest, MemoryCardStates
from consumer.scoring.inputs import Inputs
from consumer.scoring.merchant_risk import MerchantRisk
from consumer.scoring.models import FraudModel, Models
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from consumer.training.generator import TransactionGenerator
from tests.oracle import card_history as oracle
from tests.tools import tiny_model

CODEC = PlainAvroCodec()


@pytest.fixture(scope="module")
def history_model(tmp_path_factory: pytest.TempPathFactory) -> FraudModel:
    model: FraudModel = tiny_model(tmp_path_factory.mktemp("tiny"))
    return model


@pytest.fixture(scope="module")
def stream() -> list[bytes | None]:
    events = TransactionGenerator(5, history_patterns=True, n_cards=300).take(4000)
    values: list[bytes | None] = [CODEC.encode_transaction(e.record) for e in events]
    values[17] = b"\x00garbage"  # a record that never reaches history
    return values


def _risk() -> MerchantRisk:
    return MerchantRisk("merchant-risk-test", 0, {"m_1": 0}, np.array([[0.5, 0.25, 0.125, 80]]))


def _pipeline(model: FraudModel, states: MemoryCardStates | None = None) -> ScoringPipeline:
    history = None if states is None else HistoryContext(states, _risk())
    return ScoringPipeline(CODEC, Models(model), history=history, clock=lambda: 1.8e9)


def test_a_history_model_without_a_state_store_is_refused_with_one_line(
    history_model: FraudModel,
) -> None:
    with pytest.raises(ModelError) as info:
        _pipeline(history_model)
    assert "needs card history" in str(info.value) and "\n" not in str(info.value)
    per_event = _pipeline(history_model, MemoryCardStates())
    with pytest.raises(ModelError, match="needs card history"):
        ScoringPipeline(CODEC, Models(per_event.model)).replace_champion(history_model)


def test_cutting_the_stream_anywhere_gives_the_same_scores_and_states(
    history_model: FraudModel, stream: list[bytes | None]
) -> None:
    def run(cuts: list[int]) -> tuple[list[float], dict[str, bytes]]:
        states = MemoryCardStates()
        pipeline = _pipeline(history_model, states)
        scores: list[float] = []
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            out = pipeline.process([_raw(a + i, v) for i, v in enumerate(stream[a:b])])
            assert out.history is not None
            states.put(out.history.changed)
            scores += out.score.tolist()
        return scores, states.states

    whole = run([])
    rng = np.random.default_rng(1)
    for _ in range(3):
        cuts = sorted(set(rng.integers(1, len(stream), 12).tolist()))
        assert run(cuts) == whole
    assert run(list(range(1, 120))) == whole  # one event per batch for the first 120


def test_history_columns_follow_the_definition_and_the_snapshot(
    history_model: FraudModel, stream: list[bytes | None]
) -> None:
    values: list[bytes | None] = [v for v in stream[:1500] if v and v[:1] != b"\x00"]
    inputs = CODEC.decode_batch(values)
    states = MemoryCardStates()
    out = _pipeline(history_model, states).score(inputs)
    assert out.history is not None and out.history.merchant_risk == "merchant-risk-test"
    tx = inputs.columns
    cards = list(dict.fromkeys(tx.card_id))
    usd = amount_usd(tx)
    want, _ = oracle.card_history(  # one event at a time, in plain Python
        [cards.index(c) for c in tx.card_id],
        tx.event_time.tolist(),
        usd.tolist(),
        [oracle.hash_id(m) for m in tx.merchant_id],
        [oracle.hash_id(c) for c in tx.merchant_country],
        [oracle.hash_id(d) for d in tx.device_id],
        [oracle.hash_id(t) for t in tx.transaction_id],
        states=[b""] * len(cards),
    )
    got = out.history.features
    assert got.shape == (len(tx), len(CARD_HISTORY.names) - len(PER_EVENT.names))
    assert np.array_equal(got[:, :15], np.array(want), equal_nan=True)
    merchant = np.array([m == "m_1" for m in tx.merchant_id])
    assert np.isnan(got[~merchant, 15:]).all()


def test_scopes_never_see_each_other(history_model: FraudModel) -> None:
    events = TransactionGenerator(9, history_patterns=True, n_cards=3).take(40)
    inputs = CODEC.decode_batch([CODEC.encode_transaction(e.record) for e in events])
    together = _pipeline(history_model, MemoryCardStates()).score(inputs)
    apart = _pipeline(history_model, MemoryCardStates()).score(
        inputs, request=HistoryRequest(scope=np.arange(len(inputs)), keep_states=False)
    )
    assert together.history is not None and apart.history is not None
    counts = apart.history.features[:, 2]  # card_count_7d: each event alone in its scope
    assert (counts == 0).all() and together.history.features[:, 2].max() > 0
    assert apart.history.changed == {}  # the API's way: card state read, never written


def test_a_per_event_champion_reads_its_own_columns_beside_a_history_shadow(
    model: FraudModel, history_model: FraudModel, stream: list[bytes | None]
) -> None:
    records = [_raw(i, v) for i, v in enumerate(stream[:600])]
    plain = ScoringPipeline(CODEC, Models(model), clock=lambda: 1.8e9).process(records)
    history = HistoryContext(MemoryCardStates(), _risk())
    both = ScoringPipeline(
        CODEC, Models(model, shadow=history_model), history=history, clock=lambda: 1.8e9
    ).process(records)
    assert both.values == plain.values  # the champion's answers, byte for byte
    assert both.shadow is not None and len(both.shadow.score) == len(plain.score)


def _raw(offset: int, value: bytes | None) -> RawRecord:
    return RawRecord("in", 0, offset, None, value)


def test_inputs_with_nothing_to_score_are_fine(history_model: FraudModel) -> None:
    empty = CODEC.decode_batch([])
    out = _pipeline(history_model, MemoryCardStates()).score(empty)
    assert len(out) == 0 and out.history is not None and out.history.changed == {}
    assert isinstance(empty, Inputs)


def test_the_model_lifecycle_keeps_a_model_this_face_cannot_feed_out(
    model: FraudModel, history_model: FraudModel, tmp_path: Path
) -> None:
    from consumer.scoring.models.lifecycle import ModelLifecycle

    class Events:
        failed = 0

        def reload_loaded(self) -> None: ...

        def reload_failed(self) -> None:
            self.failed += 1

        def serving(self, new: FraudModel, old: FraudModel | None) -> None: ...

        def shadow_observed(self, *_args: object) -> None: ...

    pipeline = ScoringPipeline(CODEC, Models(model))
    events = Events()
    lifecycle = ModelLifecycle(pipeline, events)

    class Offered:
        def take(self) -> FraudModel:
            return history_model

    lifecycle.reloader = Offered()  # type: ignore[assignment]
    lifecycle.before_batch()
    assert pipeline.model is model and events.failed == 1


def test_a_redelivered_batch_is_scored_as_the_first_time_and_applied_once(
    history_model: FraudModel, stream: list[bytes | None]
) -> None:
    states = MemoryCardStates()
    pipeline = _pipeline(history_model, states)
    records = [_raw(i, v) for i, v in enumerate(stream[:800])]
    first = pipeline.process(records[:500])
    assert first.history is not None
    states.put(first.history.changed)
    after_first = dict(states.states)
    # a crash after the state write, before the commit: 300..499 come again, with 500..799
    replayed = {
        int(p) - 300: f
        for p, f in zip(first.history.positions, first.history.features, strict=True)
        if p >= 300
    }
    again = pipeline.process(records[300:800], HistoryRequest(replayed=replayed))
    assert again.history is not None
    assert set(again.history.positions.tolist()).isdisjoint(replayed)  # not applied twice
    states.put(again.history.changed)
    first_scores = dict(zip(first.transaction_id, first.score.tolist(), strict=True))
    for tid, score in zip(again.transaction_id, again.score.tolist(), strict=True):
        if tid in first_scores:
            assert score == first_scores[tid]  # the redelivered event's score, bit for bit
    # the state equals one pass over 0..799
    once = MemoryCardStates()
    out = _pipeline(history_model, once).process(records)
    assert out.history is not None
    once.put(out.history.changed)
    assert states.states == once.states != after_first
