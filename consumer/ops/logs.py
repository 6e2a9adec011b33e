"""Logging setup: one line per event of interest, as text or JSON.

Log calls in this package name source positions and error codes, never payload fields.
Repeated warnings and errors (a broker outage) are logged once and then summarized.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import sys
from typing import Any

from consumer.ops.log_throttle import RepeatedLineFilter, start_flusher

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry)


REPEAT_WINDOW_SECONDS = 30.0
_repeats: RepeatedLineFilter | None = None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each line, so the summary of
    repeats flushed at exit reaches the stream of the moment (a test runner swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: str = "INFO", fmt: str = "text") -> None:
    global _repeats  # noqa: PLW0603 - one process-wide filter and its flusher thread
    handler = _StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if _repeats is None:
        _repeats = RepeatedLineFilter(REPEAT_WINDOW_SECONDS)
        start_flusher(_repeats)
        atexit.register(_repeats.flush, everything=True)
    _repeats.set_emitter(handler.handle)
    handler.addFilter(_repeats)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # LightGBM logs its own warnings at INFO and above; keep them out unless debugging.
    logging.getLogger("lightgbm").setLevel("WARNING" if level != "DEBUG" else "DEBUG")
