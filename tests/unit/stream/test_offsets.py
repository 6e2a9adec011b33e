from __future__ import annotations

from consumer.stream.offsets import OffsetTracker

TP = ("in", 0)
OTHER = ("in", 1)


def test_nothing_to_commit_before_anything_is_produced() -> None:
    t = OffsetTracker()
    t.assign(TP)
    assert t.committable(TP) is None
    assert t.to_commit() == {}
    assert t.uncommitted() == 0


def test_a_batch_commits_once_every_output_of_it_is_acknowledged() -> None:
    t = OffsetTracker()
    batch = t.produced({TP: (5, 9)}, 4)
    assert t.committable(TP) is None
    batch.remaining = 0
    t.acknowledged(batch)
    assert t.committable(TP) == 9


def test_commits_stop_at_the_oldest_unacknowledged_batch() -> None:
    t = OffsetTracker()
    first = t.produced({TP: (0, 10)}, 10)
    second = t.produced({TP: (10, 20), OTHER: (0, 3)}, 13)
    t.acknowledged(second)  # acknowledged out of order
    assert t.committable(TP) is None and t.committable(OTHER) is None
    t.acknowledged(first)
    assert t.committable(TP) == 20 and t.committable(OTHER) == 3


def test_a_never_acknowledged_batch_blocks_commits_forever() -> None:
    t = OffsetTracker()
    t.produced({TP: (1, 2)}, 1)
    later = t.produced({TP: (2, 3)}, 1)
    t.acknowledged(later)
    assert t.committable(TP) is None
    assert t.pending_batches() == 2


def test_gaps_in_offsets_are_fine() -> None:
    t = OffsetTracker()
    t.acknowledged(t.produced({TP: (10, 16)}, 2))  # compaction or transaction markers
    assert t.committable(TP) == 16


def test_to_commit_reports_only_moved_partitions() -> None:
    t = OffsetTracker()
    t.acknowledged(t.produced({TP: (0, 1), OTHER: (0, 1)}, 2))
    assert t.to_commit() == {TP: 1, OTHER: 1}
    t.committed({TP: 1, OTHER: 1})
    assert t.to_commit() == {}
    t.acknowledged(t.produced({OTHER: (1, 2)}, 1))
    assert t.to_commit() == {OTHER: 2}


def test_a_failed_commit_is_offered_again() -> None:
    t = OffsetTracker()
    t.acknowledged(t.produced({TP: (0, 1)}, 1))
    t.committed({TP: 1})
    assert t.to_commit() == {}
    t.commit_failed({TP: 1})
    assert t.to_commit() == {TP: 1}


def test_released_partition_ignores_late_acknowledgements() -> None:
    t = OffsetTracker()
    batch = t.produced({TP: (3, 4)}, 1)
    t.release(TP)
    t.acknowledged(batch)
    assert t.committable(TP) is None
    assert t.partitions() == []


def test_uncommitted_counts_what_a_crash_would_replay() -> None:
    t = OffsetTracker()
    t.acknowledged(t.produced({TP: (100, 150), OTHER: (0, 20)}, 70))
    t.produced({TP: (150, 200)}, 50)
    assert t.uncommitted() == 120
    t.committed(t.to_commit())
    assert t.uncommitted() == 50
