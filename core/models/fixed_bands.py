"""What every fixed-band family shares: fixed source bands in, fixed target bands out, physical units.

:class:`FixedBandModel` implements the model contract (``core/models/contract.py``) of kind
``fixed_bands`` once: ``forward(bands [N, C_in, H, W]) -> [N, C_out, H, W]`` normalizes the source
bands with the model's :class:`~.normalization.BandNormalization`, runs the family's network
(:meth:`FixedBandModel.translate`, on normalized values) and de-normalizes with the target bands'
statistics.  A family subclasses it and provides ``translate``, ``stride``, ``min_size`` and
:meth:`~FixedBandModel.receptive_field`; its config dataclass has ``source_bands``, ``target_bands``
(band names, kept in the order given: that is the channel order of the tensors) and ``tile_size``.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ..bands import BAND_CLASSES, band_class, resolve_band
from ..errors import BandError, ModelError
from ..metadata import TensorSpec
from .geometry import tiling_hint
from .normalization import BandNormalization

#: The eight bands Landsat 8/9 OLI measures that Sentinel-2 MSI measures too (class keys).
LANDSAT_COMMON_BANDS = ("coastal_aerosol", "blue", "green", "red", "nir_narrow", "cirrus", "swir_1", "swir_2")
#: The three red-edge bands Sentinel-2 has and Landsat lacks.
RED_EDGE_BANDS = ("red_edge_1", "red_edge_2", "red_edge_3")


def band_list(names: Sequence[Any], key: str, allow_empty: bool = False) -> Tuple[int, ...]:
    """Class ids of ``names`` in the order given (the channel order); repeats (and, unless
    ``allow_empty``, an empty list) are errors."""
    out = []
    for n in names:
        try:
            cid = band_class(n).id if isinstance(n, int) else resolve_band(str(n)).id
        except BandError as exc:
            raise ValueError(f"{key}: {exc}") from None
        if cid in out:
            raise ValueError(f"{key}: band {BAND_CLASSES[cid].key} is listed twice")
        out.append(cid)
    if not out and not allow_empty:
        raise ValueError(f"{key}: name at least one band")
    return tuple(out)


def check_tile_size(tile_size: int, stride: int, min_size: int) -> None:
    """A config's recommended tile must be a multiple of the stride and at least the smallest input."""
    if tile_size < min_size or tile_size % stride:
        raise ValueError(f"tile_size must be a multiple of the stride {stride} and at least {min_size}, got {tile_size}")


