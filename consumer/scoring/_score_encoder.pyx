# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""FraudScores encoded from columns as plain Avro binary, byte for byte what fastavro
writes, with no Python dict per record."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint64_t
from libc.string cimport memcpy

import sys

import numpy as np

if sys.byteorder != "little":  # Avro doubles are little-endian; so is every supported host
    raise ImportError("consumer.scoring._score_encoder needs a little-endian host")


cdef inline Py_ssize_t long_size(int64_t v) noexcept:
    cdef uint64_t z = (<uint64_t>v << 1) ^ <uint64_t>(v >> 63)
    cdef Py_ssize_t n = 1
    while z >= 0x80:
        z >>= 7
        n += 1
    return n


cdef inline char* write_long(char* p, int64_t v) noexcept:
    cdef uint64_t z = (<uint64_t>v << 1) ^ <uint64_t>(v >> 63)
    while z >= 0x80:
        p[0] = <char>((z & 0x7F) | 0x80)
        p += 1
        z >>= 7
    p[0] = <char>z
    return p + 1


cdef inline char* write_bytes(char* p, const char* data, Py_ssize_t n) noexcept:
    p = write_long(p, n)
    memcpy(p, data, n)
    return p + n


def encode_scores(
    list transaction_ids,
    const double[::1] scores,
    const int8_t[::1] decisions,
    const int16_t[:, ::1] reasons,
    list reason_names,
    str model_name,
    str model_version,
    const int64_t[::1] event_time,
    const int64_t[::1] scored_at,
    list topics,
    const int32_t[::1] partitions,
    const int64_t[::1] offsets,
    bytes prefix=b"",
):
    """Encode FraudScores, one bytes value per row. ``reasons`` holds feature indexes into
    ``reason_names``, -1 past the last; ``prefix`` goes before each value (the Schema
    Registry's magic byte and schema id, or nothing)."""
    cdef Py_ssize_t n = scores.shape[0]
    cdef Py_ssize_t k_max = reasons.shape[1]
    cdef Py_ssize_t i, j, size, name_len, ver_len, tid_len, topic_len, pre_len
    cdef const char* tid
    cdef const char* topic
    cdef const char* name = PyUnicode_AsUTF8AndSize(model_name, &name_len)
    cdef const char* ver = PyUnicode_AsUTF8AndSize(model_version, &ver_len)
    cdef const char* pre = PyBytes_AS_STRING(prefix)
    pre_len = PyBytes_GET_SIZE(prefix)
    cdef int n_reasons
    cdef int16_t r
    cdef char* p
    encoded_names = [name_.encode() for name_ in reason_names]
    cdef list names = encoded_names
    out = [None] * n
    for i in range(n):
        tid = PyUnicode_AsUTF8AndSize(transaction_ids[i], &tid_len)
        topic = PyUnicode_AsUTF8AndSize(topics[i], &topic_len)
        n_reasons = 0
        size = pre_len + long_size(tid_len) + tid_len + 8 + 1
        for j in range(k_max):
            r = reasons[i, j]
            if r < 0:
                break
            n_reasons += 1
            size += long_size(PyBytes_GET_SIZE(names[r])) + PyBytes_GET_SIZE(names[r])
        if n_reasons:
            size += long_size(n_reasons) + 1
        else:
            size += 1
        size += long_size(name_len) + name_len + long_size(ver_len) + ver_len
        size += long_size(event_time[i]) + long_size(scored_at[i])
        size += long_size(topic_len) + topic_len + long_size(partitions[i]) + long_size(offsets[i])
        value = PyBytes_FromStringAndSize(NULL, size)
        p = PyBytes_AS_STRING(value)
        memcpy(p, pre, pre_len)
        p += pre_len
        p = write_bytes(p, tid, tid_len)
        memcpy(p, &scores[i], 8)
        p += 8
        p = write_long(p, decisions[i])
        if n_reasons:
            p = write_long(p, n_reasons)
            for j in range(n_reasons):
                name_bytes = names[reasons[i, j]]
                p = write_bytes(p, PyBytes_AS_STRING(name_bytes), PyBytes_GET_SIZE(name_bytes))
        p = write_long(p, 0)
        p = write_bytes(p, name, name_len)
        p = write_bytes(p, ver, ver_len)
        p = write_long(p, event_time[i])
        p = write_long(p, scored_at[i])
        p = write_bytes(p, topic, topic_len)
        p = write_long(p, partitions[i])
        p = write_long(p, offsets[i])
        out[i] = value
    return out
