from __future__ import annotations

import logging

from consumer.ops.log_throttle import RepeatedLineFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, level: int = logging.ERROR, name: str = "librdkafka") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def _attempt(port: int, ms: int) -> logging.LogRecord:
    return _record(
        f"FAIL [thrd:127.0.0.1:{port}/bootstrap]: Connect to ipv4#127.0.0.1:{port} failed: "
        f"Connection refused (after {ms}ms in state CONNECT)"
    )


def test_an_outage_logs_one_line_then_a_summary_per_window() -> None:
    clock = Clock()
    emitted: list[logging.LogRecord] = []
    f = RepeatedLineFilter(window=30, emit=emitted.append, clock=clock)
    passed = 0
    for i in range(600):  # ten reconnect attempts a second for 60 s
        clock.now = i / 10
        passed += f.filter(_attempt(9092, i % 7))
        f.flush()
    clock.now = 100
    f.flush()
    assert passed == 2  # the first line, and the first after the first window
    messages = [r.getMessage() for r in emitted]
    assert len(messages) == 2
    assert messages[0].endswith("(repeated 299 times in the last 30 s)")
    assert "Connection refused" in messages[0]


def test_info_lines_and_different_messages_are_never_held_back() -> None:
    f = RepeatedLineFilter(window=30, emit=lambda r: None, clock=Clock())
    assert all(f.filter(_record("committed t[0]=5", logging.INFO)) for _ in range(5))
    assert f.filter(_record("offset commit failed"))
    assert f.filter(_record("topic does not exist"))
    assert not f.filter(_record("offset commit failed"))


def test_exit_flush_reports_what_was_suppressed() -> None:
    clock = Clock()
    emitted: list[logging.LogRecord] = []
    f = RepeatedLineFilter(window=30, emit=emitted.append, clock=clock)
    for _ in range(4):
        f.filter(_attempt(1, 0))
    clock.now = 5
    f.flush()
    assert emitted == []
    f.flush(everything=True)
    assert len(emitted) == 1
    assert emitted[0].getMessage().endswith("(repeated 3 times in the last 5 s)")


def test_the_key_table_stays_bounded() -> None:
    f = RepeatedLineFilter(window=30, emit=lambda r: None, clock=Clock(), max_keys=10)
    for i in range(100):
        f.filter(_record(f"distinct failure {chr(65 + i % 26)}{chr(65 + i // 26)}"))
    assert len(f._seen) <= 10
