# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Path-dependent TreeSHAP from per-path tables (Fast TreeSHAP v2, Yang 2021).

The SHAP value a root-to-leaf path adds to feature i depends on the input only through
which of the path's d unique features the input agrees with (follows the path at every
split on that feature): a d-bit mask. So for each path and each of its 2^d masks the d
contributions are computed once, when the model loads; explaining a row is then one
decision per split node, one mask per path and d table reads per path, instead of
LightGBM's O(leaves x depth^2) polynomial work per tree.

For a path with leaf value v, unique features D (|D| = d), cover ratios z_j (the share
of training rows that follow the path at feature j's splits) and agreement o_j in {0,1}:

    phi_i = v (o_i - z_i) prod_{j in N_i} z_j  sum_{s=0}^{|A_i|} w(s) e_{|A_i|-s}(z_{A_i})

where A_i are the agreeing features other than i, N_i the others, e_m the elementary
symmetric polynomial and w(s) = s! (d-1-s)! / d!: Lundberg's TreeSHAP, summed in closed
form. Split decisions replicate LightGBM's (missing values, zero, categorical bitsets).
"""

from libc.math cimport isnan
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t

import numpy as np

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define TREESHAP_PREFETCH(p) __builtin_prefetch((const void*)(p))
    #else
    #define TREESHAP_PREFETCH(p) ((void)0)
    #endif
    """
    void TREESHAP_PREFETCH(const void* p) noexcept nogil


cdef double ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold
cdef enum:  # LightGBM's missing-value types, as attribution.py numbers them
    MISSING_NONE = 0
    MISSING_ZERO = 1
    MISSING_NAN = 2


def build_tables(
    const int32_t[::1] path_dims,
    const int64_t[::1] slot_start,
    const double[::1] zero_fraction,
    const double[::1] leaf_value,
):
    """Tables of every path: for path p (d = path_dims[p], its slots from slot_start[p]),
    2^d rows of d contributions. Returns (table, table_start)."""
    cdef Py_ssize_t n_paths = path_dims.shape[0]
    table_start = np.empty(n_paths + 1, np.int64)
    cdef int64_t[::1] ts = table_start
    cdef Py_ssize_t p, total = 0
    for p in range(n_paths):
        ts[p] = total
        total += (<int64_t>1 << path_dims[p]) * path_dims[p]
    ts[n_paths] = total
    table = np.zeros(total, np.float64)
    cdef double[::1] tab = table
    cdef double w[32]
    cdef double e[32]
    cdef double zs[32]
    cdef int d, s, m, i, j, n_agree
    cdef int64_t mask, base
    cdef double prod_out, acc, z_i, o_i
    for p in range(n_paths):
        d = path_dims[p]
        if d == 0:
            continue
        for s in range(d):  # w(s) = s! (d-1-s)! / d!
            w[s] = 1.0 / d
            for m in range(1, s + 1):
                w[s] *= <double>m / (d - s - 1 + m)
        for mask in range(<int64_t>1 << d):
            base = ts[p] + mask * d
            for i in range(d):
                z_i = zero_fraction[slot_start[p] + i]
                o_i = 1.0 if (mask >> i) & 1 else 0.0
                prod_out = 1.0
                n_agree = 0
                for j in range(d):
                    if j == i:
                        continue
                    if (mask >> j) & 1:
                        zs[n_agree] = zero_fraction[slot_start[p] + j]
                        n_agree += 1
                    else:
                        prod_out *= zero_fraction[slot_start[p] + j]
                # e[m]: elementary symmetric polynomials of the agreeing z's
                e[0] = 1.0
                for m in range(1, n_agree + 1):
                    e[m] = 0.0
                for j in range(n_agree):
                    for m in range(j + 1, 0, -1):
                        e[m] += e[m - 1] * zs[j]
                acc = 0.0
                for s in range(n_agree + 1):
                    acc += w[s] * e[n_agree - s]
                tab[base + i] = leaf_value[p] * (o_i - z_i) * prod_out * acc
    return table, table_start


cdef inline bint goes_left(
    double f, uint8_t kind, double threshold, uint8_t missing, uint8_t default_left,
    const uint32_t* cat_bits, int32_t cat_start, int32_t cat_words,
) noexcept nogil:
    cdef int64_t c
    if kind == 1:  # categorical: the category's bit set -> left; NaN, negative -> right
        if isnan(f):
            return False
        c = <int64_t>f
        if c < 0 or c >= <int64_t>cat_words * 32:
            return False
        return (cat_bits[cat_start + (c >> 5)] >> (c & 31)) & 1
    if isnan(f) and missing != MISSING_NAN:
        f = 0.0
    if (missing == MISSING_ZERO and -ZERO_THRESHOLD <= f <= ZERO_THRESHOLD) or (
        missing == MISSING_NAN and isnan(f)
    ):
        return default_left
    return f <= threshold


cdef void tree_masks(
    Py_ssize_t t, Py_ssize_t n, const double[:, ::1] X, int64_t[:, ::1] m, int64_t* nm,
    const int32_t[::1] tree_first_node, const int32_t[::1] tree_first_path,
    const int32_t[::1] node_feature, const uint8_t[::1] node_kind,
    const double[::1] node_threshold, const uint8_t[::1] node_missing,
    const uint8_t[::1] node_default_left, const int32_t[::1] node_cat_start,
    const int32_t[::1] node_cat_words, const uint32_t* bits,
    const int32_t[::1] node_left, const int32_t[::1] node_right, const uint8_t[::1] node_slot,
) noexcept nogil:
    """Every row's agreement mask at every leaf of tree t, into m[row, leaf - first leaf]:
    one pass over the splits in preorder carries a node's mask to its children, clearing
    the slot's bit on the side the row does not take."""
    cdef int32_t n0 = tree_first_node[t], p0 = tree_first_path[t], child
    cdef Py_ssize_t r, nd
    cdef const double* x
    cdef int64_t* mr
    cdef int64_t mk, slot_bit
    cdef bint gl
    for r in range(n):
        x = &X[r, 0]
        mr = &m[r, 0]
        if tree_first_node[t + 1] == n0:  # a one-leaf tree
            mr[0] = 0
            continue
        nm[0] = -1  # every slot agrees until a split says otherwise
        for nd in range(n0, tree_first_node[t + 1]):
            gl = goes_left(
                x[node_feature[nd]], node_kind[nd], node_threshold[nd], node_missing[nd],
                node_default_left[nd], bits, node_cat_start[nd], node_cat_words[nd],
            )
            mk = nm[nd - n0]
            slot_bit = (<int64_t>1) << node_slot[nd]
            child = node_left[nd]
            if child >= 0:
                nm[child - n0] = mk & ~(slot_bit * (1 - gl))
            else:
                mr[~child - p0] = mk & ~(slot_bit * (1 - gl))
            child = node_right[nd]
            if child >= 0:
                nm[child - n0] = mk & ~(slot_bit * gl)
            else:
                mr[~child - p0] = mk & ~(slot_bit * gl)


cdef inline const double* table_row(
    const double* table, const int64_t[::1] table_start, Py_ssize_t p, int d, int64_t mask,
) noexcept nogil:
    return &table[table_start[p] + (mask & (((<int64_t>1) << d) - 1)) * d]


def contributions(
    const double[:, ::1] X,
    const int32_t[::1] tree_first_node,  # split nodes of tree t: [first[t], first[t + 1])
    const int32_t[::1] tree_first_path,  # paths (leaves) of tree t: [first[t], first[t + 1])
    # split nodes, numbered in preorder (a parent before its children)
    const int32_t[::1] node_feature,
    const uint8_t[::1] node_kind,
    const double[::1] node_threshold,
    const uint8_t[::1] node_missing,
    const uint8_t[::1] node_default_left,
    const int32_t[::1] node_cat_start,
    const int32_t[::1] node_cat_words,
    const uint32_t[::1] cat_bits,
    const int32_t[::1] node_left,  # a split node, or ~path for a leaf
    const int32_t[::1] node_right,
    const uint8_t[::1] node_slot,  # the slot of the node's feature on the path through it
    # paths: their feature slots and tables
    const int32_t[::1] path_dims,
    const int64_t[::1] slot_start,
    const int32_t[::1] slot_feature,
    const double[::1] table,
    const int64_t[::1] table_start,
    Py_ssize_t n_features,
):
    """SHAP contributions (without the bias) of each row of X: an (n, n_features) array.

    Tree by tree, all rows of the batch together: the leaves' agreement masks, then each
    leaf's table row for its mask. The table rows a tree needs are scattered and mostly
    in memory, not cache; they are asked for (prefetched) one tree ahead, while the next
    tree's masks are computed, so the fetches overlap with work instead of stalling it."""
    cdef Py_ssize_t n = X.shape[0], r, t, p, j, n_trees = tree_first_path.shape[0] - 1
    out = np.zeros((n, n_features), np.float64)
    cdef double[:, ::1] phi = out
    cdef int32_t most_leaves = 1, most_nodes = 1
    for t in range(n_trees):
        most_leaves = max(most_leaves, tree_first_path[t + 1] - tree_first_path[t])
        most_nodes = max(most_nodes, tree_first_node[t + 1] - tree_first_node[t])
    buffers = [np.zeros((max(n, 1), most_leaves), np.int64) for _ in range(2)]
    cdef int64_t[:, ::1] cur = buffers[0]
    cdef int64_t[:, ::1] nxt = buffers[1]
    cdef int64_t[:, ::1] swap
    node_masks = np.zeros(most_nodes, np.int64)
    cdef int64_t[::1] nm_v = node_masks
    cdef int64_t* nm = &nm_v[0]
    cdef const uint32_t* bits = &cat_bits[0]
    cdef const double* tab = &table[0]
    cdef const int32_t* sf
    cdef const double* row
    cdef double* pr
    cdef int d
    cdef int32_t p0
    if n == 0 or n_trees == 0:
        return out
    with nogil:
        tree_masks(0, n, X, cur, nm, tree_first_node, tree_first_path, node_feature,
                   node_kind, node_threshold, node_missing, node_default_left, node_cat_start,
                   node_cat_words, bits, node_left, node_right, node_slot)
        for t in range(n_trees):
            if t + 1 < n_trees:
                tree_masks(t + 1, n, X, nxt, nm, tree_first_node, tree_first_path,
                           node_feature, node_kind, node_threshold, node_missing,
                           node_default_left, node_cat_start, node_cat_words, bits,
                           node_left, node_right, node_slot)
                p0 = tree_first_path[t + 1]
                for p in range(p0, tree_first_path[t + 2]):
                    for r in range(n):
                        TREESHAP_PREFETCH(table_row(tab, table_start, p, path_dims[p], nxt[r, p - p0]))
            p0 = tree_first_path[t]
            for p in range(p0, tree_first_path[t + 1]):
                d = path_dims[p]
                sf = &slot_feature[slot_start[p]]
                for r in range(n):
                    row = table_row(tab, table_start, p, d, cur[r, p - p0])
                    pr = &phi[r, 0]
                    for j in range(d):
                        pr[sf[j]] += row[j]
            swap = cur
            cur = nxt
            nxt = swap
    return out
