# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Strict Avro binary decoding of Transactions into columns, with no Python dict per
record (FraudScores are encoded by ``_score_encoder``).

Strict means a value is accepted only if it is the canonical encoding of a Transaction:
re-encoding what was decoded gives the same bytes. Enum and union indexes must be in
range (Avro's zigzag varint can carry -1, which indexing a Python list would read as
the last symbol), integers must use the shortest encoding and fit in 64 bits, strings
must be valid UTF-8 of a non-negative length within the value, nothing may follow the
record. Anything else is reported per record with a bounded reason; nothing raises.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.math cimport NAN
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint64_t
from libc.string cimport memcpy

import sys

import numpy as np

if sys.byteorder != "little":  # Avro doubles are little-endian; so is every supported host
    raise ImportError("consumer.scoring._avro needs a little-endian host")

# Reasons, in the order of the codes below (0 = decoded).
REASONS = (
    None,
    "truncated",
    "non_canonical",
    "bad_index",
    "invalid_utf8",
    "malformed",
    "trailing_bytes",
)
cdef enum:
    OK = 0
    TRUNCATED = 1
    NON_CANONICAL = 2
    BAD_INDEX = 3
    INVALID_UTF8 = 4
    MALFORMED = 5
    TRAILING = 6

FIELDS = (
    "transaction_id", "card_id", "account_id", "amount_minor", "currency", "merchant_id",
    "merchant_category_code", "merchant_country", "card_country", "channel", "entry_mode",
    "event_time", "device_id", "ip_address", "ip_country", "latitude", "longitude",
)
cdef int N_CHANNELS = 5
cdef int N_ENTRY_MODES = 7


cdef struct Reader:
    const unsigned char* p
    const unsigned char* end
    int err


cdef inline int64_t read_long(Reader* r) noexcept:
    cdef uint64_t acc = 0
    cdef int shift = 0
    cdef int n = 0
    cdef unsigned char b = 0
    while True:
        if r.p >= r.end:
            r.err = TRUNCATED
            return 0
        b = r.p[0]
        r.p += 1
        n += 1
        if n == 10 and b > 1:  # the tenth byte may carry one bit; more is no 64-bit long
            r.err = MALFORMED
            return 0
        acc |= (<uint64_t>(b & 0x7F)) << shift
        if not (b & 0x80):
            break
        shift += 7
    if n > 1 and b == 0:  # a trailing zero group: not the shortest encoding
        r.err = NON_CANONICAL
        return 0
    return <int64_t>((acc >> 1) ^ (<uint64_t>0 - (acc & 1)))


cdef inline object read_string(Reader* r):
    cdef int64_t n = read_long(r)
    if r.err:
        return None
    if n < 0:
        r.err = MALFORMED
        return None
    if n > r.end - r.p:
        r.err = TRUNCATED
        return None
    cdef const char* start = <const char*>r.p
    r.p += n
    try:
        return PyUnicode_DecodeUTF8(start, n, NULL)
    except UnicodeDecodeError:
        r.err = INVALID_UTF8
        return None


cdef inline double read_double(Reader* r) noexcept:
    cdef double d = 0.0
    if r.end - r.p < 8:
        r.err = TRUNCATED
        return 0.0
    memcpy(&d, r.p, 8)
    r.p += 8
    return d


cdef inline int read_enum(Reader* r, int n_symbols) noexcept:
    cdef int64_t i = read_long(r)
    if r.err:
        return 0
    if i < 0 or i >= n_symbols:
        r.err = BAD_INDEX
        return 0
    return <int>i


cdef inline int read_union(Reader* r) noexcept:
    """["null", X]: 0 for null, 1 for X."""
    return read_enum(r, 2)


