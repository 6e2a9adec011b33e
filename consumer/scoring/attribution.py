"""Reason codes: the features that pushed a score up most, by exact TreeSHAP.

``TreeShap`` reads the model's trees once (split nodes, cover counts, leaf values),
builds per-path tables (``_treeshap``) and then explains a row in tens of microseconds,
where LightGBM's ``pred_contrib`` takes most of a millisecond: the same path-dependent
TreeSHAP values up to floating-point rounding. A model whose tables would not fit
``MAX_TABLE_ENTRIES`` (deep trees over many features) is explained by ``pred_contrib``
instead, with the same result, slower.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from consumer.scoring import _treeshap

log = logging.getLogger(__name__)

MAX_TABLE_ENTRIES = 32_000_000  # 256 MB of float64; the shipped model needs 1.3 M
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
Matrix = npt.NDArray[np.float64]


@dataclass
class _Arrays:
    """The model's trees, flattened for ``_treeshap``."""

    tree_first_node: list[int] = field(default_factory=list)
    tree_first_path: list[int] = field(default_factory=list)
    node_feature: list[int] = field(default_factory=list)
    node_kind: list[int] = field(default_factory=list)
    node_threshold: list[float] = field(default_factory=list)
    node_missing: list[int] = field(default_factory=list)
    node_default_left: list[int] = field(default_factory=list)
    node_cat_start: list[int] = field(default_factory=list)
    node_cat_words: list[int] = field(default_factory=list)
    cat_bits: list[int] = field(default_factory=list)
    path_dims: list[int] = field(default_factory=list)
    leaf_value: list[float] = field(default_factory=list)
    slot_start: list[int] = field(default_factory=lambda: [0])
    slot_feature: list[int] = field(default_factory=list)
    zero_fraction: list[float] = field(default_factory=list)
    node_left: list[int] = field(default_factory=list)  # a split node, or ~path
    node_right: list[int] = field(default_factory=list)
    node_slot: list[int] = field(default_factory=list)  # its feature's slot on its path

    def add_node(self, node: dict[str, Any]) -> int:
        self.node_feature.append(int(node["split_feature"]))
        self.node_missing.append(_MISSING[node.get("missing_type", "None")])
        self.node_default_left.append(int(bool(node.get("default_left", False))))
        if node["decision_type"] == "==":
            cats = [int(c) for c in str(node["threshold"]).split("||")]
            words = max(cats) // 32 + 1
            bits = [0] * words
            for c in cats:
                bits[c // 32] |= 1 << (c % 32)
            self.node_kind.append(1)
            self.node_threshold.append(0.0)
            self.node_cat_start.append(len(self.cat_bits))
            self.node_cat_words.append(words)
            self.cat_bits += bits
        elif node["decision_type"] == "<=":
            self.node_kind.append(0)
            self.node_threshold.append(float(node["threshold"]))
            self.node_cat_start.append(0)
            self.node_cat_words.append(0)
        else:
            raise ValueError(f"unsupported split type {node['decision_type']!r}")
        self.node_left.append(0)  # set once the children are numbered
        self.node_right.append(0)
        self.node_slot.append(0)
        return len(self.node_feature) - 1

    def add_path(self, leaf_value: float, steps: list[tuple[int, int, bool, float]]) -> int:
        """One root-to-leaf path: (node, feature, went left, cover ratio) per split.
        Returns the leaf's reference for its parent: ~(path index)."""
        # A feature's slot is its first appearance from the root; its cover ratio is the
        # product over its splits on the path (TreeSHAP merges repeated features).
        slots: dict[int, float] = {}
        for _, feature, _, ratio in steps:
            slots[feature] = slots.get(feature, 1.0) * ratio
        self.path_dims.append(len(slots))
        self.leaf_value.append(leaf_value)
        self.slot_feature += slots
        self.zero_fraction += slots.values()
        self.slot_start.append(len(self.slot_feature))
        return ~(len(self.path_dims) - 1)


def _flatten(dump: dict[str, Any]) -> _Arrays:
    arrays = _Arrays()

    def count(node: dict[str, Any]) -> float:
        return float(node["internal_count"] if "split_feature" in node else node["leaf_count"])

    def walk(node: dict[str, Any], steps: list[tuple[int, int, bool, float]]) -> int:
        """Number the subtree depth-first, left first; returns its reference."""
        if "split_feature" not in node:  # a leaf (a one-leaf tree has no leaf_index)
            return arrays.add_path(float(node["leaf_value"]), steps)
        index = arrays.add_node(node)
        feature = int(node["split_feature"])
        on_path = list(dict.fromkeys(f for _, f, _, _ in steps))
        arrays.node_slot[index] = on_path.index(feature) if feature in on_path else len(on_path)
        total = count(node)
        refs = []
        for child, left in ((node["left_child"], True), (node["right_child"], False)):
            ratio = count(child) / total if total else 0.0
            refs.append(walk(child, [*steps, (index, feature, left, ratio)]))
        arrays.node_left[index], arrays.node_right[index] = refs
        return index

    for tree in dump["tree_info"]:
        arrays.tree_first_node.append(len(arrays.node_feature))
        arrays.tree_first_path.append(len(arrays.path_dims))
        walk(tree["tree_structure"], [])
    arrays.tree_first_node.append(len(arrays.node_feature))
    arrays.tree_first_path.append(len(arrays.path_dims))
    return arrays


class TreeShap:
    def __init__(self, booster: lgb.Booster) -> None:
        self._booster = booster
        self.n_features = booster.num_feature()
        dump = booster.dump_model()
        a = _flatten(dump)
        dims = np.asarray(a.path_dims, np.int32)
        entries = int((np.left_shift(1, dims.astype(np.int64)) * dims).sum())
        self.exact_tables = entries <= MAX_TABLE_ENTRIES and bool(dims.size) and dims.max() < 31
        if not self.exact_tables:
            log.warning(
                "model too deep for TreeSHAP tables (%d entries); using LightGBM's pred_contrib",
                entries,
            )
            return
        i32, i64, u8 = np.int32, np.int64, np.uint8
        if not a.node_feature:  # only one-leaf trees: nothing to explain, keep arrays non-empty
            a.add_node({"split_feature": 0, "decision_type": "<=", "threshold": 0.0})
        self._nodes = (
            np.asarray(a.tree_first_node, i32),
            np.asarray(a.tree_first_path, i32),
            np.asarray(a.node_feature, i32),
            np.asarray(a.node_kind, u8),
            np.asarray(a.node_threshold, np.float64),
            np.asarray(a.node_missing, u8),
            np.asarray(a.node_default_left, u8),
            np.asarray(a.node_cat_start, i32),
            np.asarray(a.node_cat_words, i32),
            np.asarray(a.cat_bits or [0], np.uint32),
            np.asarray(a.node_left, i32),
            np.asarray(a.node_right, i32),
            np.asarray(a.node_slot, u8),
        )
        slot_start = np.asarray(a.slot_start, i64)
        table, table_start = _treeshap.build_tables(
            dims, slot_start, np.asarray(a.zero_fraction, np.float64), np.asarray(a.leaf_value)
        )
        self._paths = (
            dims,
            slot_start,
            np.asarray(a.slot_feature or [0], i32),
            table,
            table_start,
        )
        self.table_entries = entries

    def contributions(self, features: Matrix) -> Matrix:
        """SHAP values of each row (n, features), without the bias term."""
        x = np.ascontiguousarray(features, dtype=np.float64)
        if not self.exact_tables:
            contrib = self._booster.predict(x, pred_contrib=True, num_threads=1)
            return np.asarray(contrib, dtype=np.float64)[:, : self.n_features]
        result: Matrix = _treeshap.contributions(x, *self._nodes, *self._paths, self.n_features)
        return result

    def top(self, features: Matrix, k: int) -> npt.NDArray[np.int16]:
        """Per row, the indexes of the ``k`` features with the largest positive SHAP
        value, largest first (ties: lower index first), -1 where fewer are positive."""
        out = np.full((len(features), max(k, 0)), -1, np.int16)
        if k <= 0 or len(features) == 0:
            return out
        contrib = self.contributions(features)
        order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
        positive = np.take_along_axis(contrib, order, axis=1) > 0
        out[positive] = order[positive]
        return out
