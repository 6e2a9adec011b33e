"""A Parquet dataset run: plan shards, run them on an engine with retries, commit.

The driver plans the shards (checking every input file's schema first), resumes from the
staging manifest when asked, hands the shards to an engine, records each finished shard
in the manifest as it lands, retries failed ones (``--retries``), and commits the
dataset by rename once every shard is done. A shard that keeps failing ends the run
with exit 1 naming it; the finished shards stay in staging for ``--resume``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from consumer.batch.engines import Engine
from consumer.batch.engines.card_shards import Shard, plan_card_shards
from consumer.batch.engines.shard_scorer import ShardSettings
from consumer.batch.engines.shards import fingerprint, plan_shards
from consumer.batch.errors import BatchError
from consumer.batch.models import BatchModels
from consumer.batch.reports.comparison import ShadowComparison
from consumer.batch.reports.result import RunResult
from consumer.batch.reports.stats import BatchStats
from consumer.batch.settings import BatchSettings
from consumer.batch.sinks.manifest import describe_job, resumable_shards
from consumer.batch.sinks.staging import SUCCESS, Staging
from consumer.batch.sources.files import resolve_inputs
from consumer.scoring.errors import ConfigError
from consumer.scoring.models import FraudModel

log = logging.getLogger(__name__)


def all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class DatasetRun:
    """What the driver saw: every shard's report (resumed ones included) and the rate."""

    stats: BatchStats
    shards: dict[int, dict[str, Any]]
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds, rows done)
    engine: str = "local"
    workers: int = 1
    resumed: int = 0
    started: str = ""
    comparison: ShadowComparison | None = None  # --compare-model, merged over the shards

    def add(self, report: dict[str, Any]) -> None:
        self.stats.merge(BatchStats.from_dict(report))
        if "comparison" in report:
            theirs = ShadowComparison.from_dict(report["comparison"])
            if self.comparison is None:
                self.comparison = theirs
            else:
                self.comparison.merge(theirs)


def run_dataset(s: BatchSettings, models: BatchModels) -> RunResult | None:
    """Plan, run and commit the dataset; None when ``--resume`` finds it complete."""
    output = s.output or Path()  # BatchSettings.dataset: --output is set
    dlq = s.dlq_output or output.with_name(output.name + ".dead-letters")
    if s.resume and (output / SUCCESS).exists():
        print(f"{output} is complete ({SUCCESS}); nothing to resume")
        return None
    for path in (output, dlq):
        if path.exists():
            raise ConfigError(f"output exists: {path} (a dataset is never overwritten)")
    inputs = resolve_inputs(str(s.input), s.input_format)
    staging = Staging.beside(output, dlq)
    shard_settings = ShardSettings(
        model_path=str(models.card.resolve()),
        model_sha256=models.model.card.model_sha256,
        chunk_size=s.chunk_size,
        reason_codes=s.reason_codes,
        scored_at=s.scored_at,
        scores_staging=str(staging.scores.resolve()),
        errors_staging=str(staging.errors.resolve()),
        compression=s.parquet_compression,
        shadow_path=str(models.shadow_card.resolve()) if models.shadow_card else None,
        shadow_sha256=models.shadow.card.model_sha256 if models.shadow else None,
        merchant_risk_path=_resolved(models.merchant_risk_path),
        merchant_risk_sha256=(
            models.merchant_risk.sha256 if models.merchant_risk is not None else None
        ),
    )
    pieces = plan_shards(inputs, s.shard_rows)
    plan: list[Shard] = list(pieces)
    if models.history:  # a card's events in one shard, in order (card_shards.py)
        context = (
            plan_shards(resolve_inputs(s.history_context, s.input_format), s.shard_rows)
            if s.history_context is not None
            else []
        )
        plan = list(plan_card_shards(context, pieces, _workers(s)))
    job = describe_job(s, inputs, output, dlq, models.model, shard_settings, plan)
    run = _run(s, plan, job, staging, shard_settings, models.model)
    run.stats.finished = time.monotonic()
    staging.commit_job(output, dlq, _final_manifest(job, run))
    workers = f"{run.workers} worker{'s' if run.workers != 1 else ''}"
    return RunResult(
        run.stats,
        run.comparison,
        [
            f"shards           {len(run.shards):>12,}  ({run.resumed} from the resumed run; "
            f"engine {run.engine}, {workers})",
            f"scores -> {output}/; dead letters -> {dlq}/",
        ],
        run.shards,
        run.timeline,
    )


def _resolved(path: Path | None) -> str | None:
    return str(path.resolve()) if path is not None else None


def _workers(s: BatchSettings) -> int:
    return s.workers or (1 if s.engine == "ray" and s.ray_address else all_cores())


