"""Labels as records of their own: the chargeback or confirmed-fraud report that arrives
some time after a fraudulent authorization.

Every fraudulent event gets exactly one label and legitimate events none. Delays, drawn
from a triangular distribution (from ``low`` to ``high`` days, most likely ``mode``):

- compromised_merchant: 3-30 days, mode 5. The cardholders dispute the charges; a few
  weeks later the last ones come in.
- every other pattern: 1-30 days, mode 5: the cardholder disputes the charge.

The delays come from their own ``random.Random``, so labelling never changes the events.
Records follow ``schemas/label.avsc``; ``label_time`` is epoch milliseconds.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable
from dataclasses import dataclass

from fastavro import schemaless_writer

from consumer.scoring.codec import Record
from consumer.scoring.schemas import parsed, schema_json

DAY_MS = 86_400_000
LABEL_SCHEMA = schema_json("label")
LABEL_FIELDS = tuple(f["name"] for f in LABEL_SCHEMA["fields"])
# pattern -> (low, high, mode) delay in days
LABEL_DELAY_DAYS: dict[str, tuple[float, float, float]] = {
    "compromised_merchant": (3.0, 30.0, 5.0),
}
DEFAULT_LABEL_DELAY_DAYS = (1.0, 30.0, 5.0)
_PARSED = parsed(LABEL_SCHEMA)


@dataclass(frozen=True)
class LabelledTransaction:
    """A Transaction record and the generator's ground truth for it: its fraud pattern
    and, for fraud, when the label reporting it arrives."""

    record: Record
    fraud_pattern: str | None  # None for legitimate traffic
    label_time: int | None = None  # epoch ms the label arrives; None for legitimate traffic

    @property
    def is_fraud(self) -> bool:
        return self.fraud_pattern is not None

    def label(self) -> Record | None:
        """The label record (``schemas/label.avsc``) for a fraudulent event, else None."""
        if self.fraud_pattern is None or self.label_time is None:
            return None
        r = self.record
        return {
            "transaction_id": r["transaction_id"],
            "card_id": r["card_id"],
            "merchant_id": r["merchant_id"],
            "event_time": r["event_time"],
            "label_time": self.label_time,
            "fraud_pattern": self.fraud_pattern,
            "is_fraud": True,
        }


class Labeller:
    """Labels events as they are generated, from a seeded stream of its own."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"fraud-consumer-labels:{seed}")  # noqa: S311 - simulation

    def __call__(self, record: Record, pattern: str | None) -> LabelledTransaction:
        if pattern is None:
            return LabelledTransaction(record, None)
        low, high, mode = LABEL_DELAY_DAYS.get(pattern, DEFAULT_LABEL_DELAY_DAYS)
        delay = int(self._rng.triangular(low, high, mode) * DAY_MS)
        return LabelledTransaction(record, pattern, record["event_time"] + delay)


def labels(events: Iterable[LabelledTransaction]) -> list[Record]:
    """The label records of ``events``' fraud, in arrival (label_time) order."""
    out = [lab for e in events if (lab := e.label()) is not None]
    out.sort(key=lambda lab: (lab["label_time"], lab["transaction_id"]))
    return out


def encode_label(label: Record) -> bytes:
    """A label record as plain Avro binary (``schemas/label.avsc``)."""
    buf = io.BytesIO()
    schemaless_writer(buf, _PARSED, label)
    return buf.getvalue()
