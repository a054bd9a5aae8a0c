"""Image-quality metrics in physical units (numpy only): RMSE, MAE, bias, PSNR, SSIM.

All functions take a prediction, a reference and an optional validity mask (True = use the pixel).
PSNR and SSIM need a ``data_range``: for reflectance the natural choice is 1.0 (the range of
reflectance), which makes numbers comparable across bands and scenes; it is stated in every report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, Optional

import numpy as np

#: Default dynamic range for PSNR/SSIM of reflectance bands.
REFLECTANCE_RANGE = 1.0


def _pair(pred, ref, valid):
    p = np.asarray(pred, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if p.shape != r.shape:
        raise ValueError(f"prediction shape {p.shape} differs from reference shape {r.shape}")
    m = np.isfinite(p) & np.isfinite(r)
    if valid is not None:
        m &= np.asarray(valid, dtype=bool)
    return p, r, m


def rmse(pred, ref, valid=None) -> float:
    p, r, m = _pair(pred, ref, valid)
    return float(np.sqrt(np.mean((p[m] - r[m]) ** 2))) if m.any() else float("nan")


def mae(pred, ref, valid=None) -> float:
    p, r, m = _pair(pred, ref, valid)
    return float(np.mean(np.abs(p[m] - r[m]))) if m.any() else float("nan")


def bias(pred, ref, valid=None) -> float:
    p, r, m = _pair(pred, ref, valid)
    return float(np.mean(p[m] - r[m])) if m.any() else float("nan")


def psnr(pred, ref, valid=None, data_range: float = REFLECTANCE_RANGE) -> float:
    e = rmse(pred, ref, valid)
    if math.isnan(e):
        return e
    return float("inf") if e == 0 else float(20 * math.log10(data_range / e))


def _gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _filter2(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' convolution of a 2-D array with the 1-D kernel k along both axes."""
    n = len(k)
    rows = sum(k[i] * a[i:a.shape[0] - n + 1 + i, :] for i in range(n))
    return sum(k[i] * rows[:, i:rows.shape[1] - n + 1 + i] for i in range(n))


def ssim(pred, ref, valid=None, data_range: float = REFLECTANCE_RANGE, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004; Gaussian window sigma 1.5, radius 5, K1=0.01,
    K2=0.03) over the windows whose pixels are all valid."""
    p, r, m = _pair(pred, ref, valid)
    if p.ndim != 2:
        raise ValueError(f"ssim needs 2-D arrays, got shape {p.shape}")
    radius = int(3.5 * sigma + 0.5)
    if min(p.shape) < 2 * radius + 1:
        return float("nan")
    k = _gaussian_kernel(sigma, radius)
    p = np.where(m, p, 0.0)
    r = np.where(m, r, 0.0)
    mu_p, mu_r = _filter2(p, k), _filter2(r, k)
    spp = _filter2(p * p, k) - mu_p ** 2
    srr = _filter2(r * r, k) - mu_r ** 2
    spr = _filter2(p * r, k) - mu_p * mu_r
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_p * mu_r + c1) * (2 * spr + c2)) / ((mu_p ** 2 + mu_r ** 2 + c1) * (spp + srr + c2))
    full = _filter2(m.astype(np.float64), np.ones_like(k)) >= (2 * radius + 1) ** 2 - 0.5
    return float(s[full].mean()) if full.any() else float("nan")


@dataclass(frozen=True)
class BandScores:
    rmse: float
    mae: float
    bias: float
    psnr: float
    ssim: float
    n_pixels: int
    data_range: float

    def as_dict(self) -> Dict[str, float]:
        return asdict(self)


def score(pred, ref, valid: Optional[np.ndarray] = None, data_range: float = REFLECTANCE_RANGE) -> BandScores:
    """All metrics at once for one 2-D band."""
    _, _, m = _pair(pred, ref, valid)
    return BandScores(rmse=rmse(pred, ref, m), mae=mae(pred, ref, m), bias=bias(pred, ref, m),
                      psnr=psnr(pred, ref, m, data_range), ssim=ssim(pred, ref, m, data_range),
                      n_pixels=int(m.sum()), data_range=data_range)
