"""The scorer end to end on a real broker: every mode, lineage, parity, commits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.models import FraudModel, Models
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawRecord
from tests.integration.helpers import (
    Scorer,
    assert_every_offset_once,
    committed,
    end_offsets,
    landed,
    make_values,
    new_group,
    produce,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["single", "batch", "adaptive"])
def test_every_event_is_scored_once_in_each_mode(
    bootstrap: str,
    topics: Callable[[int], tuple[str, str, str]],
    tmp_path: Path,
    model: FraudModel,
    mode: str,
) -> None:
    inp, out, dlq = topics(3)
    sent = produce(bootstrap, inp, make_values(600))
    group = new_group()
    scorer = Scorer(
        bootstrap,
        (inp, out, dlq),
        group,
        tmp_path,
        "--mode",
        mode,
        "--max-batch",
        "64",
        "--max-wait-ms",
        "20",
        "--exit-when-idle",
        "2",
    )
    assert scorer.wait() == 0, scorer.output()

    got = landed(bootstrap, out, dlq)
    assert_every_offset_once(sent, got)
    assert committed(bootstrap, group, inp, 3) == end_offsets(sent, 3)

    # Output key = input key; lineage names the input record; scores equal the offline
    # pipeline's on the same bytes, bit for bit.
    offline = ScoringPipeline(PlainAvroCodec(), Models(model)).process(
        [RawRecord(inp, p, o, sent.key[(p, o)], sent.value[(p, o)]) for p, o in sorted(sent.value)]
    )
    for expected in offline.scored_records():
        pos = (expected.source.partition, expected.source.offset)
        (score,) = got.scores[pos]
        assert got.score_keys[pos] == [sent.key[pos]]
        assert score["source_topic"] == inp
        assert score["score"] == expected.score
        assert score["decision"] == expected.decision


def test_exit_when_idle_waits_for_the_group_join_and_new_data(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(2)
    scorer = Scorer(bootstrap, (inp, out, dlq), new_group(), tmp_path, "--exit-when-idle", "1")
    assert scorer.wait() == 0, scorer.output()
    assert "assigned" in scorer.output()  # it joined before it could call itself idle
    assert landed(bootstrap, out, dlq).positions() == {}
