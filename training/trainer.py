"""The training loop: the same code on one CPU, one GPU and under ``torchrun`` (DDP, many GPUs/nodes).

``train(cfg)`` checks everything it can before the first step (config, paths, scenes, chips, the run
folder), then runs ``cfg.run.steps`` optimizer steps:

* batches from :class:`~.data.ChipSampler` (each process its own disjoint shard, prefetched one step
  ahead on a thread);
* L1 loss on normalized values (``|pred - real| / std(target)`` over valid pixels), plus an optional
  PatchGAN adversarial term (``loss.adversarial > 0``);
* Adam, linear warm-up then cosine decay, gradient clipping, AMP (bf16/fp16) on CUDA;
* a NaN/inf loss on any process stops every process with :class:`TrainingDiverged` naming the step; the
  last checkpoint on disk is the last good one (nothing is written after a bad step);
* rank 0 only: log lines / progress bar with ETA on stderr, ``log.jsonl``, TensorBoard (losses, lr,
  samples/s, validation metrics, image grids input | synthesized | real), validation on the held-out
  scenes, ``last.pt`` every ``run.checkpoint_every`` steps and at the end, ``best.pt`` whenever the
  validation metric improves.  Checkpoints are atomic (``training/checkpoint.py``) and carry the
  resolved config, so ``--resume`` continues exactly (step, optimizer, scheduler, AMP scaler, sampler,
  RNG states).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np

from ..core.config import to_dict
from ..core.errors import ConfigError, HLSTranslateError
from . import distributed as D
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, config_to_yaml
from .data import ChipSampler, TrainingData, band_code, prepare_data

LAST, BEST = "last.pt", "best.pt"


class TrainingDiverged(HLSTranslateError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


@dataclass
class TrainResult:
    run_dir: str
    step: int
    last_checkpoint: Optional[str]
    best_checkpoint: Optional[str]
    metrics: Dict[str, Any] = field(default_factory=dict)
    samples_per_second: float = 0.0
    history: List[Dict[str, Any]] = field(default_factory=list)
    model: Any = None  # the trained bare model (not wrapped in DDP), on its device


# --- small helpers ------------------------------------------------------------------------------------------
def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of ``optim.lr`` for optimizer step ``step`` (0-based): linear warm-up, then cosine/constant."""
    o = cfg.optim
    total = cfg.run.steps
    if o.warmup_steps and step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return 1.0
    span = max(1, total - o.warmup_steps)
    t = min(1.0, (step - o.warmup_steps) / span)
    return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _rng_state() -> Dict[str, Any]:
    import torch

    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: Mapping[str, Any]) -> None:
    import torch

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(st["cuda"])
        except (RuntimeError, IndexError):  # a different GPU count: keep the fresh states
            pass


def _fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "--:--"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class Progress:
    """A plain-text progress bar with ETA on stderr (redrawn in place on a terminal, one line per update
    otherwise)."""

    def __init__(self, total: int, start: int, enabled: bool, stream=None):
        self.total, self.start, self.enabled = total, start, enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.time()

    def update(self, step: int, text: str = "") -> None:
        if not self.enabled:
            return
        frac = step / self.total
        done = step - self.start
        el = time.time() - self.t0
        eta = el / done * (self.total - step) if done else float("nan")
        bar = "#" * int(frac * 24) + "." * (24 - int(frac * 24))
        line = f"step {step}/{self.total} [{bar}] {frac:4.0%} elapsed {_fmt_time(el)} ETA {_fmt_time(eta)} {text}"
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _stretch(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1)


def image_grid(values: np.ndarray, valid: np.ndarray, pred: np.ndarray, target: int, sources) -> np.ndarray:
    """[3, H, 3W] float image: input (true colour when B04/B03/B02 are sources, else the first source),
    synthesized, real (the last two stretched alike, 2-98 % of the real band)."""
    t = values[target]
    ok = valid[target]
    lo, hi = (np.percentile(t[ok], [2, 98]) if ok.any() else (0.0, 1.0))
    rgb_ids = [3, 2, 1]
    if all(c in sources for c in rgb_ids):
        rgb = np.stack([values[c] for c in rgb_ids])
        q = np.percentile(rgb, [2, 98])
        inp = _stretch(rgb, q[0], q[1])
    else:
        s = values[sources[0]]
        q = np.percentile(s, [2, 98])
        inp = np.repeat(_stretch(s, q[0], q[1])[None], 3, axis=0)
    syn = np.repeat(_stretch(pred, lo, hi)[None], 3, axis=0)
    real = np.repeat(_stretch(t, lo, hi)[None], 3, axis=0)
    sep = np.ones((3, t.shape[0], 2), dtype=np.float32)
    return np.concatenate([inp, sep, syn, sep, real], axis=2).astype(np.float32)


