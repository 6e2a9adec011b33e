"""A service's model lifecycle: the hot-reloaded champion, and what the shadow saw.

The Kafka scorer and the API drive it the same way: right before scoring a batch (after
the batch was fetched or queued) they call ``before_batch``, which swaps in a model the
reloader has finished loading, so each batch is scored by one model, each record by
exactly one, and a record that arrives after a reload was reported is scored by the new
model. After a batch they hand over the shadow's answers. A failed reload is reported
(``LifecycleEvents``: the services count it and raise ``fraud_model_reload_failed``)
and the old model keeps serving. SIGHUP makes the reloader look at once.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from consumer.scoring.errors import ModelError
from consumer.scoring.models.fraud_model import FraudModel
from consumer.scoring.models.reloader import ModelReloader
from consumer.scoring.outcomes import ShadowScores
from consumer.scoring.pipeline import ScoringPipeline

log = logging.getLogger(__name__)


class LifecycleEvents(Protocol):
    """What a service records of its models (ops/model_metrics.py: Prometheus)."""

    def reload_loaded(self) -> None: ...

    def reload_failed(self) -> None: ...

    def serving(self, new: FraudModel, old: FraudModel | None) -> None: ...

    def shadow_observed(
        self, shadow: ShadowScores | None, decision: npt.NDArray[np.int8], error: str | None
    ) -> None: ...


class ModelLifecycle:
    def __init__(
        self,
        pipeline: ScoringPipeline,
        events: LifecycleEvents,
        directory: Path | None = None,
        poll: float = 5.0,
        threads: int = 0,
    ) -> None:
        """``directory``: the --model path; hot reload only when it is a directory."""
        self.pipeline = pipeline
        self.events = events
        self._hup_ignored = False
        events.serving(pipeline.model, None)
        self.reloader = (
            ModelReloader(
                directory,
                pipeline.model,
                poll=poll,
                threads=threads,
                on_loaded=lambda _m: events.reload_loaded(),
                on_failed=lambda _why: events.reload_failed(),
            )
            if directory is not None and directory.is_dir()
            else None
        )

    def start(self) -> None:
        """Start polling; SIGHUP looks at once (call from the main thread). With --model
        naming a file there is nothing to look at: SIGHUP is noted, never fatal."""
        reloader = self.reloader
        if reloader is not None:
            reloader.start()
            signal.signal(signal.SIGHUP, lambda _signum, _frame: reloader.trigger())
        else:
            signal.signal(signal.SIGHUP, self._hup_without_directory)

    def stop(self) -> None:
        if self.reloader is not None:
            self.reloader.stop()

    def _hup_without_directory(self, _signum: int, _frame: object) -> None:
        self._hup_ignored = True  # logged from the loop: no logging in a signal handler

    def before_batch(self) -> None:
        """Swap in a newly loaded model, if there is one. Call with a batch in hand, right
        before scoring it: whatever arrived after a reload was reported is scored by it."""
        if self.reloader is None:
            if self._hup_ignored:
                self._hup_ignored = False
                log.warning("SIGHUP ignored: hot reload needs --model to name a directory")
            return
        new = self.reloader.take()
        if new is None:
            return
        old = self.pipeline.model
        try:
            self.pipeline.replace_champion(new)
        except ModelError as exc:  # a model this face cannot feed: the old one serves on
            log.error("model reload failed, the current model keeps serving: %s", exc)
            self.events.reload_failed()
            return
        self.events.serving(new, old)
        log.info("now scoring with %s-%s (was %s-%s)", new.name, new.version, old.name, old.version)

    def observe(
        self,
        shadow: ShadowScores | None,
        decision: npt.NDArray[np.int8],
        shadow_error: str | None,
    ) -> None:
        """The shadow's scores against the decisions made (by the champion or canary)."""
        self.events.shadow_observed(shadow, decision, shadow_error)
