"""The conditional AdaIN translator: one U-Net for every source -> target band pair.

``forward(bands [N, 15, H, W], present [N, 15], target [N]) -> [N, 1, H, W]``, all in physical units
(see ``docs/architecture.md``; the design is explained in ``docs/models.md``):

1. Inputs are normalized with the per-class statistics stored in the model (its
   :class:`~.normalization.BandNormalization`, set from training data with
   :meth:`AdaINUNet.set_normalization`); absent bands are
   replaced by 0 with ``where`` (their values, even NaN, never reach the output).
2. The SOURCE code is the presence-weighted mean of a learned source-class embedding (a single source
   band: exactly its row) through a small MLP; every encoder norm is a conditional instance norm whose
   (gamma, beta) come from it.
3. The TARGET code is a learned target-class embedding row through a small MLP; every decoder norm is a
   conditional instance norm whose (gamma, beta) come from it, one row per item, so a batch may mix targets.
4. A 1x1 head reads the last decoder features together with the normalized inputs (instance norms drop
   each tile's brightness; this path keeps absolute levels).  Its weights are generated per item from the
   (source set, target) pair (``head_condition="sources_and_target"``, the default): the presence vector
   and the target code through an MLP, so the read-out of the inputs can differ between "B11 alone" and
   "B11 among twelve bands", as a per-source-set regression does.  ``head_condition="target"`` (the
   first bundled model's design) generates them from the target code alone.  The result is
   de-normalized with the TARGET class's statistics.

Height and width must be multiples of :attr:`AdaINUNet.stride` (``2 ** depth``) and at least twice it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Literal, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..bands import NUM_CLASSES
from .geometry import tiling_hint
from .layers import MLP, ConditionalPointwise, ConvNormAct
from .conditional import BandConditionalModel, band_ids
from .registry import register_model


@dataclass(frozen=True)
class AdaINConfig:
    """Hyperparameters of ``adain_unet`` (every field may be set from YAML under ``model:``)."""

    width: int = 16  # channels at full resolution; doubled at every level down
    depth: int = 3  # number of 2x downsamplings; stride = 2 ** depth
    embed_dim: int = 32  # size of the band-class embeddings and condition codes
    max_channels: int = 256  # cap on the channel count of deep levels
    negative_slope: float = 0.2  # LeakyReLU
    padding_mode: Literal["reflect", "replicate", "zeros"] = "reflect"
    upsample: Literal["bilinear", "nearest"] = "bilinear"
    source_bands: Tuple[str, ...] = ()  # band classes accepted as input (names/keys); empty: all
    target_bands: Tuple[str, ...] = ()  # band classes it may synthesize; empty: all
    tile_size: int = 256  # recommended inference tile edge (pixels), written to the model metadata
    head_condition: Literal["sources_and_target", "target"] = "sources_and_target"  # what generates the head
    linear_prior: bool = False  # add the network's output to a least-squares linear fit carried in the model
    prior_groups: int = 4  # room for this many band sets in the linear prior's moment matrices

    def __post_init__(self):
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        if not 1 <= self.depth <= 6:
            raise ValueError(f"depth must be 1..6, got {self.depth}")
        if self.prior_groups < 1:
            raise ValueError(f"prior_groups must be >= 1, got {self.prior_groups}")
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be >= 1, got {self.embed_dim}")
        if self.max_channels < self.width:
            raise ValueError(f"max_channels ({self.max_channels}) must be >= width ({self.width})")
        stride = 2 ** self.depth
        if self.tile_size < 2 * stride or self.tile_size % stride:
            raise ValueError(f"tile_size must be a multiple of the stride {stride} and at least {2 * stride}, "
                             f"got {self.tile_size}")
        for key in ("source_bands", "target_bands"):
            band_ids(getattr(self, key), key)

    @property
    def stride(self) -> int:
        return 2 ** self.depth

    @property
    def source_ids(self) -> Tuple[int, ...]:
        return band_ids(self.source_bands, "source_bands") or tuple(range(NUM_CLASSES))

    @property
    def target_ids(self) -> Tuple[int, ...]:
        return band_ids(self.target_bands, "target_bands") or tuple(range(NUM_CLASSES))

    def channels(self) -> Tuple[int, ...]:
        """Channels of each level, full resolution first, bottleneck last (``depth + 1`` entries)."""
        return tuple(min(self.width * 2 ** i, self.max_channels) for i in range(self.depth + 1))


class EncoderLevel(nn.Module):
    """(stride-2) ConvNormAct -> ConvNormAct, both conditioned on the source code."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, downsample: bool, cfg: AdaINConfig):
        super().__init__()
        kw = dict(padding_mode=cfg.padding_mode, negative_slope=cfg.negative_slope)
        self.conv1 = ConvNormAct(in_ch, out_ch, cond_dim, stride=2 if downsample else 1, **kw)
        self.conv2 = ConvNormAct(out_ch, out_ch, cond_dim, **kw)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x, cond), cond)


