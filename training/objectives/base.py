"""What every training objective is, and the pieces they share (optimizers, schedules, one update step).

An :class:`Objective` is built around a model (any registered family) by
:func:`~.registry.create_objective` and owns:

* ``modules``: every trained ``nn.Module`` by name (``"model"`` is always the model being trained;
  others are e.g. ``"discriminator"``), each saved under its name in the checkpoint;
* ``optimizers`` and ``schedulers``: by name, saved likewise;
* :meth:`~Objective.collate`: training chips -> one dict batch keyed by tensor role (numpy);
* :meth:`~Objective.train_step`: one optimizer step on a device batch, returning detached scalar
  tensors (``"loss"`` always; no ``.item()`` here, the trainer syncs only when it logs);
* :meth:`~Objective.state_dict` / :meth:`~Objective.load_state_dict`: everything needed to resume;
* :meth:`~Objective.eval_model`: the module evaluation predicts with.

The trainer knows nothing else about a family: it builds the model and the objective, feeds batches,
logs the scalars, validates ``eval_model()`` and saves ``state_dict()``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ...core.errors import ModelError


@dataclass(frozen=True)
class TrainContext:
    """What an objective may know of the run: device, processes, precision, optimizer settings, data."""

    dist: Any  # training.distributed.Dist
    optim: Any  # training.config.OptimConfig
    steps: int  # optimizer steps of the whole run (schedules span them)
    amp: str  # "off", "bf16" or "fp16" (resolved)
    data: Any = None  # training.data.TrainingData (statistics, task plan), when the objective needs it
    seed: int = 0  # run.seed (for an objective's own random streams, e.g. an image pool)
    channels_last: bool = False  # networks and 4-D float batches in NHWC memory (run.channels_last, resolved)

    @property
    def device(self) -> torch.device:
        return self.dist.device

    @property
    def amp_dtype(self) -> Optional[torch.dtype]:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.amp)

    def autocast(self):
        """The autocast context of this run's precision (a no-op when AMP is off)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` under DistributedDataParallel when the run has several processes, else itself (in
        channels-last memory first when the run uses it, so that DDP's gradient buckets match its layout)."""
        module = self.place(module)
        if not self.dist.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        use_cuda = self.device.type == "cuda"
        return DistributedDataParallel(module, device_ids=[self.dist.local_rank] if use_cuda else None)

    def place(self, module: nn.Module) -> nn.Module:
        """``module`` in this run's memory format (channels-last where ``channels_last``; the parameters stay
        the same objects, so optimizers built on them keep working)."""
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    # Objectives that use a module several times in one step (CycleGAN's generators) or freeze one inside
    # another's loss sync across processes by hand instead of wrapping in DDP: the same all-reduce of
    # the gradients, after the backward pass and before the optimizer step.
    def broadcast_modules(self, modules: Iterable[nn.Module]) -> None:
        """Rank 0's parameters and buffers on every process (call once, after building the modules)."""
        from ..distributed import broadcast_tensors

        broadcast_tensors(self.dist, [t for m in modules for t in list(m.parameters()) + list(m.buffers())])

    def sync_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Average the gradients of ``parameters`` over the processes (absent gradients count as 0)."""
        if not self.dist.distributed:
            return
        from ..distributed import average_tensors

        params = [p for p in parameters if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        average_tensors(self.dist, [p.grad for p in params])

    def sync_buffers(self, modules: Iterable[nn.Module]) -> None:
        """Average the floating-point buffers (batch-norm running statistics) over the processes, so every
        process holds the same model; integer buffers (batch counters) agree already."""
        if not self.dist.distributed:
            return
        from ..distributed import average_tensors

        average_tensors(self.dist, [b for m in modules for b in m.buffers() if b.is_floating_point()])


def lr_factor(step: int, optim: Any, total: int) -> float:
    """Multiplier of the base learning rate for optimizer step ``step`` (0-based): linear warm-up over
    ``optim.warmup_steps``, then over the rest of ``total`` steps one of

    * ``cosine``: cosine decay to ``optim.min_lr_ratio``;
    * ``constant``;
    * ``linear_decay``: constant, then over the last ``optim.decay_fraction`` of those steps a linear
      decay to ``optim.min_lr_ratio`` (pix2pix and CycleGAN: 100 epochs constant, then 100 decaying to 0).
    """
    if optim.warmup_steps and step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    if optim.schedule == "constant":
        return 1.0
    span = max(1, total - optim.warmup_steps)
    t = min(1.0, (step - optim.warmup_steps) / span)
    if optim.schedule == "linear_decay":
        into_decay = (t - (1.0 - optim.decay_fraction)) / optim.decay_fraction
        return 1.0 - (1.0 - optim.min_lr_ratio) * min(1.0, max(0.0, into_decay))
    return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def adam(parameters: Iterable[nn.Parameter], **kwargs: Any) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` with its fused kernel where this torch has one for the parameters' device
    (CUDA; the CPU since torch 2.4), else torch's default implementation.

    The fused kernel computes the same update in one pass over each parameter instead of about ten
    element-wise passes (the default on the CPU is one tensor at a time): on the 2-core CPU it steps
    pix2pix's 57 M parameters 3-7x faster (``bench/bench_adam.py``), which makes a batch-1 pix2pix step
    about 15 % faster (``bench/RESULTS.md``).  The result agrees with the default to float32 rounding,
    and a run is exactly reproducible either way.
    """
    params = list(parameters)
    devices = {p.device.type for p in params}
    floating = all(p.dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64) for p in params)
    if params and floating and len(devices) == 1:
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            pass  # no fused kernel for this device in this torch
    return torch.optim.Adam(params, **kwargs)


