"""Per-band-class normalization statistics, owned by one module that every model family embeds.

:class:`BandNormalization` holds one (mean, std) per catalogue band class in physical units, as buffers
(so they travel in ``state_dict`` and into the ONNX graph), plus a ``fitted`` flag per class: 1 where the
statistics come from training data, 0 where they are a prior (a class never seen).  A model normalizes
its inputs and de-normalizes its outputs with it; the trainer sets it from the training data with
:meth:`BandNormalization.set`; export writes :meth:`BandNormalization.fitted` into the metadata.

Any family uses it the same way whatever its tensors look like: ``normalize(x, ids)`` and
``denormalize(y, ids)`` take the class id of every channel (``[C]`` for fixed bands, ``[N, C]`` for a
per-item choice such as a conditional model's target).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..bands import BAND_CLASSES, NUM_CLASSES, band_class, resolve_band
from ..errors import ModelError

#: Placeholder statistics of a class never seen in training data: (mean, std) in physical units.
PRIOR_REFLECTANCE = (0.15, 0.10)
PRIOR_THERMAL = (20.0, 15.0)  # degC
MIN_STD = 1e-6

StatsLike = Union[Sequence[float], Mapping[Any, Any], torch.Tensor, Any]


class BandNormalization(nn.Module):
    """Buffers ``mean``, ``std`` and ``fitted``, one entry per band class (class id order)."""

    def __init__(self):
        super().__init__()
        mean, std = zip(*(PRIOR_THERMAL if b.is_thermal else PRIOR_REFLECTANCE for b in BAND_CLASSES))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.register_buffer("fitted", torch.zeros(NUM_CLASSES, dtype=torch.float32))

    # -- statistics ---------------------------------------------------------------------------------
    def set(self, mean: StatsLike, std: Optional[StatsLike] = None) -> None:
        """Set per-class statistics (physical units) from training data.

        Either ``mean`` and ``std`` as one value per class in class-id order (NaN where a class was not
        seen: its prior is kept and it stays unfitted), or one mapping ``{class: (mean, std)}`` keyed by
        class id / key / name (values may also be objects with ``.mean`` and ``.std``), or one object whose
        ``.mean`` and ``.std`` are the two per-class sequences (``training.data.BandStatistics``).
        Everything is checked before anything changes.
        """
        if std is None and not isinstance(mean, Mapping) and hasattr(mean, "mean") and hasattr(mean, "std"):
            mean, std = mean.mean, mean.std
        if isinstance(mean, Mapping):
            if std is not None:
                raise TypeError("set_normalization: pass either a mapping of per-class stats or mean and std")
            m = [math.nan] * NUM_CLASSES
            s = [math.nan] * NUM_CLASSES
            for k, v in mean.items():
                cid = band_class(k).id if isinstance(k, int) else resolve_band(str(k)).id
                mv, sv = (v.mean, v.std) if hasattr(v, "mean") and hasattr(v, "std") else v
                m[cid], s[cid] = float(mv), float(sv)
        else:
            if std is None:
                raise TypeError("set_normalization: std is required with a sequence of means")
            m = [float(x) for x in torch.as_tensor(mean, dtype=torch.float64).reshape(-1).tolist()]
            s = [float(x) for x in torch.as_tensor(std, dtype=torch.float64).reshape(-1).tolist()]
            if len(m) != NUM_CLASSES or len(s) != NUM_CLASSES:
                raise ModelError(f"set_normalization: expected {NUM_CLASSES} means and stds (one per band class), "
                                 f"got {len(m)} and {len(s)}")
        given = []
        for cid in range(NUM_CLASSES):
            mv, sv = m[cid], s[cid]
            if math.isnan(mv) and math.isnan(sv):
                continue
            key = BAND_CLASSES[cid].key
            if not (math.isfinite(mv) and math.isfinite(sv)):
                raise ModelError(f"set_normalization: band {key} has a non-finite mean/std ({mv}, {sv})")
            if sv < MIN_STD:
                raise ModelError(f"set_normalization: band {key} has std {sv:g} (< {MIN_STD:g}); a constant band "
                                 "cannot be normalized, leave it out of the statistics")
            given.append(cid)
        with torch.no_grad():
            for cid in given:
                self.mean[cid] = m[cid]
                self.std[cid] = s[cid]
                self.fitted[cid] = 1.0

    def keep_only(self, class_ids: Sequence[int]) -> None:
        """Forget the statistics of every class but ``class_ids`` (back to their priors, unfitted): a
        fixed-band model keeps, and its metadata lists, only the bands it reads and writes."""
        fresh, keep = BandNormalization(), {int(c) for c in class_ids}
        with torch.no_grad():
            for cid in range(NUM_CLASSES):
                if cid not in keep:
                    self.mean[cid], self.std[cid], self.fitted[cid] = fresh.mean[cid], fresh.std[cid], 0.0

    def fitted_stats(self) -> Dict[int, Tuple[float, float]]:
        """``{class id: (mean, std)}`` of the classes whose statistics were set from data."""
        return {i: (float(self.mean[i]), float(self.std[i]))
                for i in range(NUM_CLASSES) if float(self.fitted[i]) > 0.5}

    def fitted_mask(self) -> torch.Tensor:
        """``[15]`` float: 1 where the class's statistics come from data."""
        return (self.fitted > 0.5).to(self.mean.dtype)

    # -- applying them --------------------------------------------------------------------------------
    def _per_channel(self, values: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``values[ids]`` shaped to broadcast over ``[N, C, H, W]`` (``ids`` is ``[C]`` or ``[N, C]``)."""
        v = values[ids]
        return v.reshape(1, -1, 1, 1) if ids.dim() == 1 else v.reshape(ids.shape[0], ids.shape[1], 1, 1)

    def scale(self, ids: torch.Tensor) -> torch.Tensor:
        """The std of each channel's class, shaped ``[1 or N, C, 1, 1]``."""
        return self._per_channel(self.std, ids)

    def normalize(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` per channel; ``ids`` gives the class of each channel of ``x``."""
        return (x - self._per_channel(self.mean, ids)) / self._per_channel(self.std, ids)

    def denormalize(self, y: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``y * std + mean`` per channel (the inverse of :meth:`normalize`)."""
        return y * self._per_channel(self.std, ids) + self._per_channel(self.mean, ids)


__all__ = ["BandNormalization", "PRIOR_REFLECTANCE", "PRIOR_THERMAL", "MIN_STD"]
