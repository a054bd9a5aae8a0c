"""``spade``: label map -> bands with SPADE's objective (Park et al. 2019, section 4 and appendix A).

The paper's set-up is the default:

* a **multi-scale PatchGAN** discriminator (:class:`MultiscaleDiscriminator`): ``disc_scales`` (2)
  PatchGANs of ``disc_layers`` (4) 4x4 convolutions (64, 128, 256, 512 channels, the first three with
  stride 2, padding 2; spectral norm and instance norm without affine parameters except on the first;
  LeakyReLU 0.2; a last 4x4 convolution to one channel), the second on the input average-pooled to half
  its size; each judges the one-hot label map concatenated with the (normalized) bands;
* the **hinge loss** (D: ``relu(1 - D(real)) + relu(1 + D(fake))``, G: ``-D(fake)``), averaged over
  the scales;
* the discriminator **feature-matching loss**: L1 between D's intermediate features of the real and the
  generated image, every layer but the output, averaged over the scales, weight ``feat`` = 10;
* **TTUR**: Adam with betas (0, 0.9), generator 1e-4 and discriminator 4e-4 (``disc_lr_ratio`` 4 times
  ``optim.lr``), constant rate (the reference code's ``--no_TTUR`` off, ``--lr 0.0002`` halved for G and
  doubled for D);
* optional **VAE style encoder** (``encoder: true``, with a generator of ``style_dim`` > 0): six 3x3
  stride-2 convolutions (64, 128, 256, 512, 512, 512; instance norm, LeakyReLU 0.2) on the real bands,
  global average pooling, linear ``mu`` and ``logvar``; the generator takes ``z = mu + eps * exp(logvar
  / 2)``; KL divergence to N(0, 1) with weight ``kl`` = 0.05.  The encoder trains with the generator's
  optimizer.  Without the encoder a generator with a style input gets standard-normal styles;
* optional **VGG19 perceptual loss** (``vgg`` > 0, off by default; the paper's weight is 10): L1 between
  VGG19 features (relu1_1 .. relu5_1, weights 1/32, 1/16, 1/8, 1/4, 1) of the red, green and blue bands
  of the real and the generated image.  Its weights are read only from the file ``vgg_weights`` names
  (a torchvision-layout ``state_dict`` of ``vgg19().features``, loaded with ``weights_only=True``);
  nothing is ever downloaded.

Everything is computed on normalized bands.  ``l1`` (0 by default: the paper has no pixel loss) adds a
masked L1 term; the masked L1 to the real bands is logged either way (``l1`` in the run log), where the
label is known and the band valid.  Under several processes the gradients and the batch-norm statistics
are averaged by hand each step, as in the ``pix2pix`` objective.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from ...core.bands import resolve_band
from ...core.errors import ConfigError
from ..collate import collator_for
from .base import Objective, TrainContext
from .pix2pix import frozen, masked_l1
from .registry import register_objective

#: The optimizer of SPADE's reference set-up (TTUR): G 1e-4, D 4 x that, betas (0, 0.9), constant rate.
SPADE_OPTIM = {"lr": 1e-4, "betas": (0.0, 0.9), "weight_decay": 0.0, "schedule": "constant", "warmup_steps": 0,
               "min_lr_ratio": 0.0, "grad_clip": 0.0}


@dataclass(frozen=True)
class SpadeParams:
    """Parameters of the ``spade`` objective (YAML ``objective.params``); the defaults are the paper's."""

    feat: float = 10.0  # weight of the discriminator feature-matching loss
    disc_width: int = 64  # ndf
    disc_layers: int = 4  # n_layers_D
    disc_scales: int = 2  # num_D
    disc_lr_ratio: float = 4.0  # TTUR: D's learning rate is this many times optim.lr (G's)
    encoder: bool = False  # VAE style encoder (needs a generator with style_dim > 0)
    encoder_width: int = 64
    kl: float = 0.05  # weight of the KL divergence of the encoder's posterior
    vgg: float = 0.0  # weight of the VGG19 perceptual loss (paper: 10); 0: off
    vgg_weights: str = ""  # file of the VGG19 features' state_dict (required when vgg > 0)
    l1: float = 0.0  # weight of a masked L1 term (not in the paper)

    def __post_init__(self):
        for k in ("feat", "kl", "vgg", "l1"):
            if getattr(self, k) < 0:
                raise ValueError(f"{k} must be >= 0, got {getattr(self, k)}")
        if self.disc_layers < 2 or self.disc_width < 1 or self.disc_scales < 1 or self.encoder_width < 1:
            raise ValueError("disc_layers must be >= 2, disc_width, disc_scales and encoder_width >= 1")
        if self.disc_lr_ratio <= 0:
            raise ValueError(f"disc_lr_ratio must be > 0, got {self.disc_lr_ratio}")


