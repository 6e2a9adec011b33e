"""Failures of a dataset run: a shard that keeps failing, a killed run, a killed worker.
Nothing is lost or written twice: finished shards are kept, --resume finishes the job,
and the result equals a run that never failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import MODELS
from tests.unit.batch.parquet_data import batch, manifest, part_bytes, records, write_records


def _corrupt_a_data_page(path: Path, row_group: int) -> bytes:
    """Overwrite the first data page header of a row group (the footer stays intact, so
    planning succeeds and reading that row group fails). Returns the original bytes."""
    original = path.read_bytes()
    column = pq.read_metadata(path).row_group(row_group).column(0)
    data = bytearray(original)
    start = column.data_page_offset
    data[start : start + 64] = b"\xab" * 64
    path.write_bytes(bytes(data))
    return original


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    rows = records(6000, seed=8)
    for i in range(3):
        write_records(root / f"part-{i}.parquet", rows[i * 2000 : (i + 1) * 2000], 1000)
    return root


@pytest.fixture(scope="module")
def clean(lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "scores"
    assert batch("--input", str(lake), "--output", str(out), "--shard-rows", "1000") == 0
    return out


def test_a_shard_that_keeps_failing_exits_1_naming_it_then_resume_finishes(
    lake: Path, clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in"
    data.mkdir()
    for f in lake.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    original = _corrupt_a_data_page(data / "part-1.parquet", row_group=1)
    out = tmp_path / "scores"
    args = ("--input", str(data), "--output", str(out), "--shard-rows", "1000")
    code = batch(*args, "--workers", "2", "--retries", "1")
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "fraud-consumer: error: shard part-1.parquet (row group 1) failed 2 times"
    )
    assert "run again with --resume" in last
    assert "shard part-1.parquet (row group 1) failed (attempt 1 of 2): BatchError" in err
    assert not out.exists() and not (tmp_path / "scores.dead-letters").exists()  # no half dataset
    staged = manifest(tmp_path / "scores.staging")
    assert sorted(int(i) for i in staged["shards"]) == [0, 1, 2, 4, 5]
    assert len(list((tmp_path / "scores.staging").glob("part-*.parquet"))) == 5

    code = batch(*args)  # without --resume the leftovers are not silently mixed or dropped
    assert code == 2 and "add --resume" in capsys.readouterr().err

    (data / "part-1.parquet").write_bytes(original)  # the file is repaired
    assert batch(*args, "--resume", "--workers", "2") == 0
    assert part_bytes(out) == part_bytes(clean)
    assert part_bytes(tmp_path / "scores.dead-letters") == part_bytes(
        clean.with_name("scores.dead-letters")
    )
    done = manifest(out)
    assert done["totals"]["rows_in"] == 6000
    assert "shards                      6  (5 from the resumed run" in capsys.readouterr().out
    assert not (tmp_path / "scores.staging").exists()


def test_resume_refuses_other_options_or_a_changed_finished_file(
    lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in"
    data.mkdir()
    for f in lake.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    _corrupt_a_data_page(data / "part-2.parquet", row_group=0)
    out = tmp_path / "scores"
    args = ("--input", str(data), "--output", str(out), "--shard-rows", "1000")
    assert batch(*args, "--retries", "0") == 1
    code = batch(*args, "--resume", "--reason-codes", "1")
    assert code == 2 and "the failed run had another reason_codes" in capsys.readouterr().err
    (data / "part-0.parquet").write_bytes((lake / "part-1.parquet").read_bytes())
    code = batch(*args, "--resume")
    err = capsys.readouterr().err
    assert code == 2 and "part-0.parquet (row group 0) changed since it was scored" in err


def test_an_existing_output_is_never_overwritten(
    clean: Path, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = part_bytes(clean)
    code = batch("--input", str(lake), "--output", str(clean))
    assert code == 2 and "output exists" in capsys.readouterr().err
    assert batch("--input", str(lake), "--output", str(clean), "--resume") == 0
    assert "nothing to resume" in capsys.readouterr().out
    assert part_bytes(clean) == before


def _workers(pid: int) -> list[int]:
    """The batch worker processes of a run (not multiprocessing's resource tracker)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(c) for c in path.read_text().split()] if path.exists() else []
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(out: Path, data: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "consumer",
            "batch",
            "--model",
            str(MODELS),
            "--input",
            str(data),
            "--output",
            str(out),
            "--shard-rows",
            "20000",
            "--workers",
            "2",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_shards(staging: Path, n: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if len(json.loads((staging / "_manifest.json").read_text())["shards"]) >= n:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    pytest.fail("no shard finished in time")


def _wait_for_busy_workers(staging: Path, n: int, proc: subprocess.Popen[bytes]) -> None:
    """Until ``n`` shards are started and not finished: every worker holds one."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            done = set(json.loads((staging / "_manifest.json").read_text())["shards"])
            started = {d.name.split("-")[0] for d in (staging / "_temporary").iterdir()}
        except (OSError, ValueError):
            continue
        if len({int(s) for s in started} - {int(d) for d in done}) >= n:
            return
        time.sleep(0.01)
    pytest.fail("the workers never both held a shard")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """200,000 rows in 10 shards of 20,000, and the dataset a clean run makes of them."""
    root = tmp_path_factory.mktemp("big")
    data = write_records(root / "tx.parquet", records(200_000, seed=4), 20_000)
    out = root / "clean"
    assert batch("--input", str(data), "--output", str(out), "--shard-rows", "20000") == 0
    return data, out


def test_resume_after_the_run_is_killed(big: tuple[Path, Path], tmp_path: Path) -> None:
    data, clean = big
    out = tmp_path / "scores"
    proc = _start(out, data)
    _wait_for_shards(tmp_path / "scores.staging", 2, proc)
    workers = _workers(proc.pid)
    assert len(workers) == 2
    proc.kill()  # SIGKILL: no handler, no cleanup; the workers must not outlive it
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "worker processes outlived the killed run"
    assert not out.exists()
    finished = len(manifest(tmp_path / "scores.staging")["shards"])
    assert 2 <= finished < 10

    resumed = _start(out, data, "--resume")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr.decode()
    assert f"({finished} from the resumed run" in stdout.decode()
    assert part_bytes(out) == part_bytes(clean)
    assert manifest(out)["totals"] == manifest(clean)["totals"]


def test_a_killed_worker_fails_only_its_shard_which_is_retried(
    big: tuple[Path, Path], tmp_path: Path
) -> None:
    data, clean = big
    out = tmp_path / "scores"
    proc = _start(out, data)
    staging = tmp_path / "scores.staging"
    _wait_for_shards(staging, 1, proc)
    _wait_for_busy_workers(staging, 2, proc)
    victim = _workers(proc.pid)[-1]
    os.kill(victim, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    assert "died (exit code -9)" in stderr.decode()
    assert part_bytes(out) == part_bytes(clean)
    attempts = [s["attempt"] for s in manifest(out)["shards"].values()]
    assert sorted(attempts)[-1] == 2 and attempts.count(2) == 1
