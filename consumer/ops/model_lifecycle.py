"""A service's model lifecycle: the hot-reloaded champion, and the shadow's metrics.

The Kafka scorer and the API drive it the same way: between two batches they ask for a
newly loaded model (the reloader loads and warms it on its own thread) and swap it in,
so each batch is scored by one model and each record by exactly one; after a batch they
hand over the shadow's answers for its metrics. A failed reload is counted, flagged by
``fraud_model_reload_failed`` (the FraudModelReloadFailed alert) and the old model keeps
serving. SIGHUP makes the reloader look at once.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import numpy as np
import numpy.typing as npt
from prometheus_client import Gauge

from consumer.ops.model_metrics import ModelMetrics
from consumer.scoring.model import FraudModel
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.reloader import ModelReloader
from consumer.scoring.results import ShadowScores

log = logging.getLogger(__name__)


class ModelLifecycle:
    def __init__(
        self,
        pipeline: ScoringPipeline,
        model_metrics: ModelMetrics,
        model_info: Gauge,
        directory: Path | None = None,
        poll: float = 5.0,
        threads: int = 0,
    ) -> None:
        """``directory``: the --model path; hot reload only when it is a directory."""
        self.pipeline = pipeline
        self.model_metrics = model_metrics
        self._model_info = model_info
        self._hup_ignored = False
        self._show(pipeline.model, None)
        self.reloader = (
            ModelReloader(
                directory,
                pipeline.model,
                poll=poll,
                threads=threads,
                on_loaded=lambda _m: model_metrics.reloads.labels(result="loaded").inc(),
                on_failed=self._failed,
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

    def between_batches(self) -> None:
        """Swap in a newly loaded model, if there is one (no batch is being scored)."""
        if self.reloader is None:
            if self._hup_ignored:
                self._hup_ignored = False
                log.warning("SIGHUP ignored: hot reload needs --model to name a directory")
            return
        new = self.reloader.take()
        if new is None:
            return
        old = self.pipeline.model
        self.pipeline.replace_champion(new)
        self.model_metrics.reload_failed.set(0)
        self._show(new, old)
        log.info("now scoring with %s-%s (was %s-%s)", new.name, new.version, old.name, old.version)

    def observe(
        self,
        shadow: ShadowScores | None,
        decision: npt.NDArray[np.int8],
        shadow_error: str | None,
    ) -> None:
        """The shadow's scores against the decisions made (by the champion or canary)."""
        if shadow is not None:
            self.model_metrics.shadow_scores(shadow.score, decision, shadow.decision)
        if shadow_error is not None:
            self.model_metrics.shadow_errors.labels(kind="score").inc()

    def _failed(self, _why: str) -> None:
        self.model_metrics.reloads.labels(result="failed").inc()
        self.model_metrics.reload_failed.set(1)

    def _show(self, new: FraudModel, old: FraudModel | None) -> None:
        if old is not None and (old.name, old.version) != (new.name, new.version):
            # 0 first: in the API's multiprocess mode the value lives in a file that
            # remove() does not touch
            self._model_info.labels(name=old.name, version=old.version).set(0)
            self._model_info.remove(old.name, old.version)
        self._model_info.labels(name=new.name, version=new.version).set(1)
