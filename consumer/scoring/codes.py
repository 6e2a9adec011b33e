"""Reference data as lookup arrays, and Transaction columns dictionary-encoded against it.

Validation and features both ask "is this a known currency / a country code / four
digits?" and "what is its exponent, rate, group, home time zone?". ``Codes`` answers the
first once per batch (one dict lookup per value, in C) and the second with numpy indexing.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import numpy.typing as npt

from consumer.scoring import _columns
from consumer.scoring.reference import (
    COUNTRY_INFO,
    CURRENCY_EXPONENT,
    MCC_GROUP,
    UNKNOWN_MCC_GROUP,
    USD_PER_UNIT,
)

MISSING, NONE = -1, -2  # not in the table; None (an absent optional field)
_HOUR_MS = 3_600_000

CURRENCIES = sorted(CURRENCY_EXPONENT)
CURRENCY_INDEX = {c: i for i, c in enumerate(CURRENCIES)}
CURRENCY_SCALE = np.array([float(10 ** CURRENCY_EXPONENT[c]) for c in CURRENCIES])
USD_RATE = np.array([USD_PER_UNIT.get(c, np.nan) for c in CURRENCIES])

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
COUNTRIES = [a + b for a, b in product(_LETTERS, repeat=2)]  # every [A-Z]{2}
COUNTRY_INDEX = {c: i for i, c in enumerate(COUNTRIES)}
HOME_KNOWN = np.array([c in COUNTRY_INFO for c in COUNTRIES])
HOME_OFFSET_MS = np.array(
    [int(COUNTRY_INFO[c][0] * _HOUR_MS) if c in COUNTRY_INFO else 0 for c in COUNTRIES], np.int64
)
HOME_CURRENCY = np.array(
    [
        CURRENCY_INDEX.get(COUNTRY_INFO[c][1], MISSING) if c in COUNTRY_INFO else MISSING
        for c in COUNTRIES
    ],
    np.int32,
)

MCC_INDEX = {f"{i:04d}": i for i in range(10_000)}  # every [0-9]{4}, as its number
MCC_GROUP_OF = np.array(
    [MCC_GROUP.get(f"{i:04d}", UNKNOWN_MCC_GROUP) for i in range(10_000)], np.float64
)


@dataclass(frozen=True)
class Codes:
    currency: npt.NDArray[np.int32]  # into CURRENCIES, MISSING if unknown
    mcc: npt.NDArray[np.int32]  # the code's number, MISSING if not four digits
    merchant_country: npt.NDArray[np.int32]  # into COUNTRIES, MISSING if not [A-Z]{2}
    card_country: npt.NDArray[np.int32]
    ip_country: npt.NDArray[np.int32]  # also NONE where absent

    @classmethod
    def of(
        cls,
        currency: list[str],
        mcc: list[str],
        merchant_country: list[str],
        card_country: list[str],
        ip_country: list[str | None],
    ) -> Codes:
        return cls(
            _columns.codes(currency, CURRENCY_INDEX, MISSING, NONE),
            _columns.codes(mcc, MCC_INDEX, MISSING, NONE),
            _columns.codes(merchant_country, COUNTRY_INDEX, MISSING, NONE),
            _columns.codes(card_country, COUNTRY_INDEX, MISSING, NONE),
            _columns.codes(ip_country, COUNTRY_INDEX, MISSING, NONE),
        )

    def take(self, rows: npt.NDArray[np.int64]) -> Codes:
        return Codes(
            self.currency[rows],
            self.mcc[rows],
            self.merchant_country[rows],
            self.card_country[rows],
            self.ip_country[rows],
        )
