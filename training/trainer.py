"""The training loop: the same short, family-blind code on one CPU, one GPU and under ``torchrun``.

``train(cfg)`` checks everything it can before the first step (config, paths, scenes, chips, the run
folder, a resumed checkpoint's compatibility), builds the model (model registry) and the objective
(objective registry), and runs ``cfg.run.steps`` steps of ``objective.train_step``:

* chips from :class:`~.data.ChipSampler` (each process its own disjoint shard, read one step ahead on a
  thread), collated by the objective into a dict batch;
* rank 0 only: :class:`~.run_log.RunLog` (``log.jsonl``, TensorBoard, the progress bar), validation on
  the held-out scenes, ``last.pt`` every ``run.checkpoint_every`` steps and at the end, ``best.pt``
  whenever the validation metric improves.  Checkpoints are atomic and carry the resolved config, so
  ``--resume`` continues exactly (step, every module/optimizer/scheduler of the objective, AMP scaler,
  sampler, RNG states);
* a NaN/inf loss on any process stops every process with :class:`TrainingDiverged` naming the first bad
  step; nothing is written after it, so the last checkpoint on disk is the last good one.

Host syncs: the step's scalars stay on the device; they are summed there and moved to the host once
per log step (one transfer for all of them), and the finiteness flag is checked at the same time and
before every checkpoint write. A per-step ``.item()`` would stall the GPU queue on every step.
"""

from __future__ import annotations

import json
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
from ..core.fileio import atomic_write_text
from . import distributed
from .allocator import retain_freed_memory
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig, config_to_yaml
from .data import ChipSampler, band_code, prepare_data
from ..core.progress import ProgressBar
from .run_log import RunLog, window_means

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


# --- checks before any work ------------------------------------------------------------------------------
def check_run_dir(cfg: TrainConfig, resume: Optional[str]) -> str:
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


def check_resumable(cfg: TrainConfig, state: Mapping[str, Any], path: str) -> None:
    """A resumed run must train the same model with the same objective on the same data (run/optim
    cadence may change)."""
    from .objectives import make_objective_params

    def resolved(section: Mapping[str, Any]) -> Dict[str, Any]:  # an objective's params with their defaults
        return {"name": section.get("name"),
                "params": to_dict(make_objective_params(section.get("name"), section.get("params")))}

    old = dict(state.get("config") or {})
    new = to_dict(cfg)
    if "objective" in old:
        old["objective"], new["objective"] = resolved(old["objective"]), resolved(new["objective"])
    for section in ("data", "model", "objective"):
        if section in old and json.dumps(old[section], sort_keys=True, default=str) != \
                json.dumps(new[section], sort_keys=True, default=str):
            diff = sorted(k for k in set(old[section]) | set(new[section])
                          if old[section].get(k) != new[section].get(k))
            raise ConfigError(f"--resume {path}: the config's {section} section differs from the checkpoint's "
                              f"({', '.join(f'{section}.{k}' for k in diff)}); resuming needs the same {section}")
    if state.get("model_name") != cfg.model.name:
        raise ConfigError(f"--resume {path}: checkpoint model {state.get('model_name')!r} != model.name "
                          f"{cfg.model.name!r}")


def resolve_channels_last(setting: str, device) -> bool:
    """``run.channels_last``: ``auto`` is on for CUDA (tensor-core convolutions want NHWC) and off on the
    CPU, where it was measured slower (bench/RESULTS.md: ResNet generator 1.02 s against 0.89 s)."""
    return setting == "on" or (setting == "auto" and device.type == "cuda")


def resolve_amp(amp: str, device) -> str:
    """``run.amp`` for ``device``: ``auto`` is bf16 on CUDA where supported, else fp16; off on the CPU."""
    import torch

    use_cuda = device.type == "cuda"
    if amp == "auto":
        amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if use_cuda else "off"
    if amp == "fp16" and not use_cuda:
        raise ConfigError("run.amp: fp16 autocast needs CUDA; use off or bf16 on CPU")
    return amp


