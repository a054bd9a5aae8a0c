"""CycleGAN's ResNet generator (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", appendix 7.2; Johnson et al. 2016), as a fixed-band family.

``cyclegan_resnet`` with its defaults is the paper's generator: a reflection-padded 7x7 convolution (64
channels), two stride-2 3x3 convolutions (128, 256), residual blocks of two reflection-padded 3x3
convolutions at 256 channels (9 blocks for 256 px training images, 6 for 128 px: ``blocks: 0`` picks by
``tile_size``), two stride-2 3x3 transposed convolutions (128, 64), a reflection-padded 7x7 convolution to
the output bands and a tanh; instance norm (no learned scale, no running statistics) and ReLU after every
convolution but the last; convolution weights ~ N(0, 0.02); no dropout.

**Absolute levels.** Instance norm after the first convolution removes any per-tile shift or common
scale of the input (a uniformly brighter tile gives the same normalized features), so the paper's
generator cannot see a tile's mean reflectance, only its patterns; it has to guess levels from content.
For natural photographs that is harmless, for reflectance the levels are much of the signal (a learned
identity mapping stays ~0.6 standard deviations off after 300 steps, 0.2 with the option below).
``input_to_head: true`` (off by default: not the paper's) also feeds the normalized input bands to the
last convolution, which keeps them.

A CycleGAN trains two of these (``direction`` A->B and B->A, the second with the band lists swapped);
``direction`` is recorded in the exported metadata's config.  Instance norm normalizes each tile with its
own statistics at inference as in training, so an output depends weakly on its whole tile: predict with the
training tile size (the model's ``tile_size``) and blended overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Tuple

import torch
from torch import nn

from .fixed_bands import FixedBandModel, OutputActivation, band_list, check_tile_size, init_normal
from .geometry import Interval, conv_back, conv_transpose_back, receptive_field
from .registry import register_model

#: Sentinel-2's 10 m bands: blue, green, red, NIR broad.
TEN_METRE_BANDS = ("blue", "green", "red", "nir_broad")
DOWNSAMPLINGS = 2


@dataclass(frozen=True)
class ResnetGeneratorConfig:
    """Hyperparameters of ``cyclegan_resnet`` (YAML ``model.params``); the defaults are the paper's."""

    source_bands: Tuple[str, ...] = TEN_METRE_BANDS  # input bands (domain A for direction A->B)
    target_bands: Tuple[str, ...] = TEN_METRE_BANDS  # output bands (domain B for direction A->B)
    width: int = 64  # channels of the first convolution (ngf); 2x and 4x after the downsamplings
    blocks: int = 0  # residual blocks; 0: the paper's choice, 9 for tile_size >= 256, else 6
    norm: Literal["instance", "batch"] = "instance"
    dropout: float = 0.0  # inside the residual blocks (CycleGAN trains without)
    padding_mode: Literal["reflect", "replicate", "zeros"] = "reflect"
    output_activation: Literal["tanh", "linear"] = "tanh"
    output_range: float = 4.0  # tanh bounds outputs to mean +- this many standard deviations of the band
    input_to_head: bool = False  # the last convolution also reads the normalized input (see the module docstring)
    direction: Literal["A->B", "B->A"] = "A->B"  # which generator of a CycleGAN this is
    tile_size: int = 256  # recommended inference tile (the training size of the paper)

    def __post_init__(self):
        band_list(self.source_bands, "source_bands")
        band_list(self.target_bands, "target_bands")
        if self.width < 1 or self.blocks < 0:
            raise ValueError(f"width must be >= 1 and blocks >= 0, got {self.width}, {self.blocks}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        OutputActivation(self.output_activation, self.output_range)
        check_tile_size(self.tile_size, self.stride, 2 * self.stride)

    @property
    def stride(self) -> int:
        return 2 ** DOWNSAMPLINGS

    @property
    def residual_blocks(self) -> int:
        return self.blocks or (9 if self.tile_size >= 256 else 6)


def _norm(cfg: ResnetGeneratorConfig, channels: int) -> nn.Module:
    if cfg.norm == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """``x + norm(conv(relu(norm(conv(x)))))`` with two padded 3x3 convolutions."""

    def __init__(self, cfg: ResnetGeneratorConfig, channels: int):
        super().__init__()
        bias = cfg.norm == "instance"
        layers = [nn.Conv2d(channels, channels, 3, padding=1, padding_mode=cfg.padding_mode, bias=bias),
                  _norm(cfg, channels), nn.ReLU(inplace=True)]
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        layers += [nn.Conv2d(channels, channels, 3, padding=1, padding_mode=cfg.padding_mode, bias=bias),
                   _norm(cfg, channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(FixedBandModel):
    """CycleGAN's generator on normalized bands (see the module docstring)."""

    def __init__(self, cfg: ResnetGeneratorConfig):
        super().__init__(cfg)
        bias = cfg.norm == "instance"
        w, pad = cfg.width, cfg.padding_mode
        layers = [nn.Conv2d(len(self.source_classes), w, 7, padding=3, padding_mode=pad, bias=bias),
                  _norm(cfg, w), nn.ReLU(inplace=True)]
        for i in range(DOWNSAMPLINGS):
            c = w * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), _norm(cfg, 2 * c), nn.ReLU(inplace=True)]
        layers += [ResnetBlock(cfg, w * 2 ** DOWNSAMPLINGS) for _ in range(cfg.residual_blocks)]
        for i in range(DOWNSAMPLINGS):
            c = w * 2 ** (DOWNSAMPLINGS - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       _norm(cfg, c // 2), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        n_head = w + (len(self.source_classes) if cfg.input_to_head else 0)
        self.out_conv = nn.Conv2d(n_head, len(self.target_classes), 7, padding=3, padding_mode=pad)
        self.head = OutputActivation(cfg.output_activation, cfg.output_range)
        init_normal(self)

    @property
    def stride(self) -> int:
        return self.cfg.stride

    def receptive_field(self) -> int:
        """Pixels one output depends on through the convolutions (169 for 9 blocks, 121 for 6)."""
        def back(lo: int, hi: int) -> Interval:
            lo, hi = conv_back(lo, hi, 7, 1, 3)
            for _ in range(DOWNSAMPLINGS):
                lo, hi = conv_transpose_back(lo, hi, 3, 2, 1)
            for _ in range(2 * self.cfg.residual_blocks):
                lo, hi = conv_back(lo, hi, 3, 1, 1)
            for _ in range(DOWNSAMPLINGS):
                lo, hi = conv_back(lo, hi, 3, 2, 1)
            return conv_back(lo, hi, 7, 1, 3)

        return receptive_field(back, self.stride)

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.head(self.out_conv(torch.cat([h, x], dim=1) if self.cfg.input_to_head else h))


@register_model("cyclegan_resnet", family="cyclegan", config=ResnetGeneratorConfig)
def cyclegan_resnet(cfg: ResnetGeneratorConfig) -> ResnetGenerator:
    """CycleGAN ResNet generator: fixed source bands -> fixed target bands (unpaired training)."""
    return ResnetGenerator(cfg)


__all__ = ["ResnetGeneratorConfig", "ResnetGenerator", "ResnetBlock", "cyclegan_resnet", "TEN_METRE_BANDS"]
