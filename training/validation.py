"""Validation during training: the model scored on the held-out scenes, and image grids for TensorBoard.

:func:`validate_on_held_out` runs the evaluation (``training/evaluate.py``) on the config's held-out
scenes with all other bands as sources (a model trained on fixed tasks: those tasks) and returns the
metrics the checkpoint, the model metadata and ``log.jsonl`` record.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from .config import TrainConfig
from .data import TrainingData


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
def validate_on_held_out(model, data: TrainingData, cfg: TrainConfig, device, images: bool = False) -> Dict[str, Any]:
    """Score the model on the held-out scenes (all other bands as sources per target; a fixed-band model:
    its inputs); rank 0 only.  Returns the metrics the checkpoint and the model metadata carry."""
    import dataclasses

    from .evaluate import crop_scene, score_scenes, tasks_for, torch_predictor

    if not data.validation:
        return {}
    was_training = model.training
    predict, info = torch_predictor(model, device=str(device), batch=2)
    vt = cfg.data.band_ids(cfg.validation.targets, "validation.targets")
    targets = tuple(c for c in (vt or data.plan.targets) if c in data.plan.targets)
    # score only what was trained: the plan's targets, and (pair models) the plan's pairs
    if data.plan.pairs and info.kind == "conditional":
        info = dataclasses.replace(info, pairs=data.plan.pairs)
    if not any(tasks_for(s.band_ids, info, "all", targets) for s in data.validation):
        model.train(was_training)
        return {}  # nothing has truth: e.g. a same-band translation held out on its input domain
    report = score_scenes(predict, info, data.validation, None, mode="all", targets=targets,
                          max_size=cfg.validation.max_size, keep_predictions=images)
    model.train(was_training)
    rows = report.rows
    if not rows:
        return {}
    several = len(data.validation) > 1
    source_set = {"conditional": "fixed pairs" if data.plan.pairs else "all other bands"}.get(info.kind, "fixed bands")
    out: Dict[str, Any] = {
        "held_out": [s.name for s in data.validation],
        "source_set": source_set,
        "window": list(report.scenes[0].window),
        "per_target": {(f"{r.scene}:{r.target_code}" if several else r.target_code):
                       {"rmse": r.model.rmse, "mae": r.model.mae, "psnr": r.model.psnr, "ssim": r.model.ssim}
                       for r in rows},
        "mean_rmse": float(np.mean([r.model.rmse for r in rows])),
        "mean_rmse_norm": float(np.mean([r.model.rmse / r.target_std for r in rows if r.target_std > 0])),
        "units": "reflectance; PSNR/SSIM data_range 1.0",
    }
    if images:
        grids = {}
        scene = data.validation[0]
        crop = crop_scene(scene, cfg.validation.max_size, info.stride)
        by_key = {(r.scene, r.target_code): r for r in rows}
        for (sname, tcode, sources), pred in report.predictions.items():
            if sname != scene.name or len(grids) >= 3:
                continue
            grids[tcode] = image_grid(crop.values, crop.valid, pred, by_key[(sname, tcode)].target, list(sources))
        out["_images"] = grids
    return out


__all__ = ["validate_on_held_out", "image_grid"]
