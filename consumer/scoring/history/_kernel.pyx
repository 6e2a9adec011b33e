# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The card history kernel: ``definition.py`` in C.

Events of different slots are independent, so the kernel takes one slot at a time (its
events in input order): the slot's state is copied once into the bytes object that will
be its new state (made with room for every event of the slot, cut to size at the end),
and stays in cache while its events run. The event loop runs without the GIL and makes
no Python object.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport NAN, isnan
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memmove


cdef extern from "Python.h":
    # Shrinks a bytes object nothing else refers to yet (what CPython's own codecs do).
    int _PyBytes_Resize(PyObject** value, Py_ssize_t size) except -1

import sys

import numpy as np

from consumer.scoring.history.definition import (
    CAP as _CAP,
    ENTRY_BYTES,
    FNV_OFFSET as _FNV_OFFSET,
    FNV_PRIME as _FNV_PRIME,
    HISTORY_FEATURE_NAMES,
    WINDOWS_MS,
)
from consumer.scoring.history.state import check_length


cdef struct Entry:
    int64_t time
    double amount
    uint64_t merchant
    uint64_t country
    uint64_t device
    uint64_t txid


cdef enum:
    NF = 15  # features per event


if sizeof(Entry) != ENTRY_BYTES or sys.byteorder != "little" or len(HISTORY_FEATURE_NAMES) != NF:
    raise ImportError("the card history kernel needs a little-endian machine and 48-byte entries")

cdef uint64_t W_1H = WINDOWS_MS[0]
cdef uint64_t W_24H = WINDOWS_MS[1]
cdef uint64_t W_7D = WINDOWS_MS[2]
cdef Py_ssize_t CAP = _CAP
cdef uint64_t FNV_OFFSET = _FNV_OFFSET
cdef uint64_t FNV_PRIME = _FNV_PRIME


def hash_strings(list values):
    """FNV-1a 64 of each value's UTF-8 bytes (surrogatepass), 0 mapped to 1; None -> 0."""
    cdef Py_ssize_t i, j, n = len(values), size
    cdef const char* data
    cdef uint64_t h
    out = np.empty(n, np.uint64)
    cdef uint64_t[::1] o = out
    for i in range(n):
        value = values[i]
        if value is None:
            o[i] = 0
            continue
        if not isinstance(value, str):
            raise TypeError(f"hash_strings: item {i} is {type(value).__name__}, not str")
        try:
            data = PyUnicode_AsUTF8AndSize(value, &size)
        except UnicodeEncodeError:  # lone surrogates
            raw = (<str>value).encode("utf-8", "surrogatepass")
            data = raw
            size = len(raw)
        h = FNV_OFFSET
        for j in range(size):
            h = (h ^ <uint8_t>data[j]) * FNV_PRIME
        o[i] = h if h != 0 else 1
    return out


cdef double _median(double* v, Py_ssize_t n) noexcept nogil:
    """The median of n > 0 non-NaN values (reorders them). Quickselect with a branch-free
    Lomuto partition puts the upper middle value at n // 2 with no larger value before it;
    for an even count the lower middle one is the largest value before it. (Which of 0.0
    and -0.0 lands where cannot change the result: a zero median gives NaN, and
    x + 0.0 == x + -0.0 for any other x.)"""
    cdef Py_ssize_t k = n // 2, lo = 0, hi = n - 1, i, store
    cdef double pivot, x, below
    while lo < hi:
        i = lo + (hi - lo) // 2  # the pivot, moved to hi
        pivot = v[i]
        v[i] = v[hi]
        v[hi] = pivot
        store = lo  # v[lo:store] < pivot <= v[store:i]
        for i in range(lo, hi):
            x = v[i]
            v[i] = v[store]
            v[store] = x
            store += x < pivot
        v[hi] = v[store]
        v[store] = pivot
        if store == k:
            break
        if store < k:
            lo = store + 1
        else:
            hi = store - 1
    if n % 2:
        return v[k]
    below = v[0]
    for i in range(1, k):
        below = v[i] if v[i] > below else below
    return (below + v[k]) * 0.5


cdef struct Cell:
    uint64_t key
    uint64_t tag  # use * 4 + the smallest level the key has in this use


cdef struct Seen:
    Cell* cells  # open addressing, a power of two at least twice the widest window
    uint64_t use  # one number per count, so that the cells are never cleared


