"""Yesterday's per-row scoring path, kept as the test oracle of the columnar core.

One dict per event (decoded by fastavro), one validation call, one feature tuple per row,
LightGBM's own TreeSHAP (``pred_contrib``) for reason codes, one fastavro encode per
score: what the scorer did before the core went columnar. The parity tests require the
core's scores, decisions, reason codes, dead-letter reasons and output bytes to equal
this, bit for bit.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any

import numpy as np

from consumer.scoring.codec import CHANNELS, ENTRY_MODES, PlainAvroCodec, Record
from consumer.scoring.errors import DecodeError, RecordError, ValidationError
from consumer.scoring.models import FraudModel
from consumer.scoring.reference import (
    COUNTRY_INFO,
    CURRENCY_EXPONENT,
    MCC_GROUP,
    UNKNOWN_MCC_GROUP,
    USD_PER_UNIT,
)

MAX_ID_LENGTH = 128
MAX_AMOUNT_MINOR = 10**15
MIN_EVENT_TIME_MS = 946_684_800_000
MAX_EVENT_TIME_MS = 4_102_444_800_000
_ID_FIELDS = ("transaction_id", "card_id", "account_id", "merchant_id")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC = re.compile(r"[0-9]{4}")
_DIGITS = re.compile(r"[0-9 -]{13,23}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_CHANNEL_INDEX = {name: float(i) for i, name in enumerate(CHANNELS)}
_ENTRY_INDEX = {name: float(i) for i, name in enumerate(ENTRY_MODES)}
NAN = math.nan


def looks_like_pan(value: str) -> bool:
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
    device = tx["device_id"]
    if device is not None and (len(device) > MAX_ID_LENGTH or not device.isprintable()):
        raise ValidationError(
            "bad_device_id", "device_id is too long or contains control characters"
        )
    ip = tx["ip_address"]
    if ip is not None and not _IPV4.fullmatch(ip):
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


def feature_row(tx: Record) -> tuple[float, ...]:
    currency = tx["currency"]
    major = tx["amount_minor"] / 10 ** CURRENCY_EXPONENT[currency]
    rate = USD_PER_UNIT.get(currency)
    card_country = tx["card_country"]
    info = COUNTRY_INFO.get(card_country)
    ip_country = tx["ip_country"]
    mcc = tx["merchant_category_code"]
    if info is None:
        hour_local = dow_local = currency_foreign = NAN
    else:
        local_ms = tx["event_time"] + int(info[0] * _HOUR_MS)
        hour_local = (local_ms % _DAY_MS) / _HOUR_MS
        dow_local = float((local_ms // _DAY_MS + 3) % 7)
        currency_foreign = float(currency != info[1])
    return (
        math.log1p(major),
        NAN if rate is None else math.log1p(major * rate),
        float(mcc),
        float(MCC_GROUP.get(mcc, UNKNOWN_MCC_GROUP)),
        _CHANNEL_INDEX[tx["channel"]],
        _ENTRY_INDEX[tx["entry_mode"]],
        float(tx["merchant_country"] != card_country),
        currency_foreign,
        NAN if ip_country is None else float(ip_country != card_country),
        float(tx["device_id"] is not None),
        float(tx["ip_address"] is not None),
        float(tx["latitude"] is not None),
        hour_local,
        dow_local,
    )


def feature_matrix(txs: list[Record]) -> np.ndarray[Any, np.dtype[np.float64]]:
    if not txs:
        return np.empty((0, 14))
    return np.array([feature_row(t) for t in txs], dtype=np.float64)


def shap_reason_codes(
    model: FraudModel, features: np.ndarray[Any, Any], top: int
) -> list[list[str]]:
    """LightGBM's TreeSHAP: the top positive contributions, largest first."""
    contrib = np.asarray(model.booster.predict(features, pred_contrib=True), dtype=np.float64)
    names = model.card.feature_names
    out = []
    for row in contrib[:, : len(names)]:
        order = np.argsort(-row, kind="stable")[:top]
        out.append([names[i] for i in order if row[i] > 0])
    return out


def score_values(
    values: list[bytes | None], model: FraudModel, reason_codes: int = 3
) -> list[tuple[str, Any]]:
    """Per value: ("dead", (stage, reason)) or ("scored", (record, score, decision, reasons))."""
    codec = PlainAvroCodec()
    out: list[tuple[str, Any]] = []
    ok: list[tuple[int, Record]] = []
    for i, value in enumerate(values):
        try:
            tx = codec.decode_transaction(value)
            validate_transaction(tx)
        except RecordError as exc:
            out.append(("dead", (exc.stage, exc.reason)))
            continue
        except Exception:  # fastavro may fail in ways the old codec mapped to "malformed"
            out.append(("dead", ("decode", "malformed")))
            continue
        out.append(("pending", None))
        ok.append((i, tx))
    if ok:
        features = feature_matrix([tx for _, tx in ok])
        scores = model.predict(features)
        t = model.card.thresholds
        decisions = [
            "DECLINE" if s >= t.decline else "REVIEW" if s >= t.review else "APPROVE"
            for s in scores
        ]
        flagged = [j for j, d in enumerate(decisions) if d != "APPROVE"]
        reasons: list[list[str]] = [[] for _ in ok]
        if flagged and reason_codes:
            for j, codes in zip(
                flagged, shap_reason_codes(model, features[flagged], reason_codes), strict=True
            ):
                reasons[j] = codes
        for j, (i, tx) in enumerate(ok):
            out[i] = ("scored", (tx, float(scores[j]), decisions[j], reasons[j]))
    return out


__all__ = ["DecodeError", "feature_matrix", "score_values", "validate_transaction"]