cdef class _Columns:
    """What decoding appends to: Python lists for strings, typed buffers for numbers."""
    cdef public list transaction_id, card_id, account_id, currency, merchant_id
    cdef public list merchant_category_code, merchant_country, card_country
    cdef public list device_id, ip_address, ip_country
    cdef int64_t[::1] amount_minor, event_time
    cdef int8_t[::1] channel, entry_mode, has_geo_lat, has_geo_lon
    cdef double[::1] latitude, longitude
    cdef public object np_amount, np_event_time, np_channel, np_entry_mode
    cdef public object np_lat, np_lon, np_has_lat, np_has_lon
    cdef Py_ssize_t k

    def __init__(self, Py_ssize_t capacity):
        for name in ("transaction_id", "card_id", "account_id", "currency", "merchant_id",
                     "merchant_category_code", "merchant_country", "card_country",
                     "device_id", "ip_address", "ip_country"):
            setattr(self, name, [])
        self.np_amount = np.empty(capacity, np.int64)
        self.np_event_time = np.empty(capacity, np.int64)
        self.np_channel = np.empty(capacity, np.int8)
        self.np_entry_mode = np.empty(capacity, np.int8)
        self.np_lat = np.empty(capacity, np.float64)
        self.np_lon = np.empty(capacity, np.float64)
        self.np_has_lat = np.empty(capacity, np.int8)
        self.np_has_lon = np.empty(capacity, np.int8)
        self.amount_minor = self.np_amount
        self.event_time = self.np_event_time
        self.channel = self.np_channel
        self.entry_mode = self.np_entry_mode
        self.latitude = self.np_lat
        self.longitude = self.np_lon
        self.has_geo_lat = self.np_has_lat
        self.has_geo_lon = self.np_has_lon
        self.k = 0

    def result(self):
        k = self.k
        return {
            "transaction_id": self.transaction_id,
            "card_id": self.card_id,
            "account_id": self.account_id,
            "amount_minor": self.np_amount[:k],
            "currency": self.currency,
            "merchant_id": self.merchant_id,
            "merchant_category_code": self.merchant_category_code,
            "merchant_country": self.merchant_country,
            "card_country": self.card_country,
            "channel": self.np_channel[:k],
            "entry_mode": self.np_entry_mode[:k],
            "event_time": self.np_event_time[:k],
            "device_id": self.device_id,
            "ip_address": self.ip_address,
            "ip_country": self.ip_country,
            "latitude": self.np_lat[:k],
            "longitude": self.np_lon[:k],
            "has_latitude": self.np_has_lat[:k].astype(bool),
            "has_longitude": self.np_has_lon[:k].astype(bool),
        }


cdef int decode_one(Reader* r, _Columns out):
    """Decode one Transaction at r.p; append it to ``out`` only if all of it is valid."""
    tid = read_string(r)
    if r.err: return 0
    card = read_string(r)
    if r.err: return 1
    account = read_string(r)
    if r.err: return 2
    cdef int64_t amount = read_long(r)
    if r.err: return 3
    currency = read_string(r)
    if r.err: return 4
    merchant = read_string(r)
    if r.err: return 5
    mcc = read_string(r)
    if r.err: return 6
    mcountry = read_string(r)
    if r.err: return 7
    ccountry = read_string(r)
    if r.err: return 8
    cdef int channel = read_enum(r, N_CHANNELS)
    if r.err: return 9
    cdef int entry = read_enum(r, N_ENTRY_MODES)
    if r.err: return 10
    cdef int64_t event_time = read_long(r)
    if r.err: return 11
    device = None
    if read_union(r):
        device = read_string(r)
    if r.err: return 12
    ip = None
    if read_union(r):
        ip = read_string(r)
    if r.err: return 13
    ipc = None
    if read_union(r):
        ipc = read_string(r)
    if r.err: return 14
    cdef double lat = 0.0, lon = 0.0
    cdef int has_lat = read_union(r)
    if r.err: return 15
    if has_lat:
        lat = read_double(r)
        if r.err: return 15
    cdef int has_lon = read_union(r)
    if r.err: return 16
    if has_lon:
        lon = read_double(r)
        if r.err: return 16
    cdef Py_ssize_t k = out.k
    out.transaction_id.append(tid)
    out.card_id.append(card)
    out.account_id.append(account)
    out.amount_minor[k] = amount
    out.currency.append(currency)
    out.merchant_id.append(merchant)
    out.merchant_category_code.append(mcc)
    out.merchant_country.append(mcountry)
    out.card_country.append(ccountry)
    out.channel[k] = <int8_t>channel
    out.entry_mode[k] = <int8_t>entry
    out.event_time[k] = event_time
    out.device_id.append(device)
    out.ip_address.append(ip)
    out.ip_country.append(ipc)
    out.latitude[k] = lat if has_lat else NAN
    out.longitude[k] = lon if has_lon else NAN
    out.has_geo_lat[k] = has_lat
    out.has_geo_lon[k] = has_lon
    out.k = k + 1
    return -1


