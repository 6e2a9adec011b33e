from __future__ import annotations

from consumer.stream.offsets import OffsetTracker

TP = ("in", 0)


def test_nothing_to_commit_before_anything_is_produced() -> None:
    t = OffsetTracker()
    t.assign(TP)
    assert t.committable(TP) is None
    assert t.to_commit() == {}


def test_commit_stops_at_the_oldest_unacknowledged_offset() -> None:
    t = OffsetTracker()
    for off in (5, 6, 7, 8):
        t.produced(TP, off)
    assert t.committable(TP) == 5
    t.acknowledged(TP, 7)
    t.acknowledged(TP, 6)
    assert t.committable(TP) == 5  # 5 still in flight: committing 8 could lose it
    t.acknowledged(TP, 5)
    assert t.committable(TP) == 8
    t.acknowledged(TP, 8)
    assert t.committable(TP) == 9


def test_gaps_in_offsets_are_fine() -> None:
    t = OffsetTracker()
    t.produced(TP, 10)
    t.produced(TP, 15)  # compaction or transaction markers skip offsets
    t.acknowledged(TP, 10)
    t.acknowledged(TP, 15)
    assert t.committable(TP) == 16


def test_a_never_acknowledged_offset_blocks_commits_forever() -> None:
    t = OffsetTracker()
    t.produced(TP, 1)
    t.produced(TP, 2)
    t.acknowledged(TP, 2)
    assert t.committable(TP) == 1
    assert t.pending_count() == 1


def test_to_commit_reports_only_moved_partitions() -> None:
    t = OffsetTracker()
    other = ("in", 1)
    t.produced(TP, 0)
    t.produced(other, 0)
    t.acknowledged(TP, 0)
    assert t.to_commit() == {TP: 1, other: 0}
    t.committed({TP: 1, other: 0})
    assert t.to_commit() == {}
    t.acknowledged(other, 0)
    assert t.to_commit() == {other: 1}


def test_a_failed_commit_is_offered_again() -> None:
    t = OffsetTracker()
    t.produced(TP, 0)
    t.acknowledged(TP, 0)
    t.committed({TP: 1})
    assert t.to_commit() == {}
    t.commit_failed({TP: 1})
    assert t.to_commit() == {TP: 1}


def test_released_partition_ignores_late_acknowledgements() -> None:
    t = OffsetTracker()
    t.produced(TP, 3)
    t.release(TP)
    t.acknowledged(TP, 3)
    assert t.committable(TP) is None
    assert t.partitions() == []


def test_to_commit_skips_offsets_already_committed() -> None:
    t = OffsetTracker()
    other = ("in", 1)
    t.produced(TP, 4)
    t.produced(other, 9)
    t.acknowledged(TP, 4)
    t.acknowledged(other, 9)
    assert t.to_commit([TP, other]) == {TP: 5, other: 10}
    t.committed({TP: 5})
    assert t.to_commit([TP, other]) == {other: 10}
    t.release(TP)
    t.produced(TP, 5)
    t.acknowledged(TP, 5)
    assert t.to_commit([TP]) == {TP: 6}
