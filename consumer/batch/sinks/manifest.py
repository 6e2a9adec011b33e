"""The dataset's ``_manifest.json``: what was scored, with what, and each shard's figures.

While the run goes on it lives in the staging directory and lists the shards done so
far; ``--resume`` reads it back and refuses to mix runs: the input files (names, sizes,
modification times), the shard plan, the model (its checksum) and every option that
changes the output must be the same.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from consumer.batch.engines.card_shards import Shard
from consumer.batch.engines.shard_scorer import ShardSettings
from consumer.batch.engines.shards import fingerprint
from consumer.batch.settings import BatchSettings
from consumer.batch.sinks.staging import Staging
from consumer.batch.sources.files import Inputs
from consumer.scoring.errors import ConfigError
from consumer.scoring.models import FraudModel


def describe_job(
    s: BatchSettings,
    inputs: Inputs,
    output: Path,
    dlq: Path,
    model: FraudModel,
    settings: ShardSettings,
    plan: list[Shard],
) -> dict[str, Any]:
    """Everything that decides the dataset's content (and so must match on resume)."""
    return {
        "input": inputs.spec,
        "input_format": inputs.format,
        "input_root": str(inputs.root.resolve()) if inputs.root is not None else None,
        "input_files": len(inputs.files),
        "output": str(output.resolve()),
        "dead_letters": str(dlq.resolve()),
        "model": {
            "name": model.name,
            "version": model.version,
            "sha256": model.card.model_sha256,
            "card": settings.model_path,
        },
        "shadow_model": (
            {"card": settings.shadow_path, "sha256": settings.shadow_sha256}
            if settings.shadow_path is not None
            else None
        ),
        "merchant_risk": (
            {"path": settings.merchant_risk_path, "sha256": settings.merchant_risk_sha256}
            if settings.merchant_risk_path is not None
            else None
        ),
        "history_context": s.history_context,
        "reason_codes": settings.reason_codes,
        "as_of": settings.scored_at.as_of,
        "chunk_size": settings.chunk_size,
        "shard_rows": s.shard_rows,
        "compression": settings.compression,
        "shards": len(plan),
    }


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def resumable_shards(
    staging: Staging, job: dict[str, Any], plan: list[Shard], resume: bool
) -> tuple[dict[str, dict[str, Any]], str]:
    """The shards a failed run finished (by index, as text) and when it started; none
    and now for a fresh run. Refuses a resume over other options or model, or where a
    finished shard's file changed since; shards not finished may have changed (a corrupt
    file replaced by a good one)."""
    if not staging.exists():
        return {}, now_iso()
    if not resume:
        raise ConfigError(
            f"{staging.scores} holds the finished shards of a failed run: add --resume to "
            f"finish it, or remove it and {staging.errors}"
        )
    previous = staging.read_manifest()
    if previous is None:
        return {}, now_iso()
    differs = sorted(k for k in job if previous["job"].get(k) != job[k])
    if differs:
        raise ConfigError(
            f"cannot resume {staging.scores}: the failed run had another {', '.join(differs)}"
        )
    done: dict[str, dict[str, Any]] = previous["shards"]
    for index, report in done.items():
        i = int(index)
        if i >= len(plan) or fingerprint(plan[i]) != report.get("fingerprint"):
            raise ConfigError(
                f"cannot resume {staging.scores}: {report['id']} changed since it was scored"
            )
    return done, str(previous["started"])
