"""What a dataset run reports (summary, HTML with the rate and the shards, textfile), and
the flag combinations it refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumer.batch.reports.run_sections import rate_points
from tests.unit.batch.parquet_data import batch, records, write_records


def test_html_report_has_the_rate_over_the_run_and_a_row_per_shard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_records(tmp_path / "tx.parquet", records(6000, seed=9), 1000)
    report, prom = tmp_path / "r.html", tmp_path / "b.prom"
    args = ("--input", str(data), "--output", str(tmp_path / "o"), "--shard-rows", "2000")
    assert (
        batch(*args, "--workers", "2", "--report", str(report), "--metrics-textfile", str(prom))
        == 0
    )
    out = capsys.readouterr().out
    assert "rows read               6,000" in out and "engine local, 2 workers" in out
    page = report.read_text()
    assert "Rows per second over the run" in page and "<polyline" in page
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([\d,]+)</td>", page)
    assert [(i, shard, n) for i, shard, n in rows] == [
        ("0", f"{data} (row groups 0-1)", "2,000"),
        ("1", f"{data} (row groups 2-3)", "2,000"),
        ("2", f"{data} (row groups 4-5)", "2,000"),
    ]
    values = {
        s.name: s.value
        for fam in text_string_to_metric_families(prom.read_text())
        for s in fam.samples
        if not s.labels
    }
    assert values["fraud_batch_success"] == 1 and values["fraud_batch_rows_read"] == 6000


@pytest.mark.parametrize(("where", "code"), [("footer", 2), ("data page", 1)])
def test_a_failed_run_marks_the_textfile_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, code: int
) -> None:
    data = write_records(tmp_path / "tx.parquet", records(100), 100)
    raw = bytearray(data.read_bytes())
    at = (
        len(raw) - 200
        if where == "footer"
        else pq.read_metadata(data).row_group(0).column(0).data_page_offset
    )
    raw[at : at + 64] = b"\xab" * 64
    data.write_bytes(bytes(raw))
    prom = tmp_path / "b.prom"
    args = ("--input", str(data), "--output", str(tmp_path / "o"))
    assert batch(*args, "--metrics-textfile", str(prom), "--retries", "0") == code
    assert "fraud_batch_success 0.0" in prom.read_text()
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("fraud-consumer: error:")


def test_rate_points_are_rows_per_second_per_interval() -> None:
    timeline = [(0.0, 0), (1.0, 100), (2.0, 300), (4.0, 300)]
    assert rate_points(timeline, buckets=4) == [(1.0, 100.0), (2.0, 200.0), (3.0, 0.0), (4.0, 0.0)]
    assert rate_points([(0.0, 0)]) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "x.avro", "--output", "o.avro", "--workers", "2"], "apply to Parquet dataset"),
        (
            ["--input", "x.avro", "--output", "o.avro", "--engine", "ray"],
            "apply to Parquet dataset",
        ),
        (["--input", "x.avro", "--output", "o.avro", "--resume"], "apply to Parquet dataset"),
        (["--from-topic", "t", "--output", "scores"], "a Parquet dataset is written from files"),
        (["--input", "x", "--output", "o", "--input-format", "csv"], "invalid choice"),
    ],
)
def test_refused_flag_combinations(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = batch(*args)
    except SystemExit as exc:  # argparse's own refusal
        code = int(str(exc.code))
    assert code == 2 and message in capsys.readouterr().err


def test_parquet_input_needs_a_dataset_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_records(tmp_path / "tx.parquet", records(10), 10)
    assert batch("--input", str(data), "--output", str(tmp_path / "o.avro")) == 2
    assert "Parquet input is scored into a Parquet dataset" in capsys.readouterr().err