cdef void _distinct(Seen* seen, const uint64_t* values, const uint8_t* level, Py_ssize_t n,
                    double* out) noexcept nogil:
    """out[w] = the number of distinct values among those with level <= w (w = 0, 1, 2):
    each distinct value counts for every window from the smallest level it has."""
    cdef int bits = 4
    cdef Py_ssize_t k
    cdef uint64_t x, h, mask, use
    cdef uint8_t lk, low
    cdef int64_t count[3]
    cdef Cell* c
    while (<Py_ssize_t>1 << bits) < 2 * n:
        bits += 1
    mask = (<uint64_t>1 << bits) - 1
    seen.use += 1
    use = seen.use
    count[0] = count[1] = count[2] = 0
    for k in range(n):
        x = values[k]
        lk = level[k]
        h = (x * <uint64_t>0x9E3779B97F4A7C15) >> (64 - bits)
        while True:
            c = &seen.cells[h]
            if c.tag >> 2 != use:  # a value not seen yet in this use
                c.key = x
                c.tag = use << 2 | lk
                count[lk] += 1
                break
            if c.key == x:
                low = c.tag & 3
                if lk < low:
                    count[low] -= 1
                    count[lk] += 1
                    c.tag = use << 2 | lk
                break
            h = (h + 1) & mask
    out[0] = <double>count[0]
    out[1] = <double>(count[0] + count[1])
    out[2] = <double>(count[0] + count[1] + count[2])


cdef void _event(Entry* e, Py_ssize_t size, const Entry* cur, double* f, Seen* seen,
                 uint64_t* wm, uint64_t* wc, uint8_t* wl, double* wa, bint* dup,
                 int64_t* newest) noexcept nogil:
    """The features of event ``cur`` against the ``size`` entries at ``e``; sets ``dup``
    (its txid is retained) and ``newest`` (the largest retained time, and cur's)."""
    cdef Py_ssize_t k, nw = 0, na = 0
    cdef int64_t t = cur.time, top = cur.time, prev = 0, tk
    cdef uint64_t x = cur.txid, age
    cdef bint has_prev = False, seen_device = False, seen_country = False
    cdef uint8_t lv
    cdef int64_t c0 = 0, c1 = 0, c2 = 0
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, a, med
    cdef double countries[3]
    dup[0] = False
    for k in range(size):
        tk = e[k].time
        if tk > top:
            top = tk
        if e[k].txid == x:
            dup[0] = True
            continue
        if tk > t:
            continue
        if not has_prev or tk > prev:
            prev = tk
        has_prev = True
        age = <uint64_t>t - <uint64_t>tk  # exact: tk <= t
        if age >= W_7D:
            continue
        lv = (age >= W_1H) + (age >= W_24H)
        c2 += 1
        c1 += lv <= 1
        c0 += lv == 0
        a = e[k].amount
        if a == a:  # not NaN (skipped where it is)
            s2 += a
            wa[na] = a
            na += 1
            if lv <= 1:
                s1 += a
                if lv == 0:
                    s0 += a
        seen_device |= e[k].device == cur.device
        seen_country |= e[k].country == cur.country
        wm[nw] = e[k].merchant
        wc[nw] = e[k].country
        wl[nw] = lv
        nw += 1
    newest[0] = top
    f[0] = <double>c0
    f[1] = <double>c1
    f[2] = <double>c2
    f[3] = s0
    f[4] = s1
    f[5] = s2
    _distinct(seen, wm, wl, nw, f + 6)  # merchants 1h, 24h, 7d
    _distinct(seen, wc, wl, nw, countries)  # countries (1h,) 24h, 7d
    f[9] = countries[1]
    f[10] = countries[2]
    f[11] = <double>(<uint64_t>t - <uint64_t>prev) / 1000.0 if has_prev else NAN
    f[12] = NAN if cur.device == 0 or c2 == 0 else (0.0 if seen_device else 1.0)
    f[13] = NAN if c2 == 0 else (0.0 if seen_country else 1.0)
    f[14] = NAN
    if not isnan(cur.amount) and na > 0:
        med = _median(wa, na)
        if med != 0.0:
            f[14] = cur.amount / med


cdef Py_ssize_t _apply(Entry* e, Py_ssize_t* start, Py_ssize_t size, const Entry* cur,
                       int64_t newest) noexcept nogil:
    """Append ``cur`` to the state at e + start[0], drop entries 7 d older than ``newest``
    and then the oldest past the cap; returns the new size (start may move on)."""
    cdef Entry* s = e + start[0]
    cdef Py_ssize_t k, kept = 0
    s[size] = cur[0]
    size += 1
    for k in range(size):
        if <uint64_t>newest - <uint64_t>s[k].time < W_7D:  # exact: s[k].time <= newest
            if kept != k:
                s[kept] = s[k]
            kept += 1
    if kept > CAP:
        start[0] += kept - CAP
        kept = CAP
    return kept


