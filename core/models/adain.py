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
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..bands import NUM_CLASSES
from ..errors import ModelError
from ..metadata import TensorSpec
from .fixed_bands import band_list
from .geometry import tiling_hint
from .layers import MLP, ConditionalPointwise, ConvNormAct
from .normalization import BandNormalization
from .linear_fit import mix_moments, solve_coefficients
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
            _band_ids(getattr(self, key), key)

    @property
    def stride(self) -> int:
        return 2 ** self.depth

    @property
    def source_ids(self) -> Tuple[int, ...]:
        return _band_ids(self.source_bands, "source_bands") or tuple(range(NUM_CLASSES))

    @property
    def target_ids(self) -> Tuple[int, ...]:
        return _band_ids(self.target_bands, "target_bands") or tuple(range(NUM_CLASSES))

    def channels(self) -> Tuple[int, ...]:
        """Channels of each level, full resolution first, bottleneck last (``depth + 1`` entries)."""
        return tuple(min(self.width * 2 ** i, self.max_channels) for i in range(self.depth + 1))


def _band_ids(names: Sequence[Any], key: str) -> Tuple[int, ...]:
    return tuple(sorted(band_list(names, key, allow_empty=True)))


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


class AdaINUNet(nn.Module):
    """Class-conditional U-Net translating any subset of band classes into any one band class."""

    def __init__(self, cfg: AdaINConfig):
        super().__init__()
        self.cfg = cfg
        self.num_classes = NUM_CLASSES
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

    # -- geometry ---------------------------------------------------------------------------------
    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this (and at least twice it)."""
        return self.cfg.stride

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

    def check_input_size(self, height: int, width: int) -> None:
        s = self.stride
        for name, v in (("height", height), ("width", width)):
            if v % s or v < 2 * s:
                raise ModelError(f"input {name} {v} must be a multiple of the model stride {s} and at least {2 * s}")

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
        onehot = F.one_hot(target, NUM_CLASSES).to(torch.float64)
        src = p.to(torch.float64) * (1.0 - onehot)  # a target band never predicts itself
        need = torch.clamp(src + onehot, max=1.0)
        g = mix_moments(self.prior_moments, self.prior_bands, self.prior_weights, need)
        use = torch.cat([torch.ones_like(src[:, :1]), src], dim=1)  # [N, 16]: intercept + sources
        coef = solve_coefficients(g, use, target + 1)  # [N, 16]
        x = torch.where(src.to(bands.dtype)[:, :, None, None] > 0.5, bands, torch.zeros_like(bands))
        n, c, h, w = x.shape
        lin = torch.matmul(coef[:, None, 1:].to(bands.dtype), x.reshape(n, c, h * w))  # [N, 1, H*W]
        return (lin + coef[:, None, :1].to(bands.dtype)).reshape(n, 1, h, w)

    # -- the model contract (core/models/contract.py) -------------------------------------------------
    kind = "conditional"
    conditional = True
    input_names = ("bands", "present", "target")
    input_roles = ("bands", "presence", "target")
    output_names = ("output",)

    def output_classes(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[N, 1]``: the one output channel of each item is its target class."""
        return inputs[2].reshape(-1, 1)

    def normalized_sources(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[N, 15, H, W]``: the supplied bands normalized with their class statistics, absent ones 0."""
        bands, present = inputs[0], inputs[1]
        every = torch.arange(NUM_CLASSES, device=bands.device)
        p = (present > 0.5).to(bands.dtype) * self.source_mask
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

    def export_copy(self) -> "AdaINUNet":
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

    # -- forward ------------------------------------------------------------------------------------
    def condition_codes(self, present: torch.Tensor, target: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(source code, target code), each ``[N, embed_dim]``, for a binarized presence mask."""
        weights = present / present.sum(dim=1, keepdim=True).clamp(min=1.0)
        src = self.source_mlp(torch.matmul(weights, self.source_embedding.weight))
        tgt = self.target_mlp(self.target_embedding(target))
        return src, tgt

    def forward(self, bands: torch.Tensor, present: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = (present > 0.5).to(bands.dtype) * self.source_mask
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
        out_ids = target.reshape(-1, 1)
        if self.cfg.linear_prior:  # the network learns the residual of the linear fit (normalized units)
            with torch.autocast(device_type=bands.device.type, enabled=False):  # the fit in full precision
                lin = self.linear_prior(bands.float(), p.float(), target)
            return lin + y.float() * self.normalization.scale(out_ids)
        return self.normalization.denormalize(y, out_ids)


@register_model("adain_unet", family="adain", config=AdaINConfig)
def adain_unet(cfg: AdaINConfig) -> AdaINUNet:
    """Conditional AdaIN U-Net: any subset of band classes in, any one band class out (chosen per item)."""
    return AdaINUNet(cfg)


__all__ = ["AdaINConfig", "AdaINUNet", "adain_unet"]
