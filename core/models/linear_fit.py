"""The one least-squares solve of the package: a linear fit of a target band from source bands, solved from
moment matrices, in float64 and in a form that exports to ONNX.

Moments: per group of training pixels (a scene, or a set of scenes with the same bands), ``E[z z^T]`` with
``z = (1, v_0 .. v_14)`` in physical units (0 for classes the group lacks), the classes the group has, and
its weight.  :func:`mix_moments` averages, per item, the groups that have every band the item involves
(weighted; all groups where none has them); :func:`solve_coefficients` solves the normal equations of the
item's sources by Gauss-Jordan elimination (no pivoting: the matrix is symmetric positive definite after
a small relative ridge), written out with tensor ops so that the same code runs in the ONNX graph.

Used by ``adain_unet``'s in-graph linear prior (:meth:`~.adain.AdaINUNet.linear_prior`) and by the
evaluation's ``LinearBaseline``, so the two agree by construction.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: Relative Tikhonov term of the solve (keeps nearly collinear band sets solvable).
RIDGE = 1e-10


def mix_moments(moments: torch.Tensor, group_bands: torch.Tensor, weights: torch.Tensor,
                need: torch.Tensor) -> torch.Tensor:
    """Per item, the weighted mean of the moments of the groups that have every class in ``need``.

    ``moments`` ``[K, 1+C, 1+C]``, ``group_bands`` ``[K, C]`` (1 where the group has the class),
    ``weights`` ``[K]`` (0: an unused slot), ``need`` ``[N, C]``; returns ``[N, 1+C, 1+C]`` (float64).
    """
    k, n1 = moments.shape[0], moments.shape[1]
    need = need.to(torch.float64)
    missing = torch.matmul(need, (1.0 - group_bands.to(torch.float64)).t())  # [N, K] classes a group lacks
    w = weights.to(torch.float64).unsqueeze(0) * (missing < 0.5).to(torch.float64)
    w = torch.where(w.sum(dim=1, keepdim=True) > 0, w, weights.to(torch.float64).unsqueeze(0).expand_as(w))
    w = w / w.sum(dim=1, keepdim=True)
    return torch.matmul(w, moments.to(torch.float64).reshape(k, n1 * n1)).reshape(-1, n1, n1)


def solve_coefficients(g: torch.Tensor, use: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients ``[N, 1+C]`` (float64; intercept first, 0 for unused entries).

    ``g`` ``[N, 1+C, 1+C]`` mixed moments, ``use`` ``[N, 1+C]`` 1 for the intercept and the sources,
    ``column`` ``[N]`` int64: the entry of ``z`` to predict (``1 + target class``).
    """
    n1 = g.shape[1]
    use = use.to(torch.float64)
    eye = torch.eye(n1, dtype=torch.float64, device=g.device)
    a = g * use.unsqueeze(2) * use.unsqueeze(1)
    scale = ((a * eye).sum(dim=(1, 2)) / use.sum(dim=1)).reshape(-1, 1, 1)
    a = a + eye * (1.0 - use).unsqueeze(1) + eye * use.unsqueeze(1) * (RIDGE * scale)
    col = torch.gather(g, 2, column.reshape(-1, 1, 1).expand(-1, n1, 1))  # [N, 1+C, 1]
    aug = torch.cat([a, col * use.unsqueeze(2)], dim=2)  # [N, 1+C, 2+C]
    for k in range(n1):
        row = aug[:, k:k + 1, :] / aug[:, k:k + 1, k:k + 1]
        aug = aug - aug[:, :, k:k + 1] * row + eye[k].reshape(1, n1, 1) * row
    return aug[:, :, n1]


def _sources(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``p`` (0/1 ``[N, C]``) without each item's target class, float64: a band never predicts itself."""
    return p.to(torch.float64) * (1.0 - F.one_hot(target, p.shape[1]).to(torch.float64))


def _solve(src: torch.Tensor, target: torch.Tensor, moments: torch.Tensor, group_bands: torch.Tensor,
           weights: torch.Tensor) -> torch.Tensor:
    need = torch.clamp(src + F.one_hot(target, src.shape[1]).to(torch.float64), max=1.0)
    g = mix_moments(moments, group_bands, weights, need)
    use = torch.cat([torch.ones_like(src[:, :1]), src], dim=1)  # [N, 1+C]: intercept + sources
    return solve_coefficients(g, use, target + 1)


def item_coefficients(p: torch.Tensor, target: torch.Tensor, moments: torch.Tensor, group_bands: torch.Tensor,
                      weights: torch.Tensor) -> torch.Tensor:
    """Per item, the coefficients ``[N, 1+C]`` (float64) of the fit of class ``target`` ``[N]`` from the
    classes present in ``p`` ``[N, C]`` (0/1; the target itself is never a source), from the groups' moments
    (:func:`mix_moments`, :func:`solve_coefficients`)."""
    return _solve(_sources(p, target), target, moments, group_bands, weights)


def linear_prediction(bands: torch.Tensor, p: torch.Tensor, target: torch.Tensor, moments: torch.Tensor,
                      group_bands: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The fit of :func:`item_coefficients` applied to ``bands`` ``[N, C, H, W]`` (physical units; absent and
    target classes contribute nothing): ``[N, 1, H, W]`` in ``bands``' dtype."""
    src = _sources(p, target)
    coef = _solve(src, target, moments, group_bands, weights)
    x = torch.where(src.to(bands.dtype)[:, :, None, None] > 0.5, bands, torch.zeros_like(bands))
    n, c, h, w = x.shape
    lin = torch.matmul(coef[:, None, 1:].to(bands.dtype), x.reshape(n, c, h * w))  # [N, 1, H*W]
    return (lin + coef[:, None, :1].to(bands.dtype)).reshape(n, 1, h, w)


__all__ = ["RIDGE", "mix_moments", "solve_coefficients", "item_coefficients", "linear_prediction"]