def card_history(const int64_t[::1] slots, const int64_t[::1] times, const double[::1] amounts,
                 const uint64_t[::1] merchants, const uint64_t[::1] countries,
                 const uint64_t[::1] devices, const uint64_t[::1] txids, list states):
    """The history features of each event (float64[n, 15]) and the new state of every slot
    (the same bytes object where no event touched it)."""
    cdef Py_ssize_t n = slots.shape[0], m = len(states), i, p, s, size, widest = 1, cells = 16
    for size in (times.shape[0], amounts.shape[0], merchants.shape[0], countries.shape[0],
                 devices.shape[0], txids.shape[0]):
        if size != n:
            raise ValueError(f"card_history: columns of {n} and {size} events")
    features = np.empty((n, NF), np.float64)
    if n == 0:
        return features, list(states)
    held = tuple(states)  # keeps every blob alive while the GIL is released
    cdef double[:, ::1] out = features
    first_array = np.zeros(m + 1, np.intp)  # slot s's events are order[first[s]:first[s + 1]]
    order_array = np.empty(n, np.intp)  # event indices, by slot, in input order
    length_array = np.zeros(m, np.intp)  # entries in slot s's state
    room_array = np.zeros(m, np.intp)  # entries its new state has room for
    cdef Py_ssize_t[::1] first = first_array, order = order_array, length = length_array
    cdef Py_ssize_t[::1] room = room_array
    for i in range(n):
        s = slots[i]
        if s < 0 or s >= m:
            raise ValueError(f"card_history: event {i} has slot {s}, not in [0, {m})")
        first[s + 1] += 1
    for s in range(m):
        if first[s + 1]:
            blob = held[s]
            if not PyBytes_Check(blob):
                raise TypeError(f"card_history: the state of slot {s} is {type(blob).__name__}, not bytes")
            size = PyBytes_GET_SIZE(blob)
            if size % sizeof(Entry):
                check_length(size, f"the state of slot {s}")  # raises CardStateError
            length[s] = size // <Py_ssize_t>sizeof(Entry)
            room[s] = length[s] + first[s + 1]
            widest = max(widest, room[s])
        first[s + 1] += first[s]
    for i in range(n):  # a counting sort: order by slot, stable
        s = slots[i]
        order[first[s]] = i
        first[s] += 1
    for s in range(m, 0, -1):
        first[s] = first[s - 1]
    first[0] = 0
    while cells < 2 * widest:
        cells *= 2
    cdef PyObject** made = <PyObject**>calloc(m, sizeof(PyObject*))  # new states, owned
    cdef const char** source = <const char**>calloc(m, sizeof(char*))
    cdef char** target = <char**>calloc(m, sizeof(char*))
    cdef uint64_t* wm = <uint64_t*>malloc(widest * sizeof(uint64_t))
    cdef uint64_t* wc = <uint64_t*>malloc(widest * sizeof(uint64_t))
    cdef uint8_t* wl = <uint8_t*>malloc(widest * sizeof(uint8_t))
    cdef double* wa = <double*>malloc(widest * sizeof(double))
    cdef Seen seen
    seen.cells = <Cell*>calloc(cells, sizeof(Cell))
    seen.use = 0
    cdef Entry cur
    cdef Entry* e
    cdef bint dup
    cdef int64_t newest
    cdef Py_ssize_t start, count
    try:
        if not (made and source and target and wm and wc and wl and wa and seen.cells):
            raise MemoryError()
        for s in range(m):
            if first[s + 1] > first[s]:
                new = PyBytes_FromStringAndSize(NULL, room[s] * sizeof(Entry))
                Py_INCREF(new)
                made[s] = <PyObject*>new  # the one reference: _PyBytes_Resize needs that
                target[s] = PyBytes_AS_STRING(new)
                source[s] = PyBytes_AS_STRING(held[s])
        new = None
        with nogil:
            for s in range(m):
                if first[s + 1] == first[s]:
                    continue
                e = <Entry*>target[s]
                count = length[s]
                memcpy(e, source[s], count * sizeof(Entry))
                start = 0
                for p in range(first[s], first[s + 1]):
                    i = order[p]
                    cur.time = times[i]
                    cur.amount = amounts[i]
                    cur.merchant = merchants[i]
                    cur.country = countries[i]
                    cur.device = devices[i]
                    cur.txid = txids[i]
                    _event(e + start, count, &cur, &out[i, 0], &seen, wm, wc, wl, wa, &dup, &newest)
                    if not dup:
                        count = _apply(e, &start, count, &cur, newest)
                if start:
                    memmove(e, e + start, count * sizeof(Entry))
                length[s] = count
        new_states = list(held)
        for s in range(m):
            if made[s] != NULL:
                if length[s] != room[s]:
                    _PyBytes_Resize(&made[s], length[s] * sizeof(Entry))
                new_states[s] = <object>made[s]
        return features, new_states
    finally:
        if made:
            for s in range(m):
                Py_XDECREF(made[s])
        free(made)
        free(source)
        free(target)
        free(wm)
        free(wc)
        free(wl)
        free(wa)
        free(seen.cells)
