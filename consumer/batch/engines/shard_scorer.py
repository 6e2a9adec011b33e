"""The shard function: read a shard, score it, write its part files, commit them.

Every engine runs this same code: the local engine in each spawned worker process, the
Ray engine in each Ray Data actor (the model is loaded once, in ``__init__``). Parquet
goes through the scoring core's columnar path (Arrow -> TransactionColumns ->
``ScoringPipeline.score`` -> Arrow), Avro through the strict decoder
(``ScoringPipeline.process``) as in the stream. The part files are written under the
shard attempt's own directory and moved into the dataset's staging directory only when
the whole shard is done (``Staging.commit_task``), so a failed attempt leaves nothing.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consumer.batch.engines.card_shards import CardShard, card_buckets
from consumer.batch.engines.shards import ShardTask
from consumer.batch.errors import BatchError
from consumer.batch.reports.comparison import ShadowComparison
from consumer.batch.reports.labels import arrow_labels
from consumer.batch.reports.stats import BatchStats
from consumer.batch.sinks.parts import PartWriter
from consumer.batch.sinks.staging import Staging
from consumer.batch.sinks.tables import (
    ERROR_SCHEMA,
    SCORE_SCHEMA,
    error_table,
    rows_as_json,
    score_table,
)
from consumer.batch.sources.arrow_columns import to_columns
from consumer.batch.sources.avro_files import AvroFileSource
from consumer.batch.sources.parquet import ParquetChunk, parquet_chunks
from consumer.scoring.codec import PlainAvroCodec
from consumer.scoring.history_context import HistoryContext, MemoryCardStates
from consumer.scoring.inputs import Inputs
from consumer.scoring.merchant_risk import load_merchant_risk
from consumer.scoring.models import FraudModel, Models, load_model
from consumer.scoring.outcomes import Outcomes, ScoredAt, ShadowScores
from consumer.scoring.pipeline import ScoringPipeline
from consumer.scoring.records import RawBatch

Progress = Callable[[int], None]
IntArray = npt.NDArray[np.int64]


@dataclass
class ScoredChunk:
    """One chunk's outcome: its FraudScores as a table, its dead letters as rows."""

    scores: pa.Table
    dead: list[dict[str, Any]]
    score: npt.NDArray[np.float64]
    decision: npt.NDArray[np.int8]
    shadow: ShadowScores | None = None  # --compare-model's answers for the same rows
    labels: list[str] | None = None  # of the scored rows, where the input has them


@dataclass(frozen=True)
class ShardSettings:
    """What every shard of a run is scored with (picklable: sent to each worker once)."""

    model_path: str
    model_sha256: str  # what the driver loaded: a model replaced mid-run is refused
    chunk_size: int
    reason_codes: int
    scored_at: ScoredAt  # each event's own time, or one fixed time
    scores_staging: str
    errors_staging: str
    compression: str
    shadow_path: str | None = None  # --compare-model: scored too, reported, not written
    shadow_sha256: str | None = None
    merchant_risk_path: str | None = None  # for models that read card history
    merchant_risk_sha256: str | None = None


def loaded(path: str, sha256: str) -> FraudModel:
    model = load_model(Path(path), threads=1)
    if model.card.model_sha256 != sha256:
        raise BatchError(f"the model at {path} changed during the run")
    return model


def _history(settings: ShardSettings, states: MemoryCardStates) -> HistoryContext | None:
    """Card states (this process's, in memory) and the run's merchant risk snapshot, for a
    model that reads card history; None for a per-event run."""
    if settings.merchant_risk_path is None:
        return None
    risk = load_merchant_risk(Path(settings.merchant_risk_path))
    if risk.sha256 != settings.merchant_risk_sha256:
        raise BatchError(
            f"the merchant risk at {settings.merchant_risk_path} changed during the run"
        )
    return HistoryContext(states, risk)


