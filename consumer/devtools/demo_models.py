"""The demo's model lifecycle: a model directory serving 1.0.0 with a freshly trained
challenger 1.1.0 beside it, promotion and rollback by renaming CURRENT, and what the
outputs say about it (scores by model version, the switch, the shadow's agreement)."""

from __future__ import annotations

import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

from consumer.scoring.models import default_model_path
from consumer.scoring.models.publishing import publish
from consumer.training.fit import Policy
from consumer.training.train import TrainingSpec, train

CHAMPION, CHALLENGER = "fraud-lgbm-1.0.0.json", "fraud-lgbm-1.1.0.json"


def prepare_models(workdir: Path) -> tuple[Path, float]:
    """workdir/models: the shipped 1.0.0 (CURRENT) and a challenger 1.1.0 trained on
    other synthetic data; returns the directory and the seconds training took."""
    directory = workdir / "models"
    publish(default_model_path() / CHAMPION, directory)  # the first model: named in CURRENT
    started = time.monotonic()
    train(
        TrainingSpec(version="1.1.0", rows=150_000, seed=7, policy=Policy(max_rounds=200)),
        directory,
    )
    return directory, time.monotonic() - started


def model_lines(scores: list[dict[str, Any]], shadow: list[dict[str, Any]]) -> list[str]:
    """Scores by model version, whether each partition switched once, the shadow."""
    versions = Counter(str(s["model_version"]) for s in scores)
    by_partition: dict[int, list[tuple[int, str]]] = {}
    for s in scores:
        by_partition.setdefault(s["source_partition"], []).append(
            (s["source_offset"], str(s["model_version"]))
        )
    switches = []
    for rows in by_partition.values():
        ordered = [v for _, v in sorted(rows)]
        switches.append(sum(1 for a, b in pairwise(ordered) if a != b))
    once = all(n <= 1 for n in switches)
    out = [
        "Models           "
        + ", ".join(f"{v} decided {n:,}" for v, n in sorted(versions.items()))
        + f"; each partition switched version at most once: {'yes' if once else 'NO'}"
    ]
    if shadow:
        decided = {(s["source_partition"], s["source_offset"]): s for s in scores}
        before = [
            (decided[key]["decision"], s["decision"])
            for s in shadow
            if (key := (s["source_partition"], s["source_offset"])) in decided
            and decided[key]["model_version"] != s["model_version"]
        ]
        same = sum(1 for a, b in before if a == b)
        out.append(
            f"Shadow           {shadow[0]['model_version']} scored {len(shadow):,} events "
            f"beside the deciding model, to its own topic; while it only watched (before "
            f"its promotion) it agreed with {same:,} of {len(before):,} decisions"
            f" ({100 * same / len(before):.1f}%)"
            if before
            else f"Shadow           {len(shadow):,} shadow scores"
        )
    return out