# --- validation ------------------------------------------------------------------------------------------------
def validate(model, data: TrainingData, cfg: TrainConfig, device, images: bool = False) -> Dict[str, Any]:
    """Score the model on the held-out scenes (all other bands as sources, per target); rank 0 only."""
    from .evaluate import crop_scene, evaluate_scenes, torch_predictor

    if not data.validation:
        return {}
    was_training = model.training
    predict, info = torch_predictor(model, device=str(device), batch=2)
    vt = cfg.data.band_ids(cfg.validation.targets, "validation.targets")
    targets = tuple(c for c in (vt or data.plan.targets) if c in data.plan.targets)
    # score only what was trained: the plan's targets, and (pair models) the plan's pairs
    if data.plan.pairs:
        from .evaluate import ModelInfo
        info = ModelInfo(info.name, info.stride, info.sources, info.targets, data.plan.pairs)
    report = evaluate_scenes(predict, info, data.validation, None, mode="all", targets=targets,
                             max_size=cfg.validation.max_size, keep_predictions=images)
    model.train(was_training)
    rows = report["rows"]
    if not rows:
        return {}
    out: Dict[str, Any] = {
        "held_out": [s.name for s in data.validation],
        "source_set": "fixed pairs" if data.plan.pairs else "all other bands",
        "window": report["scenes"][0]["evaluated"],
        "per_target": {(r["target"] if len(data.validation) == 1 else f"{r['scene']}:{r['target']}"):
                       {k: r["model"][k] for k in ("rmse", "mae", "psnr", "ssim")} for r in rows},
        "mean_rmse": float(np.mean([r["model"]["rmse"] for r in rows])),
        "mean_rmse_norm": float(np.mean([r["model"]["rmse"] / r["target_std"] for r in rows if r["target_std"] > 0])),
        "units": "reflectance; PSNR/SSIM data_range 1.0",
    }
    if images:
        grids = {}
        scene = data.validation[0]
        values, valid, _ = crop_scene(scene, cfg.validation.max_size, info.stride)
        for (sname, tcode, sources), pred in report["_predictions"].items():
            if sname != scene.name or len(grids) >= 3:
                continue
            tid = next(r for r in rows if r["scene"] == sname and r["target"] == tcode)["target_key"]
            from ..core.bands import band_class
            grids[tcode] = image_grid(values, valid, pred, band_class(tid).id, list(sources))
        out["_images"] = grids
    return out


