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


class CardStates(Protocol):
    """Card states by card id (``b""``: no history yet)."""

    def get(self, cards: Sequence[str]) -> list[bytes]: ...


class MemoryCardStates:
    """Card states in a dict: tests, training, batch prediction."""

    def __init__(self) -> None:
        self.states: dict[str, bytes] = {}

    def get(self, cards: Sequence[str]) -> list[bytes]:
        states = self.states
        return [states.get(c, b"") for c in cards]

    def put(self, changed: Mapping[str, bytes]) -> None:
        self.states.update(changed)


@dataclass
class HistoryContext:
    states: CardStates
    merchant_risk: MerchantRisk


@dataclass
class HistoryBlock:
    features: Matrix  # (rows, WIDTH): HISTORY_FEATURE_NAMES then MERCHANT_RISK_FEATURE_NAMES
    changed: dict[str, bytes] = field(default_factory=dict)  # card -> its new state
    merchant_risk: str = ""  # the snapshot's name


def history_block(
    tx: TransactionColumns,
    rows: IntArray,
    context: HistoryContext,
    scope: IntArray | None = None,
) -> HistoryBlock:
    """History and merchant-risk features of ``rows`` of ``tx`` (valid, in input order).

    Rows of one card see each other in order. ``scope`` (per row of ``tx``) keeps rows of
    different scopes apart (the API: each request sees its own items only); then no state
    is handed back, since no single state is the card's."""
    cards = [tx.card_id[i] for i in rows]
    scopes = [0] * len(rows) if scope is None else scope[rows].tolist()
    slot_of: dict[tuple[int, str], int] = {}
    slots = np.fromiter(
        (slot_of.setdefault(k, len(slot_of)) for k in zip(scopes, cards, strict=True)),
        np.int64,
        len(rows),
    )
    slot_cards = [card for _, card in slot_of]
    unique = list(dict.fromkeys(slot_cards))
    stored = dict(zip(unique, context.states.get(unique), strict=True))
    before = [stored[c] for c in slot_cards]
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
        {}
        if scope is not None
        else {c: s for c, s, b in zip(slot_cards, result.states, before, strict=True) if s is not b}
    )
    return HistoryBlock(out, changed, context.merchant_risk.name)