def decode_values(list values, Py_ssize_t skip=0):
    """Decode each value (bytes, or None for a tombstone) as one Transaction, after
    ``skip`` leading bytes (a wire-format header the caller has checked).

    Returns (columns, ok, failures): the decoded rows as columns, the input positions of
    those rows (int64 array), and (position, reason, field) for each value that failed;
    reason is one of REASONS, field the name of the field it failed in (or None).
    """
    cdef Py_ssize_t n = len(values)
    cdef _Columns out = _Columns(n)
    ok = np.empty(n, np.int64)
    cdef int64_t[::1] ok_v = ok
    cdef Py_ssize_t i, k = 0
    cdef Reader r
    cdef int field
    cdef bytes value
    cdef Py_ssize_t size
    failures = []
    for i in range(n):
        if values[i] is None:
            failures.append((i, "tombstone", None))
            continue
        value = values[i]
        size = PyBytes_GET_SIZE(value)
        if size == 0:
            failures.append((i, "empty_value", None))
            continue
        if size < skip:
            failures.append((i, "truncated", None))
            continue
        r.p = <const unsigned char*>PyBytes_AS_STRING(value) + skip
        r.end = <const unsigned char*>PyBytes_AS_STRING(value) + size
        r.err = OK
        field = decode_one(&r, out)
        if field >= 0:
            failures.append((i, REASONS[r.err], FIELDS[field]))
            continue
        if r.p != r.end:
            # The record decoded: undo the append so columns hold whole records only.
            _pop_last(out)
            failures.append((i, "trailing_bytes", None))
            continue
        ok_v[k] = i
        k += 1
    return out.result(), ok[:k], failures


def decode_block(bytes block, Py_ssize_t count):
    """Decode ``count`` Transactions written back to back (an Avro container block).

    Returns (columns, ok, failures, spans, intact): as decode_values, with positions
    counted within the block, each record's (start, end) byte span in the block, and
    whether the whole block could be read. A bad enum index or a string that is not
    UTF-8 spoils one record and decoding goes on; anything that loses the framing (a
    truncated or overlong value, a bad union index, a long that is not the shortest
    encoding) stops it, and the caller treats the file as corrupt.
    """
    cdef _Columns out = _Columns(count)
    ok = np.empty(count, np.int64)
    cdef int64_t[::1] ok_v = ok
    spans = np.empty((count, 2), np.int64)
    cdef int64_t[:, ::1] spans_v = spans
    cdef Reader r
    r.p = <const unsigned char*>PyBytes_AS_STRING(block)
    r.end = r.p + PyBytes_GET_SIZE(block)
    cdef const unsigned char* base = r.p
    cdef Py_ssize_t i, k = 0
    cdef int field
    failures = []
    for i in range(count):
        spans_v[i, 0] = r.p - base
        r.err = OK
        field = decode_one(&r, out)
        if field >= 0:
            failures.append((i, REASONS[r.err], FIELDS[field]))
            recoverable = r.err == INVALID_UTF8 or (r.err == BAD_INDEX and field in (9, 10))
            if not recoverable or _skip_rest(&r, field):
                spans_v[i, 1] = r.p - base
                return out.result(), ok[:k], failures, spans[: i + 1], False
        spans_v[i, 1] = r.p - base
        if field < 0:
            ok_v[k] = i
            k += 1
    return out.result(), ok[:k], failures, spans, r.p == r.end


cdef inline void _skip_string(Reader* r) noexcept:
    cdef int64_t n = read_long(r)
    if r.err:
        return
    if n < 0 or n > r.end - r.p:
        r.err = TRUNCATED
        return
    r.p += n


cdef int _skip_rest(Reader* r, int failed_field) noexcept:
    """Read past the fields after ``failed_field`` (whose bytes were consumed), keeping
    nothing. 0 if the record's end was found, 1 if the framing is lost."""
    cdef int f
    cdef int64_t branch
    r.err = OK
    for f in range(failed_field + 1, 17):
        if f == 3 or f == 9 or f == 10 or f == 11:
            read_long(r)
        elif f <= 8:
            _skip_string(r)
        else:
            branch = read_long(r)
            if not r.err and branch == 1:
                if f <= 14:
                    _skip_string(r)
                else:
                    read_double(r)
            elif not r.err and branch != 0:
                r.err = BAD_INDEX
        if r.err:
            return 1
    return 0


cdef void _pop_last(_Columns out):
    for col in (out.transaction_id, out.card_id, out.account_id, out.currency,
                out.merchant_id, out.merchant_category_code, out.merchant_country,
                out.card_country, out.device_id, out.ip_address, out.ip_country):
        col.pop()
    out.k -= 1
