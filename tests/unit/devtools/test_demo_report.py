"""The demo's accounting says what at-least-once gives: every input offset ends as a score
or a dead letter, never both, and redelivered duplicates are counted, not hidden."""

from __future__ import annotations

from typing import Any

from consumer.devtools.demo_report import DemoReport, TopicData


def _score(partition: int, offset: int) -> dict[str, Any]:
    return {"source_partition": partition, "source_offset": offset, "decision": "APPROVE",
            "score": 0.01, "model_version": "1.0.0", "event_time": 0, "scored_at": 0}  # fmt: skip


def _data(scores: list[tuple[int, int]], dead: list[tuple[int, int]]) -> TopicData:
    data = TopicData()
    for p in range(2):
        for o in range(3):
            data.labels[(p, o)] = "legit"
            data.input_ts[(p, o)] = 0
    data.scores = [_score(p, o) for p, o in scores]
    data.dead = [((p, o), "decode/truncated") for p, o in dead]
    return data


def test_duplicates_are_counted_and_still_accounted_for() -> None:
    report = DemoReport(
        _data([(0, 0), (0, 1), (0, 1), (1, 0), (1, 1)], [(0, 2), (1, 2), (1, 2)]), 0
    )
    assert report.accounted_for and report.duplicates == 2
    line = report.render().splitlines()[-1]
    assert "never both, at least once: yes" in line and "duplicates from redelivery: 2" in line


def test_a_missing_offset_or_one_both_scored_and_dead_lettered_is_no() -> None:
    missing = DemoReport(_data([(0, 0), (0, 1), (1, 0), (1, 1)], [(0, 2)]), 0)
    assert not missing.accounted_for and "NO: 1 missing" in missing.render()
    both = DemoReport(_data([(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)], [(0, 2)]), 0)
    assert not both.accounted_for and "1 both scored and dead-lettered" in both.render()
