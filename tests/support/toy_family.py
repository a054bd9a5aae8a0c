"""A second model family and objective that live only in the test suite: the proof that the training
core, export, evaluation, ``predict`` and QGIS are family-blind.

``toy_pointwise`` is a fixed-band translator: one 1x1 convolution from the normalized source bands to
the normalized target bands (a per-pixel linear map), with the project's :class:`BandNormalization`.
``toy_l1`` is its objective: plain L1 in target standard deviations, its own optimizer settings.
:func:`registered` registers both for the duration of a ``with`` block and removes them after.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from hls_translate.core.bands import resolve_band
from hls_translate.core.metadata import TensorSpec
from hls_translate.core.models import BandNormalization, register_model, unregister_model
from hls_translate.training.collate import collator_for
from hls_translate.training.objectives import Objective, register_objective, unregister_objective

TOY_MODEL, TOY_OBJECTIVE = "toy_pointwise", "toy_l1"


@dataclass(frozen=True)
class ToyConfig:
    sources: Tuple[str, ...] = ("B04", "B8A", "B11")
    targets: Tuple[str, ...] = ("B05", "B12")
    tile_size: int = 64

    @property
    def source_ids(self) -> Tuple[int, ...]:
        return tuple(resolve_band(b, "S2").id for b in self.sources)

    @property
    def target_ids(self) -> Tuple[int, ...]:
        return tuple(resolve_band(b, "S2").id for b in self.targets)


class PointwiseTranslator(nn.Module):
    """bands [N, C_in, H, W] (physical) -> [N, C_out, H, W] (physical) through one 1x1 convolution."""

    kind = "fixed_bands"
    conditional = False
    input_names = ("bands",)
    input_roles = ("bands",)
    output_names = ("output",)
    stride = 1

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv2d(len(cfg.sources), len(cfg.targets), 1)
        self.normalization = BandNormalization()
        self.register_buffer("src_ids", torch.tensor(cfg.source_ids), persistent=False)
        self.register_buffer("tgt_ids", torch.tensor(cfg.target_ids), persistent=False)

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        x = self.normalization.normalize(bands, self.src_ids)
        return self.normalization.denormalize(self.conv(x), self.tgt_ids)

    # the contract
    def receptive_field(self) -> int:
        return 1

    def tiling(self) -> Dict[str, int]:
        return {"tile_size": self.cfg.tile_size, "overlap": 0, "stride": 1, "receptive_field": 1}

    def io_specs(self):
        ins = (TensorSpec("bands", "bands", "float32", ("N", len(self.cfg.sources), "H", "W"),
                          bands=self.cfg.source_ids),)
        outs = (TensorSpec("output", "output", "float32", ("N", len(self.cfg.targets), "H", "W"),
                           bands=self.cfg.target_ids),)
        return ins, outs

    def dynamic_axes(self):
        return {"bands": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}}

    def example_inputs(self, batch: int, height: int, width: int, generator: Optional[torch.Generator] = None):
        g = generator or torch.Generator().manual_seed(0)
        z = torch.randn(batch, len(self.cfg.sources), height, width, generator=g)
        return (self.normalization.denormalize(z, self.src_ids),)

    def accepted_sources(self):
        return self.cfg.source_ids

    def accepted_targets(self):
        return self.cfg.target_ids

    def usable_sources(self):
        fitted = self.normalization.fitted_stats()
        return tuple(c for c in self.cfg.source_ids if c in fitted)

    def usable_targets(self):
        fitted = self.normalization.fitted_stats()
        return tuple(c for c in self.cfg.target_ids if c in fitted)

    def output_classes(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.tgt_ids

    def normalized_sources(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.normalization.normalize(inputs[0], self.src_ids)

    def condition(self, inputs):
        return None

    def set_normalization(self, mean, std=None) -> None:
        self.normalization.set(mean, std)

    def export_copy(self):
        import copy

        return copy.deepcopy(self).cpu().float().eval()


@dataclass(frozen=True)
class ToyObjectiveParams:
    lr: float = 0.05


class ToyL1(Objective):
    """Plain L1 in target standard deviations, SGD with its own learning rate."""

    def __init__(self, model, params: ToyObjectiveParams, ctx):
        super().__init__(model, params, ctx)
        self.net = ctx.wrap(model)
        self.add_optimizer("model", model.parameters(), params.lr, (0.9, 0.99))
        self._collate = collator_for(model)

    def collate(self, chips):
        return self._collate(chips)

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        pred = self.net(batch["bands"])
        m = batch["mask"].float()
        l1 = ((pred - batch["real"]).abs() / self.model.normalization.scale(self.model.tgt_ids) * m).sum() / m.sum()
        self.apply(l1, "model", list(self.model.parameters()))
        self.end_step()
        return {"loss": l1.detach()}


@contextlib.contextmanager
def registered():
    """``toy_pointwise`` and ``toy_l1`` registered inside the block, gone after it."""
    register_model(TOY_MODEL, family="toy", config=ToyConfig)(PointwiseTranslator)
    register_objective(TOY_OBJECTIVE, config=ToyObjectiveParams, kinds=("fixed_bands",))(ToyL1)
    try:
        yield
    finally:
        unregister_model(TOY_MODEL)
        unregister_objective(TOY_OBJECTIVE)


def toy_config(out_dir, **sections) -> Dict[str, Any]:
    """A training config of the toy family on the real scenes (tests/support/training.py's tiny one)."""
    from support.training import tiny_config

    cfg = tiny_config(out_dir, **sections)
    cfg["model"] = {"name": TOY_MODEL, "params": {}}
    cfg["objective"] = {"name": TOY_OBJECTIVE, "params": {"lr": 0.05}}
    cfg.update({k: v for k, v in sections.items() if k in ("model", "objective")})
    return cfg
