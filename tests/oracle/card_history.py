"""The card history definition (``consumer/scoring/history/definition.py``) written out as
directly as possible: one event at a time, a card's state a plain list of dicts, every
window a list comprehension. Slow and obviously right; the kernel must equal it bit for bit.

It shares nothing with the kernel but ``fnv1a64`` (itself checked against published FNV
test vectors): the state layout is read and written with ``struct``, the constants are
written out again here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from consumer.scoring.history.definition import fnv1a64

HOUR = 3_600_000
WINDOWS = {"1h": HOUR, "24h": 24 * HOUR, "7d": 7 * 24 * HOUR}
WEEK = WINDOWS["7d"]
CAP = 256
ENTRY = struct.Struct("<qdQQQQ")  # time, amount_usd, merchant, country, device, txid
FIELDS = ("time", "amount", "merchant", "country", "device", "txid")

Entry = dict[str, Any]


def decode(blob: bytes) -> list[Entry]:
    if len(blob) % ENTRY.size:
        raise ValueError(f"{len(blob)} bytes is not a multiple of {ENTRY.size}")
    return [dict(zip(FIELDS, values, strict=True)) for values in ENTRY.iter_unpack(blob)]


def encode(entries: list[Entry]) -> bytes:
    return b"".join(ENTRY.pack(*(e[f] for f in FIELDS)) for e in entries)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 1:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) * 0.5


def features(state: list[Entry], event: Entry) -> list[float]:
    t = event["time"]
    others = [e for e in state if e["txid"] != event["txid"]]
    window = {name: [e for e in others if t - w < e["time"] <= t] for name, w in WINDOWS.items()}

    out: list[float] = []
    for name in ("1h", "24h", "7d"):
        out.append(float(len(window[name])))
    for name in ("1h", "24h", "7d"):
        total = 0.0
        for e in window[name]:
            if not math.isnan(e["amount"]):
                total += e["amount"]
        out.append(total)
    for name in ("1h", "24h", "7d"):
        out.append(float(len({e["merchant"] for e in window[name]})))
    for name in ("24h", "7d"):
        out.append(float(len({e["country"] for e in window[name]})))

    earlier = [e["time"] for e in others if e["time"] <= t]
    out.append((t - max(earlier)) / 1000.0 if earlier else math.nan)

    week = window["7d"]
    if event["device"] == 0 or not week:
        out.append(math.nan)
    else:
        out.append(0.0 if any(e["device"] == event["device"] for e in week) else 1.0)
    if not week:
        out.append(math.nan)
    else:
        out.append(0.0 if any(e["country"] == event["country"] for e in week) else 1.0)

    amounts = [e["amount"] for e in week if not math.isnan(e["amount"])]
    if math.isnan(event["amount"]) or not amounts or median(amounts) == 0:
        out.append(math.nan)
    else:
        out.append(event["amount"] / median(amounts))
    return out


def apply(state: list[Entry], event: Entry) -> list[Entry]:
    if any(e["txid"] == event["txid"] for e in state):
        return state  # a duplicate: not applied
    state = [*state, event]
    newest = max(e["time"] for e in state)
    state = [e for e in state if not e["time"] <= newest - WEEK]
    if len(state) > CAP:
        state = state[len(state) - CAP :]
    return state


def card_history(
    slots: Sequence[int],
    times: Sequence[int],
    amounts: Sequence[float],
    merchants: Sequence[int],
    countries: Sequence[int],
    devices: Sequence[int],
    txids: Sequence[int],
    *,
    states: Sequence[bytes],
) -> tuple[list[list[float]], list[bytes]]:
    """The features of each event and each slot's final state, one event at a time."""
    cards = [decode(blob) for blob in states]
    rows = []
    for i, slot in enumerate(slots):
        event = {
            "time": int(times[i]),
            "amount": float(amounts[i]),
            "merchant": int(merchants[i]),
            "country": int(countries[i]),
            "device": int(devices[i]),
            "txid": int(txids[i]),
        }
        rows.append(features(cards[slot], event))
        cards[slot] = apply(cards[slot], event)
    return rows, [encode(card) for card in cards]


def hash_id(text: str | None) -> int:
    """0 for an absent id, else its FNV-1a 64 hash."""
    return 0 if text is None else fnv1a64(text)
