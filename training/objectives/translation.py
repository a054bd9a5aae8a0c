"""``translation``: supervised band translation, for every model that maps bands to bands.

The loss is the L1 distance to the real band in units of that band's standard deviation (so SWIR and
thermal count alike), over the pixels valid in the output band and every input band, plus, when
``adversarial > 0``, a pix2pix-style PatchGAN term: the discriminator judges the normalized inputs with
the normalized candidate (and the model's condition, e.g. the target class, as planes), so one
discriminator serves every band pair of a conditional model.  Everything it needs of the model comes
through the model contract (``output_classes``, ``normalized_sources``, ``condition``,
``normalization``), so any family of kind ``conditional`` or ``fixed_bands`` trains with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Literal, Mapping, Sequence

import numpy as np
import torch

from ...core.models.contract import model_inputs
from ..collate import collator_for
from ..gan import PatchDiscriminator, discriminator_input, gan_loss
from .base import Objective, TrainContext
from .registry import register_objective


@dataclass(frozen=True)
class TranslationParams:
    """Parameters of the ``translation`` objective (YAML ``objective.params``)."""

    l1: float = 1.0  # weight of the L1 loss on normalized values (each output band scaled by its std)
    mse: float = 0.0  # weight of the squared error on the same normalized values (RMSE is what evaluation scores)
    adversarial: float = 0.0  # weight of the PatchGAN loss on the generator (0: no discriminator)
    gan_mode: Literal["lsgan", "vanilla"] = "lsgan"
    disc_width: int = 64  # channels of the first discriminator layer
    disc_layers: int = 3  # stride-2 layers (3: the 70x70 PatchGAN of pix2pix)
    disc_lr: float = 0.0  # discriminator learning rate (0: same as optim.lr)

    def __post_init__(self):
        if self.l1 < 0 or self.adversarial < 0 or self.mse < 0:
            raise ValueError(f"weights must be >= 0, got l1 {self.l1}, mse {self.mse}, adversarial {self.adversarial}")
        if not (self.l1 > 0 or self.mse > 0 or self.adversarial > 0):
            raise ValueError("at least one of l1, mse and adversarial must be > 0")
        if self.disc_layers < 1 or self.disc_width < 1:
            raise ValueError("disc_layers and disc_width must be >= 1")
        if self.disc_lr < 0:
            raise ValueError(f"disc_lr must be >= 0, got {self.disc_lr}")


@register_objective("translation", config=TranslationParams, kinds=("conditional", "fixed_bands"))
class Translation(Objective):
    """Masked L1 in output-band standard deviations, plus an optional PatchGAN term."""

    def __init__(self, model, params: TranslationParams, ctx: TrainContext):
        super().__init__(model, params, ctx)
        o = ctx.optim
        self.net = ctx.wrap(model)
        self.add_optimizer("model", model.parameters(), o.lr, o.betas, o.weight_decay)
        self._collate = collator_for(model)
        self.disc = self.disc_net = None
        if params.adversarial > 0:
            self.disc = PatchDiscriminator(self._disc_channels(), params.disc_width, params.disc_layers).to(ctx.device)
            self.disc_net = ctx.wrap(self.disc)
            self.modules["discriminator"] = self.disc
            self.add_optimizer("discriminator", self.disc.parameters(), params.disc_lr or o.lr, (0.5, 0.999))

    def _disc_channels(self) -> int:
        """Channels of what the discriminator sees, from a dry run of the contract on example inputs."""
        s = self.model.stride
        with torch.no_grad():
            ex = self.model.example_inputs(1, 2 * s, 2 * s)
            cond = self.model.condition(ex)
            n_out = int(self.model.output_classes(ex).shape[-1])
            return int(self.model.normalized_sources(ex).shape[1]) + n_out + (0 if cond is None else cond.shape[1])

    def collate(self, chips: Sequence[Any]) -> Dict[str, np.ndarray]:
        return self._collate(chips)

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        p, model = self.params, self.model
        inputs = model_inputs(model, batch)
        real, maskf = batch["real"], batch["mask"].float()
        with self.ctx.autocast():
            pred = self.net(*inputs)
        pred = pred.float()
        ids = model.output_classes(inputs)
        err = (pred - real) / model.normalization.scale(ids)
        l1 = (err.abs() * maskf).sum() / maskf.sum().clamp(min=1.0)
        loss = p.l1 * l1
        mse = None
        if p.mse > 0:
            mse = (err.square() * maskf).sum() / maskf.sum().clamp(min=1.0)
            loss = loss + p.mse * mse
        zero = torch.zeros((), device=pred.device)
        adv = d_loss = zero
        if self.disc is not None:
            src_n = model.normalized_sources(inputs).detach()
            cond = model.condition(inputs)
            fake_n = model.normalization.normalize(pred, ids)
            real_n = model.normalization.normalize(real, ids)
            for q in self.disc.parameters():
                q.requires_grad_(False)
            adv = gan_loss(self.disc(discriminator_input(src_n, fake_n, cond)), True, p.gan_mode)  # bare D: no DDP sync
            for q in self.disc.parameters():
                q.requires_grad_(True)
            loss = loss + p.adversarial * adv
        self.apply(loss, "model", list(model.parameters()), self.ctx.optim.grad_clip)
        if self.disc is not None:
            with self.ctx.autocast():
                d_loss = 0.5 * (gan_loss(self.disc_net(discriminator_input(src_n, real_n, cond)), True, p.gan_mode)
                                + gan_loss(self.disc_net(discriminator_input(src_n, fake_n.detach(), cond)), False,
                                           p.gan_mode))
            self.apply(d_loss, "discriminator", list(self.disc.parameters()))
        self.end_step()
        out = {"loss": loss.detach(), "l1": l1.detach()}
        if mse is not None:
            out["mse"] = mse.detach()
        if self.disc is not None:
            out.update({"adv": adv.detach(), "disc": d_loss.detach()})
        return out


__all__ = ["Translation", "TranslationParams"]
