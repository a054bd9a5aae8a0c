"""The baselines: per-pixel least squares (:class:`LinearBaseline`) and per-pixel gradient-boosted trees
(:class:`GBTBaseline`), for any task.

Linear: ``target = a0 + sum_i a_i * source_i``.

Fitted for each (source set, target) on the training scenes, weighted like the training sampler (each
scene by its sampling weight, spread over its pixels that are valid in every band).  :meth:`LinearBaseline.fit`
keeps one moment matrix per training scene (:class:`SceneMoments`), so any source subset costs one small
solve; the solve is :mod:`hls_translate.core.models.linear_fit`'s, the one ``adain_unet``'s linear prior
runs in its graph, so the two agree by construction.  Any model that maps bands to bands gets this
baseline (a fixed-band model: from its input bands to each of its output bands).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, NamedTuple, Sequence, Tuple

import numpy as np

from ...core.bands import NUM_CLASSES
from ..data import DataError, SceneData, band_code


class SceneMoments(NamedTuple):
    """The moments of one training scene: ``E[z z^T]`` over its pixels valid in every band, with
    ``z = (1, v_0 .. v_14)`` in physical units (0 for classes it lacks), and its sampling weight."""

    scene: str
    bands: Tuple[int, ...]  # class ids the scene has
    moments: np.ndarray  # float64 [1 + 15, 1 + 15]
    weight: float


class LinearBaseline:
    """Per-pixel least-squares regression from any source subset to any target (see module docstring)."""

    def __init__(self, grams: Sequence[SceneMoments]):
        self.grams: Tuple[SceneMoments, ...] = tuple(
            SceneMoments(str(name), tuple(int(c) for c in ids), np.asarray(m, dtype=np.float64), float(w))
            for name, ids, m, w in grams)

    @classmethod
    def fit(cls, scenes: Sequence[SceneData]) -> "LinearBaseline":
        grams = []
        for s in scenes:
            ok = s.all_valid
            n = int(ok.sum())
            if n == 0:
                continue
            x = np.empty((n, 1 + len(s.band_ids)), dtype=np.float64)
            x[:, 0] = 1.0
            for ch in range(len(s.band_ids)):
                x[:, 1 + ch] = s.values[ch][ok]
            g = np.zeros((1 + NUM_CLASSES, 1 + NUM_CLASSES))
            idx = [0] + [1 + c for c in s.band_ids]
            g[np.ix_(idx, idx)] = x.T @ x / n
            grams.append(SceneMoments(s.name, s.band_ids, g, s.weight))
        if not grams:
            raise DataError("linear baseline: the training scenes have no pixel valid in every band")
        return cls(grams)

    def coefficients(self, sources: Sequence[int], target: int) -> np.ndarray:
        """``[a0, a_1..a_k]`` for the sources in the order given (float64)."""
        import torch

        from ...core.models.linear_fit import mix_moments, solve_coefficients

        need = set(sources) | {target}
        if not any(need <= set(g.bands) for g in self.grams):
            raise DataError(f"linear baseline: no training scene has {', '.join(band_code(c) for c in sorted(need))}")
        group_bands = torch.zeros(len(self.grams), NUM_CLASSES, dtype=torch.float64)
        for k, g in enumerate(self.grams):
            group_bands[k, list(g.bands)] = 1.0
        need_row = torch.zeros(1, NUM_CLASSES, dtype=torch.float64)
        need_row[0, sorted(need)] = 1.0
        mixed = mix_moments(torch.from_numpy(np.stack([g.moments for g in self.grams])), group_bands,
                            torch.tensor([g.weight for g in self.grams], dtype=torch.float64), need_row)
        idx = [0] + [1 + c for c in sources]
        use = torch.zeros(1, 1 + NUM_CLASSES, dtype=torch.float64)
        use[0, idx] = 1.0
        coef = solve_coefficients(mixed, use, torch.tensor([1 + target]))[0]
        return coef[idx].numpy()

    def predict(self, values: np.ndarray, sources: Sequence[int], target: int) -> np.ndarray:
        """``values`` [15, H, W] (class-indexed); returns [H, W] float32."""
        coef = self.coefficients(sources, target)
        out = np.full(values.shape[1:], coef[0], dtype=np.float64)
        for a, c in zip(coef[1:], sources):
            out += a * values[c]
        return out.astype(np.float32)

    def to_dict(self) -> Dict[str, Any]:
        return {"grams": [{"scene": g.scene, "bands": list(g.bands), "gram": g.moments.tolist(), "weight": g.weight}
                          for g in self.grams]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LinearBaseline":
        return cls([SceneMoments(e["scene"], tuple(e["bands"]), np.array(e["gram"]), e["weight"]) for e in d["grams"]])


class GBTBaseline:
    """Per-pixel gradient-boosted trees (scikit-learn's ``HistGradientBoostingRegressor``) from any source
    subset to any target: what a careful analyst tries after the linear fit.

    :meth:`fit` keeps a fixed random sample of ``pixels_per_scene`` pixels valid in every band from each
    training scene (the matches of one glob entry of the config, e.g. the BigEarthNet patches, share one
    scene's budget; class-indexed, physical units), weighted like :class:`LinearBaseline` (each scene by its
    sampling weight, spread over its sampled pixels); a (sources, target) regressor is fitted on first use,
    on the scenes that have all of its bands, and cached.  ``max_iter`` boosting iterations (300 by
    default), early stopping off, so the fit is a pure function of the data and ``seed``.
    """

    def __init__(self, samples: Sequence[Tuple[str, Tuple[int, ...], np.ndarray, float]], max_iter: int = 300,
                 seed: int = 0):
        self.samples = tuple((str(n), tuple(int(c) for c in ids), np.asarray(x, dtype=np.float32), float(w))
                             for n, ids, x, w in samples)
        self.max_iter = int(max_iter)
        self.seed = int(seed)
        self._fitted: Dict[Tuple[Tuple[int, ...], int], Any] = {}

    @classmethod
    def fit(cls, scenes: Sequence[SceneData], pixels_per_scene: int = 20000, max_iter: int = 300,
            seed: int = 0) -> "GBTBaseline":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise DataError("the gradient-boosted baseline needs scikit-learn (pip install 'hls_translate[train]')") from None
        samples = []
        per_spec: Dict[int, int] = {}
        for s in scenes:
            per_spec[s.spec_index] = per_spec.get(s.spec_index, 0) + 1
        for i, s in enumerate(scenes):
            ok = np.flatnonzero(s.all_valid.ravel())
            if ok.size == 0:
                continue
            rng = np.random.default_rng([seed, i])
            n = max(1, pixels_per_scene // per_spec[s.spec_index])  # a glob's matches share one scene's budget
            pick = np.sort(rng.choice(ok, size=min(n, ok.size), replace=False))
            x = np.full((pick.size, NUM_CLASSES), np.nan, dtype=np.float32)
            for ch, cid in enumerate(s.band_ids):
                x[:, cid] = s.values[ch].ravel()[pick]
            samples.append((s.name, s.band_ids, x, s.weight))
        if not samples:
            raise DataError("gradient-boosted baseline: the training scenes have no pixel valid in every band")
        return cls(samples, max_iter=max_iter, seed=seed)

    def regressor(self, sources: Sequence[int], target: int) -> Any:
        key = (tuple(int(c) for c in sources), int(target))
        if key not in self._fitted:
            from sklearn.ensemble import HistGradientBoostingRegressor

            need = set(key[0]) | {key[1]}
            use = [(x, w) for _, ids, x, w in self.samples if need <= set(ids)]
            if not use:
                raise DataError("gradient-boosted baseline: no training scene has "
                                f"{', '.join(band_code(c) for c in sorted(need))}")
            x = np.concatenate([u[0][:, list(key[0])] for u in use])
            y = np.concatenate([u[0][:, key[1]] for u in use])
            w = np.concatenate([np.full(len(u[0]), u[1] / len(u[0])) for u in use])
            reg = HistGradientBoostingRegressor(max_iter=self.max_iter, early_stopping=False,
                                                random_state=self.seed)
            self._fitted[key] = reg.fit(x, y, sample_weight=w / w.mean())
        return self._fitted[key]

    def predict(self, values: np.ndarray, sources: Sequence[int], target: int) -> np.ndarray:
        """``values`` [15, H, W] (class-indexed); returns [H, W] float32."""
        reg = self.regressor(sources, target)
        h, w = values.shape[1:]
        x = values[list(sources)].reshape(len(sources), h * w).T
        return reg.predict(x).reshape(h, w).astype(np.float32)


__all__ = ["LinearBaseline", "SceneMoments", "GBTBaseline"]
