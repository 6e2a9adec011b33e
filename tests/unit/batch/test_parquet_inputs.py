"""Every shape a Parquet input comes in, good and bad: types, encodings, time zones,
nulls, empty files, huge row groups. A file-level fault stops the run with one line
naming it (exit 2, nothing written); a row-level fault is that row's dead letter."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from consumer.batch.sinks.tables import TRANSACTION_SCHEMA, transaction_table
from consumer.batch.sources.arrow_columns import to_columns
from tests.unit.batch.parquet_data import batch, manifest, read_dataset, records, write


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return records(400, seed=11)


def _plain(rows: list[dict[str, Any]]) -> pa.Table:
    """The rows with every column as plain as it gets: strings, int64 epoch ms."""
    return pa.Table.from_pylist(rows)


def _fails(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = batch(*args)
    lines = capsys.readouterr().err.strip().splitlines()
    return code, lines[-1] if lines else ""


def _scores(tmp_path: Path, table: pa.Table, name: str = "x") -> tuple[pa.Table, pa.Table]:
    data = write(tmp_path / f"{name}.parquet", table)
    out = tmp_path / f"{name}-out"
    assert batch("--input", str(data), "--output", str(out)) == 0
    return read_dataset(out), read_dataset(out.with_name(out.name + ".dead-letters"))


def test_plain_strings_and_epoch_ms_score_like_the_typed_file(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    typed, _ = _scores(tmp_path, transaction_table(rows), "typed")
    plain, _ = _scores(tmp_path, _plain(rows), "plain")
    assert plain.drop_columns(["source_topic"]) == typed.drop_columns(["source_topic"])
    assert pa.types.is_dictionary(TRANSACTION_SCHEMA.field("channel").type)


@pytest.mark.parametrize(
    ("unit", "tz"),
    [("s", None), ("ms", "UTC"), ("us", "Europe/Paris"), ("ns", "America/New_York")],
)
def test_timestamps_of_any_unit_and_zone_are_exact_epoch_ms(
    rows: list[dict[str, Any]], unit: str, tz: str | None
) -> None:
    ms = [r["event_time"] // 1000 * 1000 if unit == "s" else r["event_time"] for r in rows]
    per_ms = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[unit]
    raw = [m // 1000 if per_ms is None else m * per_ms + (per_ms - 1) for m in ms]
    table = _plain(rows).set_column(
        11, "event_time", pa.array(raw, pa.int64()).cast(pa.timestamp(unit, tz))
    )
    converted = to_columns(table.to_batches()[0])
    assert converted.failures == []
    assert converted.columns.event_time.tolist() == ms  # sub-ms parts floored, zone ignored


def test_naive_datetimes_are_utc(rows: list[dict[str, Any]]) -> None:
    when = [dt.datetime(2026, 10, 1, 12, 0, 0, 123000)]
    table = _plain(rows[:1]).set_column(11, "event_time", pa.array(when, pa.timestamp("ms")))
    (ms,) = to_columns(table.to_batches()[0]).columns.event_time.tolist()
    assert ms == int(dt.datetime(2026, 10, 1, 12, 0, 0, 123000, dt.UTC).timestamp() * 1000)


def test_dictionary_encoded_strings_and_unknown_symbols(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    table = _plain(rows)
    channels = [r["channel"] for r in rows]
    channels[5] = "TELEPATHY"
    table = table.set_column(9, "channel", pa.array(channels).dictionary_encode())
    table = table.set_column(4, "currency", table.column("currency").dictionary_encode())
    scores, dead = _scores(tmp_path, table)
    assert scores.num_rows == 399
    (d,) = dead.to_pylist()
    assert (d["source_offset"], d["stage"], d["reason"]) == (5, "decode", "unknown_symbol")
    assert d["message"] == "channel is not one of the schema's symbols"
    assert json.loads(d["value"])["channel"] == "TELEPATHY"


def test_nulls_in_required_columns_are_per_row_errors(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    broken = [dict(r) for r in rows]
    broken[3]["amount_minor"] = None
    broken[8]["card_id"] = None
    broken[9]["event_time"] = None
    broken[9]["channel"] = None  # two faults: the first in schema order is reported
    broken[12]["device_id"] = None  # optional: fine
    scores, dead = _scores(tmp_path, pa.Table.from_pylist(broken, schema=_plain(rows).schema))
    assert scores.num_rows == 397
    assert [(d["source_offset"], d["reason"], d["message"]) for d in dead.to_pylist()] == [
        (3, "missing_field", "amount_minor is null, but the Transaction requires it"),
        (8, "missing_field", "card_id is null, but the Transaction requires it"),
        (9, "missing_field", "channel is null, but the Transaction requires it"),
    ]
    for d in dead.to_pylist():
        assert rows[d["source_offset"]]["transaction_id"] in d["value"].decode()
        assert d["error_class"] == "DecodeError" and d["stage"] == "decode"


def test_messages_never_echo_values(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    pan = "4111111111111111"
    broken = [dict(r) for r in rows]
    broken[0]["card_id"] = pan
    broken[1]["channel"] = pan
    _, dead = _scores(tmp_path, pa.Table.from_pylist(broken))
    assert [d["reason"] for d in dead.to_pylist()] == ["card_number_in_card_id", "unknown_symbol"]
    for d in dead.to_pylist():
        assert pan not in d["message"]


def test_optional_columns_may_be_missing_or_all_null(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    table = _plain(rows).drop_columns(["device_id", "ip_address", "latitude", "longitude"])
    table = table.set_column(
        table.schema.get_field_index("ip_country"), "ip_country", pa.nulls(len(rows))
    )
    scores, dead = _scores(tmp_path, table)
    assert scores.num_rows + dead.num_rows == 400 and scores.num_rows > 350


def test_integer_widths_floats_and_uint64_overflow(rows: list[dict[str, Any]]) -> None:
    table = _plain(rows[:3])
    amounts = pa.array([5, 2**63 + 1, 7], pa.uint64())
    table = table.set_column(3, "amount_minor", amounts)
    table = table.set_column(15, "latitude", pa.array([1.5, None, 2.0], pa.float32()))
    table = table.set_column(16, "longitude", pa.array([2, None, 3], pa.int16()))
    converted = to_columns(table.to_batches()[0])
    assert [(i, e.reason) for i, e in converted.failures] == [(1, "out_of_range")]
    assert converted.columns.amount_minor.tolist() == [5, 7]
    assert converted.columns.latitude.tolist() == [1.5, 2.0]
    assert converted.columns.has_longitude.tolist() == [True, True]


def test_text_that_is_not_utf8_is_a_row_error(rows: list[dict[str, Any]]) -> None:
    table = _plain(rows[:3])
    ids = pa.array([b"ok-1", b"\xff\xfe", b"ok-3"], pa.binary()).view(pa.string())
    converted = to_columns(table.set_column(0, "transaction_id", ids).to_batches()[0])
    assert [(i, e.reason) for i, e in converted.failures] == [(1, "invalid_utf8")]
    assert converted.columns.transaction_id == ["ok-1", "ok-3"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["amount_minor"]), "column amount_minor is missing"),
        (
            lambda t: t.set_column(3, "amount_minor", pc.cast(t.column(3), pa.string())),
            "column amount_minor has type string, which cannot be read as an integer",
        ),
        (
            lambda t: t.set_column(3, "amount_minor", pc.cast(t.column(3), pa.float64())),
            "column amount_minor has type double",
        ),
        (
            lambda t: t.set_column(9, "channel", pa.array([1] * t.num_rows, pa.int8())),
            "column channel has type int8, which cannot be read as a string of the enum",
        ),
        (
            lambda t: t.set_column(11, "event_time", pc.cast(t.column(11), pa.string())),
            "column event_time has type string, which cannot be read as a timestamp",
        ),
        (
            lambda t: t.set_column(0, "transaction_id", pc.cast(t.column(0), pa.binary())),
            "column transaction_id has type binary",
        ),
    ],
)
def test_a_missing_or_mistyped_column_is_one_line_and_exit_2(
    rows: list[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Any,
    message: str,
) -> None:
    good = write(tmp_path / "in" / "a.parquet", _plain(rows))
    write(tmp_path / "in" / "b.parquet", change(_plain(rows)))
    out = tmp_path / "out"
    code, err = _fails(capsys, "--input", str(good.parent), "--output", str(out))
    assert code == 2 and err.startswith("fraud-consumer: error: ")
    assert str(tmp_path / "in" / "b.parquet") in err and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # nothing written


def test_empty_files_and_zero_rows(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    write(tmp_path / "in" / "a-empty.parquet", transaction_table([]))  # one empty row group
    pq.write_table(transaction_table([]), tmp_path / "in" / "b-none.parquet", row_group_size=1)
    writer = pq.ParquetWriter(tmp_path / "in" / "c-no-groups.parquet", TRANSACTION_SCHEMA)
    writer.close()
    write(tmp_path / "in" / "d.parquet", transaction_table(rows[:10]))
    out = tmp_path / "out"
    assert batch("--input", str(tmp_path / "in"), "--output", str(out)) == 0
    assert read_dataset(out).num_rows == 10
    m = manifest(out)
    assert [s["rows_in"] for s in m["shards"].values()] == [0, 0, 0, 10]
    # an input of nothing but empty files is a run over zero rows: an empty dataset
    out2 = tmp_path / "out2"
    assert (
        batch("--input", str(tmp_path / "in" / "c-no-groups.parquet"), "--output", str(out2)) == 0
    )
    (part,) = out2.glob("part-*.parquet")
    assert pq.read_table(part).num_rows == 0 and (out2 / "_SUCCESS").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d.mkdir(), "no *.avro or Parquet files in"),
        (lambda d: (d.mkdir(), (d / "notes.txt").write_text("x")), "no *.avro or Parquet"),
        (lambda d: (d.mkdir(), (d / "x.parquet").write_text("not parquet")), "not a readable"),
        (lambda d: (d.mkdir(), (d / "x.parquet").write_bytes(b"")), "not a readable"),
    ],
)
def test_directories_without_usable_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    make(tmp_path / "in")
    code, err = _fails(capsys, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"))
    assert code == 2 and message in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.staging").exists()


def test_mixed_formats_and_unknown_extensions_need_input_format(
    rows: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path / "tx.data", _plain(rows))
    code, err = _fails(capsys, "--input", str(data), "--output", str(tmp_path / "o"))
    assert code == 2 and "give --input-format" in err
    assert (
        batch("--input", str(data), "--input-format", "parquet", "--output", str(tmp_path / "o"))
        == 0
    )


def test_a_huge_row_group_is_read_in_chunks(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    big = records(30_000, seed=2)
    data = write(tmp_path / "big.parquet", transaction_table(big), row_group_size=30_000)
    assert pq.read_metadata(data).num_row_groups == 1
    out = tmp_path / "out"
    args = ("--input", str(data), "--output", str(out), "--chunk-size", "4000")
    assert batch(*args, "--shard-rows", "1000") == 0  # a row group is never split
    (part,) = out.glob("part-*.parquet")
    meta = pq.read_metadata(part)
    assert meta.num_rows + read_dataset(out.with_name("out.dead-letters")).num_rows == 30_000
    assert max(meta.row_group(g).num_rows for g in range(meta.num_row_groups)) <= 4000
    offsets = read_dataset(out).column("source_offset").to_pylist()
    assert offsets == sorted(offsets) and offsets[-1] <= 29_999


def test_a_hive_key_supplies_a_column_the_files_lack(
    rows: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    us = [r for r in rows if r["card_country"] == "US"][:50]
    table = _plain(us).drop_columns(["card_country"])
    write(tmp_path / "lake" / "card_country=US" / "p.parquet", table)
    out = tmp_path / "out"
    assert batch("--input", str(tmp_path / "lake"), "--output", str(out)) == 0
    with_key, _ = _scores(tmp_path, _plain(us), "flat")
    assert read_dataset(out).column("score") == with_key.column("score")
    write(
        tmp_path / "bad" / "amount_minor=lots" / "p.parquet",
        _plain(us).drop_columns(["amount_minor"]),
    )
    code, err = _fails(capsys, "--input", str(tmp_path / "bad"), "--output", str(tmp_path / "o2"))
    assert code == 2 and "partition key amount_minor=lots" in err