def _shadow_of(out: Outcomes) -> ShadowScores:
    """The shadow's answers; its failure fails the shard (never a silent gap)."""
    if out.shadow is None:
        raise BatchError(f"the shadow model failed on a chunk ({out.shadow_error or 'no scores'})")
    return out.shadow


class ShardScorer:
    """Loads the model once (one LightGBM thread) and runs shards with it."""

    def __init__(self, settings: ShardSettings, model: FraudModel | None = None) -> None:
        self.settings = settings
        self.model = model or loaded(settings.model_path, settings.model_sha256)
        if self.model.card.model_sha256 != settings.model_sha256:
            raise BatchError(f"the model at {settings.model_path} changed during the run")
        self.shadow = (
            loaded(settings.shadow_path, settings.shadow_sha256 or "")
            if settings.shadow_path is not None
            else None
        )
        self._states = MemoryCardStates()
        self.history = _history(settings, self._states)
        self.pipeline = ScoringPipeline(
            PlainAvroCodec(),
            Models(self.model, shadow=self.shadow),
            reason_codes=settings.reason_codes,
            scored_at=settings.scored_at,
            encode=False,
            history=self.history,
        )
        self._staging = Staging(Path(settings.scores_staging), Path(settings.errors_staging))

    def run(
        self, task: ShardTask | CardShard, attempt: int, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Score ``task``; returns its report (JSON-able). Raises on a failure of the shard."""
        started = time.time()
        stats = BatchStats()
        comparison = (
            ShadowComparison(_named(self.model), _named(self.shadow))
            if self.shadow is not None
            else None
        )
        scores_dir, errors_dir = self._staging.attempt_dirs(task.index, attempt)
        name = f"part-{task.index:05d}.parquet"
        compression = self.settings.compression
        with (
            PartWriter(scores_dir / name, SCORE_SCHEMA, compression) as scores,
            PartWriter(errors_dir / name, ERROR_SCHEMA, compression) as errors,
        ):
            for chunk in self._chunks(task):
                scores.write(chunk.scores)
                if chunk.dead:
                    errors.write(error_table(chunk.dead))
                stats.add_scores(
                    chunk.score, chunk.decision, ((d["stage"], d["reason"]) for d in chunk.dead)
                )
                if comparison is not None and chunk.shadow is not None:
                    c = chunk.shadow
                    comparison.add(chunk.score, chunk.decision, c.score, c.decision, chunk.labels)
                if progress is not None:
                    progress(chunk.scores.num_rows + len(chunk.dead))
            scores.ensure()  # every shard has a scores part, even an empty one
        parts = self._staging.commit_task(task.index, attempt)
        return {
            "shard": task.index,
            "id": task.id,
            "task": task.to_dict(),
            **stats.to_dict(),
            "attempt": attempt,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "started": started,
            "seconds": time.time() - started,
            "parts": parts,
            **({"comparison": comparison.to_dict()} if comparison is not None else {}),
        }

    def _chunks(self, task: ShardTask | CardShard) -> Iterator[ScoredChunk]:
        if isinstance(task, CardShard):
            yield from self._card_chunks(task)
        elif task.format == "parquet":
            labels = self.shadow is not None
            for chunk in parquet_chunks(task, self.settings.chunk_size, labels):
                yield self._score_arrow(task, chunk)
        else:
            yield from self._score_avro(task)

    def _card_chunks(self, shard: CardShard) -> Iterator[ScoredChunk]:
        """The shard's cards: the history context replayed into their states, then the
        input scored, every file in order (card_shards.py)."""
        if self.history is None:
            raise BatchError("a card shard needs a model that reads card history")
        self._states = self.history.states = MemoryCardStates()  # this shard's cards only
        for piece in shard.context:
            for inputs in self._context_inputs(piece, shard):
                block = self.pipeline.absorb(inputs)
                if block is not None:
                    self._states.put(block.changed)
        labels = self.shadow is not None
        for piece in shard.pieces:
            if piece.format != "parquet":
                yield from self._score_avro(piece)
                continue
            for chunk in parquet_chunks(piece, self.settings.chunk_size, labels):
                mine = chunk
                if shard.buckets > 1:
                    buckets = card_buckets(chunk.batch.column("card_id"), shard.buckets)
                    mine = chunk.only(buckets == shard.bucket)
                yield self._score_arrow(piece, mine)

    def _context_inputs(self, piece: ShardTask, shard: CardShard) -> Iterator[Inputs]:
        if piece.format != "parquet":
            for records in AvroFileSource([Path(piece.path)]).chunks(self.settings.chunk_size):
                yield PlainAvroCodec().decode_batch([r.value for r in records.records])
            return
        for chunk in parquet_chunks(piece, self.settings.chunk_size):
            batch = chunk.batch
            if shard.buckets > 1:
                keep = card_buckets(batch.column("card_id"), shard.buckets) == shard.bucket
                batch = batch.filter(pa.array(keep))
            yield to_columns(batch)

    def _score_arrow(self, task: ShardTask, chunk: ParquetChunk) -> ScoredChunk:
        out = self.pipeline.score(to_columns(chunk.batch))
        self._keep_history(out)
        scored = out.positions  # rows of the record batch
        ids = pc.take(chunk.batch.column("transaction_id"), pa.array(scored))
        table = self._table(task, out, chunk.file_rows(scored), ids)
        failed = [i for i, _ in out.failures]
        values = rows_as_json(chunk.batch, failed)
        offsets = chunk.file_rows(np.asarray(failed, np.int64)).tolist()
        dead = [
            self._dead(task, offset, v, e.stage, e.reason, type(e).__name__, e.message)
            for (_, e), v, offset in zip(out.failures, values, offsets, strict=True)
        ]
        if self.shadow is None:
            return ScoredChunk(table, dead, out.score, out.decision)
        labels = arrow_labels(chunk.batch, scored)
        return ScoredChunk(table, dead, out.score, out.decision, _shadow_of(out), labels)

    def _score_avro(self, task: ShardTask) -> Iterator[ScoredChunk]:
        source = AvroFileSource([Path(task.path)])
        for chunk in source.chunks(self.settings.chunk_size):
            batch = RawBatch(chunk.records)
            out = self.pipeline.process(batch)
            self._keep_history(out)
            ids = pa.array(out.transaction_id, pa.string())
            table = self._table(task, out, batch.offsets[out.positions], ids)
            failed = [
                (r.offset, r.value, e.stage, e.reason, type(e).__name__, e.message)
                for r, e in chunk.rejected
            ] + [
                (d.source.offset, d.source.value, d.stage, d.reason, d.error_class, d.message)
                for d in out.dead_letters
            ]
            dead = [self._dead(task, *f) for f in sorted(failed, key=lambda f: f[0])]
            shadow = _shadow_of(out) if self.shadow is not None else None
            yield ScoredChunk(table, dead, out.score, out.decision, shadow)  # Avro: no labels

    def _keep_history(self, out: Outcomes) -> None:
        if out.history is not None:
            self._states.put(out.history.changed)

    def _table(self, task: ShardTask, out: Outcomes, offsets: IntArray, ids: pa.Array) -> pa.Table:
        return score_table(out, ids, task.name, task.file_index, offsets)

    def _dead(
        self,
        task: ShardTask,
        offset: int,
        value: bytes | None,
        stage: str,
        reason: str,
        error_class: str,
        message: str,
    ) -> dict[str, Any]:
        return {
            "source": task.name,
            "source_partition": task.file_index,
            "source_offset": offset,
            "key": None,
            "value": value,
            "timestamp": None,
            "stage": stage,
            "reason": reason,
            "error_class": error_class,
            "message": message,
            "model_name": self.model.name,
            "model_version": self.model.version,
        }


def _named(model: FraudModel) -> str:
    return f"{model.name}-{model.version}"
