"""The Ray engine: the same shard function as Ray Data tasks, on a Ray cluster.

Shards become the rows of a Ray Dataset; ``map_batches`` runs them one per call on a
pool of actors of a callable class (``RayShards``) that loads the model once, in
``__init__``, as Ray Data's docs advise for models. Each call returns the shard's
outcome as JSON; a shard that raises is reported as failed, not allowed to fail the
dataset, so the driver retries it like the local engine does. Without ``--ray-address``
a local Ray instance is started with ``--workers`` CPUs. On a cluster, inputs and
outputs must be paths every node sees (a shared filesystem), since the actors write the
part files themselves.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from consumer.batch.engines import Progress, ShardOutcome, failure_line
from consumer.batch.engines.card_shards import Shard
from consumer.batch.engines.shard_scorer import ShardScorer, ShardSettings
from consumer.scoring.errors import ConfigError

log = logging.getLogger(__name__)
INSTALL = "pip install 'fraud-consumer[ray]'"


class RayShards:
    """A Ray Data actor: one model, many shards."""

    def __init__(self, settings: ShardSettings) -> None:
        import pyarrow as pa

        pa.set_cpu_count(1)
        self._scorer = ShardScorer(settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for blob in batch["shard"]:
            task, attempt = pickle.loads(blob)  # noqa: S301 - our own driver's tasks
            try:
                report = self._scorer.run(task, attempt)
                out.append(json.dumps({"shard": task.index, "report": report}))
            except Exception as exc:
                out.append(json.dumps({"shard": task.index, "error": failure_line(exc)}))
        return {"outcome": np.array(out, dtype=object)}


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(f"--engine ray needs Ray: {INSTALL}") from None
    return ray


class RayEngine:
    def __init__(self, settings: ShardSettings, workers: int | None, address: str | None) -> None:
        ray = _ray()
        self._ray = ray
        self._settings = settings
        try:
            if address:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            else:
                ray.init(
                    num_cpus=workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot start or reach Ray ({failure_line(exc)})") from None
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the driver draws one bar for the whole run
        context.print_on_execution_start = False
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(workers or cpus, cpus))

    def run(
        self, tasks: Sequence[Shard], attempt: int, progress: Progress
    ) -> Iterator[ShardOutcome]:
        if not tasks:
            return
        ray = self._ray
        by_index = {t.index: t for t in tasks}
        items = [{"shard": pickle.dumps((t, attempt))} for t in tasks]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            RayShards,
            fn_constructor_args=(self._settings,),
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(items))),
            num_cpus=1,
        )
        try:
            for row in dataset.iter_rows():
                outcome = json.loads(row["outcome"])
                task = by_index.pop(outcome["shard"])
                if "report" in outcome:
                    progress(int(outcome["report"]["rows_in"]))
                    yield ShardOutcome(task, outcome["report"])
                else:
                    yield ShardOutcome(task, None, outcome["error"])
        except Exception as exc:  # Ray gave up on the dataset (an actor kept dying...)
            error = f"Ray: {failure_line(exc)}"
            log.warning("the Ray dataset failed: %s", error)
            for task in list(by_index.values()):  # every shard without an outcome failed
                yield ShardOutcome(task, None, error)

    def close(self) -> None:
        self._ray.shutdown()
