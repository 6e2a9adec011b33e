"""`fraud-consumer dlq summary|replay` against a real dead-letter topic."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from consumer.cli import main
from consumer.kafka.topics import ensure_topics, read_all
from tests.integration.helpers import Scorer, make_values, new_group, produce

pytestmark = pytest.mark.integration


def test_summary_and_replay(
    bootstrap: str,
    topics: Callable[[int], tuple[str, str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inp, out, dlq = topics(2)
    sent = produce(bootstrap, inp, make_values(320, malformed_every=4))
    scorer = Scorer(bootstrap, (inp, out, dlq), new_group(), tmp_path, "--exit-when-idle", "2")
    assert scorer.wait() == 0, scorer.output()

    assert main(["dlq", "summary", "--bootstrap-servers", bootstrap, "--dlq-topic", dlq]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{len(sent.malformed)} dead letters in {dlq}")
    assert "validate/negative_amount" in text and "decode/truncated" in text
    for value in sent.value.values():
        assert value is None or len(value) < 8 or value.hex() not in text

    again = f"{inp}.replay"
    ensure_topics({"bootstrap.servers": bootstrap}, {again: 1})
    assert (
        main(
            [
                "dlq",
                "replay",
                "--bootstrap-servers",
                bootstrap,
                "--dlq-topic",
                dlq,
                "--reason",
                "negative_amount",
                "--to-topic",
                again,
            ]
        )
        == 0
    )
    replayed = read_all(bootstrap, again)
    originals = {sent.value[p]: p for p in sent.malformed}
    assert replayed and all(m.value() in originals for m in replayed)
    for m in replayed:
        pos = originals[m.value()]
        headers = m.headers() or []
        assert m.key() == sent.key[pos]
        assert headers[:-1] == sent.headers[pos]  # the dlq.* headers are gone
        assert headers[-1][0] == "dlq.replayed.from"
        assert m.timestamp()[1] == sent.timestamp[pos]


def test_missing_dead_letter_topic(bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "dlq",
                "summary",
                "--bootstrap-servers",
                bootstrap,
                "--dlq-topic",
                "nope-" + uuid.uuid4().hex,
            ]
        )
        == 2
    )
    assert "topic does not exist" in capsys.readouterr().err