class FixedBandModel(nn.Module):
    """Base class of the fixed-band families (see the module docstring)."""

    kind = "fixed_bands"
    conditional = False
    input_names = ("bands",)
    input_roles = ("bands",)
    output_names = ("output",)

    def __init__(self, cfg: Any):
        super().__init__()
        self.cfg = cfg
        self.source_classes = band_list(cfg.source_bands, "source_bands")
        self.target_classes = band_list(cfg.target_bands, "target_bands")
        self.normalization = BandNormalization()  # per-class statistics, set from training data
        self.register_buffer("source_ids", torch.tensor(self.source_classes, dtype=torch.int64), persistent=False)
        self.register_buffer("target_ids", torch.tensor(self.target_classes, dtype=torch.int64), persistent=False)

    # -- what a family provides ------------------------------------------------------------------------
    @property
    def stride(self) -> int:
        raise NotImplementedError

    @property
    def min_size(self) -> int:
        """The smallest input height/width the network takes (a multiple of the stride)."""
        return 2 * self.stride

    def receptive_field(self) -> int:
        raise NotImplementedError

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized sources ``[N, C_in, H, W]`` -> normalized targets ``[N, C_out, H, W]``."""
        raise NotImplementedError

    # -- forward ------------------------------------------------------------------------------------------
    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        return self.normalization.denormalize(self.translate(self.normalized_sources((bands,))), self.target_ids)

    # -- the model contract ---------------------------------------------------------------------------------
    def tiling(self) -> Dict[str, int]:
        """Tile size from the config, overlap from the receptive field (at most half a tile)."""
        return tiling_hint(self.receptive_field(), self.stride, self.cfg.tile_size, max_overlap=self.cfg.tile_size // 2)

    def check_input_size(self, height: int, width: int) -> None:
        s, m = self.stride, self.min_size
        for name, v in (("height", height), ("width", width)):
            if v % s or v < m:
                raise ModelError(f"input {name} {v} must be a multiple of the model stride {s} and at least {m}")

    def io_specs(self) -> Tuple[Tuple[TensorSpec, ...], Tuple[TensorSpec, ...]]:
        n_in, n_out = len(self.source_classes), len(self.target_classes)
        return ((TensorSpec("bands", "bands", "float32", ("N", n_in, "H", "W"), bands=self.source_classes),),
                (TensorSpec("output", "output", "float32", ("N", n_out, "H", "W"), bands=self.target_classes),))

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        return {"bands": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}}

    def example_inputs(self, batch: int, height: int, width: int,
                       generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, ...]:
        """Physical values around each source class's statistics."""
        self.check_input_size(height, width)
        g = generator or torch.Generator().manual_seed(0)
        z = torch.randn(batch, len(self.source_classes), height, width, generator=g)
        return (self.normalization.denormalize(z, self.source_ids.cpu()).to(self.source_ids.device),)

    def accepted_sources(self) -> Tuple[int, ...]:
        return self.source_classes

    def accepted_targets(self) -> Tuple[int, ...]:
        return self.target_classes

    def usable_sources(self) -> Tuple[int, ...]:
        fitted = self.normalization.fitted_stats()
        return tuple(c for c in self.source_classes if c in fitted)

    def usable_targets(self) -> Tuple[int, ...]:
        fitted = self.normalization.fitted_stats()
        return tuple(c for c in self.target_classes if c in fitted)

    def output_classes(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[C_out]``: the class of every output channel (the same for every item)."""
        return self.target_ids

    def normalized_sources(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.normalization.normalize(inputs[0], self.source_ids)

    def condition(self, inputs: Sequence[torch.Tensor]) -> Optional[torch.Tensor]:
        return None  # a fixed task: nothing to tell a discriminator besides the bands

    def set_normalization(self, mean: Any, std: Any = None) -> None:
        """Set per-class statistics from training data (see :meth:`BandNormalization.set`); only those of
        the model's own source and target bands are kept."""
        self.normalization.set(mean, std)
        self.normalization.keep_only(self.source_classes + self.target_classes)

    def reversed_config(self) -> Dict[str, Any]:
        """The config (plain data) of the same model translating the other way: band lists swapped, and a
        ``direction`` field, where the config has one, flipped (what an unpaired objective's second
        generator is built from)."""
        from ..config import to_dict

        cfg = to_dict(self.cfg)
        cfg["source_bands"], cfg["target_bands"] = cfg["target_bands"], cfg["source_bands"]
        if "direction" in cfg:
            cfg["direction"] = {"A->B": "B->A", "B->A": "A->B"}[cfg["direction"]]
        return cfg

    def export_copy(self) -> "FixedBandModel":
        """An eval-mode float32 copy on the CPU; every source and target class must have statistics."""
        missing = [BAND_CLASSES[c].key for c in self.source_classes + self.target_classes
                   if c not in self.normalization.fitted_stats()]
        if missing:
            raise ModelError(f"{getattr(self, 'model_name', type(self).__name__)}: no statistics from data for "
                             f"{', '.join(missing)}; a fixed-band model needs every band it reads and writes")
        return copy.deepcopy(self).cpu().float().eval()


class OutputActivation(nn.Module):
    """The last activation of pix2pix's and CycleGAN's generators on normalized values: ``tanh`` bounds
    the output to ``mean +- output_range`` standard deviations of each target band (the references'
    tanh bounds images scaled to [-1, 1], i.e. the whole data range), ``linear`` leaves it unbounded."""

    def __init__(self, activation: str, output_range: float):
        super().__init__()
        if activation not in ("tanh", "linear"):
            raise ValueError(f"output_activation must be tanh or linear, got {activation!r}")
        if not output_range > 0:
            raise ValueError(f"output_range must be > 0, got {output_range}")
        self.activation, self.output_range = activation, float(output_range)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.output_range * torch.tanh(h) if self.activation == "tanh" else h


def init_normal(module: nn.Module, gain: float = 0.02) -> None:
    """The weight initialization of pix2pix and CycleGAN: convolution weights ~ N(0, gain), biases 0,
    batch-norm scales ~ N(1, gain) (Isola et al. 2017, section 3.3; Zhu et al. 2017, appendix 7.2)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


__all__ = ["FixedBandModel", "OutputActivation", "band_list", "check_tile_size", "init_normal", "LANDSAT_COMMON_BANDS", "RED_EDGE_BANDS"]
