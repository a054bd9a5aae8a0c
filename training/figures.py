"""Evaluation figures drawn with matplotlib (the training side only; the plugin needs none of this).

* :func:`heatmap_figure`: a scene's source -> target matrix: each cell the model's RMSE (reflectance x 1e4),
  coloured by the model / linear-baseline RMSE ratio (green: model better); rows are single source bands,
  then "all other bands" and the use case's "Landsat / L30 bands";
* :func:`scatter_figure`: density scatter (2-D histogram, log colour) of synthesized vs real reflectance,
  one panel per target of a scene's headline rows, with the 1:1 line, RMSE and bias.

Both write a PNG atomically (``core.fileio.atomic_path``) and return its path.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from ..core.fileio import atomic_path
from .evaluate.records import EvaluationRow, band_order, sort_codes

_ROW_NAMES = {"all": "all other bands", "landsat": "Landsat / L30 bands"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    _pyplot().close(fig)
    return path


def heatmap_figure(rows: Sequence[EvaluationRow], scene: str, path: str) -> Optional[str]:
    """The source -> target matrix of ``scene`` (see the module docstring); None without such rows."""
    rs = [r for r in rows if r.scene == scene and r.source_set in ("single", "all", "landsat")]
    if not rs:
        return None
    plt = _pyplot()
    from matplotlib.colors import TwoSlopeNorm

    targets = sort_codes({r.target_code for r in rs})
    singles = sort_codes({r.source_codes[0] for r in rs if r.source_set == "single"})
    labels = singles + [_ROW_NAMES[s] for s in ("all", "landsat") if any(r.source_set == s for r in rs)]
    rmse = np.full((len(labels), len(targets)), np.nan)
    ratio = np.full_like(rmse, np.nan)
    for r in rs:
        i = labels.index(r.source_codes[0] if r.source_set == "single" else _ROW_NAMES[r.source_set])
        j = targets.index(r.target_code)
        rmse[i, j] = r.model.rmse * 1e4
        if r.baseline is not None and r.baseline.rmse > 0:
            ratio[i, j] = r.model.rmse / r.baseline.rmse
    has_ratio = bool(np.isfinite(ratio).any())
    width = 2.2 + 0.62 * len(targets) + (1.4 if has_ratio else 0.0)
    height = 1.7 + 0.42 * len(labels)
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    with np.errstate(divide="ignore", invalid="ignore"):
        colour = np.log2(ratio) if has_ratio else np.zeros_like(rmse)
    im = ax.imshow(np.where(np.isfinite(colour), colour, np.nan), cmap="RdYlGn_r",
                   norm=TwoSlopeNorm(vcenter=0.0, vmin=-1.0, vmax=1.0), aspect="auto")
    for i in range(len(labels)):
        for j in range(len(targets)):
            if np.isfinite(rmse[i, j]):
                ax.text(j, i, f"{rmse[i, j]:.0f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(targets)), targets)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("target band (synthesized)")
    ax.set_ylabel("source band(s)")
    ax.set_title(f"{scene}: model RMSE (reflectance x 10$^4$)", fontsize=10)
    if has_ratio:
        cb = fig.colorbar(im, ax=ax, shrink=0.9, ticks=[-1, -0.5, 0, 0.5, 1])
        cb.ax.set_yticklabels(["0.5", "0.71", "1", "1.41", "2"])
        cb.set_label("model / linear RMSE")
    return _save(fig, path)


def scatter_figure(rows: Sequence[EvaluationRow], scene: str, predictions: Mapping[Tuple[str, str, Tuple[int, ...]], np.ndarray],
                   truth: np.ndarray, valid: np.ndarray, path: str, source_set: str = "all") -> Optional[str]:
    """Density scatter of synthesized vs real per target of ``scene``'s ``source_set`` rows.

    ``truth`` / ``valid``: the scene's evaluated window, class-indexed ``[15, h, w]`` (as scored)."""
    rs = [r for r in rows if r.scene == scene and r.source_set == source_set
          and (scene, r.target_code, r.sources) in predictions]
    if not rs:
        return None
    rs.sort(key=lambda r: band_order(r.target_code))
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    cols = min(5, len(rs))
    nrows = math.ceil(len(rs) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(2.6 * cols, 2.6 * nrows + 0.5), layout="constrained",
                             squeeze=False)
    for ax in axes.ravel()[len(rs):]:
        ax.set_visible(False)
    for ax, r in zip(axes.ravel(), rs):
        ok = valid[r.target] & valid[list(r.sources)].all(axis=0)
        real = truth[r.target][ok]
        syn = predictions[(scene, r.target_code, r.sources)][ok]
        lo, hi = np.percentile(np.concatenate([real, syn]), [0.5, 99.5]) if real.size else (0.0, 1.0)
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
        ax.hist2d(real, syn, bins=80, range=[[lo, hi], [lo, hi]], norm=LogNorm(), cmap="viridis", cmin=1)
        ax.plot([lo, hi], [lo, hi], color="white", lw=0.8, ls="--")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_title(f"{r.target_code}: RMSE {r.model.rmse:.4f}, bias {r.model.bias:+.4f}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.supxlabel("real reflectance", fontsize=9)
    fig.supylabel("synthesized reflectance", fontsize=9)
    what = _ROW_NAMES.get(source_set, source_set)
    fig.suptitle(f"{scene}: synthesized vs real ({what} as input)", fontsize=10)
    return _save(fig, path)


__all__ = ["heatmap_figure", "scatter_figure"]
