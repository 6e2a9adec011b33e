"""Where a Parquet dataset is built before it exists: Hadoop's FileOutputCommitter, in small.

``<OUTPUT>.staging/`` and ``<DLQ>.staging/`` beside the two outputs. A shard attempt
writes under ``_temporary/<shard>-<attempt>/``; task commit replaces any stale copy of
the shard's parts (an earlier attempt, a run killed after it moved them) by rename and
drops the attempt directory; the driver then records the shard in ``_manifest.json``.
Job commit clears ``_temporary``, writes the final manifest and ``_SUCCESS``, and renames
each staging directory to its output: a failed run leaves no half dataset, and its
finished parts stay in staging for ``--resume``.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq

from consumer.batch.errors import BatchError
from consumer.scoring.atomic_files import write_atomically
from consumer.scoring.errors import ConfigError

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
TEMPORARY = "_temporary"


def staging_dir(output: Path) -> Path:
    return output.with_name(output.name + ".staging")


class Staging:
    def __init__(self, scores: Path, errors: Path) -> None:
        self.scores = scores
        self.errors = errors
        self._lock: IO[str] | None = None

    @classmethod
    def beside(cls, output: Path, dlq: Path) -> Staging:
        return cls(staging_dir(output), staging_dir(dlq))

    def exists(self) -> bool:
        return self.scores.exists() or self.errors.exists()

    def create(self) -> None:
        """Make both directories and take the run's lock (one run per output at a time)."""
        try:
            for d in (self.scores, self.errors):
                (d / TEMPORARY).mkdir(parents=True, exist_ok=True)
            lock = (self.scores / ".lock").open("w")
        except OSError as exc:
            raise ConfigError(f"cannot write {exc.filename}: {exc.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise ConfigError(f"another batch run is writing {self.scores}") from None
        self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- shards ------------------------------------------------------------------------
    def attempt_dirs(self, shard: int, attempt: int) -> tuple[Path, Path]:
        dirs = (
            self.scores / TEMPORARY / f"{shard:05d}-{attempt}",
            self.errors / TEMPORARY / f"{shard:05d}-{attempt}",
        )
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        return dirs

    def commit_task(self, shard: int, attempt: int) -> list[dict[str, Any]]:
        """Move the attempt's parts into staging, replacing stale copies; their facts."""
        parts = []
        for dataset, root in (("scores", self.scores), ("errors", self.errors)):
            for stale in root.glob(f"part-{shard:05d}*.parquet"):
                stale.unlink()
            written = root / TEMPORARY / f"{shard:05d}-{attempt}"
            for f in sorted(written.iterdir()):
                f.replace(root / f.name)
                meta = pq.read_metadata(root / f.name)
                parts.append(
                    {
                        "dataset": dataset,
                        "file": f.name,
                        "rows": meta.num_rows,
                        "bytes": (root / f.name).stat().st_size,
                    }
                )
            written.rmdir()
        return parts

    # -- the manifest ------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        try:
            loaded: dict[str, Any] = json.loads((self.scores / MANIFEST).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.scores / MANIFEST} is unreadable ({exc})") from None
        return loaded

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Atomically: a kill mid-write leaves the previous manifest."""
        write_json(self.scores / MANIFEST, manifest)

    # -- the job -----------------------------------------------------------------------
    def commit_job(self, output: Path, dlq: Path, manifest: dict[str, Any]) -> None:
        try:
            for d in (self.scores, self.errors):
                shutil.rmtree(d / TEMPORARY, ignore_errors=True)
            (self.scores / ".lock").unlink(missing_ok=True)
            self.write_manifest(manifest)
            (self.errors / SUCCESS).touch()
            (self.scores / SUCCESS).touch()
            self.errors.rename(dlq)
            self.scores.rename(output)
        except OSError as exc:
            raise BatchError(f"committing {output} failed: {exc}") from None
        finally:
            self.release()


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomically(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
