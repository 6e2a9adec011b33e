"""Business validation of decoded Transactions. Anything failing here is dead-lettered.

Error messages name the field and the rule, never the value: values may be card data.
"""

from __future__ import annotations

import ipaddress
import math
import re

from consumer.scoring.codec import Record
from consumer.scoring.errors import ValidationError
from consumer.scoring.reference import CURRENCY_EXPONENT

MAX_ID_LENGTH = 128
# 10^15 minor units: far above any card authorization, far below int64 overflow.
MAX_AMOUNT_MINOR = 10**15
# Event times outside [2000-01-01, 2100-01-01) are corrupt clocks or wrong units.
MIN_EVENT_TIME_MS = 946_684_800_000
MAX_EVENT_TIME_MS = 4_102_444_800_000

_ID_FIELDS = ("transaction_id", "card_id", "account_id", "merchant_id")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC = re.compile(r"[0-9]{4}")
_DIGITS = re.compile(r"[0-9 -]{13,23}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


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


def validate_transaction(tx: Record) -> None:
    """Raise ValidationError if ``tx`` cannot be scored as a card authorization."""
    for name in _ID_FIELDS:
        value = tx[name]
        if not value or value.isspace():
            raise ValidationError("missing_id", f"{name} is empty")
        if len(value) > MAX_ID_LENGTH:
            raise ValidationError(
                "id_too_long", f"{name} is longer than {MAX_ID_LENGTH} characters"
            )
        if not value.isprintable():
            raise ValidationError("bad_id", f"{name} contains control characters")
    if looks_like_pan(tx["card_id"]):
        raise ValidationError(
            "card_number_in_card_id", "card_id looks like a card number, not a token"
        )

    amount = tx["amount_minor"]
    if amount < 0:
        raise ValidationError("negative_amount", "amount_minor is negative")
    if amount > MAX_AMOUNT_MINOR:
        raise ValidationError("amount_out_of_range", f"amount_minor is above {MAX_AMOUNT_MINOR}")
    if tx["currency"] not in CURRENCY_EXPONENT:
        raise ValidationError("unknown_currency", "currency is not an active ISO 4217 code")

    if not _MCC.fullmatch(tx["merchant_category_code"]):
        raise ValidationError("bad_mcc", "merchant_category_code is not four digits")
    for name in ("merchant_country", "card_country"):
        if not _COUNTRY.fullmatch(tx[name]):
            raise ValidationError("bad_country", f"{name} is not an ISO 3166-1 alpha-2 code")
    if tx["ip_country"] is not None and not _COUNTRY.fullmatch(tx["ip_country"]):
        raise ValidationError("bad_country", "ip_country is not an ISO 3166-1 alpha-2 code")

    if not MIN_EVENT_TIME_MS <= tx["event_time"] < MAX_EVENT_TIME_MS:
        raise ValidationError("bad_event_time", "event_time is outside 2000-01-01..2100-01-01")

    _validate_optional(tx)


def _validate_optional(tx: Record) -> None:
    device = tx["device_id"]
    if device is not None and (len(device) > MAX_ID_LENGTH or not device.isprintable()):
        raise ValidationError(
            "bad_device_id", "device_id is too long or contains control characters"
        )
    ip = tx["ip_address"]
    if ip is not None and not _IPV4.fullmatch(ip):  # the regex is the fast path; v6 below
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValidationError(
                "bad_ip_address", "ip_address is not an IPv4 or IPv6 address"
            ) from None
    lat, lon = tx["latitude"], tx["longitude"]
    if (lat is None) != (lon is None):
        raise ValidationError(
            "bad_geo", "latitude and longitude must both be present or both absent"
        )
    if (
        lat is not None
        and lon is not None
        and not (
            math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180
        )
    ):
        raise ValidationError("bad_geo", "latitude/longitude are not finite coordinates in range")
