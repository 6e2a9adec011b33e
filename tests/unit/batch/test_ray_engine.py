"""--engine ray on a real local Ray: the same shard function, so the same files as the
local engine, byte for byte; a failing shard is reported and resumed as locally."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import MODELS
from tests.unit.batch.parquet_data import batch, manifest, part_bytes, records, write_records

if importlib.util.find_spec("ray") is None:  # skip locally, fail under CI (as tests/tools.py)
    message = "Ray is not installed; install it with: pip install -e '.[dev,ray]'"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing tool is a failure)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def _ray_batch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "consumer",
            "batch",
            "--model",
            str(MODELS),
            "--engine",
            "ray",
            "--workers",
            "2",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_ray_writes_what_the_local_engine_writes(tmp_path: Path) -> None:
    data = tmp_path / "in"
    rows = records(4000, seed=21)
    for i in range(2):
        write_records(data / f"part-{i}.parquet", rows[i * 2000 : (i + 1) * 2000], 1000)
    args = ("--input", str(data), "--shard-rows", "1000")
    local = tmp_path / "local"
    assert batch(*args, "--output", str(local), "--workers", "2") == 0

    good = (data / "part-1.parquet").read_bytes()
    column = pq.read_metadata(data / "part-1.parquet").row_group(1).column(0)
    broken = bytearray(good)
    broken[column.data_page_offset : column.data_page_offset + 64] = b"\xab" * 64
    (data / "part-1.parquet").write_bytes(bytes(broken))
    out = tmp_path / "ray"
    failed = _ray_batch(*args, "--output", str(out), "--retries", "1")
    assert failed.returncode == 1, failed.stderr
    assert "error: shard part-1.parquet (row group 1) failed 2 times" in failed.stderr
    assert sorted(manifest(tmp_path / "ray.staging")["shards"]) == ["0", "1", "2"]

    (data / "part-1.parquet").write_bytes(good)
    resumed = _ray_batch(*args, "--output", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "engine ray, 2 workers" in resumed.stdout
    assert part_bytes(out) == part_bytes(local)
    assert part_bytes(tmp_path / "ray.dead-letters") == part_bytes(tmp_path / "local.dead-letters")
    m = manifest(out)
    assert m["engine"] == "ray" and m["totals"] == manifest(local)["totals"]
    workers = {s["worker"] for s in m["shards"].values()}
    assert len(workers) >= 1 and all(":" in w for w in workers)
