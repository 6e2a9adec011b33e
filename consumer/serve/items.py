"""Request bodies: one Transaction as a JSON object, or ``{"transactions": [...]}``.

msgspec decodes each item against a typed struct in C (types, required fields, enum
symbols, unknown fields), so a bad item costs no Python walk of ours and gets its own
error while the others go on. Error messages are written here, from the error's kind
and the field's name: msgspec's own messages can quote the offending value, and a value
may be card data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

import msgspec
import numpy as np

from consumer.scoring.columns import OPTIONAL_STRING_FIELDS, STRING_FIELDS, TransactionColumns
from consumer.scoring.errors import DecodeError
from consumer.scoring.schemas import CHANNELS, ENTRY_MODES

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Channel = Literal["POS", "ECOMMERCE", "ATM", "MOTO", "RECURRING"]
EntryMode = Literal[
    "CHIP", "CONTACTLESS", "MAGSTRIPE", "KEYED", "CREDENTIAL_ON_FILE", "ECOMMERCE", "WALLET"
]


class TransactionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A Transaction in JSON: the Avro schema's field names, enums as symbols, optional
    fields null or absent, event_time as epoch ms or ISO-8601 with a UTC offset."""

    transaction_id: str
    card_id: str
    account_id: str
    amount_minor: Int64
    currency: str
    merchant_id: str
    merchant_category_code: str
    merchant_country: str
    card_country: str
    channel: Channel
    entry_mode: EntryMode
    event_time: Int64 | str
    device_id: str | None = None
    ip_address: str | None = None
    ip_country: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    transactions: list[msgspec.Raw]


class BodyError(Exception):
    """The body is not JSON or not one of the two shapes: the whole request is refused."""

    def __init__(self, message: str, reason: str = "bad_request") -> None:
        super().__init__(message)
        self.reason = reason


TOO_DEEP = "the body nests arrays or objects too deeply (a Transaction is flat)"


if get_args(Channel) != CHANNELS or get_args(EntryMode) != ENTRY_MODES:
    raise ImportError("the API's enum symbols differ from schemas/transaction.avsc")

_ITEM = msgspec.json.Decoder(TransactionIn)
_BODY = msgspec.json.Decoder(_Body)
_ANY = msgspec.json.Decoder()
_CHANNEL = {s: i for i, s in enumerate(CHANNELS)}
_ENTRY = {s: i for i, s in enumerate(ENTRY_MODES)}
_FIELD = re.compile(r"`\$\.([a-z_]{1,40})`|field `([a-z_]{1,40})`")
_TID = msgspec.json.Decoder(dict[str, object])


@dataclass(frozen=True)
class Parsed:
    single: bool  # one object (answer as one result), or an array
    items: list[TransactionIn | DecodeError]
    ids: list[str | None]  # each item's transaction_id when readable


def parse(body: bytes) -> Parsed:
    """Split a body into items, each decoded or with its error; BodyError if neither shape.

    msgspec decodes nested JSON recursively and raises RecursionError past the
    interpreter's limit: a body that deep is refused as a whole (400 ``too_deep``), never
    allowed to become a server error."""
    try:
        return _parse(body)
    except RecursionError:
        raise BodyError(TOO_DEEP, "too_deep") from None


def _parse(body: bytes) -> Parsed:
    try:
        top = _ANY.decode(body)
    except msgspec.ValidationError:  # JSON, with a number no 64-bit int or double holds
        raise BodyError("a number in the body is out of range", "out_of_range") from None
    except msgspec.DecodeError:
        raise BodyError("the body is not valid JSON (NaN and Infinity are not JSON)") from None
    if not isinstance(top, dict):
        raise BodyError('the body must be a JSON object: a transaction or {"transactions": [...]}')
    if "transactions" in top:
        try:
            raws = _BODY.decode(body).transactions
        except msgspec.ValidationError:
            raise BodyError(
                'an array request is {"transactions": [...]} and nothing else'
            ) from None
        items = [_item(raw) for raw in raws]
        return Parsed(False, [i for i, _ in items], [t for _, t in items])
    item, tid = _item(body)
    return Parsed(True, [item], [tid])


def _item(raw: bytes | msgspec.Raw) -> tuple[TransactionIn | DecodeError, str | None]:
    try:
        return _ITEM.decode(raw), None
    except msgspec.ValidationError as exc:
        return _error(str(exc)), _readable_id(raw)


def _readable_id(raw: bytes | msgspec.Raw) -> str | None:
    try:
        value = _TID.decode(raw).get("transaction_id")
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


def _error(text: str) -> DecodeError:
    """A DecodeError from msgspec's message, which is read, never repeated."""
    found = _FIELD.search(text)
    field = next((g for g in found.groups() if g), "value") if found else "value"
    if text.startswith("Object missing required field"):
        return DecodeError("missing_field", f"{field} is required")
    if text.startswith("Object contains unknown field"):
        return DecodeError("unknown_field", "a field that is not in the Transaction schema")
    if text.startswith("Invalid enum value"):
        allowed = ", ".join(CHANNELS if field == "channel" else ENTRY_MODES)
        return DecodeError("bad_enum", f"{field} must be one of {allowed}")
    if text.startswith("Number out of range") or "` <= " in text or "` >= " in text:
        if field == "amount_minor":
            return DecodeError("amount_out_of_range", "amount_minor is not a 64-bit integer")
        if field == "event_time":
            return DecodeError("bad_event_time", "event_time is not a 64-bit integer")
        return DecodeError("out_of_range", f"{field} is out of range")
    if text.startswith("Expected `object`"):
        return DecodeError("not_an_object", "each transaction must be a JSON object")
    if text.startswith("Expected"):
        return DecodeError("wrong_type", f"{field} has the wrong JSON type")
    return DecodeError("malformed", f"{field} is not valid")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def event_time_ms(value: int | str) -> int:
    """Epoch milliseconds of an int (as is) or an ISO-8601 string with a UTC offset."""
    if isinstance(value, int):
        return value
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise DecodeError("bad_event_time", "event_time is not epoch ms or ISO-8601") from None
    if when.tzinfo is None:
        raise DecodeError("bad_event_time", "event_time has no UTC offset")
    return (when - _EPOCH) // dt.timedelta(milliseconds=1)


def to_columns(items: list[TransactionIn], event_times: list[int]) -> TransactionColumns:
    n = len(items)
    lat = [t.latitude for t in items]
    lon = [t.longitude for t in items]
    return TransactionColumns(
        **{f: [getattr(t, f) for t in items] for f in STRING_FIELDS},
        amount_minor=np.fromiter((t.amount_minor for t in items), np.int64, n),
        channel=np.fromiter((_CHANNEL[t.channel] for t in items), np.int8, n),
        entry_mode=np.fromiter((_ENTRY[t.entry_mode] for t in items), np.int8, n),
        event_time=np.asarray(event_times, np.int64),
        **{f: [getattr(t, f) for t in items] for f in OPTIONAL_STRING_FIELDS},
        latitude=np.array([np.nan if v is None else v for v in lat], np.float64),
        longitude=np.array([np.nan if v is None else v for v in lon], np.float64),
        has_latitude=np.array([v is not None for v in lat], bool),
        has_longitude=np.array([v is not None for v in lon], bool),
    )
