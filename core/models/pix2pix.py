"""pix2pix's U-Net generator (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks", appendix 6.1.1), as a fixed-band family: source bands in, target bands out, physical units.

``pix2pix_unet`` with its defaults is the paper's 256 x 256 generator (the reference code's ``unet_256``):
eight stride-2 4x4 convolutions down to 1 x 1 (64, 128, 256, 512, 512, 512, 512, 512 channels; LeakyReLU
0.2, batch norm except on the first and the innermost), eight 4x4 transposed convolutions back up (ReLU,
batch norm, dropout 0.5 in the three decoder blocks next to the innermost), skip connections concatenating
each encoder level to the decoder level of the same size, a tanh at the end; convolution weights ~ N(0, 0.02).
Inputs are normalized per band class inside the model, so the tanh bounds outputs to
``mean +- output_range`` standard deviations of each target band (see :class:`~.fixed_bands.OutputActivation`).

Batch norm at inference (``batchnorm_at_inference``, recorded in the exported metadata's config):

* ``running_stats`` (the default, what the export uses): each batch norm applies the running mean and
  variance accumulated during training (eval mode: the reference code's ``--eval`` flag).  The output of a
  pixel then depends only on the pixels around it, not on the tile or on the other tiles of the batch, so
  tiled inference is seamless, deterministic and independent of the batch size;
* ``per_tile``: each tile is normalized with its own statistics (the paper's test protocol, "batch
  normalization using the statistics of the test batch", which at batch size 1 is instance normalization),
  without dropout.  Tiles then differ in brightness at their seams, and an output depends on its whole tile.

Dropout is off at inference either way: the paper keeps it on as the noise source, but a raster product
must give the same pixels every time and in every tiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .fixed_bands import (LANDSAT_COMMON_BANDS, RED_EDGE_BANDS, FixedBandModel, OutputActivation, band_list,
                          check_tile_size, init_normal)
from .geometry import Interval, conv_back, conv_transpose_back, receptive_field
from .registry import register_model


@dataclass(frozen=True)
class Pix2PixConfig:
    """Hyperparameters of ``pix2pix_unet`` (YAML ``model.params``); the defaults are the paper's."""

    source_bands: Tuple[str, ...] = LANDSAT_COMMON_BANDS  # input bands, in channel order
    target_bands: Tuple[str, ...] = RED_EDGE_BANDS  # output bands, in channel order
    width: int = 64  # channels of the first encoder level (ngf); deeper levels 2x, 4x, then 8x
    downsamplings: int = 8  # stride-2 levels; 8: a 256 px input reaches 1 x 1 (unet_256; 7: unet_128)
    norm: Literal["batch", "instance"] = "batch"
    dropout: float = 0.5  # in the decoder blocks at 8x width next to the innermost (three at 8 levels)
    batchnorm_at_inference: Literal["running_stats", "per_tile"] = "running_stats"  # see the module docstring
    output_activation: Literal["tanh", "linear"] = "tanh"
    output_range: float = 4.0  # tanh bounds outputs to mean +- this many standard deviations of the band
    tile_size: int = 256  # recommended inference tile (the training size of the paper)

    def __post_init__(self):
        band_list(self.source_bands, "source_bands")
        band_list(self.target_bands, "target_bands")
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        if not 2 <= self.downsamplings <= 10:
            raise ValueError(f"downsamplings must be 2..10, got {self.downsamplings}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        OutputActivation(self.output_activation, self.output_range)
        check_tile_size(self.tile_size, self.stride, self.stride)

    @property
    def stride(self) -> int:
        return 2 ** self.downsamplings

    @property
    def min_input_size(self) -> int:
        return self.stride  # the innermost level is then 1 x 1

    def level_channels(self) -> Tuple[int, ...]:
        """Channels of every encoder level, outermost first: width x 1, 2, 4, then 8."""
        return tuple(self.width * min(2 ** i, 8) for i in range(self.downsamplings))


class UNetBatchNorm(nn.BatchNorm2d):
    """Batch norm that, with ``per_item_at_inference``, normalizes each item with its own statistics
    in eval mode (its learned scale and shift kept): the ``per_tile`` choice of the module docstring."""

    def __init__(self, channels: int, per_item_at_inference: bool):
        super().__init__(channels, affine=True, track_running_stats=True)
        self.per_item_at_inference = per_item_at_inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_item_at_inference and not self.training:
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        return super().forward(x)


def _norm(cfg: Pix2PixConfig, channels: int) -> nn.Module:
    if cfg.norm == "batch":
        return UNetBatchNorm(channels, cfg.batchnorm_at_inference == "per_tile")
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class UNetBlock(nn.Module):
    """One level: LeakyReLU, 4x4 stride-2 convolution down, the inner levels, ReLU, 4x4 transposed
    convolution up; every level but the outermost returns ``[its activated input | its output]`` (the
    skip connection carries activations, as the paper's "concatenate activations from layer i to layer
    n - i"; the reference code gets the same from its in-place LeakyReLU)."""

    def __init__(self, cfg: Pix2PixConfig, level: int, in_ch: int, out_ch: int, inner: Optional["UNetBlock"]):
        super().__init__()
        ch = cfg.level_channels()[level]
        outermost, innermost = level == 0, inner is None
        bias = cfg.norm == "instance"  # a batch norm after the convolution makes its bias redundant
        # in place: the input of a level is a norm's or a convolution's output, which their gradients do not need
        self.act = None if outermost else nn.LeakyReLU(0.2, inplace=True)
        down = [nn.Conv2d(in_ch, ch, 4, 2, 1, bias=bias)]
        if not (outermost or innermost):
            down.append(_norm(cfg, ch))
        up = [nn.ReLU(inplace=True), nn.ConvTranspose2d(ch if innermost else 2 * ch, out_ch, 4, 2, 1,
                                                        bias=bias or outermost)]
        if not outermost:
            up.append(_norm(cfg, out_ch))
            if 4 <= level < cfg.downsamplings - 1 and cfg.dropout > 0:
                up.append(nn.Dropout(cfg.dropout))
        self.outermost = outermost
        self.down = nn.Sequential(*down)
        self.inner = inner
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act is not None:
            x = self.act(x)
        h = self.down(x)
        if self.inner is not None:
            h = self.inner(h)
        h = self.up(h)
        return h if self.outermost else torch.cat([x, h], dim=1)

    def input_interval(self, lo: int, hi: int) -> Interval:
        """Input pixels that outputs ``[lo, hi]`` of this level depend on."""
        a, b = conv_transpose_back(lo, hi, 4, 2, 1)
        if self.inner is not None:
            a, b = self.inner.input_interval(a, b)
        a, b = conv_back(a, b, 4, 2, 1)
        return (a, b) if self.outermost else (min(a, lo), max(b, hi))


class Pix2PixUNet(FixedBandModel):
    """pix2pix's U-Net generator on normalized bands (see the module docstring)."""

    def __init__(self, cfg: Pix2PixConfig):
        super().__init__(cfg)
        n_in, n_out = len(self.source_classes), len(self.target_classes)
        ch = cfg.level_channels()
        block = None
        for level in reversed(range(cfg.downsamplings)):
            block = UNetBlock(cfg, level, n_in if level == 0 else ch[level - 1],
                              n_out if level == 0 else ch[level - 1], block)
        self.unet = block
        self.head = OutputActivation(cfg.output_activation, cfg.output_range)
        init_normal(self.unet)

    @property
    def stride(self) -> int:
        return self.cfg.stride

    @property
    def min_size(self) -> int:
        return self.cfg.min_input_size

    def receptive_field(self) -> int:
        """Pixels one output depends on through the convolutions (1278 for the default 8 levels: wider
        than a 256 px tile, so every output of a tile sees the whole tile)."""
        return receptive_field(self.unet.input_interval, self.stride)

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.unet(x))


@register_model("pix2pix_unet", family="pix2pix", config=Pix2PixConfig)
def pix2pix_unet(cfg: Pix2PixConfig) -> Pix2PixUNet:
    """pix2pix U-Net generator: fixed source bands -> fixed target bands (paired training)."""
    return Pix2PixUNet(cfg)


__all__ = ["Pix2PixConfig", "Pix2PixUNet", "UNetBlock", "UNetBatchNorm", "pix2pix_unet"]
