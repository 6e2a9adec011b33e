"""A card's history state: its retained events as a packed little-endian structured array,
stored as the array's raw bytes (empty bytes = no history)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from consumer.scoring.history.definition import ENTRY_BYTES


class CardStateError(ValueError):
    """A state blob that is not a whole number of 48-byte entries."""


STATE_DTYPE = np.dtype(
    [
        ("event_time", "<i8"),
        ("amount_usd", "<f8"),
        ("merchant", "<u8"),
        ("country", "<u8"),
        ("device", "<u8"),
        ("txid", "<u8"),
    ]
)
if STATE_DTYPE.itemsize != ENTRY_BYTES:  # pragma: no cover
    raise ImportError("a card state entry is 48 bytes")


def check_length(size: int, where: str = "card state") -> int:
    """The number of entries in a blob of ``size`` bytes; CardStateError if not whole."""
    entries, rest = divmod(size, ENTRY_BYTES)
    if rest:
        raise CardStateError(
            f"{where}: {size} bytes is not a multiple of {ENTRY_BYTES} "
            f"(a state is whole {ENTRY_BYTES}-byte entries)"
        )
    return entries


class CardState:
    """Encode and decode card states: ``dtype`` is the entry layout."""

    dtype: ClassVar[np.dtype[Any]] = STATE_DTYPE

    @staticmethod
    def encode(entries: npt.NDArray[Any]) -> bytes:
        """The bytes of ``entries`` (fields by name, converted to the packed layout)."""
        array = np.asarray(entries)
        if array.ndim != 1 or array.dtype.names is None:
            raise CardStateError("a card state is a 1-d structured array of entries")
        missing = [name for name in STATE_DTYPE.names or () if name not in array.dtype.names]
        if missing:
            raise CardStateError(f"a card state entry has no field {', '.join(missing)}")
        out = np.empty(array.shape[0], STATE_DTYPE)
        for name in STATE_DTYPE.names or ():
            out[name] = array[name]
        return out.tobytes()

    @staticmethod
    def decode(blob: bytes) -> npt.NDArray[Any]:
        """The entries of a state blob, a new (writable) array in input order."""
        check_length(len(blob))
        return np.frombuffer(blob, STATE_DTYPE).copy()