# --- the run ------------------------------------------------------------------------------------------
def check_not_rewinding(run_dir: str, resume: str, resume_step: int, force: bool) -> None:
    """Resuming an older checkpoint into a run folder whose ``last.pt`` is further along would overwrite
    it with an earlier state: refused unless ``force``."""
    last = os.path.join(run_dir, LAST)
    if force or not os.path.exists(last) or os.path.samefile(last, resume):
        return
    newer = int(load_checkpoint(last).get("step", 0))
    if newer > resume_step:
        raise ConfigError(f"--resume {resume} is at step {resume_step}, but {last} is already at step {newer}: "
                          f"resuming would move that run back {newer - resume_step} steps. Resume {last} instead, "
                          "set run.out_dir=NEW_FOLDER to continue the older state in a new folder, or pass --force "
                          "to rewind the run")


def config_copy_path(run_dir: str, config_path: Optional[str]) -> str:
    """Where the run writes its resolved config: ``config.yaml``, unless that is the user's own config
    file (given to --config), which is never overwritten; then ``config.resolved.yaml``."""
    path = os.path.join(run_dir, "config.yaml")
    if config_path and os.path.exists(path) and os.path.samefile(path, config_path):
        return os.path.join(run_dir, "config.resolved.yaml")
    return path


def model_params(cfg: TrainConfig) -> Dict[str, Any]:
    """``model.params``; a label-map model whose params name no ``label_classes`` takes
    ``data.label_classes`` (the classes of the label rasters it learns from), and one that names them must
    name those of the data."""
    import dataclasses

    from ..core import models

    params = dict(cfg.model.params)
    fields = {f.name for f in dataclasses.fields(models.model_entry(cfg.model.name).config)}
    if "label_classes" not in fields or not cfg.data.label_classes:
        return params
    data_classes = [to_dict(c) for c in cfg.data.label_classes]
    if "label_classes" not in params:
        params["label_classes"] = data_classes
    elif [to_dict(c) if not isinstance(c, Mapping) else dict(c) for c in params["label_classes"]] != data_classes:
        raise ConfigError("model.params.label_classes: they differ from data.label_classes (the classes of the "
                          "label rasters); leave them out of model.params to take data.label_classes")
    return params


def train(cfg: TrainConfig, resume: Optional[str] = None, stop_at: Optional[int] = None,
          log: Optional[Callable[[str], None]] = None, *, force: bool = False,
          config_path: Optional[str] = None) -> TrainResult:
    """Train per ``cfg`` (optionally continuing checkpoint ``resume``; ``stop_at``: stop after that step,
    writing ``last.pt``, as a time-limited job would).  ``force`` lets ``resume`` rewind a run folder
    that is further along; ``config_path`` is the user's config file (never overwritten).  Returns a
    :class:`TrainResult` (on every rank)."""
    d = distributed.setup(cfg.run.device)
    try:
        return _train(cfg, d, resume, stop_at, log, force, config_path)
    finally:
        distributed.cleanup(d)