class DecoderLevel(nn.Module):
    """2x upsample -> ConvNormAct -> concat skip -> ConvNormAct, both conditioned on the target code."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, cond_dim: int, cfg: AdaINConfig):
        super().__init__()
        kw = dict(padding_mode=cfg.padding_mode, negative_slope=cfg.negative_slope)
        self.mode = cfg.upsample
        self.conv1 = ConvNormAct(in_ch, out_ch, cond_dim, **kw)
        self.conv2 = ConvNormAct(out_ch + skip_ch, out_ch, cond_dim, **kw)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.conv1(x, cond)
        return self.conv2(torch.cat([x, skip], dim=1), cond)


class AdaINUNet(BandConditionalModel):
    """Class-conditional U-Net translating any subset of band classes into any one band class."""

    def __init__(self, cfg: AdaINConfig):
        super().__init__(cfg)
        ch = cfg.channels()
        d = cfg.embed_dim
        self.source_embedding = nn.Embedding(NUM_CLASSES, d)
        self.target_embedding = nn.Embedding(NUM_CLASSES, d)
        self.source_mlp = MLP(d, d, negative_slope=cfg.negative_slope)
        self.target_mlp = MLP(d, d, negative_slope=cfg.negative_slope)
        self.encoder = nn.ModuleList(
            [EncoderLevel(NUM_CLASSES, ch[0], d, downsample=False, cfg=cfg)]
            + [EncoderLevel(ch[i - 1], ch[i], d, downsample=True, cfg=cfg) for i in range(1, cfg.depth + 1)])
        self.decoder = nn.ModuleList(
            [DecoderLevel(ch[i + 1], ch[i], ch[i], d, cfg) for i in reversed(range(cfg.depth))])
        if cfg.head_condition == "sources_and_target":
            self.head_mlp = MLP(NUM_CLASSES + d, d, hidden=2 * d, negative_slope=cfg.negative_slope)
        self.head = ConditionalPointwise(ch[0] + NUM_CLASSES, 1, d)

    # -- geometry ---------------------------------------------------------------------------------
    def receptive_field(self) -> int:
        """Exact receptive field (pixels) of one output pixel through the convolutions and resamplings.

        Maps the output pixel back, layer by layer, to the interval of input pixels it depends on (3x3
        conv: one more on each side; stride-2 conv: ``[2lo-1, 2hi+1]``; bilinear 2x upsample, half-pixel
        centres: ``[floor((lo-1)/2), floor((hi+1)/2)]``; nearest: ``[floor(lo/2), floor(hi/2)]``; a skip
        concat: the union of both paths), and takes the widest interval over the ``stride`` output
        positions of one cell of the downsampling grid.  Instance norms make every output depend weakly
        on the whole tile besides.
        """
        depth, bilinear = self.cfg.depth, self.cfg.upsample == "bilinear"

        def encoder(level: int, lo: int, hi: int) -> Tuple[int, int]:  # encoder output -> input pixels
            lo, hi = lo - 1, hi + 1  # conv2
            if level == 0:
                return lo - 1, hi + 1  # conv1, stride 1
            return encoder(level - 1, 2 * lo - 1, 2 * hi + 1)  # conv1, stride 2

        def decoder(level: int, lo: int, hi: int) -> Tuple[int, int]:  # decoder output -> input pixels
            lo, hi = lo - 1, hi + 1  # conv2 over [conv1(up(h)), skip]
            s_lo, s_hi = encoder(level, lo, hi)
            lo, hi = lo - 1, hi + 1  # conv1
            lo, hi = ((lo - 1) // 2, (hi + 1) // 2) if bilinear else (lo // 2, hi // 2)
            d_lo, d_hi = decoder(level + 1, lo, hi) if level + 1 < depth else encoder(depth, lo, hi)
            return min(s_lo, d_lo), max(s_hi, d_hi)

        widest = 0
        for p in range(self.stride):
            lo, hi = decoder(0, p, p)
            widest = max(widest, hi - lo + 1, 1)  # the head also reads the input pixel itself
        return widest

    def tiling(self) -> Dict[str, int]:
        """Recommended tiling: tile size, overlap (the receptive field's context radius rounded up to a
        multiple of the stride), stride and receptive field."""
        return tiling_hint(self.receptive_field(), self.stride, self.cfg.tile_size)

    # -- forward ------------------------------------------------------------------------------------
    def condition_codes(self, present: torch.Tensor, target: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(source code, target code), each ``[N, embed_dim]``, for a binarized presence mask."""
        weights = present / present.sum(dim=1, keepdim=True).clamp(min=1.0)
        src = self.source_mlp(torch.matmul(weights, self.source_embedding.weight))
        tgt = self.target_mlp(self.target_embedding(target))
        return src, tgt

    def forward(self, bands: torch.Tensor, present: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = self.presence(present, bands.dtype)
        x = self.normalized_sources((bands, present, target))
        src, tgt = self.condition_codes(p, target)
        skips = []
        h = x
        for level in self.encoder:
            h = level(h, src)
            skips.append(h)
        h = skips.pop()  # bottleneck
        for level in self.decoder:
            h = level(h, skips.pop(), tgt)
        head_code = self.head_mlp(torch.cat([p, tgt], dim=1)) if self.cfg.head_condition == "sources_and_target" else tgt
        y = self.head(torch.cat([h, x], dim=1), head_code)
        return self.output(y, bands, p, target)


@register_model("adain_unet", family="adain", config=AdaINConfig)
def adain_unet(cfg: AdaINConfig) -> AdaINUNet:
    """Conditional AdaIN U-Net: any subset of band classes in, any one band class out (chosen per item)."""
    return AdaINUNet(cfg)


__all__ = ["AdaINConfig", "AdaINUNet", "adain_unet"]
