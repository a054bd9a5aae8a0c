"""``pix2pix``: paired translation with a conditional PatchGAN (Isola et al. 2017), for fixed-band models.

The paper's objective and training set-up are the defaults:

* generator loss ``GAN(D(x, G(x)), real) + l1 x |G(x) - y|`` with ``l1 = 100``; the GAN loss is the
  "vanilla" cross-entropy (``gan_mode: lsgan`` for least squares); every step updates the discriminator
  on ``(x, y)`` as real and ``(x, G(x))`` as fake (its loss halved, as the paper does "to slow down the
  rate at which D learns relative to G"), then the generator;
* D is the 70 x 70 PatchGAN (``disc_layers: 3``, 4x4 kernels, batch norm), judging the source bands
  together with the real or generated target bands;
* Adam with learning rate 2e-4 and betas (0.5, 0.999) for both networks, constant for the first half of
  the steps and then decaying linearly to zero (these ``optim`` defaults come with the objective; a config
  that sets ``optim`` keys overrides them).

Everything is computed on normalized values (each band in its own standard deviations), and the L1
term counts only pixels valid in the target and every source band (``mask``).  Under several processes
the two networks' gradients and batch-norm statistics are averaged by hand each step (the same result as
DDP, which cannot run D frozen inside G's loss), so every process holds the same networks.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, Literal, Mapping, Sequence

import numpy as np
import torch

from ...core.models.contract import model_inputs
from ..collate import collator_for
from ..gan import PatchDiscriminator, discriminator_input, gan_loss
from .base import Objective, TrainContext
from .registry import register_objective

#: The optimizer of the pix2pix and CycleGAN papers (both train with it).
PAPER_OPTIM = {"lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 0.0, "schedule": "linear_decay",
               "decay_fraction": 0.5, "warmup_steps": 0, "min_lr_ratio": 0.0, "grad_clip": 0.0}


@dataclass(frozen=True)
class Pix2PixParams:
    """Parameters of the ``pix2pix`` objective (YAML ``objective.params``); the defaults are the paper's."""

    l1: float = 100.0  # weight of the L1 term (normalized values) against the GAN term
    gan_mode: Literal["vanilla", "lsgan"] = "vanilla"
    disc_width: int = 64  # channels of the discriminator's first layer (ndf)
    disc_layers: int = 3  # stride-2 layers: 3 is the 70 x 70 PatchGAN
    disc_norm: Literal["batch", "instance"] = "batch"
    init_gain: float = 0.02  # discriminator weights ~ N(0, init_gain)

    def __post_init__(self):
        if self.l1 < 0:
            raise ValueError(f"l1 must be >= 0, got {self.l1}")
        if self.disc_layers < 1 or self.disc_width < 1:
            raise ValueError("disc_layers and disc_width must be >= 1")


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean ``|a - b|`` over the pixels where ``mask`` is true: ``mask`` is per channel (``[N, C, H, W]``),
    or one plane for every channel (``[N, 1, H, W]``; a mask of other channels counts where all are true)."""
    total, count = masked_l1_sum(a, b, mask)
    return total / count.clamp(min=1.0)


def masked_l1_sum(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor):
    """``(sum of |a - b| where mask, number of those values)``: :func:`masked_l1` is their ratio; over
    micro-batches, the parts' sums divided by the whole batch's count give the whole batch's mean."""
    if mask.shape[1] not in (1, a.shape[1]):
        mask = mask.all(dim=1, keepdim=True)
    m = mask.to(a.dtype).expand_as(a)
    return ((a - b).abs() * m).sum(), m.sum()


@contextlib.contextmanager
def frozen(*modules: torch.nn.Module):
    """A block in which the parameters of ``modules`` take no gradient (discriminators inside G's loss)."""
    params = [q for m in modules for q in m.parameters()]
    flags = [q.requires_grad for q in params]
    for q in params:
        q.requires_grad_(False)
    try:
        yield
    finally:
        for q, f in zip(params, flags):
            q.requires_grad_(f)


@register_objective("pix2pix", config=Pix2PixParams, kinds=("fixed_bands",), optim_defaults=PAPER_OPTIM)
class Pix2Pix(Objective):
    """pix2pix: conditional PatchGAN + L1 x 100, Adam 2e-4 / 0.5, constant then linearly decaying rate."""

    def __init__(self, model, params: Pix2PixParams, ctx: TrainContext):
        super().__init__(model, params, ctx)
        o = ctx.optim
        n_in, n_out = len(model.accepted_sources()), len(model.accepted_targets())
        self.disc = PatchDiscriminator(n_in + n_out, params.disc_width, params.disc_layers, norm=params.disc_norm,
                                       init_gain=params.init_gain).to(ctx.device)
        self.modules["discriminator"] = self.disc
        ctx.broadcast_modules(self.modules.values())
        self.add_optimizer("model", model.parameters(), o.lr, o.betas, o.weight_decay)
        self.add_optimizer("discriminator", self.disc.parameters(), o.lr, o.betas, o.weight_decay)
        self._collate = collator_for(model)

    def collate(self, chips: Sequence[Any], chips_b: Sequence[Any] = None) -> Dict[str, np.ndarray]:
        batch = self._collate(chips)
        self.disc.check_input(batch["bands"].shape[-1], f"the {self.params.disc_layers}-layer PatchGAN")
        return batch

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        p, model, disc = self.params, self.model, self.disc
        inputs = model_inputs(model, batch)
        ids = model.output_classes(inputs)
        with self.ctx.autocast():
            fake = model(*inputs)
        src_n = model.normalized_sources(inputs)
        fake_n = model.normalization.normalize(fake.float(), ids)
        real_n = model.normalization.normalize(batch["real"], ids)
        # the discriminator: (x, y) real, (x, G(x)) fake
        with self.ctx.autocast():
            d_loss = 0.5 * (gan_loss(disc(discriminator_input(src_n, fake_n.detach(), None)), False, p.gan_mode)
                            + gan_loss(disc(discriminator_input(src_n, real_n, None)), True, p.gan_mode))
        self.apply(d_loss, "discriminator", list(disc.parameters()), self.ctx.optim.grad_clip, sync=True)
        # the generator: fool D, and stay close to y
        with frozen(disc), self.ctx.autocast():
            adv = gan_loss(disc(discriminator_input(src_n, fake_n, None)), True, p.gan_mode)
        l1 = masked_l1(fake_n, real_n, batch["mask"])
        loss = adv.float() + p.l1 * l1
        self.apply(loss, "model", list(model.parameters()), self.ctx.optim.grad_clip, sync=True)
        self.end_step()
        self.ctx.sync_buffers(self.modules.values())
        return {"loss": loss.detach(), "l1": l1.detach(), "adv": adv.detach().float(), "disc": d_loss.detach().float()}


__all__ = ["Pix2Pix", "Pix2PixParams", "PAPER_OPTIM", "masked_l1", "masked_l1_sum", "frozen"]
