"""``cyclegan``: unpaired translation between two domains (Zhu et al. 2017), for fixed-band models.

``data.train`` is domain A, ``data.domain_b`` domain B; nothing pairs their scenes.  The objective owns
everything besides the model being trained (generator ``G_AB``, the checkpoint's ``"model"``):

* ``generator_ba``: a second generator of the same registered model with the band lists swapped and
  ``direction: B->A`` (so ``hls-translate export --module generator_ba`` exports the other direction);
* ``discriminator_a`` / ``discriminator_b``: 70 x 70 PatchGANs (instance norm) judging domain A / B;
* an :class:`~..gan.ImagePool` of 50 generated images per discriminator, with its own random stream; the
  pools of every process are saved in the checkpoint (``objective_state``), so a resumed run continues
  exactly.

Losses (the paper's, with its defaults): LSGAN for both directions; cycle consistency
``cycle x (|G_BA(G_AB(a)) - a| + |G_AB(G_BA(b)) - b|)`` with ``cycle = 10``; identity
``identity x cycle x (|G_AB(b) - b| + |G_BA(a) - a|)`` with ``identity = 0.5`` (only when both domains have
the same bands); each discriminator's loss halved.  Generators first, then the discriminators on pooled
fakes, Adam 2e-4 / (0.5, 0.999) with the rate constant for half the steps then decaying linearly to 0
(the ``optim`` defaults that come with the objective).  L1 terms are on normalized values, over pixels
valid in every band of their domain.  Under several processes gradients are averaged by hand (each
generator runs several times per step, which DDP cannot reduce).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Dict, Literal, Mapping, Optional, Sequence

import numpy as np
import torch

from ...core.errors import ConfigError
from ..collate import collate_bands
from ..data import band_code
from ..distributed import all_gather_object
from ..gan import ImagePool, PatchDiscriminator, gan_loss
from .base import Objective, TrainContext
from .pix2pix import PAPER_OPTIM, frozen, masked_l1_sum
from .registry import register_objective

PAPER_IDENTITY = 0.5


@dataclass(frozen=True)
class CycleGANParams:
    """Parameters of the ``cyclegan`` objective (YAML ``objective.params``); the defaults are the paper's."""

    cycle: float = 10.0  # weight of each cycle-consistency term (lambda_A = lambda_B)
    identity: Optional[float] = None  # identity weight as a multiple of ``cycle``; None: the paper's 0.5 when
    # both domains have the same bands, else 0 (G_AB cannot read B's bands); 0: off
    gan_mode: Literal["lsgan", "vanilla"] = "lsgan"
    pool_size: int = 50  # generated images kept per discriminator (0: no history)
    disc_width: int = 64
    disc_layers: int = 3  # 3: the 70 x 70 PatchGAN
    disc_norm: Literal["instance", "batch"] = "instance"
    init_gain: float = 0.02  # discriminator weights ~ N(0, init_gain)
    micro_batch: int = 0  # items per forward/backward pass within a step, gradients summed over the passes:
    # the same update as one pass (every norm of the networks is per item), in less memory; 0: 1 item on the
    # CPU (faster there, bench/RESULTS.md), the whole batch on a GPU. Refused with a batch-norm network.

    def __post_init__(self):
        if self.micro_batch < 0:
            raise ValueError(f"micro_batch must be >= 0, got {self.micro_batch}")
        if self.cycle < 0 or (self.identity is not None and self.identity < 0):
            raise ValueError(f"cycle and identity must be >= 0, got {self.cycle}, {self.identity}")
        if self.pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {self.pool_size}")
        if self.disc_layers < 1 or self.disc_width < 1:
            raise ValueError("disc_layers and disc_width must be >= 1")


@register_objective("cyclegan", config=CycleGANParams, kinds=("fixed_bands",), needs_domain_b=True,
                    optim_defaults=PAPER_OPTIM, model_methods=("reversed_config",))