def _sn(module: nn.Module) -> nn.Module:
    return spectral_norm(module)


class NLayerDiscriminator(nn.Module):
    """One PatchGAN of SPADE's discriminator; :meth:`forward` returns every layer's output (the last is
    the patch logits)."""

    def __init__(self, in_channels: int, width: int, layers: int):
        super().__init__()
        seq: List[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, width, 4, 2, 2), nn.LeakyReLU(0.2))]
        ch = width
        for n in range(1, layers):
            nxt = min(ch * 2, 512)
            stride = 1 if n == layers - 1 else 2
            seq.append(nn.Sequential(_sn(nn.Conv2d(ch, nxt, 4, stride, 2)),
                                     nn.InstanceNorm2d(nxt, affine=False), nn.LeakyReLU(0.2)))
            ch = nxt
        seq.append(nn.Conv2d(ch, 1, 4, 1, 2))
        self.layers = nn.ModuleList(seq)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        out = []
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        return out


class MultiscaleDiscriminator(nn.Module):
    """``scales`` PatchGANs, each on the input average-pooled once more (3x3, stride 2)."""

    def __init__(self, in_channels: int, width: int, layers: int, scales: int):
        super().__init__()
        self.nets = nn.ModuleList(NLayerDiscriminator(in_channels, width, layers) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> List[List[torch.Tensor]]:
        out = []
        for i, net in enumerate(self.nets):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            out.append(net(x))
        return out


def hinge_d(real: List[List[torch.Tensor]], fake: List[List[torch.Tensor]]) -> torch.Tensor:
    """The discriminator's hinge loss, averaged over the scales."""
    return sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real, fake)) / len(real)


def hinge_g(fake: List[List[torch.Tensor]]) -> torch.Tensor:
    return sum(-f[-1].mean() for f in fake) / len(fake)


def feature_matching(real: List[List[torch.Tensor]], fake: List[List[torch.Tensor]]) -> torch.Tensor:
    """L1 between D's intermediate features (every layer but the logits) of real and generated images,
    summed over the layers and averaged over the scales."""
    total = 0.0
    for r, f in zip(real, fake):
        for a, b in zip(r[:-1], f[:-1]):
            total = total + F.l1_loss(b, a.detach())
    return total / len(real)


class _InstanceNormAbovePixel(nn.Module):
    """Instance norm without affine parameters, the identity on a 1 x 1 map (a small chip at the
    encoder's sixth stride-2 level, where there is nothing to normalize over)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.shape[-1] * x.shape[-2] == 1 else F.instance_norm(x)


class StyleEncoder(nn.Module):
    """SPADE's image encoder: six 3x3 stride-2 convolutions, global pooling, ``mu`` and ``logvar``."""

    def __init__(self, in_channels: int, width: int, style_dim: int):
        super().__init__()
        chans = [width * m for m in (1, 2, 4, 8, 8, 8)]
        seq: List[nn.Module] = []
        prev = in_channels
        for c in chans:
            seq += [_sn(nn.Conv2d(prev, c, 3, 2, 1)), _InstanceNormAbovePixel(), nn.LeakyReLU(0.2)]
            prev = c
        self.net = nn.Sequential(*seq)
        self.mu = nn.Linear(prev, style_dim)
        self.logvar = nn.Linear(prev, style_dim)

    def forward(self, x: torch.Tensor):
        h = self.net(x)
        h = h.mean(dim=(2, 3)) if h.shape[-1] > 1 or h.shape[-2] > 1 else h.flatten(1)
        return self.mu(h), self.logvar(h)


