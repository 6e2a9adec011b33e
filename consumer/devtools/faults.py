"""Malformed Transaction values, one per way upstream bytes go wrong in practice.

Used by ``fraud-consumer produce --malformed-fraction``, the demo and the tests. Every
kind must be dead-lettered by the scorer; none may be scored or crash it.
"""

from __future__ import annotations

import copy
import random
import struct
from collections.abc import Callable
from typing import Any

from consumer.scoring.codec import TRANSACTION_SCHEMA, PlainAvroCodec, Record, encode_avro, parsed


def _retyped(field: str, avro_type: Any) -> Any:
    """The Transaction schema with one field's type swapped, to write out-of-range indexes."""
    schema = copy.deepcopy(TRANSACTION_SCHEMA)
    for f in schema["fields"]:
        if f["name"] == field:
            f["type"] = avro_type
            f.pop("default", None)
    return parsed(schema)


_CHANNEL_AS_INT = _retyped("channel", "int")
_DEVICE_AS_INT = _retyped("device_id", "int")
_CODEC = PlainAvroCodec()


def _valid(tx: Record) -> bytes:
    return _CODEC.encode_transaction(tx)


# Faults that keep the record schema-valid (so they fit in an Avro file) but break a rule.
RECORD_FAULTS: dict[str, Callable[[Record, random.Random], Record]] = {
    "negative_amount": lambda tx, rng: {**tx, "amount_minor": -rng.randint(1, 10**6)},
    "unknown_currency": lambda tx, rng: {**tx, "currency": "XYZ"},
    "empty_transaction_id": lambda tx, rng: {**tx, "transaction_id": ""},
    "card_number_in_card_id": lambda tx, rng: {**tx, "card_id": "4111111111111111"},
    "bad_country": lambda tx, rng: {**tx, "merchant_country": "usa"},
    "nan_latitude": lambda tx, rng: {**tx, "latitude": float("nan"), "longitude": 1.0},
    "event_time_in_seconds": lambda tx, rng: {**tx, "event_time": tx["event_time"] // 1000},
}

# Faults in the bytes themselves: only a Kafka value can carry these.
BYTE_FAULTS: dict[str, Callable[[Record, random.Random], bytes | None]] = {
    "tombstone": lambda tx, rng: None,
    "empty_value": lambda tx, rng: b"",
    "garbage": lambda tx, rng: b"\xff\xff\xff\xff" + rng.randbytes(rng.randint(0, 40)),
    "truncated": lambda tx, rng: _valid(tx)[: rng.randint(1, len(_valid(tx)) - 1)],
    "trailing_bytes": lambda tx, rng: _valid(tx) + b"\x02\x04",
    "invalid_utf8": lambda tx, rng: (
        b"\x08\xff\xfe\xfd\xfc" + _valid(tx)[1 + len(tx["transaction_id"]) :]
    ),
    "bad_enum_index": lambda tx, rng: encode_avro({**tx, "channel": 57}, _CHANNEL_AS_INT),
    "bad_union_index": lambda tx, rng: encode_avro({**tx, "device_id": 7}, _DEVICE_AS_INT),
    "registry_framing": lambda tx, rng: b"\x00" + struct.pack(">I", 42) + _valid(tx),
}
KINDS = tuple(BYTE_FAULTS) + tuple(RECORD_FAULTS)


def malformed_value(kind: str, tx: Record, rng: random.Random) -> bytes | None:
    """A value of the given malformed ``kind``, derived from the valid Transaction ``tx``."""
    if kind in RECORD_FAULTS:
        return _valid(RECORD_FAULTS[kind](tx, rng))
    return BYTE_FAULTS[kind](tx, rng)