def _train(cfg: TrainConfig, d: "distributed.Dist", resume: Optional[str], stop_at: Optional[int],
           log: Optional[Callable[[str], None]], force: bool = False,
           config_path: Optional[str] = None) -> TrainResult:
    import torch

    from ..core import models
    from .objectives import TrainContext, create_objective, objective_entry
    from .validation import validate_on_held_out

    def say(msg: str) -> None:
        if d.is_main:
            (log or (lambda m: print(m, file=sys.stderr, flush=True)))(msg)

    r = cfg.run
    run_dir = check_run_dir(cfg, resume)
    state = None
    if resume is not None:
        state = load_checkpoint(resume, map_location="cpu")
        check_resumable(cfg, state, resume)
        check_not_rewinding(run_dir, resume, int(state.get("step", 0)), force)
    amp = resolve_amp(cfg.run.amp, d.device)
    if r.threads:
        torch.set_num_threads(r.threads)
    if d.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # chips of one size: let cuDNN pick its fastest convolutions once
    if r.retain_freed_memory:
        say(f"allocator: keep freed memory ({retain_freed_memory()})")
    random.seed(r.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's at wrap time)
    np.random.seed(r.seed % 2 ** 32)
    torch.manual_seed(r.seed)

    # model, data, objective
    model = models.create_model(cfg.model.name, **model_params(cfg))
    if model.kind == "label_map" and cfg.data.validation:
        raise ConfigError("data.validation: held-out validation scores models that read bands; a label-map model "
                          f"({cfg.model.name}) is not validated during training: remove data.validation and score "
                          "the exported model with predict --labels (see docs/families/spade.md)")
    t_data = time.time()
    two_domains = objective_entry(cfg.objective.name).needs_domain_b  # unpaired: data.train is A, domain_b is B
    data = prepare_data(cfg, model.accepted_sources(), model.accepted_targets(), log=say, kind=model.kind,
                        unpaired=two_domains)
    say(f"data ready in {time.time() - t_data:.1f} s: {len(data.train)} training scene(s), "
        + (f"{len(data.train_b)} in domain B, " if data.train_b else "") +
        f"{len(data.validation)} held-out; targets {', '.join(band_code(c) for c in data.plan.targets)}")
    model.set_normalization(data.stats)
    if getattr(model.config, "linear_prior", False):  # a band-conditional option (adain_unet, spectral_mlp): its prior comes from the data
        from .evaluate import LinearBaseline

        fit = LinearBaseline.fit(data.train)  # the same moments the evaluation's baseline is solved from
        model.set_linear_prior([(m.bands, m.moments, m.weight) for m in fit.grams])
        say(f"linear prior: moments of {int((model.prior_weights > 0).sum())} band set(s) from "
            f"{len(fit.grams)} training scene(s)")
    if state is not None:
        model.load_state_dict(state["modules"]["model"])
    model.to(d.device)
    channels_last = resolve_channels_last(cfg.run.channels_last, d.device)
    ctx = TrainContext(dist=d, optim=cfg.optim, steps=r.steps, amp=amp, data=data, seed=r.seed,
                       channels_last=channels_last)
    objective = create_objective(cfg.objective.name, model, cfg.objective.params, ctx)
    samplers = [ChipSampler(scenes, plan, cfg.data.chip_size, r.batch_size, seed=r.seed, rank=d.rank,
                            world_size=d.world_size, augment=cfg.data.augment, atmosphere=cfg.data.atmosphere,
                            stream=i)
                for i, (scenes, plan) in enumerate([(data.train, data.plan)]
                                                   + ([(data.train_b, data.plan_b)] if two_domains else []))]
    sampler = samplers[0]

    def batch_of(step: int) -> Dict[str, Any]:
        """The collated batch of ``step``: the objective gets one list of chips per domain."""
        return objective.collate(*(sp.chips(step) for sp in samplers))

    start, best, best_step, metrics, samples_before = 0, float("inf"), None, {}, 0
    if state is not None:
        objective.load_state_dict(state, where=resume)
        sampler.load_state_dict(state["sampler"])
        if two_domains:
            samplers[1].load_state_dict(state["sampler_b"])
        old_world = int(state["sampler"].get("world_size", d.world_size))
        if old_world != d.world_size:
            say(f"warning: resuming a run of {old_world} process(es) with {d.world_size}: the chip stream differs "
                "from an uninterrupted run from here on")
        start = int(state["step"])
        best = float(state.get("best", {}).get("value", float("inf")))
        best_step = state.get("best", {}).get("step")
        metrics = dict(state.get("metrics") or {})
        samples_before = int(state.get("training_summary", {}).get("samples_seen", start * r.batch_size * d.world_size))
        if state.get("rng"):
            set_rng_state(state["rng"])
        say(f"resumed {resume} at step {start}")
    end = min(r.steps, stop_at) if stop_at is not None else r.steps
    if stop_at is not None and stop_at <= start:
        raise ConfigError(f"--stop-at {stop_at}: the run {'starts' if not start else 'is already'} at step {start}; "
                          f"give a step after it (nothing was trained or written)")
    if start >= r.steps:
        raise ConfigError(f"run.steps: the checkpoint is already at step {start} >= run.steps {r.steps}; raise "
                          f"run.steps to train further")

    if d.is_main:
        os.makedirs(run_dir, exist_ok=True)
        copy = config_copy_path(run_dir, config_path)
        if not copy.endswith("config.yaml"):
            say(f"{os.path.join(run_dir, 'config.yaml')} is the config you gave; the resolved config goes to {copy}")
        atomic_write_text(copy, config_to_yaml(cfg))
    run_log = RunLog(run_dir, d.is_main, r.tensorboard,
                     ProgressBar("step", total=end, start=start, enabled=d.is_main and r.progress, line_every=0), start)
    distributed.barrier(d)
    n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in objective.modules.items()}
    say(f"model {cfg.model.name}: {n_params['model']:,} parameters"
        + "".join(f", {k} {v:,}" for k, v in n_params.items() if k != "model")
        + f"; objective {cfg.objective.name}; device {d.device} x {d.world_size} process(es)"
        f"{' (' + d.backend + ')' if d.backend else ''}; AMP {amp}; "
        f"{'channels-last' if channels_last else 'NCHW'} memory; global batch {r.batch_size * d.world_size}")

    base_summary = data.summary(cfg)
    positions = max(1, sum(len(s.chip_rows) for s in data.train))
    t_start = time.time()
    history: List[Dict[str, Any]] = []

    def samples_seen(step: int) -> int:
        return samples_before + (step - start) * r.batch_size * d.world_size

    def summary(step: int) -> Dict[str, Any]:
        s = dict(base_summary)
        s.update({"steps": step, "samples_seen": samples_seen(step),
                  "batch_size_per_process": r.batch_size, "world_size": d.world_size,
                  "device": f"{d.device.type}" + (f" ({torch.cuda.get_device_name(d.device)})"
                                                   if d.device.type == "cuda" else ""),
                  "amp": amp, "channels_last": channels_last, "seed": r.seed, "wall_seconds_this_run": round(time.time() - t_start, 1),
                  "objective": objective.summary(),
                  "best_validation": {"value": best if np.isfinite(best) else None, "step": best_step,
                                      "metric": cfg.validation.metric}})
        return s

    def save(path: str, step: int, objective_state: Mapping[str, Any]) -> str:
        """Write a checkpoint (rank 0) with ``objective_state``, taken on every process (an objective may
        gather per-process state into it, e.g. image pools)."""
        return save_checkpoint(path, {
            "model_name": cfg.model.name, "model_config": to_dict(model.config),
            "objective_name": cfg.objective.name, "objective_config": to_dict(objective.params),
            "module_models": objective.module_models(),
            **objective_state, "config": to_dict(cfg), "step": step,
            "epoch": samples_seen(step) // positions,  # passes over the chip positions (they overlap: rough)
            "sampler": sampler.state_dict(), "rng": rng_state(),
            **({"sampler_b": samplers[1].state_dict()} if two_domains else {}),
            "metrics": {k: v for k, v in metrics.items() if not k.startswith("_")},
            "best": {"value": best, "step": best_step}, "training_summary": summary(step)})

    bad_step = torch.zeros((), dtype=torch.int64, device=d.device)  # first non-finite step (0: none), on device

    def check_finite(step: int, scalars: Mapping[str, Any]) -> None:
        """One host sync: stop every process if any of them saw a non-finite loss."""
        never = float(r.steps + 1)
        first = torch.where(bad_step > 0, bad_step.to(torch.float64), torch.full_like(bad_step, never, dtype=torch.float64))
        first = distributed.all_reduce_min(d, first.reshape(1))
        if float(first.item()) < never:
            last_good = os.path.join(run_dir, LAST)
            kept = (f"the last good checkpoint, {last_good}, is kept" if os.path.exists(last_good)
                    else "no checkpoint had been written yet")
            here = ", ".join(f"{k} {v:.4g}" for k, v in scalars.items()) if scalars else "finite"
            raise TrainingDiverged(
                f"step {int(first.item())}: the loss is not finite (checked at step {step}; this process's window "
                f"means: {here}); training stopped and {kept}. Lower optim.lr, raise optim.warmup_steps or "
                "check the data")

    def run_validation(step: int) -> None:
        nonlocal best, best_step, metrics
        objective_state = objective.state_dict() if data.validation else None  # every process (see save)
        if d.is_main and data.validation:
            tv = time.time()
            m = validate_on_held_out(objective.eval_model(), data, cfg, d.device, images=run_log.writer is not None)
            if not m:
                say(f"validation at step {step}: nothing to score: no held-out scene has truth for the model's "
                    "targets (a band the model also reads is its input there, not a truth)")
                distributed.barrier(d)
                return
            m["step"] = step
            imgs = m.pop("_images", {})
            metrics = m
            say(f"validation at step {step} ({time.time() - tv:.1f} s): mean RMSE {m['mean_rmse']:.5f} over "
                f"{len(m['per_target'])} target(s) [" + ", ".join(f"{k} {v['rmse']:.4f}" for k, v in
                                                               m["per_target"].items()) + "]")
            run_log.validation(step, m, imgs)
            key = "mean_rmse" if cfg.validation.metric == "rmse" else "mean_rmse_norm"
            if m[key] < best:
                best, best_step = m[key], step
                save(os.path.join(run_dir, BEST), step, objective_state)
                say(f"new best {cfg.validation.metric} {best:.5f}: wrote {os.path.join(run_dir, BEST)}")
        distributed.barrier(d)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hls_translate-chips")
    future = pool.submit(batch_of, start)
    sums: Dict[str, Any] = {}
    win_n, win_data, win_t, win_samples = 0, 0.0, time.time(), 0
    step = start
    objective.train_mode(True)
    try:
        while step < end:
            t0 = time.time()
            batch = objective.to_device(future.result())
            for sp in samplers:
                sp.step = step + 1
            if step + 1 < end:
                future = pool.submit(batch_of, step + 1)
            win_data += time.time() - t0
            scalars = objective.train_step(batch)
            step += 1
            bad_step = torch.where((bad_step == 0) & ~torch.isfinite(scalars["loss"]),
                                   torch.full_like(bad_step, step), bad_step)
            for k, v in scalars.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            win_n += 1
            win_samples += r.batch_size * d.world_size
            is_log = step % r.log_every == 0 or step == end
            is_ckpt = (r.checkpoint_every and step % r.checkpoint_every == 0) or step == end
            if is_log or is_ckpt:
                means = window_means(sums, win_n)
                check_finite(step, means)
            if is_log:
                el = time.time() - win_t
                rec = {**means, "lr": objective.schedulers["model"].get_last_lr()[0],
                       "samples_per_s": win_samples / max(el, 1e-9), "data_share": win_data / max(el, 1e-9)}
                history.append({"event": "train", "step": step, **rec})
                run_log.train(step, rec)
                sums, win_n, win_data, win_t, win_samples = {}, 0, 0.0, time.time(), 0
            if (r.validate_every and step % r.validate_every == 0) or (step == end and step == r.steps):
                run_validation(step)
            if is_ckpt:
                objective_state = objective.state_dict()  # every process (see save)
                if d.is_main:
                    run_log.checkpoint(step, save(os.path.join(run_dir, LAST), step, objective_state))
                distributed.barrier(d)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        run_log.close()
    total = time.time() - t_start
    sps = (step - start) * r.batch_size * d.world_size / max(total, 1e-9)
    say(f"done: step {step}, {sps:.1f} samples/s overall, {total:.0f} s; last checkpoint {os.path.join(run_dir, LAST)}"
        + (f", best {cfg.validation.metric} {best:.5f} at step {best_step}" if best_step is not None else ""))
    best_path = os.path.join(run_dir, BEST)
    return TrainResult(run_dir, step, os.path.join(run_dir, LAST) if d.is_main else None,
                       best_path if d.is_main and os.path.exists(best_path) else None,
                       {k: v for k, v in metrics.items() if not k.startswith("_")}, sps, history, model)


__all__ = ["train", "check_run_dir", "check_resumable", "check_not_rewinding", "config_copy_path", "TrainResult", "TrainingDiverged", "LAST", "BEST"]
