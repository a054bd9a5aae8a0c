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


__all__ = ["validate_on_held_out", "image_grid"]
