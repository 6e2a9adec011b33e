"""Malformed events on a real broker: dead-lettered byte for byte, the rest scored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.devtools.faults import KINDS
from tests.integration.helpers import (
    Scorer,
    assert_every_offset_once,
    landed,
    make_values,
    new_group,
    produce,
)

pytestmark = pytest.mark.integration

DLQ_HEADERS = (
    "dlq.source.topic",
    "dlq.source.partition",
    "dlq.source.offset",
    "dlq.error.stage",
    "dlq.error.class",
    "dlq.error.message",
    "dlq.model.version",
    "dlq.failed.at",
)


def test_malformed_events_are_dead_lettered_and_never_block_the_rest(
    bootstrap: str, topics: Callable[[int], tuple[str, str, str]], tmp_path: Path
) -> None:
    inp, out, dlq = topics(3)
    items = make_values(len(KINDS) * 4 * 3, malformed_every=3)
    sent = produce(bootstrap, inp, items)
    assert len(sent.malformed) == len(KINDS) * 4
    scorer = Scorer(
        bootstrap,
        (inp, out, dlq),
        new_group(),
        tmp_path,
        "--max-batch",
        "16",
        "--exit-when-idle",
        "2",
    )
    assert scorer.wait() == 0, scorer.output()

    got = landed(bootstrap, out, dlq)
    assert_every_offset_once(sent, got)
    stages = set()
    for pos, (msg,) in got.dead.items():
        assert msg.key() == sent.key[pos]
        assert msg.value() == sent.value[pos]
        assert msg.timestamp()[1] == sent.timestamp[pos]
        headers = msg.headers() or []
        original = sent.headers[pos] or []
        assert headers[: len(original)] == original
        added = dict(headers[len(original) :])
        assert set(DLQ_HEADERS) <= set(added)
        assert added["dlq.source.topic"] == inp.encode()
        assert (int(added["dlq.source.partition"]), int(added["dlq.source.offset"])) == pos
        stages.add(added["dlq.error.stage"].decode())
    assert stages == {"decode", "validate"}

    log = scorer.output()
    for key in sent.key.values():
        assert key is None or key.decode() not in log, "a card id reached the log"
