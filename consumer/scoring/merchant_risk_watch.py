"""Hot reload of the merchant risk snapshot: the daily job publishes a new one (its table,
its card, then CURRENT by rename); a background thread notices, loads and verifies it,
and swaps it into the service's history context between two lookups. A snapshot that
fails to load is reported once and the old one keeps serving. Redeliveries are unaffected:
they are scored with the features stored at their first scoring.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from consumer.scoring.errors import ModelError
from consumer.scoring.history_context import HistoryContext
from consumer.scoring.merchant_risk import MerchantRisk, load_merchant_risk

log = logging.getLogger(__name__)


class MerchantRiskWatch:
    def __init__(
        self,
        path: Path,
        context: HistoryContext,
        poll: float = 60.0,
        on_change: Callable[[MerchantRisk], None] = lambda _r: None,
    ) -> None:
        self._path, self._context, self._poll, self._on_change = path, context, poll, on_change
        self._failed: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="merchant-risk", daemon=True)

    def start(self) -> MerchantRiskWatch:
        if self._path.is_dir():  # a single card file is fixed: nothing to watch
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        """One look (the thread's work; tests call it)."""
        serving = self._context.merchant_risk
        try:
            found = load_merchant_risk(self._path)
        except ModelError as exc:
            if str(exc) != self._failed:
                self._failed = str(exc)
                log.error("merchant risk reload failed, %s keeps serving: %s", serving.name, exc)
            return
        self._failed = None
        if (found.name, found.sha256) == (serving.name, serving.sha256):
            return
        self._context.merchant_risk = found
        log.info("merchant risk %s serving (was %s)", found.name, serving.name)
        self._on_change(found)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.check()
            except Exception:  # never let the thread die silently
                log.exception("merchant risk check failed")
