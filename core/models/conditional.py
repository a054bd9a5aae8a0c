"""What every band-conditional model shares: ``(bands, present, target) -> [N, 1, H, W]`` in physical units.

:class:`BandConditionalModel` holds the model contract of kind ``conditional`` (``core/models/contract.py``)
once for every architecture that reads any subset of band classes and writes the one band class chosen per
item: the per-class statistics (:class:`~.normalization.BandNormalization`), the source mask from the config,
the optional in-graph least-squares linear prior (:mod:`.linear_fit`), the ONNX input/output specs, example
inputs and the export copy.  ``adain_unet`` (a U-Net with conditional instance norms) and ``spectral_mlp`` (a
per-pixel network with fixed statistics) are two such architectures.

A subclass's config provides ``source_ids``, ``target_ids``, ``stride``, ``linear_prior`` and
``prior_groups``; the subclass calls :meth:`BandConditionalModel.output` on its normalized prediction.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..bands import NUM_CLASSES
from ..errors import ModelError
from ..metadata import TensorSpec
from .fixed_bands import band_list
from .linear_fit import linear_prediction
from .normalization import BandNormalization


def band_ids(names: Sequence[Any], key: str) -> Tuple[int, ...]:
    """Sorted class ids of a config's ``source_bands`` / ``target_bands`` (names or keys; empty: none),
    errors naming ``key``."""
    return tuple(sorted(band_list(names, key, allow_empty=True)))


class BandConditionalModel(nn.Module):
    """Base of the models of kind ``conditional`` (see the module docstring)."""

    kind = "conditional"
    conditional = True
    input_names = ("bands", "present", "target")
    input_roles = ("bands", "presence", "target")
    output_names = ("output",)

    def __init__(self, cfg: Any):
        super().__init__()
        self.cfg = cfg
        self.num_classes = NUM_CLASSES
        self.normalization = BandNormalization()  # per-class statistics, set from training data
        src = torch.zeros(NUM_CLASSES, dtype=torch.float32)
        src[list(cfg.source_ids)] = 1.0
        self.register_buffer("source_mask", src, persistent=False)  # derived from the config
        if cfg.linear_prior:
            k, n1 = cfg.prior_groups, NUM_CLASSES + 1
            # per band set seen in training: E[z z^T] with z = (1, band values in physical units), the
            # bands it has, and its share of the training samples (0: unused slot); see set_linear_prior
            self.register_buffer("prior_moments", torch.zeros(k, n1, n1, dtype=torch.float64))
            self.register_buffer("prior_bands", torch.zeros(k, NUM_CLASSES, dtype=torch.float32))
            self.register_buffer("prior_weights", torch.zeros(k, dtype=torch.float64))

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this (and at least twice it)."""
        return self.cfg.stride

    def check_input_size(self, height: int, width: int) -> None:
        s = self.stride
        for name, v in (("height", height), ("width", width)):
            if v % s or v < 2 * s:
                raise ModelError(f"input {name} {v} must be a multiple of the model stride {s} and at least {2 * s}")

    def presence(self, present: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``[N, 15]`` 0/1: the supplied bands this model accepts."""
        return (present > 0.5).to(dtype) * self.source_mask

    def output(self, y: torch.Tensor, bands: torch.Tensor, p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Physical units from the network's normalized prediction ``y`` ``[N, 1, H, W]``: de-normalized with
        the target class's statistics, or (``linear_prior``) added, in target standard deviations, to the
        least-squares fit from the present bands."""
        out_ids = target.reshape(-1, 1)
        if self.cfg.linear_prior:  # the network learns the residual of the linear fit (normalized units)
            # the fit in full precision, and outside autograd: it has no parameters, and its per-item solve
            # would otherwise be differentiated through at every training step
            with torch.autocast(device_type=bands.device.type, enabled=False), torch.no_grad():
                lin = self.linear_prior(bands.float(), p.float(), target)
            return lin + y.float() * self.normalization.scale(out_ids)
        return self.normalization.denormalize(y, out_ids)

    # -- normalization ------------------------------------------------------------------------------
    def set_normalization(self, mean, std=None) -> None:
        """Set per-class statistics from training data (see :meth:`BandNormalization.set`)."""
        self.normalization.set(mean, std)

    @property
    def norm_mean(self) -> torch.Tensor:
        """Per-class means (physical units), class-id order."""
        return self.normalization.mean

    @property
    def norm_std(self) -> torch.Tensor:
        """Per-class standard deviations (physical units), class-id order."""
        return self.normalization.std

    # -- linear prior ---------------------------------------------------------------------------------
    def set_linear_prior(self, groups: Sequence[Tuple[Sequence[int], Any, float]]) -> None:
        """Set the moments the linear prior is solved from.

        ``groups``: ``(class ids, moments, weight)`` per training scene (or band set): ``moments`` is the
        ``16 x 16`` mean of ``z z^T`` over the scene's pixels valid in every band, ``z = (1, v_0..v_14)`` in
        physical units with 0 for classes the scene lacks (``training.evaluate.LinearBaseline.fit`` makes
        exactly these), ``weight`` its share of the training samples.  Scenes with the same band set are
        merged (weighted mean), so ``prior_groups`` bounds the number of distinct band sets.
        """
        if not self.cfg.linear_prior:
            raise ModelError("set_linear_prior: this model was built with linear_prior: false")
        merged: Dict[Tuple[int, ...], List[Any]] = {}
        n1 = NUM_CLASSES + 1
        for ids, g, w in groups:
            key = tuple(sorted(int(i) for i in ids))
            g = torch.as_tensor(g, dtype=torch.float64)
            if g.shape != (n1, n1) or not bool(torch.isfinite(g).all()):
                raise ModelError(f"set_linear_prior: moments must be finite {n1}x{n1}, got {tuple(g.shape)}")
            if not w > 0:
                raise ModelError(f"set_linear_prior: weights must be > 0, got {w}")
            acc = merged.setdefault(key, [torch.zeros(n1, n1, dtype=torch.float64), 0.0])
            acc[0] += float(w) * g
            acc[1] += float(w)
        if not merged:
            raise ModelError("set_linear_prior: no band set given")
        if len(merged) > self.cfg.prior_groups:
            raise ModelError(f"set_linear_prior: the training data has {len(merged)} distinct band sets; the model "
                             f"has room for prior_groups={self.cfg.prior_groups} (raise model.params.prior_groups)")
        total = sum(w for _, w in merged.values())
        with torch.no_grad():
            self.prior_moments.zero_()
            self.prior_bands.zero_()
            self.prior_weights.zero_()
            for k, (key, (g, w)) in enumerate(sorted(merged.items())):
                self.prior_moments[k] = g / w
                self.prior_bands[k, list(key)] = 1.0
                self.prior_weights[k] = w / total

    def linear_prior(self, bands: torch.Tensor, p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Least-squares linear prediction of the target (physical units, ``[N, 1, H, W]``) from the present
        bands, solved per item in float64 from the moments of the training band sets that have every band
        involved, by :mod:`.linear_fit` (the same solve as ``LinearBaseline``; it exports to ONNX)."""
        return linear_prediction(bands, p, target, self.prior_moments, self.prior_bands, self.prior_weights)

    # -- the model contract (core/models/contract.py) -------------------------------------------------

    def output_classes(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[N, 1]``: the one output channel of each item is its target class."""
        return inputs[2].reshape(-1, 1)

    def normalized_sources(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[N, 15, H, W]``: the supplied bands normalized with their class statistics, absent ones 0."""
        bands, present = inputs[0], inputs[1]
        every = torch.arange(NUM_CLASSES, device=bands.device)
        p = self.presence(present, bands.dtype)
        return torch.where(p[:, :, None, None] > 0.5, self.normalization.normalize(bands, every),
                           torch.zeros_like(bands))

    def condition(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[N, 15]``: the target class as a one-hot vector (what a task-aware discriminator is told)."""
        return F.one_hot(inputs[2], NUM_CLASSES).to(inputs[0].dtype)

    def io_specs(self) -> Tuple[Tuple[TensorSpec, ...], Tuple[TensorSpec, ...]]:
        """The ONNX inputs and outputs as metadata :class:`TensorSpec` (symbolic N, H, W)."""
        every = tuple(range(NUM_CLASSES))
        inputs = (TensorSpec("bands", "bands", "float32", ("N", NUM_CLASSES, "H", "W"), bands=every),
                  TensorSpec("present", "presence", "float32", ("N", NUM_CLASSES), bands=every),
                  TensorSpec("target", "target", "int64", ("N",)))
        return inputs, (TensorSpec("output", "output", "float32", ("N", 1, "H", "W")),)

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        return {"bands": {0: "N", 2: "H", 3: "W"}, "present": {0: "N"}, "target": {0: "N"},
                "output": {0: "N", 2: "H", 3: "W"}}

    def example_inputs(self, batch: int, height: int, width: int,
                       generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, ...]:
        """Plausible inputs: physical values around each class's statistics, varied presence sets (the
        first item has a single source band) and targets cycling over the fitted target classes."""
        self.check_input_size(height, width)
        g = generator or torch.Generator().manual_seed(0)
        sources = self.usable_sources() or self.cfg.source_ids
        targets = self.usable_targets() or self.cfg.target_ids
        z = torch.randn(batch, NUM_CLASSES, height, width, generator=g)
        bands = self.norm_mean.reshape(1, -1, 1, 1) + z * self.norm_std.reshape(1, -1, 1, 1)
        present = torch.zeros(batch, NUM_CLASSES)
        for i in range(batch):
            k = 1 if i == 0 else int(torch.randint(1, len(sources) + 1, (1,), generator=g))
            pick = torch.randperm(len(sources), generator=g)[:k]
            present[i, [sources[j] for j in pick.tolist()]] = 1.0
        target = torch.tensor([targets[i % len(targets)] for i in range(batch)], dtype=torch.int64)
        return bands, present, target

    def accepted_sources(self) -> Tuple[int, ...]:
        """Source classes the config allows (``source_bands``; empty: all)."""
        return self.cfg.source_ids

    def accepted_targets(self) -> Tuple[int, ...]:
        """Target classes the config allows (``target_bands``; empty: all)."""
        return self.cfg.target_ids

    def usable_sources(self) -> Tuple[int, ...]:
        """Source classes allowed by the config whose statistics were set from data."""
        fitted = self.normalization.fitted_stats()
        return tuple(i for i in self.cfg.source_ids if i in fitted)

    def usable_targets(self) -> Tuple[int, ...]:
        """Target classes allowed by the config whose statistics were set from data."""
        fitted = self.normalization.fitted_stats()
        return tuple(i for i in self.cfg.target_ids if i in fitted)

    def export_copy(self) -> "BandConditionalModel":
        """An eval-mode float32 copy for export in which source classes without fitted statistics are
        masked out (an exported model ignores bands it never saw in training)."""
        import copy

        if self.cfg.linear_prior and not float(self.prior_weights.sum()) > 0:
            raise ModelError("this model has linear_prior: true but its prior was never set (set_linear_prior)")
        m = copy.deepcopy(self).cpu().float().eval()
        if self.cfg.linear_prior:  # .float() would round the prior's moments; keep them float64
            m.prior_moments = self.prior_moments.detach().cpu().clone()
            m.prior_weights = self.prior_weights.detach().cpu().clone()
        with torch.no_grad():
            m.source_mask.mul_(m.normalization.fitted_mask().to(m.source_mask.dtype))
        return m


__all__ = ["BandConditionalModel", "band_ids"]
