"""Metrics of the model lifecycle, for the stream and the API alike: the model serving,
reloads, which model decided what (champion, canary), and how a shadow compares with the
champion. ``ModelMetrics`` is the services' ``LifecycleEvents`` (scoring/models).

Labels are bounded: a model version (the handful deployed over a process's life), a
decision (3), a result, an error kind. In the API's multiprocess mode the shadow score
histogram is an ordinary one (the bulk collector lives in one process only).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from consumer.ops.bulk_histogram import BulkHistogram
from consumer.ops.metrics import SCORE_BUCKETS
from consumer.scoring.models import FraudModel
from consumer.scoring.outcomes import ShadowScores
from consumer.scoring.schemas import DECISIONS


class ModelMetrics:
    def __init__(
        self, registry: CollectorRegistry, model_info: Gauge, multiprocess: bool = False
    ) -> None:
        r = registry
        self._multiprocess = multiprocess
        self._model_info = model_info
        self.reloads = Counter(
            "fraud_model_reloads",
            "Model reload attempts, by result (loaded, failed).",
            ["result"],
            registry=r,
        )
        self.reload_failed_flag = Gauge(
            "fraud_model_reload_failed",
            "1 while the last reload attempt failed (the previous model keeps serving).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.decisions = Counter(
            "fraud_model_decisions",
            "Decisions by the version of the model that made them (champion or canary).",
            ["version", "decision"],
            registry=r,
        )
        self.shadow_agreement = Counter(
            "fraud_shadow_agreement",
            "Transactions scored by a shadow model, by (champion, challenger) decision pair.",
            ["champion", "challenger"],
            registry=r,
        )
        self.shadow_errors = Counter(
            "fraud_shadow_errors",
            "Shadow failures (scoring, encoding, producing); the champion is never affected.",
            ["kind"],
            registry=r,
        )
        doc = "Distribution of the shadow model's scores (0..1)."
        self._shadow_bulk: BulkHistogram | None = None
        self._shadow_hist: Histogram | None = None
        if multiprocess:
            self._shadow_hist = Histogram(
                "fraud_shadow_score", doc, buckets=SCORE_BUCKETS, registry=r
            )
        else:
            self._shadow_bulk = BulkHistogram("fraud_shadow_score", doc, SCORE_BUCKETS, registry=r)
        for result in ("loaded", "failed"):
            self.reloads.labels(result=result)
        for kind in ("score", "encode", "produce"):
            self.shadow_errors.labels(kind=kind)

    # -- LifecycleEvents ----------------------------------------------------------------
    def reload_loaded(self) -> None:
        self.reloads.labels(result="loaded").inc()

    def reload_failed(self) -> None:
        self.reloads.labels(result="failed").inc()
        self.reload_failed_flag.set(1)

    def serving(self, new: FraudModel, old: FraudModel | None) -> None:
        if old is not None:
            self.reload_failed_flag.set(0)
            if (old.name, old.version) != (new.name, new.version):
                # 0 first: in the API's multiprocess mode the value lives in a file that
                # remove() does not touch
                self._model_info.labels(name=old.name, version=old.version).set(0)
                self._model_info.remove(old.name, old.version)
        self._model_info.labels(name=new.name, version=new.version).set(1)

    def shadow_observed(
        self, shadow: ShadowScores | None, decision: npt.NDArray[np.int8], error: str | None
    ) -> None:
        if shadow is not None:
            self.shadow_scores(shadow.score, decision, shadow.decision)
        if error is not None:
            self.shadow_errors.labels(kind="score").inc()

    # -- counts -------------------------------------------------------------------------
    def count_decisions(self, version: str, decisions: npt.NDArray[np.int8]) -> None:
        counts = np.bincount(decisions, minlength=3)
        for decision, n in zip(DECISIONS, counts, strict=True):
            if n:
                self.decisions.labels(version=version, decision=decision).inc(int(n))

    def shadow_scores(
        self,
        scores: npt.NDArray[np.float64],
        champion: npt.NDArray[np.int8],
        challenger: npt.NDArray[np.int8],
    ) -> None:
        if self._shadow_bulk is not None:
            self._shadow_bulk.observe_many(scores)
        elif self._shadow_hist is not None:
            for s in scores:
                self._shadow_hist.observe(float(s))
        pairs = np.bincount(champion.astype(np.int64) * 3 + challenger, minlength=9)
        for code, n in enumerate(pairs):
            if n:
                self.shadow_agreement.labels(
                    champion=DECISIONS[code // 3], challenger=DECISIONS[code % 3]
                ).inc(int(n))
