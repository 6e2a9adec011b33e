"""Static reference data: ISO 4217 currencies, country facts, merchant category groups.

Validation and features both read these tables, so a currency or country means the
same thing in training, streaming and batch scoring.
"""

from __future__ import annotations

# Active ISO 4217 alphabetic codes -> number of minor-unit digits.
CURRENCY_EXPONENT: dict[str, int] = {
    **dict.fromkeys(
        (
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN "
            "BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
            "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR "
            "KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN "
            "MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD "
            "SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD "
            "TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG"
        ).split(),
        2,
    ),
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}

# Reference USD value of one major unit, for the amount feature. Fixed on purpose:
# a model is trained against these numbers, so they change only with a new model.
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "CAD": 0.73,
    "AUD": 0.66,
    "JPY": 0.0067,
    "CHF": 1.13,
    "SEK": 0.095,
    "NOK": 0.093,
    "DKK": 0.145,
    "PLN": 0.25,
    "CZK": 0.043,
    "HUF": 0.0027,
    "RON": 0.22,
    "BRL": 0.18,
    "MXN": 0.055,
    "INR": 0.012,
    "CNY": 0.14,
    "HKD": 0.128,
    "SGD": 0.74,
    "KRW": 0.00073,
    "ZAR": 0.054,
    "NGN": 0.00065,
    "TRY": 0.029,
    "AED": 0.272,
    "SAR": 0.267,
    "BHD": 2.65,
    "KWD": 3.25,
    "NZD": 0.6,
    "ILS": 0.27,
    "THB": 0.028,
    "PHP": 0.018,
    "IDR": 0.000063,
    "VND": 0.000039,
    "UAH": 0.024,
    "RUB": 0.011,
}

# Country -> (representative UTC offset in hours, home currency). Countries outside
# this table are still valid ISO 3166 codes; their local-time features are missing.
COUNTRY_INFO: dict[str, tuple[float, str]] = {
    "US": (-5, "USD"),
    "CA": (-5, "CAD"),
    "MX": (-6, "MXN"),
    "BR": (-3, "BRL"),
    "GB": (0, "GBP"),
    "IE": (0, "EUR"),
    "DE": (1, "EUR"),
    "FR": (1, "EUR"),
    "ES": (1, "EUR"),
    "IT": (1, "EUR"),
    "NL": (1, "EUR"),
    "BE": (1, "EUR"),
    "CH": (1, "CHF"),
    "SE": (1, "SEK"),
    "NO": (1, "NOK"),
    "DK": (1, "DKK"),
    "PL": (1, "PLN"),
    "CZ": (1, "CZK"),
    "HU": (1, "HUF"),
    "RO": (2, "RON"),
    "UA": (2, "UAH"),
    "TR": (3, "TRY"),
    "RU": (3, "RUB"),
    "AE": (4, "AED"),
    "SA": (3, "SAR"),
    "IL": (2, "ILS"),
    "ZA": (2, "ZAR"),
    "NG": (1, "NGN"),
    "IN": (5.5, "INR"),
    "CN": (8, "CNY"),
    "HK": (8, "HKD"),
    "SG": (8, "SGD"),
    "TH": (7, "THB"),
    "PH": (8, "PHP"),
    "ID": (7, "IDR"),
    "VN": (7, "VND"),
    "JP": (9, "JPY"),
    "KR": (9, "KRW"),
    "AU": (10, "AUD"),
    "NZ": (12, "NZD"),
}

# Merchant category codes (ISO 18245) and a coarse risk group used as a feature.
# 0 everyday, 1 travel and services, 2 card-not-present digital goods, 3 high risk.
MCC_GROUP: dict[str, int] = {
    "5411": 0,
    "5412": 0,
    "5499": 0,
    "5812": 0,
    "5814": 0,
    "5541": 0,
    "5542": 0,
    "5912": 0,
    "5311": 0,
    "5651": 0,
    "5691": 0,
    "5200": 0,
    "5310": 0,
    "4111": 0,
    "4121": 0,
    "4900": 0,
    "8062": 0,
    "8011": 0,
    "5999": 0,
    "5399": 0,
    "3000": 1,
    "4511": 1,
    "7011": 1,
    "4722": 1,
    "7512": 1,
    "4112": 1,
    "5813": 1,
    "5815": 2,
    "5816": 2,
    "5817": 2,
    "5818": 2,
    "4816": 2,
    "5734": 2,
    "4899": 2,
    "7995": 3,
    "6051": 3,
    "4829": 3,
    "6011": 3,
    "5944": 3,
    "5732": 3,
    "5947": 3,
    "6012": 3,
    "5094": 3,
    "6540": 3,
}
UNKNOWN_MCC_GROUP = 4
