"""Repeated warnings and errors are logged once, then summarized at most every window.

A broker outage makes librdkafka log one line per reconnect attempt and per client
(``Connect to ipv4#10.0.0.7:9092 failed: Connection refused (after 0ms in state
CONNECT)``), thousands in a minute. Lines are keyed by logger, level and message with
every number masked, so attempts that differ only in a port, a duration or a count are
one line; the first is logged, the rest are counted, and a summary line
(``... (repeated 212 times in the last 30 s)``) follows at most once per window while
they continue, and once more after they stop.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_NUMBER = re.compile(r"\d+")


def line_key(record: logging.LogRecord) -> tuple[str, int, str]:
    return record.name, record.levelno, _NUMBER.sub("#", record.getMessage())


@dataclass
class _Seen:
    window_start: float
    suppressed: int = 0
    last: logging.LogRecord | None = None


class RepeatedLineFilter(logging.Filter):
    """Passes the first of a run of alike WARNING+ lines, counts the rest, summarizes."""

    def __init__(
        self,
        window: float = 30.0,
        emit: Callable[[logging.LogRecord], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1000,
    ) -> None:
        super().__init__()
        self.window = window
        self._emit = emit  # where summaries go (the handler this filter guards)
        self._clock = clock
        self._max_keys = max_keys
        self._seen: dict[tuple[str, int, str], _Seen] = {}
        self._lock = threading.Lock()

    def set_emitter(self, emit: Callable[[logging.LogRecord], object]) -> None:
        self._emit = emit

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, "summary", False):
            return True
        key = line_key(record)
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or now - seen.window_start >= self.window:
                if seen is not None and seen.suppressed:
                    self._summarize(seen, now)
                if seen is None and len(self._seen) >= self._max_keys:
                    self._drop_oldest()
                self._seen[key] = _Seen(window_start=now)
                return True
            seen.suppressed += 1
            seen.last = record
            return False

    def flush(self, everything: bool = False) -> None:
        """Summarize runs whose window is over (called every second by a daemon thread),
        or every run with suppressed lines (``everything``: at exit)."""
        now = self._clock()
        with self._lock:
            for key, seen in list(self._seen.items()):
                if now - seen.window_start < self.window and not (everything and seen.suppressed):
                    continue
                if seen.suppressed:
                    self._summarize(seen, now)
                    self._seen[key] = _Seen(window_start=now)
                else:
                    del self._seen[key]  # quiet for a whole window: the next one logs again

    def _summarize(self, seen: _Seen, now: float) -> None:
        last = seen.last
        if last is None or self._emit is None:
            return
        elapsed = max(1, round(now - seen.window_start))
        summary = logging.makeLogRecord(last.__dict__)
        summary.msg = (
            f"{last.getMessage()} (repeated {seen.suppressed} times in the last {elapsed} s)"
        )
        summary.args = None
        summary.summary = True
        summary.created = time.time()
        self._emit(summary)

    def _drop_oldest(self) -> None:
        oldest = min(self._seen, key=lambda k: self._seen[k].window_start)
        del self._seen[oldest]


def start_flusher(filt: RepeatedLineFilter, every: float = 1.0) -> threading.Thread:
    def run() -> None:
        while True:
            time.sleep(every)
            filt.flush()

    thread = threading.Thread(target=run, name="log-repeat-flusher", daemon=True)
    thread.start()
    return thread
