# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per-value work of the columnar core that numpy cannot do exactly or fast enough."""

from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport log1p as c_log1p
from libc.stdint cimport uint8_t

import numpy as np

EMPTY = 1  # empty or whitespace only (str.isspace)
TOO_LONG = 2  # more characters than the limit
NOT_PRINTABLE = 4  # a character str.isprintable() rejects
MISSING = 8  # None


def log1p(const double[::1] x):
    """log1p of each value with the C library's log1p: what math.log1p computes, bit for
    bit (numpy's SIMD log1p rounds differently in the last place on some CPUs)."""
    cdef Py_ssize_t i, n = x.shape[0]
    out = np.empty(n, np.float64)
    cdef double[::1] o = out
    for i in range(n):
        # CPython returns a zero argument as is (keeps the sign of -0.0); so do we.
        o[i] = x[i] if x[i] == 0.0 else c_log1p(x[i])
    return out


cdef inline bint _ascii_space(unsigned char c) noexcept:
    # str.isspace() on ASCII: \t \n \v \f \r, \x1c-\x1f and the space
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


def text_flags(list values, Py_ssize_t max_chars):
    """Flags per value (a str, or None): EMPTY, TOO_LONG, NOT_PRINTABLE, MISSING."""
    cdef Py_ssize_t i, j, n = len(values), size
    cdef const char* data
    cdef unsigned char c
    cdef uint8_t flag
    cdef bint all_space, printable
    out = np.zeros(n, np.uint8)
    cdef uint8_t[::1] o = out
    for i in range(n):
        value = values[i]
        if value is None:
            o[i] = MISSING
            continue
        flag = 0
        if value.isascii():
            data = PyUnicode_AsUTF8AndSize(value, &size)
            all_space = True
            printable = True
            for j in range(size):
                c = <unsigned char>data[j]
                if not _ascii_space(c):
                    all_space = False
                if c < 32 or c == 127:
                    printable = False
            if all_space:
                flag |= EMPTY
            if not printable:
                flag |= NOT_PRINTABLE
        else:
            size = len(value)
            if value.isspace():
                flag |= EMPTY
            if not value.isprintable():
                flag |= NOT_PRINTABLE
        if size > max_chars:
            flag |= TOO_LONG
        o[i] = flag
    return out


def codes(list values, dict table, int missing=-1, int none=-2):
    """table[value] per value (an int), ``missing`` where the value is not in the table,
    ``none`` where it is None: dictionary-encodes a column in one pass."""
    cdef Py_ssize_t i, n = len(values)
    out = np.empty(n, np.int32)
    cdef int[::1] o = out
    for i in range(n):
        value = values[i]
        if value is None:
            o[i] = none
        else:
            code = table.get(value)
            o[i] = missing if code is None else <int>code
    return out


def present(list values):
    """True per value that is not None."""
    cdef Py_ssize_t i, n = len(values)
    out = np.empty(n, np.bool_)
    cdef uint8_t[::1] o = out.view(np.uint8)
    for i in range(n):
        o[i] = values[i] is not None
    return out