class Objective:
    """Base class of the registered objectives (see the module docstring)."""

    objective_name = ""
    #: True for objectives that learn from two unpaired domains: the trainer then also samples
    #: ``data.domain_b`` and calls ``collate(chips_a, chips_b)`` (set by ``register_objective``).
    needs_domain_b = False

    def __init__(self, model: nn.Module, params: Any, ctx: TrainContext):
        self.model = model
        self.params = params
        self.ctx = ctx
        self.modules: Dict[str, nn.Module] = {"model": model}
        self.optimizers: Dict[str, torch.optim.Optimizer] = {}
        self.schedulers: Dict[str, Any] = {}
        # one scaler for every optimizer of the step (torch allows that when update() runs once per step)
        self.scaler = torch.amp.GradScaler("cuda", enabled=ctx.amp == "fp16")

    # -- set-up helpers ----------------------------------------------------------------------------
    def add_optimizer(self, name: str, parameters: Iterable[nn.Parameter], lr: float,
                      betas: Sequence[float], weight_decay: float = 0.0) -> torch.optim.Optimizer:
        """An Adam optimizer under ``name`` with the run's warm-up/cosine schedule."""
        opt = adam(parameters, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
        o, total = self.ctx.optim, self.ctx.steps
        self.optimizers[name] = opt
        self.schedulers[name] = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, o, total))
        return opt

    def apply(self, loss: torch.Tensor, name: str, parameters: Sequence[nn.Parameter], grad_clip: float = 0.0,
              sync: bool = False) -> None:
        """Back-propagate ``loss`` and step optimizer ``name`` and its schedule (AMP scaling, clipping);
        with ``sync``, average the gradients over the processes first (modules not wrapped in DDP)."""
        self.optimizers[name].zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.step(name, parameters, grad_clip, sync)

    def step(self, name: str, parameters: Sequence[nn.Parameter], grad_clip: float = 0.0, sync: bool = False) -> None:
        """Step optimizer ``name`` and its schedule on the gradients accumulated since its ``zero_grad``
        (each part's ``self.scaler.scale(part).backward()``: an objective that splits a batch into micro-batches);
        with ``sync``, average the gradients over the processes first."""
        opt = self.optimizers[name]
        if sync:
            self.ctx.sync_gradients(parameters)
        if grad_clip > 0:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
        self.scaler.step(opt)
        self.schedulers[name].step()

    def end_step(self) -> None:
        """Call once at the end of every train_step that used :meth:`apply`."""
        self.scaler.update()

    # -- what subclasses provide -------------------------------------------------------------------
    def collate(self, chips: Sequence[Any], chips_b: Optional[Sequence[Any]] = None) -> Dict[str, np.ndarray]:
        """Training chips (and, for an objective that needs domain B, that domain's chips) -> one batch."""
        raise NotImplementedError

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def extra_state(self) -> Dict[str, Any]:
        """Objective state besides modules/optimizers/schedulers (e.g. an image pool); plain data."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        pass

    def summary(self) -> Dict[str, Any]:
        """What the model metadata records of the objective (its name and parameters)."""
        from ...core.config import to_dict

        return {"name": self.objective_name, "params": to_dict(self.params)}

    def module_models(self) -> Dict[str, Dict[str, Any]]:
        """The registered models among :attr:`modules` (``"model"`` and e.g. a second generator): name ->
        ``{"model_name", "model_config"}``, what the checkpoint records so export can rebuild any of them."""
        from ...core.config import to_dict

        return {k: {"model_name": m.model_name, "model_config": to_dict(m.config)}
                for k, m in self.modules.items() if getattr(m, "model_name", None)}

    # -- uniform behaviour -------------------------------------------------------------------------
    def eval_model(self) -> nn.Module:
        """The module evaluation predicts with (the bare model)."""
        return self.model

    def train_mode(self, on: bool = True) -> None:
        for m in self.modules.values():
            m.train(on)

    def to_device(self, batch: Mapping[str, np.ndarray]) -> Dict[str, torch.Tensor]:
        """A collated numpy batch on the run's device (pinned-free, non-blocking on CUDA)."""
        nb = self.ctx.device.type == "cuda"
        out = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.ctx.device, non_blocking=nb)
               for k, v in batch.items()}
        if self.ctx.channels_last:  # images (N, C, H, W) in the networks' layout; masks and labels too (cheap)
            out = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in out.items()}
        return out

    def state_dict(self) -> Dict[str, Any]:
        return {"modules": {k: m.state_dict() for k, m in self.modules.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                "objective_state": self.extra_state()}

    def load_state_dict(self, state: Mapping[str, Any], where: str = "checkpoint") -> None:
        """Restore from :meth:`state_dict`'s layout; a missing or extra named part is an error naming it."""
        for group, mine in (("modules", self.modules), ("optimizers", self.optimizers),
                            ("schedulers", self.schedulers)):
            theirs = state.get(group) or {}
            if set(theirs) != set(mine) and state.get("upgraded_from") == 1:
                raise ModelError(f"{where} is a format-1 checkpoint; format 1 kept no {group} for "
                                 f"{', '.join(sorted(set(mine) - set(theirs)))}, so objective "
                                 f"{self.objective_name!r} cannot resume it exactly. Export or evaluate it, or "
                                 "start a new run from its config")
            if set(theirs) != set(mine):
                raise ModelError(f"{where}: its {group} are {sorted(theirs)}, objective {self.objective_name!r} "
                                 f"with these parameters has {sorted(mine)}")
            for k, obj in mine.items():
                if group == "optimizers":  # this machine's kernel choice, not the saving machine's
                    kernels = [{f: g.get(f) for f in ("fused", "foreach")} for g in obj.param_groups]
                    obj.load_state_dict(theirs[k])
                    for g, kern in zip(obj.param_groups, kernels):
                        g.update(kern)
                else:
                    obj.load_state_dict(theirs[k])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.load_extra_state(state.get("objective_state") or {})


def all_parameters(modules: Iterable[nn.Module]) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


__all__ = ["TrainContext", "Objective", "adam", "lr_factor", "all_parameters"]
