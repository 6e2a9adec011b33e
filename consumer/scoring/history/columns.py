"""The Python face of the card history kernel: typed input columns and ``compute``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from consumer.scoring.history._kernel import card_history, hash_strings


def _column(values: npt.ArrayLike, dtype: type[np.generic], name: str) -> npt.NDArray[np.generic]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name}: a 1-d column, not shape {array.shape}")
    if array.dtype != dtype and not np.can_cast(array.dtype, dtype, "same_kind"):
        raise TypeError(f"{name}: {array.dtype} is not {np.dtype(dtype)}")
    return np.ascontiguousarray(array, dtype)


@dataclass(frozen=True)
class CardHistory:
    """One batch of events, in input order, as the columns the definition names.

    ``slot`` indexes the states handed to ``compute``; the id columns are hashes
    (``hash_strings``), 0 where absent."""

    slot: npt.NDArray[np.int64]
    event_time: npt.NDArray[np.int64]  # epoch ms
    amount_usd: npt.NDArray[np.float64]  # NaN: no USD rate
    merchant: npt.NDArray[np.uint64]
    country: npt.NDArray[np.uint64]
    device: npt.NDArray[np.uint64]
    txid: npt.NDArray[np.uint64]

    def __post_init__(self) -> None:
        n = None
        for name, dtype in _COLUMNS:
            column = _column(getattr(self, name), dtype, name)
            if n is not None and column.shape[0] != n:
                raise ValueError(f"{name}: {column.shape[0]} events, slot has {n}")
            n = column.shape[0]
            object.__setattr__(self, name, column)

    def __len__(self) -> int:
        return int(self.slot.shape[0])

    @classmethod
    def from_strings(
        cls,
        slot: npt.ArrayLike,
        event_time: npt.ArrayLike,
        amount_usd: npt.ArrayLike,
        merchant_id: Sequence[str | None],
        merchant_country: Sequence[str | None],
        device_id: Sequence[str | None],
        transaction_id: Sequence[str | None],
    ) -> CardHistory:
        """Columns from the ids as strings (None: absent), hashed as the definition says."""
        return cls(
            np.asarray(slot, np.int64),
            np.asarray(event_time, np.int64),
            np.asarray(amount_usd, np.float64),
            hash_strings(list(merchant_id)),
            hash_strings(list(merchant_country)),
            hash_strings(list(device_id)),
            hash_strings(list(transaction_id)),
        )


_COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("slot", np.int64),
    ("event_time", np.int64),
    ("amount_usd", np.float64),
    ("merchant", np.uint64),
    ("country", np.uint64),
    ("device", np.uint64),
    ("txid", np.uint64),
)


class HistoryResult(NamedTuple):
    features: npt.NDArray[np.float64]
    """float64[n, 15], columns in HISTORY_FEATURE_NAMES order, rows in input order."""
    states: list[bytes]
    """The new state of every slot (the same object where no event touched it)."""


def compute(events: CardHistory, states: Sequence[bytes]) -> HistoryResult:
    """The history features of ``events`` given each slot's state, and the new states.

    ``states[k]`` is slot k's state (``b""``: no history); a slot no event names is handed
    back as it came, unread. The work outside the events is proportional to
    ``len(states)``: hand over the states of the batch's cards only."""
    features, new_states = card_history(
        events.slot,
        events.event_time,
        events.amount_usd,
        events.merchant,
        events.country,
        events.device,
        events.txid,
        list(states),
    )
    return HistoryResult(features, new_states)
