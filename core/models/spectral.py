"""``spectral_mlp``: a per-pixel conditional translator whose output never depends on the tile.

``forward(bands [N, 15, H, W], present [N, 15], target [N]) -> [N, 1, H, W]`` in physical units, the same
contract as ``adain_unet`` (:class:`~.conditional.BandConditionalModel`), so it trains, exports and runs in
``predict`` and QGIS unchanged.  Why it exists (``docs/evaluation.md`` has the measurements): on scenes
never seen, per-pixel spectral relations carry most of the signal, and a network whose normalization
statistics come from the tile (instance norm) changes its output with the tile's content.  Here:

1. Every supplied band is normalized with FIXED per-class statistics (set from the training data, stored
   in the model); absent bands are 0 and the presence vector is appended as 15 more input channels, so
   "B11 is 0" and "B11 is absent" differ.
2. A condition code is made from the target class's learned embedding and the presence vector (the
   source set) by a small MLP.
3. A stem (1x1), then ``blocks`` residual blocks ``h + W2 act(FiLM(W1 act(h)))``: 1x1 convolutions,
   i.e. an MLP applied to every pixel, whose hidden features are modulated per item by a (gamma, beta)
   generated from the condition code: the seed's idea of a per-target (gamma, beta), applied with fixed
   rather than per-tile statistics.  ``context`` > 0 inserts that many 3x3 residual convolutions after
   the stem (spatial context; the receptive field grows by 2 per layer, the tiling overlap covers it).
4. A head whose 1x1 weights are generated per item from the condition code reads the last features and the
   normalized inputs (a per-(source set, target) linear read-out is part of it); the result is
   de-normalized with the target class's statistics, or added to the in-graph linear prior.

With ``context: 0`` (the default) every output pixel is a function of that pixel's band values only:
tiled and whole-image passes agree to float rounding, whatever the tile size or overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Literal, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..bands import NUM_CLASSES
from .conditional import BandConditionalModel, band_ids
from .geometry import tiling_hint
from .layers import MLP, ConditionalPointwise
from .registry import register_model

ACTIVATIONS = ("silu", "leaky_relu")


@dataclass(frozen=True)
class SpectralConfig:
    """Hyperparameters of ``spectral_mlp`` (every field may be set from YAML under ``model.params``)."""

    width: int = 128  # hidden features per pixel
    blocks: int = 4  # residual FiLM blocks
    embed_dim: int = 32  # size of the target-class embedding
    cond_dim: int = 64  # size of the condition code (target + source set)
    context: int = 0  # 3x3 residual convolutions after the stem (0: per-pixel, exactly tile-independent)
    activation: Literal["silu", "leaky_relu"] = "silu"
    log_inputs: bool = False  # also feed log-reflectance (minus its training mean's log): band ratios become differences
    dropout: float = 0.0  # dropout on the hidden features of every block, in training only
    source_bands: Tuple[str, ...] = ()  # band classes accepted as input (names/keys); empty: all
    target_bands: Tuple[str, ...] = ()  # band classes it may synthesize; empty: all
    tile_size: int = 512  # recommended inference tile edge (pixels), written to the model metadata
    linear_prior: bool = False  # add the network's output to a least-squares linear fit carried in the model
    prior_groups: int = 4  # room for this many band sets in the linear prior's moment matrices
    interpolation_prior: bool = False  # also a physical prior: the target interpolated in wavelength between
    # its nearest present neighbours; the network chooses per pixel how far to move from the linear prior
    # towards it (a gate in [0, 1]) before adding its correction (needs linear_prior)

    def __post_init__(self):
        for key in ("width", "blocks", "embed_dim", "cond_dim", "prior_groups"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.context <= 8:
            raise ValueError(f"context must be 0..8, got {self.context}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.tile_size < 2 * (self.context + 1):
            raise ValueError(f"tile_size must be at least {2 * (self.context + 1)}, got {self.tile_size}")
        for key in ("source_bands", "target_bands"):
            band_ids(getattr(self, key), key)
        if self.interpolation_prior and not self.linear_prior:
            raise ValueError("interpolation_prior: true needs linear_prior: true (the gate moves between the two)")

    @property
    def stride(self) -> int:
        return 1

    @property
    def source_ids(self) -> Tuple[int, ...]:
        return band_ids(self.source_bands, "source_bands") or tuple(range(NUM_CLASSES))

    @property
    def target_ids(self) -> Tuple[int, ...]:
        return band_ids(self.target_bands, "target_bands") or tuple(range(NUM_CLASSES))


# bands that sample the surface spectrum's continuum: absorption bands (water vapour, cirrus) and thermal
# bands are never interpolated from
_CONTINUUM_KEYS = ("coastal_aerosol", "blue", "green", "red", "red_edge_1", "red_edge_2", "red_edge_3",
                   "nir_broad", "nir_narrow", "swir_1", "swir_2")


def interpolation_weights(p: torch.Tensor, target: torch.Tensor, wavelengths: torch.Tensor,
                          anchors: torch.Tensor) -> torch.Tensor:
    """``[N, 15]`` weights that interpolate the target linearly in wavelength between the nearest present
    anchor band below it and the nearest above (only one side present: that band's value; none: all 0).

    ``p`` ``[N, 15]`` presence (0/1), ``target`` ``[N]`` class ids, ``wavelengths`` ``[15]`` (nm),
    ``anchors`` ``[15]`` 0/1: the classes that may be interpolated from.  ONNX-exportable (argmax, where)."""
    onehot = F.one_hot(target, NUM_CLASSES).to(p.dtype)
    cand = p * (1.0 - onehot) * anchors  # [N, 15]
    wt = (onehot * wavelengths).sum(dim=1, keepdim=True)  # [N, 1]
    d = wavelengths.unsqueeze(0) - wt  # [N, 15]: > 0 above the target
    big = torch.full_like(d, 1e9)
    below = (cand > 0.5) & (d <= 0)
    above = (cand > 0.5) & (d > 0)
    lo = F.one_hot(torch.argmax(torch.where(below, d, -big), dim=1), NUM_CLASSES).to(p.dtype)
    hi = F.one_hot(torch.argmax(torch.where(above, -d, -big), dim=1), NUM_CLASSES).to(p.dtype)
    has_lo = below.any(dim=1, keepdim=True).to(p.dtype)
    has_hi = above.any(dim=1, keepdim=True).to(p.dtype)
    w_lo = (lo * wavelengths).sum(dim=1, keepdim=True)
    w_hi = (hi * wavelengths).sum(dim=1, keepdim=True)
    both = has_lo * has_hi
    f = torch.where(both > 0.5, (wt - w_lo) / torch.clamp(w_hi - w_lo, min=1e-3), torch.zeros_like(wt))
    two = (1.0 - f) * lo + f * hi
    one = has_lo * (1.0 - has_hi) * lo + has_hi * (1.0 - has_lo) * hi
    return both * two + (1.0 - both) * one


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    return F.silu(x) if name == "silu" else F.leaky_relu(x, 0.2)


class FiLMBlock(nn.Module):
    """``h + W2 act((1 + gamma) * W1 act(h) + beta)``, (gamma, beta) from the condition code, 1x1 convs."""

    def __init__(self, width: int, cond_dim: int, activation: str, dropout: float = 0.0):
        super().__init__()
        self.activation = activation
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv1 = nn.Conv2d(width, width, 1)
        self.conv2 = nn.Conv2d(width, width, 1)
        self.film = nn.Linear(cond_dim, 2 * width)
        nn.init.normal_(self.film.weight, std=0.02)
        nn.init.zeros_(self.film.bias)
        nn.init.zeros_(self.conv2.weight)  # a fresh block is the identity
        nn.init.zeros_(self.conv2.bias)
        self.width = width

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gb = self.film(cond)
        r = self.conv1(_act(self.activation, h))
        r = r * (1.0 + gb[:, : self.width, None, None]) + gb[:, self.width:, None, None]
        return h + self.conv2(self.dropout(_act(self.activation, r)))


class ContextBlock(nn.Module):
    """``h + conv3x3(act(h))`` with replicate padding (spatial context after the per-pixel stem)."""

    def __init__(self, width: int, activation: str):
        super().__init__()
        self.activation = activation
        self.conv = nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.conv(_act(self.activation, h))


class SpectralMLP(BandConditionalModel):
    """Per-pixel, class-conditional translator with fixed normalization (see the module docstring)."""

    def __init__(self, cfg: SpectralConfig):
        super().__init__(cfg)
        w = cfg.width
        self.target_embedding = nn.Embedding(NUM_CLASSES, cfg.embed_dim)
        self.condition_mlp = MLP(cfg.embed_dim + NUM_CLASSES, cfg.cond_dim, hidden=2 * cfg.cond_dim)
        extra = 1 if cfg.interpolation_prior else 0  # the interpolated target, normalized, as one more input
        self.stem = nn.Conv2d((3 if cfg.log_inputs else 2) * NUM_CLASSES + extra, w, 1)
        self.context = nn.ModuleList([ContextBlock(w, cfg.activation) for _ in range(cfg.context)])
        self.blocks = nn.ModuleList([FiLMBlock(w, cfg.cond_dim, cfg.activation, cfg.dropout) for _ in range(cfg.blocks)])
        # with the interpolation prior the head also writes the gate's logit (a second channel)
        self.head = ConditionalPointwise(w + NUM_CLASSES + extra, 1 + extra, cfg.cond_dim)
        if cfg.interpolation_prior:
            from ..bands import BAND_CLASSES

            self.register_buffer("wavelengths", torch.tensor([c.wavelength_nm for c in BAND_CLASSES],
                                                             dtype=torch.float32), persistent=False)
            self.register_buffer("anchors", torch.tensor([1.0 if c.key in _CONTINUUM_KEYS else 0.0
                                                          for c in BAND_CLASSES]), persistent=False)

    def receptive_field(self) -> int:
        return 1 + 2 * self.cfg.context

    def tiling(self) -> Dict[str, int]:
        """Tile size from the config; overlap = the context radius (0 for a per-pixel model)."""
        return tiling_hint(self.receptive_field(), self.stride, self.cfg.tile_size)

    def condition_code(self, p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``[N, cond_dim]`` from the target class and the (binarized) presence vector."""
        return self.condition_mlp(torch.cat([self.target_embedding(target), p], dim=1))

    def forward(self, bands: torch.Tensor, present: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = self.presence(present, bands.dtype)
        x = self.normalized_sources((bands, present, target))
        n, _, h, w = x.shape
        parts = [x, p[:, :, None, None].expand(n, NUM_CLASSES, h, w)]
        if self.cfg.log_inputs:  # log(v) - log(training mean), floored at 1e-3 reflectance; absent bands 0
            floor = 1e-3
            mean = self.normalization.mean.to(bands.dtype).clamp(min=floor).reshape(1, -1, 1, 1)
            logv = torch.log(bands.clamp(min=floor)) - torch.log(mean)
            parts.append(torch.where(p[:, :, None, None] > 0.5, logv, torch.zeros_like(logv)))
        if self.cfg.interpolation_prior:
            iw = interpolation_weights(p, target, self.wavelengths.to(bands.dtype), self.anchors.to(bands.dtype))
            n_, c_, h_, w_ = bands.shape
            interp = torch.matmul(iw[:, None, :], bands.reshape(n_, c_, h_ * w_)).reshape(n_, 1, h_, w_)
            z_interp = self.normalization.normalize(interp, target.reshape(-1, 1))
            parts.append(z_interp)
            x = torch.cat([x, z_interp], dim=1)
        feats = torch.cat(parts, dim=1)
        cond = self.condition_code(p, target)
        hid = self.stem(feats)
        for block in self.context:
            hid = block(hid)
        for block in self.blocks:
            hid = block(hid, cond)
        y = self.head(torch.cat([_act(self.cfg.activation, hid), x], dim=1), cond)
        if self.cfg.interpolation_prior:
            return self.gated_output(y, bands, p, target, interp, iw)
        return self.output(y, bands, p, target)

    def gated_output(self, y: torch.Tensor, bands: torch.Tensor, p: torch.Tensor, target: torch.Tensor,
                     interp: torch.Tensor, iw: torch.Tensor) -> torch.Tensor:
        """``lin + g * (interp - lin) + correction * std_target``: ``g = sigmoid(gate logit)`` per pixel
        (0 where no anchor band is present), the correction in target standard deviations."""
        with torch.autocast(device_type=bands.device.type, enabled=False), torch.no_grad():
            lin = self.linear_prior(bands.float(), p.float(), target)
        usable = (iw.sum(dim=1) > 0.5).to(torch.float32).reshape(-1, 1, 1, 1)
        gate = torch.sigmoid(y[:, 1:2].float() - 2.0) * usable  # starts near the linear prior (g ~ 0.12)
        base = lin + gate * (interp.float() - lin)
        return base + y[:, :1].float() * self.normalization.scale(target.reshape(-1, 1))


@register_model("spectral_mlp", family="spectral", config=SpectralConfig)
def spectral_mlp(cfg: SpectralConfig) -> SpectralMLP:
    """Per-pixel conditional translator with fixed statistics: any subset of band classes in, any one out;
    tiled and whole-image passes agree (``context: 0``)."""
    return SpectralMLP(cfg)


__all__ = ["SpectralConfig", "SpectralMLP", "spectral_mlp"]
