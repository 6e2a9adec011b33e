"""Card history features (``card-history-v1``): one definition for every face.

The contract is the docstring of ``consumer.scoring.history.definition``; ``compute``
runs it (the Cython kernel ``_kernel``) over a batch of events in input order, carrying
each card's state (``CardState``: raw bytes of 48-byte entries) from event to event.
"""

from consumer.scoring.history._kernel import hash_strings
from consumer.scoring.history.columns import CardHistory, HistoryResult, compute
from consumer.scoring.history.definition import (
    CAP,
    DAY_MS,
    ENTRY_BYTES,
    HISTORY_FEATURE_NAMES,
    HISTORY_FEATURE_SET,
    HOUR_MS,
    WEEK_MS,
    WINDOWS_MS,
    fnv1a64,
)
from consumer.scoring.history.state import CardState, CardStateError

__all__ = [
    "CAP",
    "DAY_MS",
    "ENTRY_BYTES",
    "HISTORY_FEATURE_NAMES",
    "HISTORY_FEATURE_SET",
    "HOUR_MS",
    "WEEK_MS",
    "WINDOWS_MS",
    "CardHistory",
    "CardState",
    "CardStateError",
    "HistoryResult",
    "compute",
    "fnv1a64",
    "hash_strings",
]
