"""What a face hands the core so it can compute card-history features: where each card's
state comes from (``CardStates``: memory, RocksDB, Redis) and the merchant risk snapshot
in force. ``history_block`` runs the one definition (``history/``) over a batch's valid
rows in input order and returns their history and merchant-risk columns and the new state
of every card the batch touched, which the face writes back (or not: the API reads only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from consumer.scoring.columns import TransactionColumns
from consumer.scoring.features import amount_usd
from consumer.scoring.history import HISTORY_FEATURE_NAMES, CardHistory, compute
from consumer.scoring.merchant_risk import MERCHANT_RISK_FEATURE_NAMES, MerchantRisk

Matrix = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
WIDTH = len(HISTORY_FEATURE_NAMES) + len(MERCHANT_RISK_FEATURE_NAMES)


Key = tuple[int, str]  # (scope, card id): a scope is a partition (stream) or 0


class CardStates(Protocol):
    """Card states by (scope, card id) (``b""``: no history yet). Stores keyed by card
    alone ignore the scope; the stream's keeps one store per partition (its scope)."""

    def get(self, keys: Sequence[Key]) -> list[bytes]: ...


class MemoryCardStates:
    """Card states in a dict, by card: tests, training, batch prediction."""

    def __init__(self) -> None:
        self.states: dict[str, bytes] = {}

    def get(self, keys: Sequence[Key]) -> list[bytes]:
        states = self.states
        return [states.get(card, b"") for _, card in keys]

    def put(self, changed: Mapping[Key, bytes]) -> None:
        self.states.update((card, state) for (_, card), state in changed.items())


@dataclass
class HistoryContext:
    states: CardStates
    merchant_risk: MerchantRisk


@dataclass(frozen=True)
class HistoryRequest:
    """How one batch meets card history. ``scope`` (per input position): rows of
    different scopes never see each other in the batch (the stream: the partition; the
    API: the request). ``replayed`` (input position -> the history and merchant-risk
    features it was scored with): redelivered events, scored as they were the first time
    and not applied again. ``keep_states`` False: no new state is handed back (the API
    reads card history, the stream writes it)."""

    scope: IntArray | None = None
    replayed: Mapping[int, Matrix] | None = None
    keep_states: bool = True


NO_REQUEST = HistoryRequest()


@dataclass
class HistoryBlock:
    """The card-history and merchant-risk features of a batch's newly applied rows."""

    features: Matrix  # (rows, WIDTH): HISTORY_FEATURE_NAMES then MERCHANT_RISK_FEATURE_NAMES
    positions: IntArray  # input position of each row
    cards: list[str]  # card id of each row
    changed: dict[Key, bytes] = field(default_factory=dict)  # (scope, card) -> its new state
    merchant_risk: str = ""  # the snapshot's name


def history_block(
    tx: TransactionColumns,
    rows: IntArray,
    context: HistoryContext,
    scope: IntArray | None = None,
    keep_states: bool = True,
) -> HistoryBlock:
    """History and merchant-risk features of ``rows`` of ``tx`` (valid, in input order),
    applied to their cards' states. Rows of one (scope, card) see each other in order;
    ``scope`` is per row of ``tx``. Positions are rows of ``tx``: the caller maps them."""
    cards = [tx.card_id[i] for i in rows]
    scopes = [0] * len(rows) if scope is None else scope[rows].tolist()
    slot_of: dict[Key, int] = {}
    slots = np.fromiter(
        (slot_of.setdefault(k, len(slot_of)) for k in zip(scopes, cards, strict=True)),
        np.int64,
        len(rows),
    )
    keys = list(slot_of)
    before = context.states.get(keys)
    valid = tx if len(rows) == len(tx) else tx.take(rows)
    events = CardHistory.from_strings(
        slots,
        valid.event_time,
        amount_usd(valid),
        valid.merchant_id,
        valid.merchant_country,
        valid.device_id,
        valid.transaction_id,
    )
    result = compute(events, before)
    out = np.empty((len(rows), WIDTH))
    out[:, : len(HISTORY_FEATURE_NAMES)] = result.features
    out[:, len(HISTORY_FEATURE_NAMES) :] = context.merchant_risk.lookup(valid.merchant_id)
    changed = (
        {k: s for k, s, b in zip(keys, result.states, before, strict=True) if s is not b}
        if keep_states
        else {}
    )
    return HistoryBlock(out, rows, cards, changed, context.merchant_risk.name)
