"""Property: a mutated Transaction value is either rejected (a dead letter) or decodes to
a record whose canonical encoding is exactly the mutated bytes. Nothing in between: no
index of -1 read as the last enum symbol or union branch, no padded integer, no trailing
byte accepted. Checked on every decoding path: plain Avro values, the Schema Registry
wire format (our schema: the native decoder; an evolved writer schema: fastavro, checked)
and Avro container files."""

from __future__ import annotations

import copy
import io
import json
import struct

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.batch.sources.avro_files import AvroFileSource
from consumer.kafka.schema_registry import ConfluentSchemaRegistry
from consumer.scoring.codec import TRANSACTION_SCHEMA, PlainAvroCodec, encode_avro, parsed
from consumer.scoring.registry_codec import RegistryCodec
from consumer.training.generator import TransactionGenerator

CODEC = PlainAvroCodec()
VALID = [CODEC.encode_transaction(e.record) for e in TransactionGenerator(8).take(40)]
_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    value = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["set", "flip", "insert", "delete", "minus_one"]))
        at = draw(st.integers(0, len(value) - 1))
        if kind == "set":
            value[at] = draw(st.integers(0, 255))
        elif kind == "flip":
            value[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            value.insert(at, draw(st.integers(0, 255)))
        elif kind == "delete" and len(value) > 1:
            del value[at]
        elif kind == "minus_one":
            value[at] = 0x01  # zigzag -1: the byte an index of -1 is written as
    return bytes(value)


_TEXT = st.text(max_size=30)
_OPTIONAL_TEXT = st.one_of(st.none(), _TEXT)
_LONG = st.integers(-(2**63), 2**63 - 1)
_DOUBLE = st.one_of(st.none(), st.floats(allow_nan=False))


@st.composite
def valid_records(draw: st.DrawFn) -> dict[str, object]:
    """Any record of the Transaction schema (whatever business rules it breaks: those are
    validation's, after decoding)."""
    fields = {f["name"]: f["type"] for f in TRANSACTION_SCHEMA["fields"]}
    record: dict[str, object] = {}
    for name, kind in fields.items():
        if isinstance(kind, dict) and kind.get("type") == "enum":
            record[name] = draw(st.sampled_from(kind["symbols"]))
        elif name in ("latitude", "longitude"):
            record[name] = draw(_DOUBLE)
        elif kind == "string":
            record[name] = draw(_TEXT)
        elif isinstance(kind, list):  # an optional string
            record[name] = draw(_OPTIONAL_TEXT)
        else:  # long, timestamp-millis
            record[name] = draw(_LONG)
    return record


def _accepted_exactly(value: bytes, decoded: dict[str, object] | None) -> None:
    if decoded is not None:
        assert CODEC.encode_transaction(decoded) == value


@_SETTINGS
@given(mutated())
def test_plain_values_are_rejected_or_canonical(value: bytes) -> None:
    batch = CODEC.decode_batch([value])
    _accepted_exactly(value, None if batch.failures else batch.columns.record(0))


@_SETTINGS
@given(valid_records())
def test_every_valid_plain_value_is_accepted_as_written(record: dict[str, object]) -> None:
    """The other half: a decoder that rejected everything would pass the tests above."""
    value = encode_avro(record, parsed(TRANSACTION_SCHEMA))
    batch = CODEC.decode_batch([value])
    assert batch.failures == []
    assert CODEC.encode_transaction(batch.columns.record(0)) == value


def _offset(record: dict[str, object], field: str) -> int:
    """Where ``field`` starts in the encoding of ``record``: the length of the encoding
    of the fields before it."""
    names = [f["name"] for f in TRANSACTION_SCHEMA["fields"]]
    before = copy.deepcopy(TRANSACTION_SCHEMA)
    before["fields"] = before["fields"][: names.index(field)]
    return len(encode_avro({k: record[k] for k in names[: names.index(field)]}, parsed(before)))


@pytest.mark.parametrize(
    "field",
    ["channel", "entry_mode", "device_id", "ip_address", "ip_country", "latitude", "longitude"],
)
@pytest.mark.parametrize("index", [-1, -2, 99])
def test_an_enum_or_union_index_out_of_range_is_a_bad_index(field: str, index: int) -> None:
    """fastavro reads index -1 as the last symbol or branch; here it is a dead letter."""
    record = CODEC.decode_transaction(VALID[0])
    value = bytearray(CODEC.encode_transaction(record))
    at = _offset(record, field)
    value[at : at + 1] = encode_avro(index, "long")
    (failure,) = CODEC.decode_batch([bytes(value)]).failures
    assert (failure[1].reason, failure[1].stage) == ("bad_index", "decode")
    assert field in failure[1].message


def test_a_padded_integer_is_not_canonical() -> None:
    record = CODEC.decode_transaction(VALID[0])
    value = bytearray(CODEC.encode_transaction(record))
    at = _offset(record, "amount_minor")
    first = value[at]
    value[at : at + 1] = bytes([first | 0x80, 0x00])  # same number, one byte longer
    (failure,) = CODEC.decode_batch([bytes(value)]).failures
    assert failure[1].reason == "non_canonical" and "amount_minor" in failure[1].message


@pytest.fixture(scope="module")
def registry() -> tuple[RegistryCodec, int, int]:
    registry = ConfluentSchemaRegistry.connect("mock://props")
    client = registry.client
    ours = client.register_schema("in-value", Schema(json.dumps(TRANSACTION_SCHEMA), "AVRO"))
    evolved = copy.deepcopy(TRANSACTION_SCHEMA)
    evolved["fields"].append({"name": "tier", "type": ["null", "string"], "default": None})
    other = client.register_schema("in2-value", Schema(json.dumps(evolved), "AVRO"))
    return RegistryCodec(registry, "out-value"), ours, other


@_SETTINGS
@given(mutated())
def test_registry_values_of_our_schema_are_rejected_or_canonical(
    registry: tuple[RegistryCodec, int, int], value: bytes
) -> None:
    codec, ours, _ = registry
    batch = codec.decode_batch([struct.pack(">bI", 0, ours) + value])
    _accepted_exactly(value, None if batch.failures else batch.columns.record(0))


@_SETTINGS
@given(valid_records())
def test_every_valid_registry_value_is_accepted(
    registry: tuple[RegistryCodec, int, int], record: dict[str, object]
) -> None:
    codec, ours, other = registry
    value = encode_avro(record, parsed(TRANSACTION_SCHEMA))
    batch = codec.decode_batch(
        [struct.pack(">bI", 0, ours) + value, struct.pack(">bI", 0, other) + value + b"\x00"]
    )
    assert batch.failures == []
    assert [CODEC.encode_transaction(batch.columns.record(i)) for i in (0, 1)] == [value] * 2


@_SETTINGS
@given(mutated())
def test_registry_values_of_another_schema_are_rejected_or_canonical(
    registry: tuple[RegistryCodec, int, int], value: bytes
) -> None:
    """The evolved writer adds an optional field at the end: append its null branch."""
    codec, _, other = registry
    batch = codec.decode_batch([struct.pack(">bI", 0, other) + value + b"\x00"])
    _accepted_exactly(value, None if batch.failures else batch.columns.record(0))


@_SETTINGS
@given(st.lists(mutated(), min_size=1, max_size=3))
def test_file_records_are_rejected_or_canonical(
    tmp_path_factory: pytest.TempPathFactory, values: list[bytes]
) -> None:
    """An Avro container file whose block holds mutated records: each record is either a
    dead letter, scored from its exact bytes, or the file is reported corrupt."""
    from consumer.batch.errors import BatchError
    from consumer.scoring.errors import ConfigError

    path = tmp_path_factory.mktemp("f") / "x.avro"
    buf = io.BytesIO()
    fastavro.writer(buf, TRANSACTION_SCHEMA, [], codec="null", sync_marker=b"S" * 16)
    header = buf.getvalue()
    body = b"".join(values)
    block = encode_avro(len(values), "long") + encode_avro(len(body), "long") + body + b"S" * 16
    path.write_bytes(header + block)
    try:
        source = AvroFileSource([path])
        chunks = list(source.chunks(100))
    except (BatchError, ConfigError):
        return  # the file is reported corrupt: nothing is scored from it
    records = [r for c in chunks for r in c.records]
    for r in records:
        assert r.value is not None
        batch = CODEC.decode_batch([r.value])
        _accepted_exactly(r.value, None if batch.failures else batch.columns.record(0))


@_SETTINGS
@given(st.lists(valid_records(), min_size=1, max_size=5))
def test_every_valid_file_record_is_read(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, object]]
) -> None:
    path = tmp_path_factory.mktemp("v") / "x.avro"
    with path.open("wb") as f:
        fastavro.writer(f, TRANSACTION_SCHEMA, records, codec="null")
    chunks = list(AvroFileSource([path]).chunks(100))
    got = [r for c in chunks for r in c.records]
    assert [r.value for r in got] == [encode_avro(x, parsed(TRANSACTION_SCHEMA)) for x in records]
    assert all(not c.rejected for c in chunks)
