"""A fitted random forest as plain arrays: the code-free ``forest.json`` and its numpy scorer.

The mCRC Rad-Score is a scikit-learn ``RandomForestClassifier``. Pickle would run code on
load, so :func:`forest_to_json` writes the fitted trees as numbers only and
:class:`ForestArrays` scores them with a numpy traversal; reading needs nothing but
``json`` and ``numpy``.

``forest.json`` (format ``radscore-forest``, version 1)::

    {"format": "radscore-forest", "format_version": 1,
     "n_features": k,            # columns of the input matrix, in the model's feature order
     "n_trees": T,
     "clip": 0.5 / T,            # probabilities are clipped to [clip, 1 - clip] before the logit
     "trees": [                  # in the forest's order (the order of summation)
        {"children_left":  [...],  # node index of the left child, -1 at a leaf
         "children_right": [...],  # node index of the right child, -1 at a leaf
         "feature":        [...],  # column tested at the node (-2 at a leaf)
         "threshold":      [...],  # go left when x[feature] <= threshold (-2.0 at a leaf)
         "p1":             [...]}  # class-1 probability of the node's (bootstrap-weighted) training
     ]}                            # patients; the prediction at a leaf

Node 0 is the root; every child index is greater than its parent's (scikit-learn builds
trees depth first), which the reader checks so that a traversal always ends.

Exactness. scikit-learn's forest ``predict_proba`` (``n_jobs=1``) casts the input to
float32, sends each row down every tree with ``x <= threshold`` (the float32 value compared
in float64), takes the leaf's class fractions (``tree_.value``, fractions since
scikit-learn 1.4, returned unchanged by the tree's ``predict_proba``), adds the trees'
results in the forest's order into a zero-initialised float64 array and divides by ``T``.
:class:`ForestArrays` does the same operations in the same order on the same float64
numbers (JSON keeps a float64 exactly through ``repr``), so its probabilities, and the
Radscore computed from them by the same :func:`forest_radscore`, equal the in-memory
model's bit for bit (held by ``tests/modeling/test_forest.py``). A scikit-learn version
whose tree ``predict_proba`` re-normalised the fractions by their sum would differ by at
most an ulp per leaf.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

FOREST_FORMAT = "radscore-forest"
FOREST_VERSION = 1
_LEAF = -1  # scikit-learn's TREE_LEAF
_ARRAYS = ("children_left", "children_right", "feature", "threshold", "p1")


def forest_radscore(probability: np.ndarray, n_trees: int) -> np.ndarray:
    """Radscore of a forest: log-odds of its class-1 probability clipped to [0.5/T, 1 - 0.5/T].

    A forest's probability is the mean over its ``T`` trees of the leaves' class fractions;
    with pure leaves it is a vote fraction, exactly 0 or 1 when all trees agree, whose
    log-odds would be infinite. Clipping by half a vote (the continuity correction of
    Haldane and Anscombe) keeps every Radscore finite, at most ``log(2T - 1)`` in size,
    and leaves the order of all unclipped scores unchanged.

    Parameters
    ----------
    probability : ndarray
        Class-1 probabilities of the forest.
    n_trees : int
        Number of trees ``T``.

    Returns
    -------
    ndarray of float64
    """
    eps = 0.5 / n_trees
    p = np.clip(np.asarray(probability, dtype=np.float64), eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


def forest_to_json(forest) -> dict[str, Any]:
    """The fitted trees of a binary ``RandomForestClassifier`` as the ``forest.json`` document.

    ``p1`` is the node's stored class-1 fraction (``tree_.value[:, 0, 1]``), what the
    tree's ``predict_proba`` returns at a leaf.
    """
    if list(forest.classes_) != [0, 1] or forest.n_outputs_ != 1:
        raise ValueError("forest_to_json needs a single-output forest fitted on classes 0 and 1.")
    trees = []
    for est in forest.estimators_:
        t = est.tree_
        trees.append({"children_left": t.children_left.tolist(), "children_right": t.children_right.tolist(),
                      "feature": t.feature.tolist(), "threshold": t.threshold.tolist(),
                      "p1": t.value[:, 0, 1].tolist()})
    n = len(trees)
    return {"format": FOREST_FORMAT, "format_version": FOREST_VERSION, "n_features": int(forest.n_features_in_),
            "n_trees": n, "clip": 0.5 / n, "trees": trees}


@dataclasses.dataclass(frozen=True)
class _Tree:
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    p1: np.ndarray

    def leaves(self, X32: np.ndarray) -> np.ndarray:
        """Leaf index of every row of the float32 matrix ``X32``."""
        node = np.zeros(X32.shape[0], dtype=np.intp)
        rows = np.arange(X32.shape[0])
        while rows.size:
            at = node[rows]
            inner = self.left[at] != _LEAF
            rows, at = rows[inner], at[inner]
            # float32 input compared with the float64 threshold, as scikit-learn does
            go_left = X32[rows, self.feature[at]] <= self.threshold[at]
            node[rows] = np.where(go_left, self.left[at], self.right[at])
        return node


class ForestArrays:
    """A random forest read from ``forest.json``; scores float64 feature matrices.

    Build with :meth:`from_json`, which validates every field.
    """

    def __init__(self, trees: list[_Tree], n_features: int):
        self._trees = trees
        self.n_features = n_features
        self.n_trees = len(trees)

    @classmethod
    def from_json(cls, doc: Any, n_features: int) -> "ForestArrays":
        """Validate a ``forest.json`` document.

        Raises
        ------
        ValueError
            Naming the field that is wrong (the caller adds the file).
        """
        if not isinstance(doc, dict) or doc.get("format") != FOREST_FORMAT:
            raise ValueError(f"'format' is not {FOREST_FORMAT!r}")
        if doc.get("format_version") != FOREST_VERSION:
            raise ValueError(f"'format_version' {doc.get('format_version')!r} is not {FOREST_VERSION}")
        if doc.get("n_features") != n_features:
            raise ValueError(f"'n_features' is {doc.get('n_features')!r}, the model has {n_features} input features")
        raw = doc.get("trees")
        if not isinstance(raw, list) or not raw or doc.get("n_trees") != len(raw):
            raise ValueError(f"'n_trees' ({doc.get('n_trees')!r}) does not match a non-empty 'trees' list")
        if doc.get("clip") != 0.5 / len(raw):
            raise ValueError(f"'clip' is {doc.get('clip')!r}, not 0.5 / n_trees")
        return cls([_tree(t, i, n_features) for i, t in enumerate(raw)], n_features)

    def probability(self, A: np.ndarray) -> np.ndarray:
        """Class-1 probability: the trees' leaf values summed in order, divided by ``T``."""
        X32 = np.asarray(A, dtype=np.float32)
        total = np.zeros(X32.shape[0], dtype=np.float64)
        for tree in self._trees:
            total += tree.p1[tree.leaves(X32)]
        return total / self.n_trees

    def decision_function(self, A: np.ndarray) -> np.ndarray:
        """Radscore (:func:`forest_radscore`) of each row of ``A``."""
        return forest_radscore(self.probability(A), self.n_trees)


