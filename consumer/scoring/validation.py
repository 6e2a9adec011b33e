"""Business validation of decoded Transactions, a batch of columns at a time.

Each rule is a mask over the batch; a row that breaks several gets the first in rule
order, so every row gets the same reason whatever batch it arrives in. Anything failing
here is dead-lettered. Messages name the field and the rule, never the value: values may
be card data.
"""

from __future__ import annotations

import ipaddress
import re

import numpy as np
import numpy.typing as npt

from consumer.scoring import _columns
from consumer.scoring.codes import MISSING
from consumer.scoring.columns import TransactionColumns
from consumer.scoring.errors import ValidationError

MAX_ID_LENGTH = 128
# 10^15 minor units: far above any card authorization, far below int64 overflow.
MAX_AMOUNT_MINOR = 10**15
# Event times outside [2000-01-01, 2100-01-01) are corrupt clocks or wrong units.
MIN_EVENT_TIME_MS = 946_684_800_000
MAX_EVENT_TIME_MS = 4_102_444_800_000

ID_FIELDS = ("transaction_id", "card_id", "account_id", "merchant_id")
_DIGITS = re.compile(r"[0-9 -]{13,23}")
_PAN_START = frozenset("0123456789 -")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")

Failures = list[tuple[int, ValidationError]]
Mask = npt.NDArray[np.bool_]


def looks_like_pan(value: str) -> bool:
    """True if ``value`` is 13-19 digits (spaces/dashes allowed) passing the Luhn check."""
    if not _DIGITS.fullmatch(value):
        return False
    digits = [int(c) for c in value if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 == 1 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _bad_ip(ip: str | None) -> bool:
    if ip is None or _IPV4.fullmatch(ip):  # the regex is the fast path; v6 below
        return False
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return True
    return False


def _mask(values: list[bool]) -> Mask:
    return np.fromiter(values, bool, len(values))


class _Verdicts:
    """Collects the rules' masks in order; ``failures`` gives each row its first broken
    rule. One stacked check for the whole batch, so a clean batch costs no per-rule work
    beyond computing its masks."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.masks: list[Mask] = []
        self.rules: list[tuple[str, str]] = []

    def rule(self, broken: Mask, reason: str, message: str) -> None:
        self.masks.append(broken)
        self.rules.append((reason, message))

    @property
    def failures(self) -> Failures:
        stack = np.vstack(self.masks)
        bad = np.flatnonzero(stack.any(axis=0))
        if not len(bad):
            return []
        first = stack[:, bad].argmax(axis=0)
        return [(int(i), ValidationError(*self.rules[r])) for i, r in zip(bad, first, strict=True)]


def validate(tx: TransactionColumns) -> Failures:
    """(row, error) for every row that cannot be scored as a card authorization."""
    n = len(tx)
    v = _Verdicts(n)
    if n == 0:
        return []
    for name in ID_FIELDS:
        flags = _columns.text_flags(getattr(tx, name), MAX_ID_LENGTH)
        v.rule((flags & _columns.EMPTY) > 0, "missing_id", f"{name} is empty")
        v.rule(
            (flags & _columns.TOO_LONG) > 0,
            "id_too_long",
            f"{name} is longer than {MAX_ID_LENGTH} characters",
        )
        v.rule(
            (flags & _columns.NOT_PRINTABLE) > 0, "bad_id", f"{name} contains control characters"
        )
    v.rule(
        _mask([c[:1] in _PAN_START and looks_like_pan(c) for c in tx.card_id]),
        "card_number_in_card_id",
        "card_id looks like a card number, not a token",
    )

    amount = tx.amount_minor
    v.rule(amount < 0, "negative_amount", "amount_minor is negative")
    v.rule(
        amount > MAX_AMOUNT_MINOR,
        "amount_out_of_range",
        f"amount_minor is above {MAX_AMOUNT_MINOR}",
    )
    codes = tx.codes
    v.rule(codes.currency < 0, "unknown_currency", "currency is not an active ISO 4217 code")
    v.rule(codes.mcc < 0, "bad_mcc", "merchant_category_code is not four digits")
    for name in ("merchant_country", "card_country"):
        v.rule(getattr(codes, name) < 0, "bad_country", f"{name} is not an ISO 3166-1 alpha-2 code")
    v.rule(
        codes.ip_country == MISSING,
        "bad_country",
        "ip_country is not an ISO 3166-1 alpha-2 code",
    )
    v.rule(
        (tx.event_time < MIN_EVENT_TIME_MS) | (tx.event_time >= MAX_EVENT_TIME_MS),
        "bad_event_time",
        "event_time is outside 2000-01-01..2100-01-01",
    )
    _optional(tx, v)
    return v.failures


def _optional(tx: TransactionColumns, v: _Verdicts) -> None:
    device = _columns.text_flags(tx.device_id, MAX_ID_LENGTH)
    v.rule(
        (device & (_columns.TOO_LONG | _columns.NOT_PRINTABLE)) > 0,
        "bad_device_id",
        "device_id is too long or contains control characters",
    )
    v.rule(
        _mask([_bad_ip(ip) for ip in tx.ip_address]),
        "bad_ip_address",
        "ip_address is not an IPv4 or IPv6 address",
    )
    v.rule(
        tx.has_latitude != tx.has_longitude,
        "bad_geo",
        "latitude and longitude must both be present or both absent",
    )
    lat, lon = tx.latitude, tx.longitude
    with np.errstate(invalid="ignore"):
        in_range = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    v.rule(
        tx.has_latitude & tx.has_longitude & ~in_range,
        "bad_geo",
        "latitude/longitude are not finite coordinates in range",
    )