def _engine(s: BatchSettings, settings: ShardSettings, model: FraudModel) -> tuple[Engine, int]:
    workers = s.workers
    if s.engine == "ray":
        from consumer.batch.engines.ray import RayEngine

        ray_engine = RayEngine(
            settings, workers or (None if s.ray_address else all_cores()), s.ray_address
        )
        return ray_engine, ray_engine.workers
    workers = workers or all_cores()
    if workers == 1:
        from consumer.batch.engines.local import InlineEngine

        return InlineEngine(settings, model), 1
    from consumer.batch.engines.local import ProcessEngine

    return ProcessEngine(settings, workers), workers


class _Progress:
    """Rows finished as they happen: the terminal's bar and the run's timeline."""

    def __init__(self, run: DatasetRun, todo: list[Shard]) -> None:
        known = all(t.rows >= 0 for t in todo)
        self._run = run
        self.bar = tqdm(
            total=sum(t.rows for t in todo) if known else None,
            unit=" rows",
            unit_scale=True,
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
            desc="scoring",
        )
        self._t0 = time.monotonic()
        self._seen = 0

    def __call__(self, n: int) -> None:
        self._seen += n
        self.bar.update(n)
        now = time.monotonic() - self._t0
        timeline = self._run.timeline
        if not timeline or now - timeline[-1][0] >= 0.25:
            timeline.append((now, self._seen))

    def close(self) -> None:
        self._run.timeline.append((time.monotonic() - self._t0, self._seen))
        self.bar.close()


def _run(
    s: BatchSettings,
    plan: list[Shard],
    job: dict[str, Any],
    staging: Staging,
    settings: ShardSettings,
    model: FraudModel,
) -> DatasetRun:
    done, started = resumable_shards(staging, job, plan, s.resume)
    fingerprints = {t.index: fingerprint(t) for t in plan}
    staging.create()
    manifest: dict[str, Any] = {"job": job, "started": started, "shards": dict(done)}
    staging.write_manifest(manifest)
    run = DatasetRun(BatchStats(), {int(k): r for k, r in done.items()}, resumed=len(done))
    for report in done.values():
        run.add(report)
    run.started = started
    todo = [t for t in plan if str(t.index) not in done]
    progress = _Progress(run, todo)

    def landed(task: Shard, report: dict[str, Any]) -> None:
        report["fingerprint"] = fingerprints[task.index]
        run.shards[task.index] = manifest["shards"][str(task.index)] = report
        staging.write_manifest(manifest)
        run.add(report)
        progress.bar.set_postfix(shards=f"{len(run.shards)}/{len(plan)}", refresh=False)

    engine: Engine | None = None
    try:
        engine, run.workers = _engine(s, settings, model)
        run.engine = s.engine
        failed = _attempts(engine, todo, s.retries + 1, progress, landed)
        if failed:
            first, why = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise BatchError(
                f"shard {first.id} failed {s.retries + 1} times{more}: {why}; "
                f"finished shards are kept in {staging.scores}: run again with --resume"
            )
        engine.close()
        engine = None
    finally:
        progress.close()
        if engine is not None:
            kill = getattr(engine, "kill", engine.close)
            kill()
        staging.release()
    return run


def _attempts(
    engine: Engine,
    todo: list[Shard],
    attempts: int,
    progress: _Progress,
    landed: Callable[[Shard, dict[str, Any]], None],
) -> list[tuple[Shard, str]]:
    """Run the shards, again and again for the failed ones, ``attempts`` times at most;
    the shards that failed every time, with their last error."""
    pending: list[Shard] = todo
    errors: dict[int, str] = {}
    for attempt in range(1, attempts + 1):
        if not pending:
            break
        again = []
        for outcome in engine.run(pending, attempt, progress):
            task = outcome.task
            if outcome.report is None:
                log.warning(
                    "shard %s failed (attempt %d of %d): %s",
                    task.id,
                    attempt,
                    attempts,
                    outcome.error,
                )
                again.append(task)
                errors[task.index] = outcome.error or "failed"
                continue
            landed(task, outcome.report)
        pending = again
    return [(t, errors[t.index]) for t in pending]


def _final_manifest(job: dict[str, Any], run: DatasetRun) -> dict[str, Any]:
    s = run.stats
    return {
        "job": job,
        "engine": run.engine,
        "workers": run.workers,
        "started": run.started,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "totals": {"rows_in": s.rows_read, "scored": s.scored, "invalid": s.dead_total},
        "comparison": run.comparison.to_dict() if run.comparison is not None else None,
        "shards": {str(k): run.shards[k] for k in sorted(run.shards)},
    }
