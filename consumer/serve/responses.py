"""What the API answers, as msgspec structs encoded to JSON in C.

Per transaction: ``scored`` (score, decision, reason codes, model), ``invalid`` (the
dead-letter reason code and a message that names the field and the rule, never the
value), or, past the deadline under a fail-open/closed policy, ``scored`` with the
policy's decision, ``"score": null`` and ``"fallback": true``. Request-level errors
(400, 413, 429, 503, 504) are ``{"error": {"reason", "message"}}``.
"""

from __future__ import annotations

import msgspec

from consumer.scoring.errors import RecordError


class Error(msgspec.Struct):
    reason: str
    message: str


class ScoredOut(msgspec.Struct, tag_field="status", tag="scored", omit_defaults=True):
    transaction_id: str
    score: float | None
    decision: str
    reason_codes: list[str]
    model_name: str
    model_version: str
    fallback: bool = False
    merchant_risk: str | None = None  # the snapshot a history model's features came from


class InvalidOut(msgspec.Struct, tag_field="status", tag="invalid", omit_defaults=True):
    error: Error
    transaction_id: str | None = None


class Results(msgspec.Struct):
    results: list[ScoredOut | InvalidOut]


class ErrorBody(msgspec.Struct):
    error: Error


_ENCODER = msgspec.json.Encoder()


def encode(value: object) -> bytes:
    return _ENCODER.encode(value)


def invalid(error: RecordError, transaction_id: str | None) -> InvalidOut:
    return InvalidOut(Error(error.reason, error.message), transaction_id)


def error_body(reason: str, message: str) -> bytes:
    return encode(ErrorBody(Error(reason, message)))
