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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from consumer.batch.chunks import BatchError
from consumer.batch.comparison import ModelComparison
from consumer.batch.engines import Engine
from consumer.batch.inputs import resolve_inputs
from consumer.batch.manifest import describe_job, resumable_shards
from consumer.batch.report import write_html, write_textfile
from consumer.batch.shard_scorer import ShardSettings
from consumer.batch.shards import ShardTask, fingerprint, plan_shards
from consumer.batch.staging import SUCCESS, Staging
from consumer.batch.stats import BatchStats
from consumer.scoring.errors import ConfigError
from consumer.scoring.model import FraudModel, default_model_path, load_model, resolve_card_path

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
    comparison: ModelComparison | None = None  # --compare-model, merged over the shards

    def add(self, report: dict[str, Any]) -> None:
        self.stats.merge(BatchStats.from_dict(report))
        if "comparison" in report:
            theirs = ModelComparison.from_dict(report["comparison"])
            if self.comparison is None:
                self.comparison = theirs
            else:
                self.comparison.merge(theirs)


def run_dataset_command(v: dict[str, Any], as_of: str | int, resume: bool) -> int:
    output: Path = v["output"]
    dlq: Path = v["dlq_output"] or output.with_name(output.name + ".dead-letters")
    if resume and (output / SUCCESS).exists():
        print(f"{output} is complete ({SUCCESS}); nothing to resume")
        return 0
    try:
        run, model = _plan_and_run(v, as_of, resume, output, dlq)
    except BaseException:
        if v["metrics_textfile"] is not None:  # what a schedule's alert watches
            write_textfile(BatchStats(), v["metrics_textfile"], success=False)
        raise
    stats = run.stats
    print(stats.summary())
    if run.comparison is not None:
        print(run.comparison.summary())
    print(
        f"shards           {len(run.shards):>12,}  ({run.resumed} from the resumed run; "
        f"engine {run.engine}, {run.workers} worker{'s' if run.workers != 1 else ''})"
    )
    print(f"scores -> {output}/; dead letters -> {dlq}/")
    if v["report"] is not None:
        title = f"Batch scores, model {model.name}-{model.version}"
        write_html(stats, v["report"], title, run.shards, run.timeline, run.comparison)
    if v["metrics_textfile"] is not None:
        write_textfile(stats, v["metrics_textfile"], success=True)
    return 0


def _plan_and_run(
    v: dict[str, Any], as_of: str | int, resume: bool, output: Path, dlq: Path
) -> tuple[DatasetRun, FraudModel]:
    for path in (output, dlq):
        if path.exists():
            raise ConfigError(f"output exists: {path} (a dataset is never overwritten)")
    inputs = resolve_inputs(v["input"], v["input_format"])
    card = resolve_card_path(v["model"] or default_model_path())
    model = load_model(card, threads=1)
    compare = resolve_card_path(v["compare_model"]) if v["compare_model"] is not None else None
    challenger = load_model(compare, threads=1) if compare is not None else None
    staging = Staging.beside(output, dlq)
    settings = ShardSettings(
        model_path=str(card.resolve()),
        model_sha256=model.card.model_sha256,
        chunk_size=v["chunk_size"],
        reason_codes=v["reason_codes"],
        as_of=as_of,
        scores_staging=str(staging.scores.resolve()),
        errors_staging=str(staging.errors.resolve()),
        compression=v["parquet_compression"],
        compare_path=str(compare.resolve()) if compare is not None else None,
        compare_sha256=challenger.card.model_sha256 if challenger is not None else None,
    )
    plan = plan_shards(inputs, v["shard_rows"])
    job = describe_job(v, inputs, output, dlq, model, settings, plan)
    run = _run(v, plan, job, staging, settings, model, resume)
    run.stats.finished = time.monotonic()
    staging.commit_job(output, dlq, _final_manifest(job, run))
    return run, model


def _engine(v: dict[str, Any], settings: ShardSettings, model: FraudModel) -> tuple[Engine, int]:
    workers = v["workers"]
    if v["engine"] == "ray":
        from consumer.batch.engines.ray import RayEngine

        ray_engine = RayEngine(
            settings, workers or (None if v["ray_address"] else all_cores()), v["ray_address"]
        )
        return ray_engine, ray_engine.workers
    workers = workers or all_cores()
    if workers == 1:
        from consumer.batch.engines.local import InlineEngine

        return InlineEngine(settings, model), 1
    from consumer.batch.engines.local import ProcessEngine

    return ProcessEngine(settings, workers), workers


def _run(
    v: dict[str, Any],
    plan: list[ShardTask],
    job: dict[str, Any],
    staging: Staging,
    settings: ShardSettings,
    model: FraudModel,
    resume: bool,
) -> DatasetRun:
    done, started = resumable_shards(staging, job, plan, resume)
    fingerprints = {t.index: fingerprint(t) for t in plan}
    staging.create()
    manifest: dict[str, Any] = {"job": job, "started": started, "shards": dict(done)}
    staging.write_manifest(manifest)
    run = DatasetRun(BatchStats(), {int(k): r for k, r in done.items()}, resumed=len(done))
    for report in done.values():
        run.add(report)
    run.started = started
    todo = [t for t in plan if str(t.index) not in done]
    known = all(t.rows >= 0 for t in todo)
    bar = tqdm(
        total=sum(t.rows for t in todo) if known else None,
        unit=" rows",
        unit_scale=True,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        desc="scoring",
    )
    t0 = time.monotonic()
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        bar.update(n)
        now = time.monotonic() - t0
        if not run.timeline or now - run.timeline[-1][0] >= 0.25:
            run.timeline.append((now, seen))

    engine: Engine | None = None
    try:
        engine, run.workers = _engine(v, settings, model)
        run.engine = v["engine"]
        pending, errors = todo, {}
        for attempt in range(1, v["retries"] + 2):
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
                        v["retries"] + 1,
                        outcome.error,
                    )
                    again.append(task)
                    errors[task.index] = outcome.error
                    continue
                outcome.report["fingerprint"] = fingerprints[task.index]
                run.shards[task.index] = outcome.report
                manifest["shards"][str(task.index)] = outcome.report
                staging.write_manifest(manifest)
                run.add(outcome.report)
                bar.set_postfix(shards=f"{len(run.shards)}/{len(plan)}", refresh=False)
            pending = again
        run.timeline.append((time.monotonic() - t0, seen))
        if pending:
            first = pending[0]
            more = f" (and {len(pending) - 1} more)" if len(pending) > 1 else ""
            raise BatchError(
                f"shard {first.id} failed {v['retries'] + 1} times{more}: {errors[first.index]}; "
                f"finished shards are kept in {staging.scores}: run again with --resume"
            )
        engine.close()
        engine = None
    finally:
        bar.close()
        if engine is not None:
            kill = getattr(engine, "kill", engine.close)
            kill()
        staging.release()
    return run


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
