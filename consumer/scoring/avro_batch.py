"""Batches of Avro values to and from columns, through the strict native codec (``_avro``).

A codec hands the pipeline ``Inputs`` (inputs.py): the Transactions that decoded, as
columns, the input position of each, and a DecodeError for each value that did not.
``ScoreColumns`` is what the pipeline hands a codec to encode: one FraudScore per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consumer.scoring import _avro, _score_encoder
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.errors import DecodeError
from consumer.scoring.inputs import Inputs

_MESSAGES = {
    "tombstone": "record has no value (tombstone)",
    "empty_value": "record value is empty",
    "truncated": "value ended before the record was complete (truncated or bad length)",
    "invalid_utf8": "{field} is not valid UTF-8",
    "bad_index": "{field}: the enum symbol or union branch index is out of range",
    "non_canonical": "{field}: an integer is not in Avro's shortest encoding",
    "malformed": "value is not valid Avro ({field}: a length or integer out of range)",
    "trailing_bytes": "bytes left over after the record",
}


def decode_error(reason: str, field: str | None) -> DecodeError:
    """The DecodeError for a native decoder failure; messages name fields, never values."""
    return DecodeError(reason, _MESSAGES[reason].format(field=field or "value"))


def decode_plain(values: list[bytes | None], skip: int = 0) -> Inputs:
    """Plain Avro Transactions (after ``skip`` header bytes the caller has checked)."""
    columns, positions, failures = _avro.decode_values(values, skip)
    return Inputs(
        TransactionColumns.from_dict(columns),
        positions,
        [(i, decode_error(reason, field)) for i, reason, field in failures],
        len(values),
    )


@dataclass
class ScoreColumns:
    """FraudScores to encode, one per row."""

    transaction_id: list[str]
    score: npt.NDArray[np.float64]
    decision: npt.NDArray[np.int8]  # index into DECISIONS
    reasons: npt.NDArray[np.int16]  # (rows, k) indexes into reason_names, -1 past the last
    reason_names: list[str]
    model_name: str
    model_version: str
    event_time: npt.NDArray[np.int64]
    scored_at: npt.NDArray[np.int64]
    source_topic: list[str]
    source_partition: npt.NDArray[np.int32]
    source_offset: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.transaction_id)


def encode_score_columns(s: ScoreColumns, prefix: bytes = b"") -> list[bytes]:
    """Plain Avro FraudScores (each after ``prefix``), byte for byte what fastavro writes."""
    encoded: list[bytes] = _score_encoder.encode_scores(
        s.transaction_id,
        np.ascontiguousarray(s.score, np.float64),
        np.ascontiguousarray(s.decision, np.int8),
        np.ascontiguousarray(s.reasons, np.int16),
        s.reason_names,
        s.model_name,
        s.model_version,
        np.ascontiguousarray(s.event_time, np.int64),
        np.ascontiguousarray(s.scored_at, np.int64),
        s.source_topic,
        np.ascontiguousarray(s.source_partition, np.int32),
        np.ascontiguousarray(s.source_offset, np.int64),
        prefix,
    )
    return encoded
