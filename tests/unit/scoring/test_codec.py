from __future__ import annotations

import random
import struct

import pytest

from consumer.devtools.faults import KINDS, malformed_value
from consumer.scoring.codec import DECISIONS, PlainAvroCodec
from consumer.scoring.errors import DecodeError
from consumer.scoring.validation import validate
from consumer.training.generator import LabelledTransaction


def test_transaction_round_trips_byte_for_byte(
    codec: PlainAvroCodec, events: list[LabelledTransaction]
) -> None:
    for e in events[:200]:
        raw = codec.encode_transaction(e.record)
        assert codec.decode_transaction(raw) == e.record
        assert codec.encode_transaction(codec.decode_transaction(raw)) == raw


def test_timestamps_stay_epoch_milliseconds(
    codec: PlainAvroCodec, events: list[LabelledTransaction]
) -> None:
    decoded = codec.decode_transaction(codec.encode_transaction(events[0].record))
    assert isinstance(decoded["event_time"], int)


def test_score_round_trips(codec: PlainAvroCodec) -> None:
    score = {
        "transaction_id": "txn_1",
        "score": 0.25,
        "decision": "REVIEW",
        "reason_codes": ["amount_log"],
        "model_name": "m",
        "model_version": "1",
        "event_time": 1_790_000_000_000,
        "scored_at": 1_790_000_000_123,
        "source_topic": "t",
        "source_partition": 3,
        "source_offset": 42,
    }
    assert codec.decode_score(codec.encode_score(score)) == score
    assert DECISIONS == ("APPROVE", "REVIEW", "DECLINE")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"", "empty_value"),
        (b"\x06ab", "truncated"),
        (b"\x7fxx", "malformed"),  # negative string length
    ],
)
def test_bad_bytes_raise_decode_error_with_reason(
    codec: PlainAvroCodec, value: bytes | None, reason: str
) -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode_transaction(value)
    assert info.value.reason == reason
    assert info.value.stage == "decode"


def test_trailing_bytes_are_rejected(
    codec: PlainAvroCodec, events: list[LabelledTransaction]
) -> None:
    raw = codec.encode_transaction(events[0].record)
    with pytest.raises(DecodeError) as info:
        codec.decode_transaction(raw + b"\x00")
    assert info.value.reason == "trailing_bytes"


def test_registry_framing_without_registry_is_named(
    codec: PlainAvroCodec, events: list[LabelledTransaction]
) -> None:
    raw = b"\x00" + struct.pack(">I", 7) + codec.encode_transaction(events[0].record)
    with pytest.raises(DecodeError) as info:
        codec.decode_transaction(raw)
    assert info.value.reason == "wire_format"


def test_every_fault_kind_fails_decode_or_validation(
    codec: PlainAvroCodec, events: list[LabelledTransaction]
) -> None:
    rng = random.Random(3)
    values = [malformed_value(kind, e.record, rng) for e in events[:50] for kind in KINDS]
    decoded = codec.decode_batch(values)
    invalid = {decoded.positions[i] for i, _ in validate(decoded.columns)}
    failed = {i for i, _ in decoded.failures} | invalid
    assert failed == set(range(len(values)))


def test_random_bytes_never_crash_the_decoder(codec: PlainAvroCodec) -> None:
    rng = random.Random(11)
    values: list[bytes | None] = [rng.randbytes(rng.randint(0, 120)) for _ in range(5000)]
    decoded = codec.decode_batch(values)
    assert len(decoded.failures) + len(decoded.positions) == len(values)
    invalid = validate(decoded.columns)
    assert len(invalid) == len(decoded.positions), (
        "random bytes were accepted as a valid Transaction"
    )


def test_decode_errors_do_not_echo_payload(codec: PlainAvroCodec) -> None:
    secret = "4111111111111111"
    raw = b"\x08\xff\xfe\xfd\xfc" + secret.encode()
    with pytest.raises(DecodeError) as info:
        codec.decode_transaction(raw)
    assert secret not in info.value.message
