"""SPADE: bands synthesized from a categorical label map (Park et al. 2019, "Semantic Image Synthesis with
Spatially-Adaptive Normalization", CVPR), as a model of kind ``label_map``.

``spade_generator`` with its defaults is the paper's generator without the image encoder (section 3 and
appendix A): the one-hot label map, downsampled by nearest neighbour to 1/32 of the output size, is
turned into ``16 x ngf`` channels by a 3x3 convolution (the paper's no-VAE variant); seven SPADE residual
blocks follow (``16, 16, 16, 8, 4, 2, 1`` x ``ngf`` channels; a learned 1x1 shortcut with its own SPADE
where the channels change), with a 2x nearest upsampling before each of the last five, then LeakyReLU
0.2, a 3x3 convolution to the target bands and a tanh.  Spectral norm on every convolution of the
residual blocks (the reference's ``spectralspadesyncbatch3x3``).

**SPADE** (one per normalization): the activations are normalized without learned parameters, then
scaled and shifted per pixel, ``x_hat * (1 + gamma) + beta``, where ``gamma`` and ``beta`` come from the
label map resized (nearest) to the activation's size through a shared 3x3 convolution with 128 channels
and ReLU, and one 3x3 convolution each.

**The parameter-free normalization** (``param_free_norm``) is **batch norm without affine parameters**
by default, as the paper (synchronized batch norm across GPUs; here the running statistics are averaged
over the processes after every step).  The export (eval mode) applies the **running mean and variance**
accumulated in training, so an output pixel depends only on the labels around it, never on which tile it
falls in or which tiles share a batch: tiled inference is seamless and deterministic.  ``instance``
(instance norm, affine=False, no running statistics) normalizes each tile by itself at inference: tiles
then differ at their seams, which is why it is not the default.

**Style** (``style_dim`` > 0): the multimodal variant.  The model then takes a second input ``noise``
``[N, style_dim]`` (the style vector; at training the VAE encoder of the ``spade`` objective produces it
from the real image, at inference the engine feeds one seeded standard-normal vector).  The paper maps
``z`` through a fully connected layer onto a fixed 8 x 8 grid; here ``z`` is broadcast over the low-
resolution start and concatenated with the downsampled label map, so the generator stays fully
convolutional and runs on any tile size.

Outputs are physical values: the tanh output is ``output_range`` standard deviations of each target band
around its mean, from the training data (:class:`~.normalization.BandNormalization`).
Label pixels of no class (invalid: nodata, a value the model does not know) are all-zero one-hot vectors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, Literal, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ..bands import BAND_CLASSES
from ..errors import ModelError
from ..metadata import LabelClass, TensorSpec
from .fixed_bands import OutputActivation, band_list, check_tile_size
from .geometry import tiling_hint
from .normalization import BandNormalization
from .registry import register_model

#: The Sentinel-2 L2A scene classification (SCL) classes (ESA, Sentinel-2 L2A product definition); 0
#: (no data) is left out, so its pixels are invalid.
SCL_CLASSES = (LabelClass(1, "saturated_or_defective"), LabelClass(2, "dark_area"), LabelClass(3, "cloud_shadow"),
               LabelClass(4, "vegetation"), LabelClass(5, "not_vegetated"), LabelClass(6, "water"),
               LabelClass(7, "unclassified"), LabelClass(8, "cloud_medium"), LabelClass(9, "cloud_high"),
               LabelClass(10, "thin_cirrus"), LabelClass(11, "snow"))


@dataclass(frozen=True)
class SpadeConfig:
    """Hyperparameters of ``spade_generator`` (YAML ``model.params``); the defaults are the paper's.

    ``label_classes`` left empty in a training config are taken from ``data.label_classes``."""

    label_classes: Tuple[LabelClass, ...] = SCL_CLASSES  # (value, name) of each class, in channel order
    target_bands: Tuple[str, ...] = ("blue", "green", "red")  # output bands, in channel order
    ngf: int = 64  # channels of the last residual block; the first ones have 16 x ngf
    upsamplings: int = 5  # 2x nearest upsamplings; the start is 1/2**upsamplings of the output (paper: 5)
    spade_hidden: int = 128  # channels of SPADE's shared convolution (paper: 128)
    param_free_norm: Literal["batch", "instance"] = "batch"  # see the module docstring
    spectral_norm: bool = True  # on the residual blocks' convolutions (paper)
    style_dim: int = 0  # 0: no style input (the no-VAE variant); paper's VAE: 256
    output_activation: Literal["tanh", "linear"] = "tanh"
    output_range: float = 4.0  # tanh bounds outputs to mean +- this many standard deviations of the band
    tile_size: int = 256  # recommended inference tile (the paper's 256 x 256)

    def __post_init__(self):
        object.__setattr__(self, "label_classes", tuple(
            c if isinstance(c, LabelClass) else LabelClass(int(c["value"]), str(c["name"])) for c in self.label_classes))
        if len(self.label_classes) < 1:
            raise ValueError("label_classes: name at least one class ({value, name} each)")
        for what in ("value", "name"):
            seen = [getattr(c, what) for c in self.label_classes]
            if len(set(seen)) != len(seen):
                raise ValueError(f"label_classes: a class {what} is listed twice ({seen})")
        band_list(self.target_bands, "target_bands")
        if self.ngf < 1 or self.spade_hidden < 1:
            raise ValueError("ngf and spade_hidden must be >= 1")
        if not 1 <= self.upsamplings <= 7:
            raise ValueError(f"upsamplings must be 1..7, got {self.upsamplings}")
        if self.style_dim < 0:
            raise ValueError(f"style_dim must be >= 0, got {self.style_dim}")
        OutputActivation(self.output_activation, self.output_range)
        check_tile_size(self.tile_size, self.stride, self.stride)

    @property
    def stride(self) -> int:
        return 2 ** self.upsamplings

    def blocks(self) -> Tuple[Tuple[int, int, int], ...]:
        """``(in, out, scale)`` of every residual block, ``scale`` the output pixels per feature there: the
        head at the start (1/2**u), a 2x upsampling, two middle blocks, then one upsampling before each of
        the other ``u - 1`` blocks, halving the channels towards ``ngf`` (16, 16, 16, 8, 4, 2, 1 x ngf at
        ``u = 5``, the paper's seven blocks)."""
        u, n = self.upsamplings, self.ngf
        top = 16 * n
        out = [(top, top, 2 ** u), (top, top, 2 ** (u - 1)), (top, top, 2 ** (u - 1))]
        for j in range(u - 1):
            nxt = n * min(16, 2 ** (u - 2 - j))
            out.append((out[-1][1], nxt, 2 ** (u - 2 - j)))
        return tuple(out)


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


def nearest_resize(labels: torch.Tensor, factor: int) -> torch.Tensor:
    """The label map at 1/``factor`` of its size by nearest neighbour: the top-left pixel of every
    ``factor x factor`` block (what ``F.interpolate(mode="nearest")`` picks for an integer factor), a
    strided slice, so classes are never blended."""
    return labels if factor == 1 else labels[:, :, ::factor, ::factor]


class SPADE(nn.Module):
    """Parameter-free normalization, then ``x_hat * (1 + gamma(labels)) + beta(labels)`` per pixel."""

    def __init__(self, channels: int, label_channels: int, hidden: int, norm: str):
        super().__init__()
        if norm == "batch":
            self.norm = nn.BatchNorm2d(channels, affine=False)
        elif norm == "instance":
            self.norm = nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
        else:
            raise ValueError(f"param_free_norm must be batch or instance, got {norm!r}")
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.shared(labels)
        return self.norm(x) * (1 + self.gamma(h)) + self.beta(h)


class SPADEResBlock(nn.Module):
    """SPADE, LeakyReLU 0.2, 3x3 conv, twice; a learned shortcut (SPADE, 1x1 conv without bias) where the
    channels change, else the identity."""

    def __init__(self, cin: int, cout: int, label_channels: int, cfg: SpadeConfig):
        super().__init__()
        mid = min(cin, cout)
        args = (label_channels, cfg.spade_hidden, cfg.param_free_norm)
        self.norm_0, self.conv_0 = SPADE(cin, *args), _sn(nn.Conv2d(cin, mid, 3, padding=1), cfg.spectral_norm)
        self.norm_1, self.conv_1 = SPADE(mid, *args), _sn(nn.Conv2d(mid, cout, 3, padding=1), cfg.spectral_norm)
        self.learned_shortcut = cin != cout
        if self.learned_shortcut:
            self.norm_s = SPADE(cin, *args)
            self.conv_s = _sn(nn.Conv2d(cin, cout, 1, bias=False), cfg.spectral_norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        s = self.conv_s(self.norm_s(x, labels)) if self.learned_shortcut else x
        h = self.conv_0(F.leaky_relu(self.norm_0(x, labels), 0.2))
        h = self.conv_1(F.leaky_relu(self.norm_1(h, labels), 0.2))
        return s + h


class SpadeGenerator(nn.Module):
    """SPADE's generator on one-hot labels, outputs in physical units (see the module docstring)."""

    kind = "label_map"
    conditional = False
    output_names = ("output",)

    def __init__(self, cfg: SpadeConfig):
        super().__init__()
        self.cfg = cfg
        self.label_classes: Tuple[LabelClass, ...] = tuple(cfg.label_classes)
        self.target_classes = band_list(cfg.target_bands, "target_bands")
        k, z = len(self.label_classes), cfg.style_dim
        self.input_names = ("labels", "noise") if z else ("labels",)
        self.input_roles = self.input_names
        self.normalization = BandNormalization()
        self.register_buffer("target_ids", torch.tensor(self.target_classes, dtype=torch.int64), persistent=False)
        blocks = cfg.blocks()
        self.scales = tuple(f for _, _, f in blocks)
        self.start = nn.Conv2d(k + z, blocks[0][0], 3, padding=1)
        self.blocks = nn.ModuleList(SPADEResBlock(a, b, k, cfg) for a, b, _ in blocks)
        self.to_bands = nn.Conv2d(blocks[-1][1], len(self.target_classes), 3, padding=1)
        self.head = OutputActivation(cfg.output_activation, cfg.output_range)

    # -- forward --------------------------------------------------------------------------------------------
    def generate(self, labels: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One-hot labels ``[N, K, H, W]`` (and a style ``[N, Z]``) -> normalized target bands."""
        u = self.cfg.upsamplings
        x = nearest_resize(labels, 2 ** u)
        if noise is not None:
            x = torch.cat([x, noise[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3]).to(x.dtype)], dim=1)
        x = self.start(x)
        scale = 2 ** u
        for block, f in zip(self.blocks, self.scales):
            if f < scale:  # 2x nearest upsampling
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
                scale = f
            x = block(x, nearest_resize(labels, f))
        return self.head(self.to_bands(F.leaky_relu(x, 0.2)))

    def forward(self, labels: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        if (noise is None) != (self.cfg.style_dim == 0):
            raise ModelError(f"{getattr(self, 'model_name', 'spade')}: style_dim {self.cfg.style_dim} "
                             f"{'needs a noise input' if noise is None else 'takes no noise input'}")
        return self.normalization.denormalize(self.generate(labels, noise), self.target_ids)

    # -- the model contract -------------------------------------------------------------------------------
    @property
    def stride(self) -> int:
        return self.cfg.stride

    def receptive_field(self) -> int:
        """An upper bound on the pixels one output depends on: each 3x3 convolution at a level of ``f``
        output pixels per feature reaches ``f`` pixels further each way (through the residual branch and,
        for the same amount, through SPADE's two convolutions on the labels), plus the start's block."""
        s = self.cfg.stride
        reach = 2 * s  # the start's block pick and its 3x3 convolution at 1/stride
        reach += sum(4 * f for f in self.scales)  # two convolutions, each behind a SPADE with two convolutions
        return 2 * (reach + 1) + 1  # and the last 3x3 convolution

    def tiling(self) -> Dict[str, int]:
        return tiling_hint(self.receptive_field(), self.stride, self.cfg.tile_size, max_overlap=self.cfg.tile_size // 2)

    def io_specs(self) -> Tuple[Tuple[TensorSpec, ...], Tuple[TensorSpec, ...]]:
        k, n_out = len(self.label_classes), len(self.target_classes)
        ins = [TensorSpec("labels", "labels", "float32", ("N", k, "H", "W"), labels=tuple(c.name for c in self.label_classes))]
        if self.cfg.style_dim:
            ins.append(TensorSpec("noise", "noise", "float32", ("N", self.cfg.style_dim)))
        return tuple(ins), (TensorSpec("output", "output", "float32", ("N", n_out, "H", "W"), bands=self.target_classes),)

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        axes = {"labels": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}}
        if self.cfg.style_dim:
            axes["noise"] = {0: "N"}
        return axes

    def check_input_size(self, height: int, width: int) -> None:
        s = self.stride
        for name, v in (("height", height), ("width", width)):
            if v % s or v < s:
                raise ModelError(f"input {name} {v} must be a multiple of the model stride {s}")

    def example_inputs(self, batch: int, height: int, width: int,
                       generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, ...]:
        """One-hot labels of blocky random class maps (8 x 8 px regions, a few pixels of no class) and,
        with a style, standard-normal style vectors."""
        self.check_input_size(height, width)
        g = generator or torch.Generator().manual_seed(0)
        k = len(self.label_classes)
        coarse = torch.randint(0, k + 1, (batch, 1, -(-height // 8), -(-width // 8)), generator=g)
        idx = coarse.repeat_interleave(8, 2).repeat_interleave(8, 3)[:, 0, :height, :width]
        one_hot = (idx[:, None] == torch.arange(k)[None, :, None, None]).float()  # class k: no class
        dev = self.target_ids.device
        out = (one_hot.to(dev),)
        if self.cfg.style_dim:
            out += (torch.randn(batch, self.cfg.style_dim, generator=g).to(dev),)
        return out

    def accepted_sources(self) -> Tuple[int, ...]:
        return ()  # labels, not bands

    def accepted_targets(self) -> Tuple[int, ...]:
        return self.target_classes

    def usable_sources(self) -> Tuple[int, ...]:
        return ()

    def usable_targets(self) -> Tuple[int, ...]:
        fitted = self.normalization.fitted_stats()
        return tuple(c for c in self.target_classes if c in fitted)

    def output_classes(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.target_ids

    def normalized_sources(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The one-hot labels: what the discriminator sees beside the candidate bands."""
        return inputs[0]

    def condition(self, inputs: Sequence[torch.Tensor]) -> Optional[torch.Tensor]:
        return None

    def set_normalization(self, mean: Any, std: Any = None) -> None:
        """Per-class statistics from training data; only those of the target bands are kept."""
        self.normalization.set(mean, std)
        self.normalization.keep_only(self.target_classes)

    def export_copy(self) -> "SpadeGenerator":
        missing = [BAND_CLASSES[c].key for c in self.target_classes if c not in self.normalization.fitted_stats()]
        if missing:
            raise ModelError(f"{getattr(self, 'model_name', 'spade')}: no statistics from data for "
                             f"{', '.join(missing)}; a label-map model needs every band it writes")
        m = copy.deepcopy(self).cpu().float().eval()
        for module in m.modules():  # the spectral-norm weights (eval: no power iteration) as plain tensors
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return m


@register_model("spade_generator", family="spade", config=SpadeConfig)
def spade_generator(cfg: SpadeConfig) -> SpadeGenerator:
    """SPADE generator: a categorical label map (one-hot) -> target bands (Park et al. 2019)."""
    return SpadeGenerator(cfg)


__all__ = ["SpadeConfig", "SpadeGenerator", "SPADE", "SPADEResBlock", "SCL_CLASSES", "nearest_resize",
           "spade_generator"]