# --- the run --------------------------------------------------------------------------------------------------
def _check_run_dir(cfg: TrainConfig, resume: Optional[str]) -> str:
    run_dir = os.path.abspath(os.path.expanduser(cfg.run.out_dir))
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ConfigError(f"run.out_dir: {run_dir} exists and is not a folder")
    last = os.path.join(run_dir, LAST)
    if resume is None and os.path.exists(last):
        raise ConfigError(f"run.out_dir: {run_dir} already holds a run ({LAST}); continue it with "
                          f"--resume {last}, or choose another run.out_dir")
    # the run folder is created with its missing parents (rank 0, before training); the nearest existing
    # ancestor must be a writable folder
    existing = run_dir
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(f"run.out_dir: {existing} is a file, so {run_dir} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"run.out_dir: {existing} is not writable")
    return run_dir


def _compatible(cfg: TrainConfig, state: Mapping[str, Any], path: str) -> None:
    """A resumed run must train the same model on the same data (run/optim cadence may change)."""
    old = state.get("config") or {}
    new = to_dict(cfg)
    for section in ("data", "model", "loss"):
        if section in old and json.dumps(old[section], sort_keys=True, default=str) != \
                json.dumps(new[section], sort_keys=True, default=str):
            diff = sorted(k for k in set(old[section]) | set(new[section])
                          if old[section].get(k) != new[section].get(k))
            raise ConfigError(f"--resume {path}: the config's {section} section differs from the checkpoint's "
                              f"({', '.join(f'{section}.{k}' for k in diff)}); resuming needs the same {section}")
    if state.get("model_name") != cfg.model.name:
        raise ConfigError(f"--resume {path}: checkpoint model {state.get('model_name')!r} != model.name "
                          f"{cfg.model.name!r}")


def train(cfg: TrainConfig, resume: Optional[str] = None, stop_at: Optional[int] = None,
          log: Optional[Callable[[str], None]] = None) -> TrainResult:
    """Train per ``cfg`` (optionally continuing checkpoint ``resume``; ``stop_at``: stop after that step,
    writing ``last.pt``, as a time-limited job would).  Returns a :class:`TrainResult` (on every rank)."""
    dist_ = D.setup(cfg.run.device)
    try:
        return _train(cfg, dist_, resume, stop_at, log)
    finally:
        D.cleanup(dist_)


def _train(cfg: TrainConfig, d: "D.Dist", resume: Optional[str], stop_at: Optional[int],
           log: Optional[Callable[[str], None]]) -> TrainResult:
    import torch
    from torch import nn

    from ..core.models import create_model
    from ..core.models.adain import AdaINUNet

    def say(msg: str) -> None:
        if d.is_main:
            (log or (lambda m: print(m, file=sys.stderr, flush=True)))(msg)

    r = cfg.run
    run_dir = _check_run_dir(cfg, resume)
    state = None
    if resume is not None:
        state = load_checkpoint(resume, map_location="cpu")
        _compatible(cfg, state, resume)
    if r.threads:
        torch.set_num_threads(r.threads)
    # same initial weights on every rank (DDP also broadcasts rank 0's at wrap time)
    random.seed(r.seed)
    np.random.seed(r.seed % 2 ** 32)
    torch.manual_seed(r.seed)

    model = create_model(cfg.model.name, **dict(cfg.model.params))
    msrc = tuple(getattr(model.config, "source_ids", ()) or ())
    mtgt = tuple(getattr(model.config, "target_ids", ()) or ())
    t_data = time.time()
    data = prepare_data(cfg, msrc, mtgt, log=say)
    say(f"data ready in {time.time() - t_data:.1f} s: {len(data.train)} training scene(s), "
        f"{len(data.validation)} held-out; targets {', '.join(band_code(c) for c in data.plan.targets)}")
    mean = [m if m == m else float("nan") for m in data.stats.mean]
    model.set_normalization(mean, list(data.stats.std))
    if isinstance(model, AdaINUNet) and model.cfg.linear_prior:
        from .evaluate import LinearBaseline

        fit = LinearBaseline.fit(data.train)  # the same moments the evaluation's baseline is solved from
        model.set_linear_prior([(ids, g, w) for _, ids, g, w in fit.grams])
        say(f"linear prior: moments of {int((model.prior_weights > 0).sum())} band set(s) from "
            f"{len(fit.grams)} training scene(s)")
    if state is not None:
        model.load_state_dict(state["model_state"])
    model.to(d.device)
    std_t = torch.tensor([s if s == s and s > 0 else 1.0 for s in data.stats.std], dtype=torch.float32,
                         device=d.device)

    use_cuda = d.device.type == "cuda"
    amp = r.amp
    if amp == "auto":
        amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if use_cuda else "off"
    if amp == "fp16" and not use_cuda:
        raise ConfigError("run.amp: fp16 autocast needs CUDA; use off or bf16 on CPU")
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler("cuda", enabled=(amp == "fp16"))

    ddp_model: nn.Module = model
    if d.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(model, device_ids=[d.local_rank] if use_cuda else None)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                           weight_decay=cfg.optim.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))

    disc = d_ddp = d_opt = None
    if cfg.loss.adversarial > 0:
        from .gan import PatchDiscriminator

        disc = PatchDiscriminator(cfg.loss.disc_width, cfg.loss.disc_layers).to(d.device)
        d_ddp = DDP(disc, device_ids=[d.local_rank] if use_cuda else None) if d.distributed else disc
        d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.loss.disc_lr or cfg.optim.lr, betas=(0.5, 0.999))

    sampler = ChipSampler(data.train, data.plan, cfg.data.chip_size, r.batch_size, seed=r.seed, rank=d.rank,
                          world_size=d.world_size, augment=cfg.data.augment, atmosphere=cfg.data.atmosphere)
    start, best, metrics = 0, float("inf"), {}
    best_step = None
    samples_before = 0
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if disc is not None and state.get("discriminator"):
            disc.load_state_dict(state["discriminator"])
            d_opt.load_state_dict(state["discriminator_optimizer"])
        sampler.load_state_dict(state["sampler"])
        old_world = int(state["sampler"].get("world_size", d.world_size))
        if old_world != d.world_size:
            say(f"warning: resuming a run of {old_world} process(es) with {d.world_size}: the chip stream differs "
                "from an uninterrupted run from here on")
        start = int(state["step"])
        best = float(state.get("best", {}).get("value", float("inf")))
        best_step = state.get("best", {}).get("step")
        metrics = dict(state.get("metrics") or {})
        samples_before = int(state.get("training_summary", {}).get("samples_seen", start * r.batch_size * d.world_size))
        rng = state.get("rng")
        if rng:
            _set_rng_state(rng)
        say(f"resumed {resume} at step {start}")
    end = min(r.steps, stop_at) if stop_at is not None else r.steps
    if start >= r.steps:
        raise ConfigError(f"run.steps: the checkpoint is already at step {start} >= run.steps {r.steps}; raise "
                          f"run.steps to train further")

    writer = None
    if d.is_main:
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "config.yaml"), "w", encoding="utf-8") as f:
            f.write(config_to_yaml(cfg))
        if r.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ConfigError(f"run.tensorboard: TensorBoard is not installed ({exc}); install the train "
                                  "extra or set run.tensorboard=false") from None
            writer = SummaryWriter(os.path.join(run_dir, "tb"), purge_step=start if start else None)
    D.barrier(d)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model {cfg.model.name}: {n_params:,} parameters; device {d.device} x {d.world_size} process(es)"
        f"{' (' + d.backend + ')' if d.backend else ''}; AMP {amp}; global batch {r.batch_size * d.world_size}")

    base_summary = data.summary(cfg)
    positions = max(1, sum(len(s.chip_rows) for s in data.train))

    def epoch_of(step: int) -> int:  # passes over the chip positions (positions overlap: a rough measure)
        return int((samples_before + (step - start) * r.batch_size * d.world_size) // positions)
    t_start = time.time()
    history: List[Dict[str, Any]] = []
    logf = open(os.path.join(run_dir, "log.jsonl"), "a", encoding="utf-8") if d.is_main else None

    def summary(step: int) -> Dict[str, Any]:
        s = dict(base_summary)
        s.update({"steps": step, "samples_seen": samples_before + (step - start) * r.batch_size * d.world_size,
                  "batch_size_per_process": r.batch_size, "world_size": d.world_size,
                  "device": f"{d.device.type}" + (f" ({torch.cuda.get_device_name(d.device)})" if use_cuda else ""),
                  "amp": amp, "seed": r.seed, "wall_seconds_this_run": round(time.time() - t_start, 1),
                  "loss": {"l1": cfg.loss.l1, "adversarial": cfg.loss.adversarial},
                  "best_validation": {"value": best if math.isfinite(best) else None, "step": best_step,
                                      "metric": cfg.validation.metric}})
        return s

    def checkpoint(path: str, step: int) -> str:
        st = {"model_name": cfg.model.name, "model_config": to_dict(model.config),
              "model_state": model.state_dict(), "config": to_dict(cfg), "step": step,
              "epoch": epoch_of(step), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
              "scaler": scaler.state_dict() if scaler.is_enabled() else None,
              "sampler": sampler.state_dict(), "rng": _rng_state(),
              "metrics": {k: v for k, v in metrics.items() if not k.startswith("_")},
              "best": {"value": best, "step": best_step}, "training_summary": summary(step)}
        if disc is not None:
            st["discriminator"] = disc.state_dict()
            st["discriminator_optimizer"] = d_opt.state_dict()
        return save_checkpoint(path, st)

    def run_validation(step: int) -> None:
        nonlocal best, best_step, metrics
        if d.is_main and data.validation:
            tv = time.time()
            m = validate(model, data, cfg, d.device, images=writer is not None)
            m["step"] = step
            key = "mean_rmse" if cfg.validation.metric == "rmse" else "mean_rmse_norm"
            imgs = m.pop("_images", {})
            metrics = m
            say(f"validation at step {step} ({time.time() - tv:.1f} s): mean RMSE {m['mean_rmse']:.5f} over "
                f"{len(m['per_target'])} target(s) [" + ", ".join(f"{k} {v['rmse']:.4f}" for k, v in
                                                               m["per_target"].items()) + "]")
            if writer is not None:
                writer.add_scalar("val/mean_rmse", m["mean_rmse"], step)
                writer.add_scalar("val/mean_rmse_norm", m["mean_rmse_norm"], step)
                for k, v in m["per_target"].items():
                    for mk in ("rmse", "ssim"):
                        writer.add_scalar(f"val_{mk}/{k}", v[mk], step)
                for k, img in imgs.items():
                    writer.add_image(f"images/{k} (input | synthesized | real)", img, step)
            logf.write(json.dumps({"event": "validation", "step": step, "mean_rmse": m["mean_rmse"],
                                   "mean_rmse_norm": m["mean_rmse_norm"],
                                   "per_target": {k: v["rmse"] for k, v in m["per_target"].items()}}) + "\n")
            logf.flush()
            if m[key] < best:
                best, best_step = m[key], step
                checkpoint(os.path.join(run_dir, BEST), step)
                say(f"new best {cfg.validation.metric} {best:.5f}: wrote {os.path.join(run_dir, BEST)}")
        D.barrier(d)

    def to_dev(b):
        nb = use_cuda
        return (torch.from_numpy(b.bands).to(d.device, non_blocking=nb),
                torch.from_numpy(b.present).to(d.device, non_blocking=nb),
                torch.from_numpy(b.target).to(d.device, non_blocking=nb),
                torch.from_numpy(b.real).to(d.device, non_blocking=nb),
                torch.from_numpy(b.mask).to(d.device, non_blocking=nb))

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=d.device.type, dtype=amp_dtype)

    progress = Progress(end, start, enabled=d.is_main and r.progress)
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(sampler.batch, start)
    win = {"loss": 0.0, "l1": 0.0, "adv": 0.0, "d": 0.0, "n": 0, "t_data": 0.0, "t": time.time(), "samples": 0}
    step = start
    ddp_model.train()
    try:
        while step < end:
            t0 = time.time()
            batch = future.result()
            sampler.step = step + 1
            if step + 1 < end:
                future = pool.submit(sampler.batch, step + 1)
            bands, present, target, real, mask = to_dev(batch)
            win["t_data"] += time.time() - t0
            maskf = mask.float()
            with autocast():
                pred = ddp_model(bands, present, target)
            pred = pred.float()
            scale = std_t[target].reshape(-1, 1, 1, 1)
            l1 = ((pred - real).abs() / scale * maskf).sum() / maskf.sum().clamp(min=1.0)
            loss = cfg.loss.l1 * l1
            adv = d_loss = torch.zeros((), device=d.device)
            if disc is not None:
                mean_t = model.norm_mean.reshape(1, -1, 1, 1)
                std_b = model.norm_std.reshape(1, -1, 1, 1)
                src_n = torch.where(present[:, :, None, None] > 0.5, (bands - mean_t) / std_b, torch.zeros_like(bands))
                tm = model.norm_mean[target].reshape(-1, 1, 1, 1)
                fake_n = (pred - tm) / scale
                real_n = (real - tm) / scale
                for p in disc.parameters():
                    p.requires_grad_(False)
                adv = gan_loss_fn(disc(src_n, fake_n, target), True, cfg.loss.gan_mode)  # bare D: no DDP sync
                for p in disc.parameters():
                    p.requires_grad_(True)
                loss = loss + cfg.loss.adversarial * adv
            bad = torch.tensor([0.0 if torch.isfinite(loss).item() else 1.0], device=d.device)
            D.all_reduce_sum(d, bad)
            if bad.item() > 0:
                last_good = os.path.join(run_dir, LAST)
                kept = (f"the last good checkpoint, {last_good}, is kept" if os.path.exists(last_good)
                        else "no checkpoint had been written yet")
                raise TrainingDiverged(
                    f"step {step + 1}: the loss is not finite on {int(bad.item())} of {d.world_size} process(es) "
                    f"(this process: loss {loss.item():.4g}, l1 {l1.item():.4g}); training stopped and {kept}. "
                    "Lower optim.lr, raise optim.warmup_steps or check the data")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.optim.grad_clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            if disc is not None:
                with autocast():
                    d_loss = 0.5 * (gan_loss_fn(d_ddp(src_n, real_n, target), True, cfg.loss.gan_mode)
                                    + gan_loss_fn(d_ddp(src_n, fake_n.detach(), target), False, cfg.loss.gan_mode))
                d_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                d_opt.step()
                for g in d_opt.param_groups:
                    g["lr"] = (cfg.loss.disc_lr or cfg.optim.lr) * lr_factor(step, cfg)
            step += 1
            win["loss"] += loss.item()
            win["l1"] += l1.item()
            win["adv"] += float(adv.detach())
            win["d"] += float(d_loss.detach())
            win["n"] += 1
            win["samples"] += r.batch_size * d.world_size
            if step % r.log_every == 0 or step == end:
                el = time.time() - win["t"]
                sps = win["samples"] / max(el, 1e-9)
                n = max(win["n"], 1)
                rec = {"event": "train", "step": step, "loss": win["loss"] / n, "l1": win["l1"] / n,
                       "lr": sched.get_last_lr()[0], "samples_per_s": sps, "data_share": win["t_data"] / max(el, 1e-9)}
                if disc is not None:
                    rec.update({"adv": win["adv"] / n, "disc": win["d"] / n})
                history.append(rec)
                if d.is_main:
                    logf.write(json.dumps(rec) + "\n")
                    logf.flush()
                    if writer is not None:
                        writer.add_scalar("train/loss", rec["loss"], step)
                        writer.add_scalar("train/l1_normalized", rec["l1"], step)
                        writer.add_scalar("train/lr", rec["lr"], step)
                        writer.add_scalar("train/samples_per_s", sps, step)
                        writer.add_scalar("train/data_share", rec["data_share"], step)
                        if disc is not None:
                            writer.add_scalar("train/adversarial", rec["adv"], step)
                            writer.add_scalar("train/discriminator", rec["disc"], step)
                    progress.update(step, f"loss {rec['loss']:.4f} lr {rec['lr']:.2e} {sps:.1f} samples/s")
                win = {"loss": 0.0, "l1": 0.0, "adv": 0.0, "d": 0.0, "n": 0, "t_data": 0.0, "t": time.time(),
                       "samples": 0}
            is_end = step == end
            if (r.validate_every and step % r.validate_every == 0) or (is_end and step == r.steps):
                run_validation(step)
            if (r.checkpoint_every and step % r.checkpoint_every == 0) or is_end:
                if d.is_main:
                    last_path = checkpoint(os.path.join(run_dir, LAST), step)
                    logf.write(json.dumps({"event": "checkpoint", "step": step, "path": last_path}) + "\n")
                    logf.flush()
                D.barrier(d)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
        if writer is not None:
            writer.close()
        if logf is not None:
            logf.close()
    total = time.time() - t_start
    sps = (step - start) * r.batch_size * d.world_size / max(total, 1e-9)
    say(f"done: step {step}, {sps:.1f} samples/s overall, {total:.0f} s; last checkpoint {os.path.join(run_dir, LAST)}"
        + (f", best {cfg.validation.metric} {best:.5f} at step {best_step}" if best_step is not None else ""))
    best_path = os.path.join(run_dir, BEST)
    return TrainResult(run_dir, step, os.path.join(run_dir, LAST) if d.is_main else None,
                       best_path if d.is_main and os.path.exists(best_path) else None,
                       {k: v for k, v in metrics.items() if not k.startswith("_")}, sps, history, model)


def gan_loss_fn(logits, real: bool, mode: str):
    from .gan import gan_loss

    return gan_loss(logits, real, mode)


__all__ = ["train", "validate", "lr_factor", "TrainResult", "TrainingDiverged", "Progress", "image_grid", "LAST", "BEST"]