def _tree(raw: Any, i: int, n_features: int) -> _Tree:
    """One tree's arrays, checked so that every traversal ends at a leaf with a probability."""
    where = f"trees[{i}]"
    if not isinstance(raw, dict) or set(raw) != set(_ARRAYS):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{where} must have exactly the fields {list(_ARRAYS)}, has {got}")
    arrays = {}
    for name in _ARRAYS:
        values = raw[name]
        integer = name not in ("threshold", "p1")
        kind = (int,) if integer else (int, float)
        if not isinstance(values, list) or not values or not all(
                isinstance(v, kind) and not isinstance(v, bool) for v in values):
            raise ValueError(f"{where}.{name} must be a non-empty list of {'integers' if integer else 'numbers'}")
        try:
            arrays[name] = np.asarray(values, dtype=np.intp if integer else np.float64)
        except OverflowError:
            raise ValueError(f"{where}.{name} holds a number out of range") from None
        if arrays[name].shape != (len(raw["children_left"]),):
            raise ValueError(f"{where}.{name} must be as long as children_left")
    left, right, feature, threshold, p1 = (arrays[k] for k in _ARRAYS)
    n = left.shape[0]
    leaf = left == _LEAF
    if not np.array_equal(leaf, right == _LEAF):
        raise ValueError(f"{where}.children_left/children_right: they disagree on which nodes are leaves")
    idx = np.arange(n)
    inner = ~leaf
    if np.any((left[inner] <= idx[inner]) | (left[inner] >= n) | (right[inner] <= idx[inner]) | (right[inner] >= n)):
        raise ValueError(f"{where}.children_left/children_right: a child index is not after its parent or is "
                         "out of range")
    if np.any((feature[inner] < 0) | (feature[inner] >= n_features)):
        raise ValueError(f"{where}.feature: a column index outside 0..{n_features - 1}")
    if not np.all(np.isfinite(threshold[inner])):
        raise ValueError(f"{where}.threshold: not finite")
    if not np.all((p1[leaf] >= 0.0) & (p1[leaf] <= 1.0)):
        raise ValueError(f"{where}.p1: a leaf probability outside [0, 1]")
    return _Tree(left, right, feature, threshold, p1)
