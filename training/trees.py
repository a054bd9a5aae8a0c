"""The tree prior: per-pixel gradient-boosted trees for every target band, inside the exported ONNX graph.

The evaluation's gradient-boosted baseline (:class:`~.evaluate.GBTBaseline`) beats the network on many
held-out cells; its per-pixel spectral relations are what an analyst would fit.  :func:`fit_tree_prior`
fits such trees once per *target* (scikit-learn's ``HistGradientBoostingRegressor``) on the training
scenes' pixels, with the features every band class (physical units) and an absent band given as NaN, so
that one ensemble serves any source set: each sampled pixel is seen three times, with all other bands, with
the Landsat / HLS L30 bands and with a random subset (the trainer's source-set mixture, each kind once), and
the trees learn which side of a split an absent band goes.  With ``per_set`` (``fit-trees --per-set``) each
target also gets one ensemble fitted only on the rows with all other bands and one fitted only on the rows
with the L30 bands; a pixel's present bands choose which ensemble predicts it (:func:`source_set_route`),
and the shared ensemble serves every other source set.  With ``linear_mix`` M below 1 (``fit-trees
--linear-mix M``) the tree branch is ``M x trees + (1 - M) x`` the least-squares fit of the pixel's own source
set from the training scenes' moments (the solve ``on_linear`` adds back).  The result is a
:class:`TreePrior`, plain arrays (saved as ``.npz``, read without pickle).

:func:`graft_tree_prior` adds the trees to an exported network's graph with ONNX-ML's
``TreeEnsembleRegressor`` (run by every ONNX Runtime build), one per target inside an ``If`` that runs it
only when the batch asks for that target: the output becomes ``(1 - w) * network + w * trees``.  Split
thresholds are rounded down to float32, so ``x <= t`` decides exactly as scikit-learn's float64 compare
does for every float32 input; :meth:`TreePrior.predict` runs the same trees in numpy, the reference the
export check and the tests compare ONNX Runtime with.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..core.bands import BAND_CLASSES, NUM_CLASSES
from ..core.errors import ModelError
from ..core.fileio import atomic_path

#: The format tag of a saved tree prior.
SCHEMA = "hls_translate.tree_prior/1"
#: Array fields of a saved prior and their dtypes (``nodes_*``: one entry per node of every tree, trees back
#: to back).
_ARRAYS = {"targets": np.int64, "base": np.float64, "tree_target": np.int64, "tree_start": np.int64,
           "nodes_feature": np.int64, "nodes_threshold": np.float32, "nodes_left": np.int64, "nodes_right": np.int64,
           "nodes_missing_left": np.uint8, "nodes_leaf": np.uint8, "nodes_value": np.float64}
#: The arrays of a prior fitted on the linear fit's residual.
_LINEAR = ("linear_moments", "linear_bands", "linear_weights", "sources")
#: The arrays of a prior with ensembles per source set, and their dtypes.
_PER_SET = {"tree_set": np.int64, "set_base": np.float64, "set_has": np.uint8}
#: The reflective band classes: a relative prior's brightness is their mean, and its features their ratio to it
#: (thermal classes, in degrees Celsius, stay as they are).
REFLECTIVE = np.array([not c.is_thermal for c in BAND_CLASSES])
#: A relative prior's brightness is at least this (reflectance): a dark pixel's ratios stay bounded.
BRIGHTNESS_FLOOR = np.float32(0.01)
#: The Landsat 8/9 and HLS L30 band classes (the trainer's named source set, the evaluation's use case).
L30_KEYS = ("coastal_aerosol", "blue", "green", "red", "nir_narrow", "swir_1", "swir_2", "cirrus")
#: The ensembles of a per-set prior, in :attr:`TreePrior.tree_set`: the shared one (any source set), the one
#: fitted on the rows with all other bands, the one fitted on the rows with the L30 bands.
SHARED, ALL_OTHERS, L30_SET = 0, 1, 2
SET_NAMES = {SHARED: "any source set", ALL_OTHERS: "all other bands", L30_SET: "the L30 bands"}
#: The reflective classes every training product has (Sentinel-2, Landsat 8/9, HLS): a pixel goes to a
#: per-set ensemble only when all of them (but the target) are present.
CORE_KEYS = ("blue", "green", "red", "nir_narrow", "swir_1", "swir_2")
#: Sentinel-2's classes that Landsat lacks and every Sentinel-2 product keeps: all of them (but the target)
#: present sends a pixel to the all-other-bands ensemble; none of them, nor water vapour, to the L30 one.
S2_KEYS = ("red_edge_1", "red_edge_2", "red_edge_3", "nir_broad")
_CORE = np.array([c.key in CORE_KEYS for c in BAND_CLASSES])
_S2 = np.array([c.key in S2_KEYS for c in BAND_CLASSES])
_NOT_L30 = np.array([c.key in S2_KEYS or c.key == "water_vapour" for c in BAND_CLASSES])


def source_set_route(present: np.ndarray, target: int) -> np.ndarray:
    """Which ensemble of a per-set prior predicts each row: ``present`` [P, 15] bool -> [P] int64,
    :data:`ALL_OTHERS` where every class of :data:`CORE_KEYS` and :data:`S2_KEYS` but ``target`` is present
    (a Sentinel-2 scene's other bands), :data:`L30_SET` where every core class but ``target`` is present and
    none of :data:`S2_KEYS` nor water vapour (a Landsat / HLS L30 scene, or those bands of any scene),
    :data:`SHARED` otherwise.  The grafted graph decides the same from each item's presence."""
    present = np.asarray(present, dtype=bool).reshape(-1, NUM_CLASSES)
    other = np.arange(NUM_CLASSES) != int(target)
    core = (present | ~(_CORE & other)).all(axis=1)
    s2_all = (present | ~(_S2 & other)).all(axis=1)
    s2_none = ~(present & (_NOT_L30 & other)).any(axis=1)
    return np.where(core & s2_all, ALL_OTHERS, np.where(core & s2_none, L30_SET, SHARED)).astype(np.int64)


def _floor32(t: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold (so ``x <= t32`` equals ``x <= t`` for float32 x)."""
    t32 = t.astype(np.float32)
    up = t32.astype(np.float64) > t
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


def _linear_fit(x: np.ndarray, target: int, moments: np.ndarray, group_bands: np.ndarray, weights: np.ndarray,
                sources: np.ndarray) -> np.ndarray:
    """The least-squares fit of ``target`` from each row's present classes of ``sources`` (``x`` [P, 15], NaN:
    absent), solved once per presence pattern with the solve the graph runs
    (:func:`~..core.models.linear_fit.item_coefficients`; where no training scene has every band involved,
    the moments of all of them, as the models' linear prior does); [P] float64."""
    import torch

    from ..core.models.linear_fit import item_coefficients

    x = np.asarray(x, dtype=np.float32)
    have = ~np.isnan(x) & (np.asarray(sources) > 0.5)[None, :]
    have[:, int(target)] = False
    patterns, inverse = np.unique(have, axis=0, return_inverse=True)
    coef = item_coefficients(torch.from_numpy(patterns.astype(np.float64)),
                             torch.full((len(patterns),), int(target), dtype=torch.int64),
                             *(torch.from_numpy(np.asarray(a, np.float64)) for a in (moments, group_bands, weights)))
    c = coef.numpy()[np.ravel(inverse)]  # [P, 16]
    return c[:, 0] + np.einsum("pc,pc->p", np.where(have, x, 0.0).astype(np.float64), c[:, 1:])


def linear_fit_arrays(scenes: Sequence[Any], sources: Sequence[int]) -> Dict[str, np.ndarray]:
    """The least-squares fit's arrays of a prior (:data:`_LINEAR`: the moments of ``scenes`` as
    :class:`~.evaluate.LinearBaseline` keeps them, the classes each scene has, their weights, and a 0/1 mask
    of ``sources``), for :func:`_linear_fit` (``_linear_fit(x, target, *(arrays[k] for k in _LINEAR))``)."""
    from .evaluate.baseline import LinearBaseline

    lb = LinearBaseline.fit(scenes)
    mask = np.zeros(NUM_CLASSES)
    mask[list(sources)] = 1.0
    bands01 = np.zeros((len(lb.grams), NUM_CLASSES))
    for k, g in enumerate(lb.grams):
        bands01[k, list(g.bands)] = 1.0
    return {"linear_moments": np.stack([g.moments for g in lb.grams]), "linear_bands": bands01,
            "linear_weights": np.array([g.weight for g in lb.grams], dtype=np.float64), "sources": mask}


def brightness(x: np.ndarray) -> np.ndarray:
    """A relative prior's brightness of each row of ``x`` [P, 15] float32 (NaN: absent): the mean of its
    present reflective classes, at least :data:`BRIGHTNESS_FLOOR` (1 where none is present); [P] float32.

    Summed class by class in float32, in class order, as the exported graph does (elementwise ``Add``): the
    same bits in numpy and ONNX Runtime, so the trees' splits on the ratios decide identically."""
    x = np.asarray(x, dtype=np.float32)
    on = ~np.isnan(x) & REFLECTIVE[None, :]
    xz = np.where(on, x, np.float32(0.0)).astype(np.float32)
    total = np.zeros(len(x), np.float32)
    count = np.zeros(len(x), np.float32)
    for c in range(NUM_CLASSES):
        total = total + xz[:, c]
        count = count + on[:, c].astype(np.float32)
    mean = np.where(count > 0.5, total / np.maximum(count, np.float32(1.0)), np.float32(1.0)).astype(np.float32)
    return np.maximum(mean, BRIGHTNESS_FLOOR)


def relative_features(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``x`` [P, 15] float32 (NaN: absent) -> (features [P, 16] float32, brightness [P] float32): each
    reflective class divided by the row's :func:`brightness` (thermal classes unchanged), and the
    brightness itself as feature 15."""
    x = np.asarray(x, dtype=np.float32)
    b = brightness(x)
    ratio = np.where(REFLECTIVE[None, :], x / b[:, None], x).astype(np.float32)
    return np.concatenate([ratio, b[:, None]], axis=1), b


@dataclass(frozen=True)
class TreePrior:
    """Per-target tree ensembles over the 15 band classes (see the module docstring).

    Tree ``k`` predicts for target class ``tree_target[k]``; its nodes are ``tree_start[k]`` ..
    ``tree_start[k + 1] - 1`` (node ids local to the tree, root 0); a pixel goes left when
    ``x[feature] <= threshold`` or when ``x[feature]`` is NaN and ``missing_left``.  The prediction for
    target ``t`` is ``base[t's row] + sum of the leaf values of t's trees``."""

    targets: np.ndarray  # int64 [T] class ids
    base: np.ndarray  # float64 [T]
    tree_target: np.ndarray  # int64 [K]
    tree_start: np.ndarray  # int64 [K + 1]
    nodes_feature: np.ndarray  # int64 [M]
    nodes_threshold: np.ndarray  # float32 [M] (rounded down)
    nodes_left: np.ndarray  # int64 [M] (local ids)
    nodes_right: np.ndarray  # int64 [M]
    nodes_missing_left: np.ndarray  # uint8 [M]
    nodes_leaf: np.ndarray  # uint8 [M]
    nodes_value: np.ndarray  # float64 [M] (leaves)
    info: Mapping[str, Any]  # how it was fitted (recorded in the model's metadata)
    # the linear fit, for a prior fitted on its residual (``--on-linear``) or mixed with it (``linear_mix``
    # below 1): the training scenes' moments, as ``LinearBaseline`` keeps them, and the source classes the fit
    # may use; None otherwise
    linear_moments: Optional[np.ndarray] = None  # float64 [K, 16, 16]
    linear_bands: Optional[np.ndarray] = None  # float64 [K, 15] 1 where the scene has the class
    linear_weights: Optional[np.ndarray] = None  # float64 [K]
    sources: Optional[np.ndarray] = None  # float64 [15] 1 for a class the linear fit may use
    # brightness-relative (``--relative``): the trees see each reflective band divided by the pixel's
    # brightness (:func:`relative_features`, feature 15 the brightness) and predict the target divided by
    # it; the prediction is multiplied back, so it scales with a brighter scene of the same spectral shape
    relative: bool = False
    # per source set (``--per-set``): the ensemble each tree belongs to (SHARED, ALL_OTHERS, L30_SET), and per
    # target (rows of ``targets``) the base of its ALL_OTHERS and L30_SET ensembles and whether it has them;
    # None for a prior of shared ensembles only
    tree_set: Optional[np.ndarray] = None  # int64 [K]
    set_base: Optional[np.ndarray] = None  # float64 [T, 2]
    set_has: Optional[np.ndarray] = None  # uint8 [T, 2]
    # per source set: the weight of a set's own ensemble on the rows routed to it, the shared ensemble taking
    # the rest there (1: the own ensemble alone; 0.5: the mean of the two)
    set_mix: float = 1.0
    # the weight of the trees in the tree branch, the linear fit (the arrays above) taking the rest: the branch
    # outputs linear_mix x trees + (1 - linear_mix) x linear fit (1: the trees alone)
    linear_mix: float = 1.0

    @property
    def n_trees(self) -> int:
        return int(len(self.tree_target))

    @property
    def n_nodes(self) -> int:
        return int(len(self.nodes_feature))

    @property
    def per_set(self) -> bool:
        """Whether targets have ensembles per source set (:func:`source_set_route` picks one per pixel)."""
        return self.tree_set is not None

    def ensembles(self, target: int) -> List[Tuple[int, np.ndarray, float]]:
        """``(set, tree indices, base)`` of each ensemble of class ``target``, the shared one first."""
        rows = np.flatnonzero(self.targets == int(target))
        if rows.size == 0:
            raise ModelError(f"tree prior: no trees for target class {int(target)}")
        row = int(rows[0])
        mine = self.tree_target == int(target)
        sets = self.tree_set if self.per_set else np.zeros(self.n_trees, dtype=np.int64)
        out = [(SHARED, np.flatnonzero(mine & (sets == SHARED)), float(self.base[row]))]
        if self.per_set:
            for j, s in enumerate((ALL_OTHERS, L30_SET)):
                if self.set_has[row, j]:
                    out.append((s, np.flatnonzero(mine & (sets == s)), float(self.set_base[row, j])))
        return out

    def route(self, present: np.ndarray, target: int) -> np.ndarray:
        """The ensemble (its set) that predicts each row of ``present`` [P, 15] bool for ``target``:
        :func:`source_set_route`, the shared one where the target has no ensemble of that set."""
        present = np.asarray(present, dtype=bool).reshape(-1, NUM_CLASSES)
        if not self.per_set:
            return np.zeros(len(present), dtype=np.int64)
        have = [s for s, _, _ in self.ensembles(target)]
        r = source_set_route(present, target)
        return np.where(np.isin(r, have), r, SHARED)

    @property
    def has_linear(self) -> bool:
        """Whether the prior carries the linear fit (fitted on its residual, or mixed with it)."""
        return self.linear_moments is not None

    @property
    def mixes_linear(self) -> bool:
        """Whether the tree branch is ``linear_mix x trees + (1 - linear_mix) x`` the linear fit."""
        return float(self.linear_mix) < 1.0

    @property
    def on_linear(self) -> bool:
        """Whether the trees predict the residual of the linear fit (added back by :meth:`predict_full`)."""
        return self.has_linear and not self.mixes_linear

    def linear(self, x: np.ndarray, target: int) -> np.ndarray:
        """The least-squares fit of ``target`` from each row's present source bands (``x`` [P, 15], NaN:
        absent), from the stored moments; see :func:`_linear_fit`.  [P] float64."""
        return _linear_fit(x, target, self.linear_moments, self.linear_bands, self.linear_weights, self.sources)

    def predict_full(self, x: np.ndarray, target: int) -> np.ndarray:
        """What the grafted graph's tree branch outputs: the trees, plus the linear fit when fitted on its
        residual, or mixed with it (``linear_mix``); [P] float64."""
        out = self.predict(x, target)
        if self.on_linear:
            return out + self.linear(x, target)
        if self.mixes_linear:
            m = float(self.linear_mix)
            return m * out + (1.0 - m) * self.linear(x, target)
        return out

    def has_target(self, class_id: int) -> bool:
        return int(class_id) in set(int(t) for t in self.targets)

    def predict(self, x: np.ndarray, target: int) -> np.ndarray:
        """``x`` [P, 15] float32 (NaN: absent) -> [P] float64, for class ``target`` (numpy, the reference)."""
        x = np.asarray(x, dtype=np.float32)
        ensembles = self.ensembles(target)
        route = self.route(~np.isnan(x), target)  # from the bands present, before any transform
        scale = None
        if self.relative:
            x, scale = relative_features(x)
        out = np.zeros(len(x), dtype=np.float64)
        m = float(self.set_mix)
        for kind, trees, base in ensembles:
            if kind == SHARED:  # its own rows, and with a mix below 1 its share of every routed row
                on = np.flatnonzero((route == SHARED) | (m < 1.0))
                w = np.where(route[on] == SHARED, 1.0, 1.0 - m)
            else:
                on = np.flatnonzero(route == kind)
                w = m
            out[on] += w * self._traverse(x[on], trees, base)
        return out if scale is None else out * scale.astype(np.float64)

    def _traverse(self, x: np.ndarray, trees: np.ndarray, base: float) -> np.ndarray:
        """``base`` plus the leaf values of ``trees`` (indices) for the rows of ``x`` [P, F]; [P] float64."""
        out = np.full(len(x), base, dtype=np.float64)
        idx = np.arange(len(x))
        for k in trees:
            s = int(self.tree_start[k])
            node = np.zeros(len(x), dtype=np.int64)
            while True:
                g = s + node
                leaf = self.nodes_leaf[g].astype(bool)
                if leaf.all():
                    break
                v = x[idx, self.nodes_feature[g]]
                left = np.where(np.isnan(v), self.nodes_missing_left[g].astype(bool), v <= self.nodes_threshold[g])
                nxt = np.where(left, self.nodes_left[g], self.nodes_right[g])
                node = np.where(leaf, node, nxt)
            out += self.nodes_value[s + node]
        return out

    # -- files ------------------------------------------------------------------------------------------
    def save(self, path: str) -> str:
        """Write ``path`` (``.npz``, replaced atomically); returns the absolute path."""
        import json

        path = os.path.abspath(os.fspath(path))
        arrays = {k: np.asarray(getattr(self, k)) for k in (*_ARRAYS, *(_LINEAR if self.has_linear else ()),
                                                             *(_PER_SET if self.per_set else ()))}
        if self.relative:
            arrays["relative"] = np.array(1, dtype=np.uint8)
        if self.per_set:
            arrays["set_mix"] = np.array(float(self.set_mix), dtype=np.float64)
        if self.mixes_linear:
            arrays["linear_mix"] = np.array(float(self.linear_mix), dtype=np.float64)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, schema=np.array(SCHEMA), info=np.array(json.dumps(dict(self.info))), **arrays)
        return path

    @classmethod
    def load(cls, path: str) -> "TreePrior":
        """Read a prior written by :meth:`save` (no pickle is ever loaded; every array is checked)."""
        import json
        import zipfile

        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ModelError(f"tree prior {path}: cannot read it as a .npz written by `hls-translate fit-trees` "
                             f"({exc})") from None
        if "schema" not in data or str(data["schema"]) != SCHEMA:
            raise ModelError(f"tree prior {path}: not a tree prior (schema {str(data.get('schema', 'missing'))!r}, "
                             f"expected {SCHEMA!r})")
        missing = [k for k in (*_ARRAYS, "info") if k not in data]
        if missing:
            raise ModelError(f"tree prior {path}: missing array {missing[0]}")
        try:
            info = json.loads(str(data["info"]))
        except ValueError as exc:
            raise ModelError(f"tree prior {path}: its info is not JSON ({exc})") from None
        prior = cls(**{k: data[k].astype(dt) for k, dt in _ARRAYS.items()}, info=info)
        present = [k for k in _LINEAR if k in data]
        if present:
            if len(present) != len(_LINEAR):
                raise ModelError(f"tree prior {path}: missing array {[k for k in _LINEAR if k not in data][0]}")
            prior = dataclasses.replace(prior, **{k: data[k].astype(np.float64) for k in _LINEAR})
        present = [k for k in _PER_SET if k in data]
        if present:
            if len(present) != len(_PER_SET):
                raise ModelError(f"tree prior {path}: missing array {[k for k in _PER_SET if k not in data][0]}")
            prior = dataclasses.replace(prior, **{k: data[k].astype(dt) for k, dt in _PER_SET.items()})
            if "set_mix" in data:  # files written before the mix existed: the own ensemble alone
                if data["set_mix"].shape != () or not np.issubdtype(data["set_mix"].dtype, np.floating):
                    raise ModelError(f"tree prior {path}: its set_mix is not one number")
                prior = dataclasses.replace(prior, set_mix=float(data["set_mix"]))
        if "linear_mix" in data:
            if data["linear_mix"].shape != () or not np.issubdtype(data["linear_mix"].dtype, np.floating):
                raise ModelError(f"tree prior {path}: its linear_mix is not one number")
            prior = dataclasses.replace(prior, linear_mix=float(data["linear_mix"]))
        if "relative" in data:
            if data["relative"].shape != () or int(data["relative"]) not in (0, 1):
                raise ModelError(f"tree prior {path}: its relative flag is not 0 or 1")
            prior = dataclasses.replace(prior, relative=bool(int(data["relative"])))
        problem = prior.problems()
        if problem:
            raise ModelError(f"tree prior {path}: {problem}")
        return prior

    def problems(self) -> str:
        """The first inconsistency of the arrays, or ``""``."""
        m, k = self.n_nodes, self.n_trees
        if len(self.targets) == 0 or len(self.base) != len(self.targets):
            return "targets and base differ in length or are empty"
        if len(set(self.targets.tolist())) != len(self.targets) or not all(0 <= t < NUM_CLASSES for t in self.targets):
            return f"targets must be distinct class ids 0..{NUM_CLASSES - 1}, got {self.targets.tolist()}"
        if len(self.tree_start) != k + 1 or self.tree_start[0] != 0 or self.tree_start[-1] != m \
                or np.any(np.diff(self.tree_start) < 1):
            return "tree_start does not partition the nodes"
        for name in list(_ARRAYS)[4:]:
            if len(getattr(self, name)) != m:
                return f"{name} has {len(getattr(self, name))} entries, expected {m}"
        if not set(self.tree_target.tolist()) <= set(self.targets.tolist()):
            return "a tree predicts a target the prior does not list"
        inner = self.nodes_leaf == 0
        size = np.repeat(np.diff(self.tree_start), np.diff(self.tree_start))
        n_features = NUM_CLASSES + (1 if self.relative else 0)
        if np.any(self.nodes_feature[inner] < 0) or np.any(self.nodes_feature[inner] >= n_features):
            return (f"a split uses a feature outside the 15 band classes{' and the brightness' if self.relative else ''}")
        if self.relative and self.on_linear:
            return "a prior is either relative or fitted on the linear fit's residual, not both"
        for side in (self.nodes_left, self.nodes_right):
            if np.any(side[inner] <= 0) or np.any(side[inner] >= size[inner]):
                return "a split points outside its tree"
        if not (np.isfinite(self.nodes_value).all() and np.isfinite(self.base).all()):
            return "a leaf value or base is not finite"
        if self.per_set:
            t = len(self.targets)
            if self.tree_set.shape != (k,) or self.set_base.shape != (t, 2) or self.set_has.shape != (t, 2):
                return "the per-set arrays (tree_set, set_base, set_has) have the wrong shape"
            if not np.isin(self.tree_set, (SHARED, ALL_OTHERS, L30_SET)).all() or not np.isin(self.set_has, (0, 1)).all():
                return "tree_set must hold 0, 1 or 2 and set_has 0 or 1"
            if self.relative or self.on_linear:
                return "a per-set prior is neither relative nor fitted on the linear fit's residual"
            if not np.isfinite(self.set_base).all():
                return "a per-set base is not finite"
            if not 0.0 < float(self.set_mix) <= 1.0:
                return f"set_mix must be in (0, 1], got {float(self.set_mix)}"
            for row, target in enumerate(self.targets.tolist()):
                for j, kind in enumerate((ALL_OTHERS, L30_SET)):
                    n = int(np.sum((self.tree_target == target) & (self.tree_set == kind)))
                    if (n > 0) != bool(self.set_has[row, j]):
                        return (f"target class {target}: set_has says {'an' if self.set_has[row, j] else 'no'} "
                                f"ensemble for {SET_NAMES[kind]}, the trees say {n}")
        if not 0.0 < float(self.linear_mix) <= 1.0:
            return f"linear_mix must be in (0, 1], got {float(self.linear_mix)}"
        if self.mixes_linear and not self.has_linear:
            return "a prior mixed with the linear fit (linear_mix below 1) needs the linear fit's arrays"
        if self.has_linear:
            k = len(self.linear_moments)
            if self.linear_moments.shape != (k, 1 + NUM_CLASSES, 1 + NUM_CLASSES) or k == 0 \
                    or self.linear_bands.shape != (k, NUM_CLASSES) or self.linear_weights.shape != (k,) \
                    or self.sources.shape != (NUM_CLASSES,):
                return "the linear fit's moments, bands, weights or sources have the wrong shape"
            if not (np.isfinite(self.linear_moments).all() and np.isfinite(self.linear_weights).all()) \
                    or np.any(self.linear_weights < 0):
                return "the linear fit's moments or weights are not finite and non-negative"
        return ""

    def describe(self) -> Dict[str, Any]:
        """What the model's metadata records about the trees."""
        codes = [BAND_CLASSES[int(t)].key for t in self.targets]
        return {**dict(self.info), "targets": codes, "trees": self.n_trees, "nodes": self.n_nodes}


# -- fitting -----------------------------------------------------------------------------------------------
def _rows(scene, target: int, pick: np.ndarray, rng: np.random.Generator, sources: Sequence[int],
          l30: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Three copies of the picked pixels of ``scene`` as features [3P, 15] (NaN: absent) and the target."""
    full = np.full((pick.size, NUM_CLASSES), np.nan, dtype=np.float32)
    for ch, cid in enumerate(scene.band_ids):
        if cid != target and cid in sources:
            full[:, cid] = scene.values[ch].ravel()[pick]
    y = scene.values[scene.channel(target)].ravel()[pick].astype(np.float32)
    others = [c for c in scene.band_ids if c != target and c in sources]
    l30_set = [c for c in others if c in l30] or others
    keep_l30 = np.full(NUM_CLASSES, False)
    keep_l30[l30_set] = True
    sub = full.copy()
    sub[:, ~keep_l30] = np.nan
    rand = full.copy()
    n = len(others)
    if n > 1:  # each pixel its own random subset of 1 .. n-1 of the other bands (the trainer's draw)
        k = rng.integers(1, n, size=pick.size)
        order = np.argsort(rng.random((pick.size, n)), axis=1)
        drop = np.argsort(order, axis=1) >= k[:, None]  # rank of each band >= k: absent
        cols = np.asarray(others)
        for j in range(n):
            rand[drop[:, j], cols[j]] = np.nan
    return np.concatenate([full, sub, rand]), np.concatenate([y, y, y])


def sample_pixels(scenes: Sequence[Any], pixels_per_scene: int, seed: int) -> List[np.ndarray]:
    """The trees' training pixels: per scene, the sorted flat indices of a fixed random sample of pixels
    valid in every band, ``pixels_per_scene`` per config entry (a glob entry's matches share one budget);
    deterministic for a given ``seed``."""
    per_spec: Dict[int, int] = {}
    for s in scenes:
        per_spec[s.spec_index] = per_spec.get(s.spec_index, 0) + 1
    picks = []
    for i, s in enumerate(scenes):
        ok = np.flatnonzero(s.all_valid.ravel())
        rng = np.random.default_rng([seed, i])
        n = max(1, pixels_per_scene // per_spec[s.spec_index])
        picks.append(np.sort(rng.choice(ok, size=min(n, ok.size), replace=False)) if ok.size else ok)
    return picks


def fit_tree_prior(scenes: Sequence[Any], targets: Sequence[int], sources: Sequence[int], *,
                   pixels_per_scene: int = 20000, max_iter: int = 300, max_leaf_nodes: int = 31, seed: int = 0,
                   log=None, regressors: Optional[Dict[Any, Any]] = None, on_linear: bool = False,
                   relative: bool = False, per_set: bool = False, set_mix: float = 1.0,
                   linear_mix: float = 1.0) -> TreePrior:
    """Fit one ``HistGradientBoostingRegressor`` per target on the training ``scenes`` (see the module
    docstring): a fixed random sample of ``pixels_per_scene`` pixels valid in every band per scene (a glob
    entry's matches share one budget), each scene weighted by its sampling weight, like the evaluation's
    baseline.  Deterministic for a given ``seed``.  ``regressors``: a dict that receives, per target, the
    fitted scikit-learn regressor and the feature columns it was fitted on (for checks).  ``on_linear``: the
    trees fit ``target - linear fit`` (the least squares of each row's own source set, from the training
    scenes' moments as :class:`~.evaluate.LinearBaseline` solves it), so that the sum extrapolates linearly
    beyond the training range; the prior then carries the moments, and the graph adds the fit back.
    ``relative``: the trees see :func:`relative_features` (each reflective band over the pixel's brightness,
    and the brightness) and fit ``target / brightness``, each row weighted by the brightness squared (the
    squared error of the product), so that the prediction, multiplied back, scales with a brighter or darker
    scene of the same spectral shape; ``regressors`` then receive the columns of those 16 features.
    ``per_set``: each target also gets an ensemble fitted only on the rows with all other bands and one
    fitted only on the rows with the L30 bands (same settings; :func:`source_set_route` picks one per
    pixel); ``regressors`` receive them under ``(target, ALL_OTHERS)`` and ``(target, L30_SET)``.
    ``set_mix``: the weight of a set's own ensemble on its rows (the shared one takes ``1 - set_mix``).
    ``linear_mix``: below 1, the prior carries the linear fit (as ``on_linear`` does) and its tree branch is
    ``linear_mix x trees + (1 - linear_mix) x linear fit`` (the trees fitted on the bands as they are)."""
    try:
        from sklearn.ensemble import HistGradientBoostingRegressor
    except ImportError:
        raise ModelError("the tree prior needs scikit-learn (pip install 'hls_translate[train]')") from None
    import time

    if on_linear and relative:
        raise ModelError("tree prior: relative and on_linear exclude each other (pick one)")
    if per_set and (on_linear or relative):
        raise ModelError("tree prior: per_set is fitted on the bands as they are (not with relative or on_linear)")
    if not 0.0 < float(set_mix) <= 1.0 or (set_mix != 1.0 and not per_set):
        raise ModelError(f"tree prior: set_mix must be in (0, 1] and needs per_set, got {set_mix}")
    if not 0.0 < float(linear_mix) <= 1.0 or (linear_mix != 1.0 and on_linear):
        raise ModelError(f"tree prior: linear_mix must be in (0, 1] and excludes on_linear, got {linear_mix}")
    if pixels_per_scene < 100 or max_iter < 1 or max_leaf_nodes < 2:
        raise ModelError("tree prior: pixels_per_scene must be >= 100, max_iter >= 1, max_leaf_nodes >= 2")
    l30 = [c.id for c in BAND_CLASSES if c.key in L30_KEYS]
    picks = sample_pixels(scenes, pixels_per_scene, seed)
    fields: Dict[str, List[np.ndarray]] = {k: [] for k in list(_ARRAYS)[2:]}
    fields["tree_start"] = []
    tree_set: List[np.ndarray] = []
    set_base, set_has = [], []
    linear: Dict[str, np.ndarray] = linear_fit_arrays(scenes, sources) if on_linear or linear_mix != 1.0 else {}
    kept, base = [], []
    offset = 0
    t_all = time.time()

    def add_trees(reg, cols, target: int, kind: int) -> None:
        nonlocal offset
        for stage in reg._predictors:
            nodes = stage[0].nodes
            if np.any(nodes["is_categorical"]):
                raise ModelError("tree prior: a categorical split (not expected for reflectance features)")
            fields["tree_target"].append(np.array([target], dtype=np.int64))
            fields["tree_start"].append(np.array([offset], dtype=np.int64))
            tree_set.append(np.array([kind], dtype=np.int64))
            leaf = nodes["is_leaf"].astype(np.uint8)
            fields["nodes_feature"].append(np.where(leaf, 0, cols[np.where(leaf, 0, nodes["feature_idx"])]).astype(np.int64))
            fields["nodes_threshold"].append(np.where(leaf, 0.0, _floor32(nodes["num_threshold"])).astype(np.float32))
            fields["nodes_left"].append(np.where(leaf, 0, nodes["left"]).astype(np.int64))
            fields["nodes_right"].append(np.where(leaf, 0, nodes["right"]).astype(np.int64))
            fields["nodes_missing_left"].append(nodes["missing_go_to_left"].astype(np.uint8))
            fields["nodes_leaf"].append(leaf)
            fields["nodes_value"].append(np.where(leaf, nodes["value"], 0.0).astype(np.float64))
            offset += len(nodes)

    def fit(x, y, w):
        reg = HistGradientBoostingRegressor(max_iter=max_iter, max_leaf_nodes=max_leaf_nodes, early_stopping=False,
                                            random_state=seed)
        cols = np.flatnonzero(~np.isnan(x).all(axis=0))  # classes no scene has (and the target) are no feature
        reg.fit(x[:, cols], y, sample_weight=w / w.mean())
        return reg, cols

    for target in targets:
        xs, ys, ws, ks = [], [], [], []
        for i, (s, pick) in enumerate(zip(scenes, picks)):
            if not s.has(target) or pick.size == 0 or len([c for c in s.band_ids if c != target]) == 0:
                continue
            x, y = _rows(s, target, pick, np.random.default_rng([seed, i, 1 + int(target)]), sources, l30)
            xs.append(x)
            ys.append(y)
            ws.append(np.full(len(y), s.weight / len(y)))
            ks.append(np.repeat(np.array([ALL_OTHERS, L30_SET, SHARED]), pick.size))  # _rows' three copies
        if not xs:
            if log:
                log(f"tree prior: no training scene has {BAND_CLASSES[int(target)].key}; no trees for it")
            continue
        t0 = time.time()
        w = np.concatenate(ws)
        x = np.concatenate(xs)
        y = np.concatenate(ys).astype(np.float64)
        if on_linear:
            y = y - _linear_fit(x, int(target), *(linear[k] for k in _LINEAR))
        if relative:
            x, b = relative_features(x)
            y = y / b
            w = w * b.astype(np.float64) ** 2
        reg, cols = fit(x, y, w)
        kept.append(int(target))
        if regressors is not None:
            regressors[int(target)] = (reg, cols)
        base.append(float(np.ravel(reg._baseline_prediction)[0]))  # the initial constant of the boosting
        add_trees(reg, cols, int(target), SHARED)
        n_trees = len(reg._predictors)
        if per_set:
            kinds = np.concatenate(ks)
            b2, h2 = [0.0, 0.0], [0, 0]
            for j, kind in enumerate((ALL_OTHERS, L30_SET)):
                on = kinds == kind
                if not on.any():
                    continue
                r, c = fit(x[on], y[on], w[on])
                if regressors is not None:
                    regressors[(int(target), kind)] = (r, c)
                b2[j], h2[j] = float(np.ravel(r._baseline_prediction)[0]), 1
                add_trees(r, c, int(target), kind)
                n_trees += len(r._predictors)
            set_base.append(b2)
            set_has.append(h2)
        if log:
            log(f"tree prior: {BAND_CLASSES[int(target)].key}: {len(w):,} rows, {n_trees} trees, "
                f"{time.time() - t0:.1f} s")
    if not kept:
        raise ModelError("tree prior: no target band has training pixels")
    cat = {k: np.concatenate(v) for k, v in fields.items()}
    info = {"fitted_with": "sklearn.ensemble.HistGradientBoostingRegressor", "max_iter": int(max_iter),
            "max_leaf_nodes": int(max_leaf_nodes), "pixels_per_scene": int(pixels_per_scene), "seed": int(seed),
            "source_sets": "each pixel with all other bands, with the Landsat / HLS L30 bands, with a random subset",
            "per_set": ("per target one ensemble on all three source sets' rows, one only on the rows with all other "
                        "bands and one only on the rows with the L30 bands; the bands present choose one"
                        + ("" if set_mix == 1.0 else f", weighted {set_mix:g} against the shared one's "
                           f"{1.0 - set_mix:g}")) if per_set else "no",
            **({"set_mix": float(set_mix)} if per_set else {}),
            **({"linear_mix": float(linear_mix), "mixed_with": (
                f"{linear_mix:g} x trees + {1.0 - linear_mix:g} x the least-squares fit of the pixel's own source "
                "set (the training scenes' moments)")} if linear_mix != 1.0 else {}),
            "training_scenes": [s.name for s in scenes], "fit_seconds": round(time.time() - t_all, 1),
            "base": "linear fit (the trees fit its residual)" if on_linear else "none",
            "relative": ("the trees see each reflective band over the pixel's mean reflective band (and that "
                         "mean) and predict the target over it") if relative else "no"}
    prior = TreePrior(targets=np.array(kept, dtype=np.int64), base=np.array(base, dtype=np.float64),
                      tree_target=cat["tree_target"], tree_start=np.append(cat["tree_start"], offset),
                      nodes_feature=cat["nodes_feature"], nodes_threshold=cat["nodes_threshold"],
                      nodes_left=cat["nodes_left"], nodes_right=cat["nodes_right"],
                      nodes_missing_left=cat["nodes_missing_left"], nodes_leaf=cat["nodes_leaf"],
                      nodes_value=cat["nodes_value"], info=info, relative=bool(relative), **linear,
                      **(dict(tree_set=np.concatenate(tree_set), set_base=np.array(set_base, dtype=np.float64),
                              set_has=np.array(set_has, dtype=np.uint8), set_mix=float(set_mix)) if per_set else {}),
                      linear_mix=float(linear_mix))
    problem = prior.problems()
    if problem:  # pragma: no cover - a scikit-learn whose tree layout changed
        raise ModelError(f"tree prior: the fitted trees do not convert ({problem})")
    return prior


# -- the ONNX graph ----------------------------------------------------------------------------------------
ML_DOMAIN = "ai.onnx.ml"
#: Every name :func:`graft_tree_prior` adds starts so; the network's own output is renamed to the second.
_GRAFT_PREFIX = "tree_prior/"
_NETWORK_OUTPUT = _GRAFT_PREFIX + "network_output"


def tree_ensemble_attributes(prior: TreePrior, target: int, kind: int = SHARED) -> Dict[str, Any]:
    """The attributes of the ONNX-ML ``TreeEnsembleRegressor`` holding the trees of ``target``'s ensemble
    ``kind`` (a class and an ensemble the prior has): one output, the sum of the leaves plus its base."""
    found = [(trees, b) for k, trees, b in prior.ensembles(target) if k == kind]
    if not found:
        raise ModelError(f"tree prior: target class {int(target)} has no ensemble for {SET_NAMES[kind]}")
    trees, base = found[0]
    treeids, nodeids, featureids, values, modes, trues, falses, missing = [], [], [], [], [], [], [], []
    t_tree, t_node, t_weight = [], [], []
    for j, k in enumerate(trees):
        s, e = int(prior.tree_start[k]), int(prior.tree_start[k + 1])
        leaf = prior.nodes_leaf[s:e].astype(bool)
        treeids.append(np.full(e - s, j, dtype=np.int64))
        nodeids.append(np.arange(e - s, dtype=np.int64))
        featureids.append(prior.nodes_feature[s:e])
        values.append(prior.nodes_threshold[s:e])
        modes.extend("LEAF" if lf else "BRANCH_LEQ" for lf in leaf)
        trues.append(np.where(leaf, 0, prior.nodes_left[s:e]))
        falses.append(np.where(leaf, 0, prior.nodes_right[s:e]))
        missing.append(prior.nodes_missing_left[s:e].astype(np.int64))
        local = np.flatnonzero(leaf)
        t_tree.append(np.full(local.size, j, dtype=np.int64))
        t_node.append(local.astype(np.int64))
        t_weight.append(prior.nodes_value[s:e][local])
    cat = np.concatenate
    return dict(n_targets=1, aggregate_function="SUM", post_transform="NONE",
                base_values=[float(base)],
                nodes_treeids=cat(treeids).tolist(), nodes_nodeids=cat(nodeids).tolist(),
                nodes_featureids=cat(featureids).astype(np.int64).tolist(),
                nodes_values=cat(values).astype(np.float32).tolist(), nodes_modes=modes,
                nodes_truenodeids=cat(trues).astype(np.int64).tolist(),
                nodes_falsenodeids=cat(falses).astype(np.int64).tolist(),
                nodes_missing_value_tracks_true=cat(missing).tolist(),
                target_ids=np.zeros(sum(len(t) for t in t_tree), dtype=np.int64).tolist(),
                target_nodeids=cat(t_node).tolist(), target_treeids=cat(t_tree).tolist(),
                target_weights=cat(t_weight).astype(np.float32).tolist())


def graft_tree_prior(proto, prior: TreePrior, weight: float, *, bands: str, presence: str, target: str,
                     output: str) -> None:
    """Make the graph of ``proto`` (an exported conditional model: ``bands`` [N,15,H,W], ``presence``
    [N,15], ``target`` [N] int64 -> ``output`` [N,1,H,W]) output ``(1 - weight) * network + weight *
    trees``, in place.  A target the prior has no trees for keeps the network's output alone.

    Each target's trees are one ``TreeEnsembleRegressor`` inside an ``If`` that runs only when some item of
    the batch asks for that target (the engine's batches have one target: one ensemble runs per call).  A
    per-set prior has up to three per target; each item's presence chooses one (:func:`source_set_route`,
    computed in the graph), and each ``If`` runs only when some item asks for its target and set."""
    from onnx import TensorProto, helper, numpy_helper

    if not 0.0 < float(weight) <= 1.0:
        raise ModelError(f"--tree-weight must be in (0, 1], got {weight}")
    g = proto.graph
    names = {o for n in g.node for o in n.output} | {i.name for i in g.input}
    p = _GRAFT_PREFIX
    if any(n.startswith(p) for n in names):
        raise ModelError("this graph already has a tree prior")
    net = _NETWORK_OUTPUT
    for n in g.node:  # the network now writes net; the blend writes the graph's output
        for i, o in enumerate(n.output):
            if o == output:
                n.output[i] = net
    has = np.zeros(NUM_CLASSES, dtype=np.float32)
    has[prior.targets] = float(weight)
    made: Dict[str, str] = {}

    def const(name, arr):
        if name not in made:
            g.initializer.append(numpy_helper.from_array(np.asarray(arr), p + name))
            made[name] = p + name
        return made[name]

    nodes = [
        helper.make_node("Shape", [bands], [p + "shape"]),
        helper.make_node("Transpose", [bands], [p + "nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Unsqueeze", [presence, const("axes12", np.array([1, 2], np.int64))], [p + "pres4"]),
        helper.make_node("Greater", [p + "pres4", const("half", np.array(0.5, np.float32))], [p + "on"]),
        helper.make_node("Where", [p + "on", p + "nhwc", const("nan", np.array(np.nan, np.float32))], [p + "xm"]),
        helper.make_node("Reshape", [p + "xm", const("m15", np.array([-1, NUM_CLASSES], np.int64))], [p + "rows"]),
        helper.make_node("Gather", [p + "shape", const("i0", np.array([0], np.int64))], [p + "n"]),
        helper.make_node("Slice", [p + "shape", const("s2", np.array([2], np.int64)),
                                   const("s4", np.array([4], np.int64))], [p + "hw"]),
        helper.make_node("Concat", [p + "n", const("one", np.array([1], np.int64)), p + "hw"], [p + "shape1"], axis=0),
        helper.make_node("ConstantOfShape", [p + "shape1"], [p + "zeros"],
                         value=numpy_helper.from_array(np.zeros(1, np.float32))),
        helper.make_node("Reshape", [target, const("n111", np.array([-1, 1, 1, 1], np.int64))], [p + "t4"]),
    ]
    features = p + "rows"
    if prior.relative:
        features = _relative_nodes(nodes, const, p + "rows", p + "relative/")
    total = p + "zeros"
    routes = _route_nodes(nodes, const, presence, target, p + "route/") if prior.per_set else {}
    for t, kind, q in ((t, k, f"{p}t{t}/" + ("" if k == SHARED else f"set{k}/"))
                       for t in prior.targets.tolist() for k, _, _ in prior.ensembles(t)):
        scaled = [helper.make_node("Mul", [q + "tree_ratio", p + "relative/b"], [q + "tree_rows"])] \
            if prior.relative else []
        then = helper.make_graph(
            [helper.make_node("TreeEnsembleRegressor", [features],
                              [q + ("tree_ratio" if prior.relative else "tree_rows")], domain=ML_DOMAIN,
                              **tree_ensemble_attributes(prior, t, kind)),
             *scaled,
             helper.make_node("Reshape", [q + "tree_rows", p + "shape1"], [q + "then_out"])],
            f"trees_{t}", [], [helper.make_tensor_value_info(q + "then_out", TensorProto.FLOAT, None)])
        other = helper.make_graph([helper.make_node("Identity", [p + "zeros"], [q + "else_out"])], f"no_trees_{t}", [],
                                  [helper.make_tensor_value_info(q + "else_out", TensorProto.FLOAT, None)])
        nodes += [
            helper.make_node("Equal", [p + "t4", const(f"c{t}", np.array(t, np.int64))], [q + "is_t"]),
            helper.make_node("Cast", [q + "is_t"], [q + "isf" if not prior.per_set else q + "is_tf"],
                             to=TensorProto.FLOAT),
        ]
        if prior.per_set:  # this ensemble's weight per item: its set's items (the shared: all the rest), the
            # mix's share of them; the shared one the rest of every routed item when the mix is below 1
            have = [k for k, _, _ in prior.ensembles(t)]
            mix = float(prior.set_mix)
            if kind == SHARED:
                mine = const("one_f", np.array(1.0, np.float32))
                for k in have[1:]:
                    routed = routes[k]
                    if mix < 1.0:
                        nodes.append(helper.make_node("Mul", [routed, const("mix", np.array(mix, np.float32))],
                                                      [q + f"mixed{k}"]))
                        routed = q + f"mixed{k}"
                    nodes.append(helper.make_node("Sub", [mine, routed], [q + f"minus{k}"]))
                    mine = q + f"minus{k}"
            else:
                mine = routes[kind]
                if mix < 1.0:
                    nodes.append(helper.make_node("Mul", [mine, const("mix", np.array(mix, np.float32))],
                                                  [q + "mixed"]))
                    mine = q + "mixed"
            nodes.append(helper.make_node("Mul", [q + "is_tf", mine], [q + "isf"]))
        nodes += [  # the trees run only when some item takes a share of them
            helper.make_node("ReduceMax", [q + "isf"], [q + "any_f"], keepdims=0),
            helper.make_node("Greater", [q + "any_f", const("zero_f", np.array(0.0, np.float32))], [q + "any"]),
            helper.make_node("If", [q + "any"], [q + "trees"], then_branch=then, else_branch=other),
            helper.make_node("Mul", [q + "trees", q + "isf"], [q + "mine"]),
            helper.make_node("Add", [total, q + "mine"], [q + "total"]),
        ]
        total = q + "total"
    if prior.on_linear:  # the trees fit the linear fit's residual: add the fit (solved in the graph) back
        lin = _linear_nodes(proto, prior, bands=bands, presence=presence, target=target, prefix=p + "linear/")
        nodes.append(helper.make_node("Add", [total, lin], [p + "trees_and_linear"]))
        total = p + "trees_and_linear"
    elif prior.mixes_linear:  # m x trees + (1 - m) x the linear fit = lin + m (trees - lin)
        lin = _linear_nodes(proto, prior, bands=bands, presence=presence, target=target, prefix=p + "linear/")
        nodes += [
            helper.make_node("Sub", [total, lin], [p + "trees_minus_linear"]),
            helper.make_node("Mul", [p + "trees_minus_linear",
                                     const("linear_mix", np.array(float(prior.linear_mix), np.float32))],
                             [p + "mixed_increment"]),
            helper.make_node("Add", [lin, p + "mixed_increment"], [p + "trees_and_linear"]),
        ]
        total = p + "trees_and_linear"
    nodes += [
        # w where the prior has the target's trees, else 0; out = net + w (trees - net)
        helper.make_node("Gather", [const("weights", has), target], [p + "w"]),
        helper.make_node("Reshape", [p + "w", const("n111", np.array([-1, 1, 1, 1], np.int64))], [p + "w4"]),
        helper.make_node("Sub", [total, net], [p + "delta"]),
        helper.make_node("Mul", [p + "w4", p + "delta"], [p + "wdelta"]),
        helper.make_node("Add", [net, p + "wdelta"], [output]),
    ]
    g.node.extend(nodes)
    if not any(o.domain == ML_DOMAIN for o in proto.opset_import):
        op = proto.opset_import.add()
        op.domain, op.version = ML_DOMAIN, 3


def strip_tree_prior(proto, output: str) -> bool:
    """Remove the tree prior :func:`graft_tree_prior` added to ``proto``'s graph, in place: every node,
    initializer and value info it named, and the blend that wrote ``output``; the network's last node then
    writes ``output`` again, unchanged.  Returns whether the graph had a prior."""
    g = proto.graph
    p, net = _GRAFT_PREFIX, _NETWORK_OUTPUT
    if not any(net in n.output for n in g.node):
        return False
    keep = []
    for n in g.node:
        outs = list(n.output)
        if net in outs:
            for i, o in enumerate(outs):
                if o == net:
                    n.output[i] = output
            keep.append(n)
        elif output not in outs and not any(o.startswith(p) for o in outs):
            keep.append(n)
    leftover = [i for n in keep for i in n.input if i.startswith(p)]
    if leftover:
        raise ModelError(f"this graph's tree prior cannot be removed: the network reads {leftover[0]}")
    del g.node[:]
    g.node.extend(keep)
    for field in (g.initializer, g.value_info):
        kept = [v for v in field if not v.name.startswith(p)]
        del field[:]
        field.extend(kept)
    if not any(n.domain == ML_DOMAIN for n in g.node):
        ops = [o for o in proto.opset_import if o.domain != ML_DOMAIN]
        del proto.opset_import[:]
        proto.opset_import.extend(ops)
    return True


def _route_nodes(nodes: list, const, presence: str, target: str, q: str) -> Dict[int, str]:
    """Append to ``nodes`` the graph of :func:`source_set_route` on each item's ``presence`` [N, 15] and
    ``target`` [N]: returns the names of the [N, 1, 1, 1] float indicators of ALL_OTHERS and L30_SET (an
    item is in at most one; the shared ensemble takes the rest)."""
    from onnx import TensorProto, helper

    col = lambda m: m.astype(np.float32).reshape(NUM_CLASSES, 1)  # noqa: E731
    nodes += [
        helper.make_node("Greater", [presence, const("half", np.array(0.5, np.float32))], [q + "on"]),
        helper.make_node("Cast", [q + "on"], [q + "onf"], to=TensorProto.FLOAT),
        helper.make_node("Gather", [const("route_others", (1.0 - np.eye(NUM_CLASSES)).astype(np.float32)), target],
                         [q + "others"]),  # [N, 15]: 1 but at the item's target
        helper.make_node("Sub", [const("one_f", np.array(1.0, np.float32)), q + "onf"], [q + "off"]),
        helper.make_node("Mul", [q + "off", q + "others"], [q + "absent"]),
        helper.make_node("Mul", [q + "onf", q + "others"], [q + "there"]),
        helper.make_node("MatMul", [q + "absent", const("route_core", col(_CORE))], [q + "core_missing"]),
        helper.make_node("MatMul", [q + "absent", const("route_s2", col(_S2))], [q + "s2_missing"]),
        helper.make_node("MatMul", [q + "there", const("route_not_l30", col(_NOT_L30))], [q + "not_l30_present"]),
    ]
    for name in ("core_missing", "s2_missing", "not_l30_present"):
        nodes += [helper.make_node("Less", [q + name, const("half", np.array(0.5, np.float32))], [q + name + "_no"]),
                  helper.make_node("Cast", [q + name + "_no"], [q + name + "_nof"], to=TensorProto.FLOAT)]
    nodes += [
        helper.make_node("Mul", [q + "core_missing_nof", q + "s2_missing_nof"], [q + "all"]),
        helper.make_node("Mul", [q + "core_missing_nof", q + "not_l30_present_nof"], [q + "l30"]),
    ]
    out = {}
    for kind, name in ((ALL_OTHERS, "all"), (L30_SET, "l30")):
        nodes.append(helper.make_node("Reshape", [q + name, const("n111", np.array([-1, 1, 1, 1], np.int64))],
                                      [q + name + "4"]))
        out[kind] = q + name + "4"
    return out


def _relative_nodes(nodes: list, const, rows: str, q: str) -> str:
    """Append to ``nodes`` the graph of :func:`relative_features` on ``rows`` [M, 15] (NaN: absent): the
    brightness ``q + "b"`` [M, 1] (summed class by class with elementwise ``Add``, in class order, as
    :func:`brightness` does in numpy) and the features [M, 16]; returns the features' name."""
    from onnx import TensorProto, helper

    nodes += [
        helper.make_node("IsNaN", [rows], [q + "nan"]),
        helper.make_node("Not", [q + "nan"], [q + "have"]),
        helper.make_node("And", [q + "have", const("reflective", REFLECTIVE.reshape(1, -1))], [q + "on"]),
        helper.make_node("Where", [q + "on", rows, const("zero", np.array(0.0, np.float32))], [q + "xz"]),
        helper.make_node("Cast", [q + "on"], [q + "onf"], to=TensorProto.FLOAT),
    ]
    total, count = None, None
    for c in range(NUM_CLASSES):
        idx = const(f"col{c}", np.array([c], np.int64))
        nodes += [helper.make_node("Gather", [q + "xz", idx], [f"{q}x{c}"], axis=1),
                  helper.make_node("Gather", [q + "onf", idx], [f"{q}n{c}"], axis=1)]
        if total is None:  # 0 + x == x exactly, as numpy's first addition
            total, count = f"{q}x{c}", f"{q}n{c}"
            continue
        nodes += [helper.make_node("Add", [total, f"{q}x{c}"], [f"{q}sum{c}"]),
                  helper.make_node("Add", [count, f"{q}n{c}"], [f"{q}count{c}"])]
        total, count = f"{q}sum{c}", f"{q}count{c}"
    one = const("one_f", np.array(1.0, np.float32))
    nodes += [
        helper.make_node("Max", [count, one], [q + "divisor"]),
        helper.make_node("Div", [total, q + "divisor"], [q + "mean"]),
        helper.make_node("Greater", [count, const("half", np.array(0.5, np.float32))], [q + "any"]),
        helper.make_node("Where", [q + "any", q + "mean", one], [q + "mean1"]),
        helper.make_node("Max", [q + "mean1", const("floor", np.array(BRIGHTNESS_FLOOR, np.float32))], [q + "b"]),
        helper.make_node("Div", [rows, q + "b"], [q + "ratio_all"]),
        helper.make_node("Where", [const("reflective", REFLECTIVE.reshape(1, -1)), q + "ratio_all", rows],
                         [q + "ratio"]),
        helper.make_node("Concat", [q + "ratio", q + "b"], [q + "features"], axis=1),
    ]
    return q + "features"


def _linear_module(prior: TreePrior):
    """A torch module computing :meth:`TreePrior.linear` for a batch (``bands`` [N,15,H,W], ``presence``
    [N,15], ``target`` [N] -> [N,1,H,W]), with the same solve as the models' in-graph linear prior."""
    import torch
    from torch import nn

    from ..core.models.linear_fit import linear_prediction

    class LinearFit(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("moments", torch.from_numpy(np.asarray(prior.linear_moments, np.float64)))
            self.register_buffer("group_bands", torch.from_numpy(np.asarray(prior.linear_bands, np.float64)))
            self.register_buffer("weights", torch.from_numpy(np.asarray(prior.linear_weights, np.float64)))
            self.register_buffer("sources", torch.from_numpy(np.asarray(prior.sources, np.float64)))

        def forward(self, bands, present, target):
            p = (present > 0.5).to(torch.float64) * self.sources.unsqueeze(0)
            return linear_prediction(bands, p, target, self.moments, self.group_bands, self.weights)

    return LinearFit().eval()


def _linear_nodes(proto, prior: TreePrior, *, bands: str, presence: str, target: str, prefix: str) -> str:
    """Add the linear fit's nodes (a torch export of :func:`_linear_module`, every name but the graph's
    inputs prefixed) to ``proto``'s graph; returns the name of its output [N,1,H,W]."""
    import tempfile
    import warnings

    import onnx
    import torch

    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    module = _linear_module(prior)
    example = (torch.rand(2, NUM_CLASSES, 4, 4), torch.ones(2, NUM_CLASSES), torch.tensor([4, 11]))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "linear.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, path, dynamo=False, opset_version=opset,
                              input_names=[bands, presence, target], output_names=["linear"],
                              dynamic_axes={bands: {0: "N", 2: "H", 3: "W"}, presence: {0: "N"}, target: {0: "N"},
                                            "linear": {0: "N", 2: "H", 3: "W"}}, do_constant_folding=True)
        sub = onnx.load(path)
    keep = {bands, presence, target, ""}
    rename = lambda n: n if n in keep else prefix + n  # noqa: E731
    for init in sub.graph.initializer:
        init.name = rename(init.name)
        proto.graph.initializer.append(init)
    for node in sub.graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise ModelError("tree prior: the linear fit's graph has a subgraph (not expected)")
        node.name = prefix + node.name if node.name else ""
        for i, n in enumerate(node.input):
            node.input[i] = rename(n)
        for i, n in enumerate(node.output):
            node.output[i] = rename(n)
        proto.graph.node.append(node)
    return prefix + "linear"


def fit_tree_prior_from_config(cfg, *, sources: Sequence[int] = (), targets: Sequence[int] = (),
                               pixels_per_scene: int = 20000, max_iter: int = 300, max_leaf_nodes: int = 31,
                               log=None, on_linear: bool = False, relative: bool = False,
                               per_set: bool = False, set_mix: float = 1.0, linear_mix: float = 1.0) -> TreePrior:
    """:func:`fit_tree_prior` on the training scenes of a training config (``data.train``, read as the
    trainer reads them, ``data.toa_only`` included), for its targets from its sources, seed ``run.seed``.
    Default targets: the config's ``data.targets`` (else every class); default sources: the classes the
    config's model takes as input (a conditional model's ``source_bands``; every class for another model),
    so that the trees never learn from a band the exported model is never fed (the engine marks every
    other band absent)."""
    from ..core.models import create_model
    from .data import load_scenes

    d = cfg.data
    if not sources:
        model = create_model(cfg.model.name, **dict(cfg.model.params))
        sources = model.cfg.source_ids if model.kind == "conditional" else tuple(range(NUM_CLASSES))
    scenes = load_scenes(d.train, d, "train", chip=d.chip_size, log=log)
    targets = tuple(targets) or tuple(d.band_ids(d.targets, "data.targets")) or tuple(range(NUM_CLASSES))
    sources = tuple(sources)
    prior = fit_tree_prior(scenes, targets, sources, pixels_per_scene=pixels_per_scene, max_iter=max_iter,
                           max_leaf_nodes=max_leaf_nodes, seed=cfg.run.seed, log=log, on_linear=on_linear,
                           relative=relative, per_set=per_set, set_mix=set_mix, linear_mix=linear_mix)
    return dataclasses.replace(prior, info={**dict(prior.info), "sources": [BAND_CLASSES[c].key for c in sources]})


__all__ = ["TreePrior", "fit_tree_prior", "fit_tree_prior_from_config", "graft_tree_prior", "strip_tree_prior", "sample_pixels", "linear_fit_arrays",
           "tree_ensemble_attributes", "brightness", "relative_features", "SCHEMA", "L30_KEYS", "REFLECTIVE",
           "BRIGHTNESS_FLOOR", "source_set_route", "SHARED", "ALL_OTHERS", "L30_SET", "SET_NAMES", "CORE_KEYS",
           "S2_KEYS"]