class CycleGAN(Objective):
    """CycleGAN: two generators, two PatchGANs, LSGAN, cycle 10, identity 0.5, image pools of 50."""

    def __init__(self, model, params: CycleGANParams, ctx: TrainContext):
        super().__init__(model, params, ctx)
        from ...core.models import create_model

        self.bands_a, self.bands_b = tuple(model.accepted_sources()), tuple(model.accepted_targets())
        same = self.bands_a == self.bands_b
        if params.identity and not same:
            raise ConfigError(f"objective.params.identity: the identity loss feeds domain B's bands "
                              f"({', '.join(band_code(c) for c in self.bands_b)}) to G_AB, which reads "
                              f"{', '.join(band_code(c) for c in self.bands_a)}; leave identity unset or 0 for "
                              "domains with different bands")
        self.identity = (PAPER_IDENTITY if same else 0.0) if params.identity is None else params.identity
        self.generator_ba = create_model(model.model_name, **model.reversed_config()).to(ctx.device)
        self.generator_ba.normalization.load_state_dict(model.normalization.state_dict())
        disc = dict(width=params.disc_width, layers=params.disc_layers, norm=params.disc_norm, init_gain=params.init_gain)
        self.disc_a = PatchDiscriminator(len(self.bands_a), **disc).to(ctx.device)
        self.disc_b = PatchDiscriminator(len(self.bands_b), **disc).to(ctx.device)
        self.modules.update({"generator_ba": self.generator_ba, "discriminator_a": self.disc_a,
                             "discriminator_b": self.disc_b})
        ctx.broadcast_modules(self.modules.values())
        o = ctx.optim
        batch_norms = [name for name, m in self.modules.items()
                       if any(isinstance(x, torch.nn.modules.batchnorm._BatchNorm) for x in m.modules())]
        self.per_item_norms = not batch_norms
        if params.micro_batch and batch_norms:
            raise ConfigError(f"objective.params.micro_batch: {', '.join(batch_norms)} use batch norm, whose statistics "
                              "span the whole batch, so micro-batches would change the update; leave micro_batch at 0")
        self.generator_params = list(itertools.chain(model.parameters(), self.generator_ba.parameters()))
        self.disc_params = list(itertools.chain(self.disc_a.parameters(), self.disc_b.parameters()))
        self.add_optimizer("model", self.generator_params, o.lr, o.betas, o.weight_decay)
        self.add_optimizer("discriminators", self.disc_params, o.lr, o.betas, o.weight_decay)
        seed = (int(ctx.seed) * 1000003 + ctx.dist.rank) * 2
        self.pool_a, self.pool_b = ImagePool(params.pool_size, seed), ImagePool(params.pool_size, seed + 1)

    def collate(self, chips: Sequence[Any], chips_b: Sequence[Any] = None) -> Dict[str, np.ndarray]:
        """Domain A's chips -> ``bands`` / ``mask`` (G_AB's input), domain B's -> ``bands_b`` / ``mask_b``."""
        if chips_b is None:
            raise ConfigError("the cyclegan objective needs a batch of domain B chips (data.domain_b) with each batch")
        a, a_ok = collate_bands(chips, self.bands_a)
        b, b_ok = collate_bands(chips_b, self.bands_b)
        self.disc_a.check_input(a.shape[-1], f"the {self.params.disc_layers}-layer PatchGANs")
        return {"bands": a, "mask": a_ok.all(axis=1, keepdims=True), "bands_b": b, "mask_b": b_ok.all(axis=1, keepdims=True)}

    def micro_batch_size(self, n: int) -> int:
        """Items per forward/backward pass of a step of ``n`` items (see ``CycleGANParams.micro_batch``)."""
        if self.params.micro_batch:
            return min(n, self.params.micro_batch)
        return 1 if self.ctx.device.type == "cpu" and self.per_item_norms else n

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        p, g_ab, g_ba, d_a, d_b = self.params, self.model, self.generator_ba, self.disc_a, self.disc_b
        a, b, mask_a, mask_b = batch["bands"], batch["bands_b"], batch["mask"], batch["mask_b"]

        def norm_a(x):  # domain A values in A's standard deviations (G_AB reads A)
            return g_ab.normalized_sources((x.float(),))

        def norm_b(x):
            return g_ba.normalized_sources((x.float(),))

        n = a.shape[0]
        size = self.micro_batch_size(n)
        parts = [slice(i, min(i + size, n)) for i in range(0, n, size)]
        a_n, b_n = norm_a(a), norm_b(b)
        # the L1 terms are means over the valid values of the whole batch: each part adds its sum / that count
        count_a, count_b = masked_l1_sum(a_n, a_n, mask_a)[1].clamp(min=1.0), masked_l1_sum(b_n, b_n, mask_b)[1].clamp(min=1.0)
        zero = torch.zeros((), device=a.device)
        logs = dict.fromkeys(("loss", "cycle_a", "cycle_b", "identity", "gan_ab", "gan_ba", "disc_a", "disc_b"), zero)
        fakes_a, fakes_b = [], []

        def add(**values):
            for k, v in values.items():
                logs[k] = logs[k] + v.detach()

        # the generators: every part's share of the loss back-propagated, then one optimizer step
        self.optimizers["model"].zero_grad(set_to_none=True)
        for part in parts:
            share = (part.stop - part.start) / n  # the GAN terms are means over the items
            pa, pb = a[part], b[part]
            with self.ctx.autocast():
                fake_b = g_ab(pa)
                rec_a = g_ba(fake_b)
                fake_a = g_ba(pb)
                rec_b = g_ab(fake_a)
                same_b = g_ab(pb) if self.identity > 0 else None
                same_a = g_ba(pa) if self.identity > 0 else None
            fake_a_n, fake_b_n = norm_a(fake_a), norm_b(fake_b)
            with frozen(d_a, d_b), self.ctx.autocast():
                gan_ab = share * gan_loss(d_b(fake_b_n), True, p.gan_mode).float()
                gan_ba = share * gan_loss(d_a(fake_a_n), True, p.gan_mode).float()
            cycle_a = masked_l1_sum(norm_a(rec_a), a_n[part], mask_a[part])[0] / count_a
            cycle_b = masked_l1_sum(norm_b(rec_b), b_n[part], mask_b[part])[0] / count_b
            identity = zero
            if same_a is not None:
                identity = (masked_l1_sum(norm_b(same_b), b_n[part], mask_b[part])[0] / count_b
                            + masked_l1_sum(norm_a(same_a), a_n[part], mask_a[part])[0] / count_a)
            loss = gan_ab + gan_ba + p.cycle * (cycle_a + cycle_b) + self.identity * p.cycle * identity
            self.scaler.scale(loss).backward()
            add(loss=loss, cycle_a=cycle_a, cycle_b=cycle_b, identity=identity, gan_ab=gan_ab, gan_ba=gan_ba)
            fakes_a.append(fake_a_n.detach())
            fakes_b.append(fake_b_n.detach())
        self.step("model", self.generator_params, self.ctx.optim.grad_clip, sync=True)
        # the discriminators, on the real images and the pooled fakes of the whole batch
        pooled_a, pooled_b = self.pool_a.query(torch.cat(fakes_a)), self.pool_b.query(torch.cat(fakes_b))
        self.optimizers["discriminators"].zero_grad(set_to_none=True)
        for part in parts:
            share = (part.stop - part.start) / n
            with self.ctx.autocast():
                disc_a = share * 0.5 * (gan_loss(d_a(a_n[part]), True, p.gan_mode)
                                        + gan_loss(d_a(pooled_a[part]), False, p.gan_mode)).float()
                disc_b = share * 0.5 * (gan_loss(d_b(b_n[part]), True, p.gan_mode)
                                        + gan_loss(d_b(pooled_b[part]), False, p.gan_mode)).float()
            self.scaler.scale(disc_a + disc_b).backward()
            add(disc_a=disc_a, disc_b=disc_b)
        self.step("discriminators", self.disc_params, self.ctx.optim.grad_clip, sync=True)
        self.end_step()
        self.ctx.sync_buffers(self.modules.values())
        logs["cycle"] = 0.5 * (logs["cycle_a"] + logs["cycle_b"])
        return logs

    # -- checkpoint state: the image pools of every process ------------------------------------------
    def extra_state(self) -> Dict[str, Any]:
        """``{"pools": [per process, rank order: {"a": pool, "b": pool}]}`` (gathered: call on every process)."""
        mine = {"a": self.pool_a.state_dict(), "b": self.pool_b.state_dict()}
        return {"pools": all_gather_object(self.ctx.dist, mine)}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        pools = state.get("pools") or []
        if not pools:
            return
        mine = pools[self.ctx.dist.rank % len(pools)]
        self.pool_a.load_state_dict(mine["a"], self.ctx.device)
        self.pool_b.load_state_dict(mine["b"], self.ctx.device)

    def summary(self) -> Dict[str, Any]:
        """The objective's name and parameters, and which module translates which way between which scenes."""
        out = super().summary()
        out["identity_applied"] = self.identity
        data = self.ctx.data
        domain_a = [s.name for s in data.train] if data is not None else []
        domain_b = [s.name for s in data.train_b] if data is not None else []
        out["modules"] = {
            "model": {"direction": "A->B", "reads": [band_code(c) for c in self.bands_a],
                      "writes": [band_code(c) for c in self.bands_b]},
            "generator_ba": {"direction": "B->A", "reads": [band_code(c) for c in self.bands_b],
                             "writes": [band_code(c) for c in self.bands_a]},
            "discriminator_a": "judges domain A", "discriminator_b": "judges domain B"}
        out["domains"] = {"A": {"config": "data.train", "scenes": domain_a[:50]},
                          "B": {"config": "data.domain_b", "scenes": domain_b[:50]}}
        return out


__all__ = ["CycleGAN", "CycleGANParams"]
