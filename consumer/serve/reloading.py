"""Values read from files that change while the server runs (a TLS certificate, bearer
tokens), read again when they do, without a restart.

A change is any difference in a file's identity, size or modification time, as a
Kubernetes Secret volume's atomic swap of its ``..data`` link makes. A new version that
cannot be used (a certificate copied before its key) keeps the previous one: it is logged
and counted once, and read again at the next change. A thread per worker looks every few
seconds; readers take ``current``, which is replaced whole, never changed in place.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from consumer.ops.api_metrics import ReloadMetrics
from consumer.scoring.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")
Signature = tuple[tuple[int, int, int, int] | None, ...]


def signature(paths: Sequence[Path]) -> Signature:
    """What identifies each file's content without reading it; None for one that is gone."""
    out: list[tuple[int, int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


class Reloading(Generic[T]):
    """``load()`` now (its ConfigError stops startup), and again whenever the files change."""

    def __init__(
        self, what: str, paths: Sequence[Path], load: Callable[[], T], metrics: ReloadMetrics
    ) -> None:
        self.what = what
        self._paths = tuple(paths)
        self._load = load
        self._metrics = metrics
        self._signature = signature(self._paths)  # before loading: a change meanwhile shows
        self.current: T = load()

    def check(self) -> bool:
        """Load again if a file changed; True if a new version now serves."""
        seen = signature(self._paths)
        if seen == self._signature:
            return False
        self._signature = seen
        try:
            value = self._load()
        except ConfigError as exc:
            log.warning("%s changed but cannot be used; the previous one stays: %s", self.what, exc)
            self._metrics.failed()
            return False
        self.current = value
        self._metrics.loaded()
        log.info("%s changed: now using the new one", self.what)
        return True


class Poller:
    """A daemon thread that calls each check every ``interval`` seconds until stopped."""

    def __init__(self, interval: float, checks: Sequence[Callable[[], object]], name: str) -> None:
        self._interval = interval
        self._checks = tuple(checks)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for check in self._checks:
                try:
                    check()
                except Exception:  # a bug: keep looking, the previous files still serve
                    log.exception("%s failed", self._thread.name)