#: VGG19's convolution widths ("M": 2x2 max pooling), torchvision's ``vgg19().features`` layout.
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
#: indices in that ``features`` stack after which relu1_1 .. relu5_1 are taken, and their weights
VGG_TAPS = (1, 6, 11, 20, 29)
VGG_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: reflectance mapped to [0, 1] for VGG: r / RGB_REFLECTANCE_WHITE, clipped (a display stretch)
RGB_REFLECTANCE_WHITE = 0.3


class VGG19Features(nn.Module):
    """VGG19's convolutional stack in plain torch (torchvision's ``features`` indices), frozen, weights from
    a named file only."""

    def __init__(self):
        super().__init__()
        layers: List[nn.Module] = []
        prev = 3
        for v in VGG19_LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(prev, int(v), 3, padding=1), nn.ReLU()]
                prev = int(v)
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_file(cls, path: str, key: str = "objective.params.vgg_weights") -> "VGG19Features":
        if not path:
            raise ConfigError(f"{key}: the VGG perceptual loss (objective.params.vgg > 0) needs the VGG19 weights; "
                              "name a file holding the state_dict of torchvision's vgg19().features (nothing is "
                              "downloaded)")
        full = os.path.abspath(os.path.expanduser(os.path.expandvars(path)))
        if not os.path.isfile(full):
            raise ConfigError(f"{key}: VGG19 weights file {full} does not exist")
        try:
            state = torch.load(full, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file: say which
            raise ConfigError(f"{key}: cannot read VGG19 weights from {full} as a plain state_dict ({exc})") from None
        if not isinstance(state, Mapping):
            raise ConfigError(f"{key}: {full} holds a {type(state).__name__}, not a state_dict")
        state = {(k[len("features."):] if k.startswith("features.") else k): v for k, v in state.items()
                 if not k.startswith("classifier.")}
        net = cls()
        try:
            net.features.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(f"{key}: {full} is not a VGG19 features state_dict ({str(exc).splitlines()[0]})") from None
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        return net

    def forward(self, rgb: torch.Tensor) -> List[torch.Tensor]:
        x = (rgb - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG_TAPS:
                out.append(x)
                if i == VGG_TAPS[-1]:
                    break
        return out


def vgg_loss(vgg: VGG19Features, fake_rgb: torch.Tensor, real_rgb: torch.Tensor) -> torch.Tensor:
    fake_f, real_f = vgg(fake_rgb), vgg(real_rgb)
    return sum(w * F.l1_loss(a, b.detach()) for w, a, b in zip(VGG_WEIGHTS, fake_f, real_f))


def one_hot(index: np.ndarray, classes: int) -> np.ndarray:
    """``[B, k, k]`` class indices (-1: no class) -> ``[B, K, k, k]`` float32 one-hot (all zero at -1)."""
    return (index[:, None] == np.arange(classes, dtype=index.dtype)[None, :, None, None]).astype(np.float32)


@register_objective("spade", config=SpadeParams, kinds=("label_map",), optim_defaults=SPADE_OPTIM)
class Spade(Objective):
    """SPADE: multi-scale PatchGAN, hinge loss, feature matching x 10, TTUR (G 1e-4, D 4e-4, betas 0 / 0.9)."""

    def __init__(self, model, params: SpadeParams, ctx: TrainContext):
        super().__init__(model, params, ctx)
        o = ctx.optim
        k = len(model.label_classes)
        n_out = len(model.accepted_targets())
        self.style_dim = int(getattr(model.config, "style_dim", 0))
        if params.encoder and not self.style_dim:
            raise ConfigError("objective.params.encoder: the VAE style encoder needs a generator with a style "
                              "input (model.params.style_dim > 0, the paper's 256)")
        self.disc = MultiscaleDiscriminator(k + n_out, params.disc_width, params.disc_layers,
                                            params.disc_scales).to(ctx.device)
        self.modules["discriminator"] = self.disc
        self.encoder = None
        if params.encoder:
            self.encoder = StyleEncoder(n_out, params.encoder_width, self.style_dim).to(ctx.device)
            self.modules["encoder"] = self.encoder
        self.vgg = None
        self.rgb = None
        if params.vgg > 0:
            targets = list(model.accepted_targets())
            rgb = [resolve_band(b).id for b in ("red", "green", "blue")]
            lacking = [b for b, c in zip(("red", "green", "blue"), rgb) if c not in targets]
            if lacking:
                raise ConfigError(f"objective.params.vgg: the VGG perceptual loss sees the red, green and blue "
                                  f"bands; the model's target_bands lack {', '.join(lacking)}")
            self.vgg = VGG19Features.from_file(params.vgg_weights).to(ctx.device)
            self.rgb = [targets.index(c) for c in rgb]
        ctx.broadcast_modules(self.modules.values())
        g_params = list(model.parameters()) + (list(self.encoder.parameters()) if self.encoder is not None else [])
        self.add_optimizer("model", g_params, o.lr, o.betas, o.weight_decay)
        self.add_optimizer("discriminator", self.disc.parameters(), o.lr * params.disc_lr_ratio, o.betas,
                           o.weight_decay)
        self._collate = collator_for(model)
        self.classes = k

    def collate(self, chips: Sequence[Any], chips_b: Sequence[Any] = None) -> Dict[str, np.ndarray]:
        batch = self._collate(chips)
        size = batch["labels"].shape[-1]
        if size % self.model.stride:
            raise ConfigError(f"data.chip_size: {size} px is not a multiple of the generator's stride "
                              f"{self.model.stride}")
        batch["labels"] = one_hot(batch["labels"], self.classes)
        return batch

    def _rgb(self, x_n: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        refl = self.model.normalization.denormalize(x_n, ids)[:, self.rgb]
        return (refl / RGB_REFLECTANCE_WHITE).clamp(0.0, 1.0)

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        p, model, disc = self.params, self.model, self.disc
        labels = batch["labels"]
        ids = model.output_classes((labels,))
        real_n = model.normalization.normalize(batch["real"], ids)
        out: Dict[str, torch.Tensor] = {}
        noise, kl = None, None
        if self.encoder is not None:
            mu, logvar = self.encoder(real_n)
            noise = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        elif self.style_dim:
            noise = torch.randn(labels.shape[0], self.style_dim, device=labels.device)
        with self.ctx.autocast():
            fake = model(labels, noise) if noise is not None else model(labels)
        fake_n = model.normalization.normalize(fake.float(), ids)
        # the discriminator: hinge on (labels, real) and (labels, G(labels))
        with self.ctx.autocast():
            d_fake = disc(torch.cat([labels, fake_n.detach()], 1))
            d_real = disc(torch.cat([labels, real_n], 1))
            d_loss = hinge_d(d_real, d_fake)
        self.apply(d_loss, "discriminator", list(disc.parameters()), self.ctx.optim.grad_clip, sync=True)
        # the generator (and encoder): fool D, match its features, stay close to the encoder's prior
        with frozen(disc), self.ctx.autocast():
            g_fake = disc(torch.cat([labels, fake_n], 1))
            with torch.no_grad():
                g_real = disc(torch.cat([labels, real_n], 1))
            adv = hinge_g(g_fake)
            feat = feature_matching(g_real, g_fake)
        l1 = masked_l1(fake_n, real_n, batch["mask"])
        loss = adv.float() + p.feat * feat.float()
        if p.l1:
            loss = loss + p.l1 * l1
        if kl is not None:
            loss = loss + p.kl * kl
            out["kl"] = kl.detach()
        if self.vgg is not None:
            perceptual = vgg_loss(self.vgg, self._rgb(fake_n, ids), self._rgb(real_n, ids))
            loss = loss + p.vgg * perceptual
            out["vgg"] = perceptual.detach()
        g_params = [q for name in ("model", "encoder") if name in self.modules for q in self.modules[name].parameters()]
        self.apply(loss, "model", g_params, self.ctx.optim.grad_clip, sync=True)
        self.end_step()
        self.ctx.sync_buffers(self.modules.values())
        out.update({"loss": loss.detach(), "l1": l1.detach(), "adv": adv.detach().float(), "feat": feat.detach().float(),
                    "disc": d_loss.detach().float()})
        return out


__all__ = ["Spade", "SpadeParams", "SPADE_OPTIM", "MultiscaleDiscriminator", "NLayerDiscriminator", "StyleEncoder",
           "VGG19Features", "hinge_d", "hinge_g", "feature_matching", "vgg_loss", "one_hot"]
