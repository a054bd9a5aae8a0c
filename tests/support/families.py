"""Small pix2pix and CycleGAN training configs on the real scenes, and exported models of both families.

pix2pix trains the eight bands Landsat also measures -> red edge 1-3 on four 100 x 101 Sentinel-2 L1C
frames of Slovenia (the only small scenes with B10); CycleGAN translates the 10 m bands of those L1C
frames (domain A, top of atmosphere) into two BigEarthNet L2A patches' (domain B, surface reflectance).
Both networks are shrunk (a few thousand parameters, 16 px stride / 2 residual blocks) so a few dozen
steps take seconds on one core; everything else (losses, discriminators, pools, optimizer) is the papers'.
"""

from __future__ import annotations

from typing import Any, Dict

from support.data import BIGEARTHNET, DATA, SLOVENIA_FRAMES, SPAIN
from support.training import merge_sections

SLOVENIA_TRAIN = "eolearn_slovenia/eolearn_reference_scene_[1-4].tif"
BEN_B = [f"{BIGEARTHNET.relative_to(DATA).as_posix()}/{p}"
         for p in ("S2A_MSIL2A_20170617T113321_36_85", "S2B_MSIL2A_20170914T093029_32_39")]
PIX2PIX_MODEL = {"width": 8, "downsamplings": 4, "tile_size": 64}
CYCLEGAN_MODEL = {"width": 8, "blocks": 2, "tile_size": 64}
#: the real rasters the exported models are run on (never trained on)
HELD_OUT_FRAME = SLOVENIA_FRAMES[0]
HELD_OUT_SCENE = SPAIN


def _run(out_dir) -> Dict[str, Any]:
    return {"out_dir": str(out_dir), "steps": 8, "batch_size": 2, "seed": 5, "device": "cpu", "threads": 1,
            "log_every": 4, "validate_every": 0, "checkpoint_every": 0, "tensorboard": False, "progress": False}


def pix2pix_config(out_dir, **sections) -> Dict[str, Any]:
    """pix2pix (8 Landsat bands -> red edge 1-3) on the Slovenia L1C frames; ``sections`` replace keys."""
    cfg = {"run": _run(out_dir),
           "data": {"root": str(DATA), "train": [{"path": SLOVENIA_TRAIN, "name": "slovenia", "level": "TOA"}],
                    "chip_size": 64},
           "model": {"name": "pix2pix_unet", "params": dict(PIX2PIX_MODEL)},
           "objective": {"name": "pix2pix", "params": {"disc_width": 16}}}
    return merge_sections(cfg, sections)


def cyclegan_config(out_dir, **sections) -> Dict[str, Any]:
    """CycleGAN between the L1C frames (A, TOA) and two BigEarthNet L2A patches (B, surface), 10 m bands."""
    cfg = {"run": _run(out_dir),
           "data": {"root": str(DATA), "train": [{"path": SLOVENIA_TRAIN, "name": "slovenia", "level": "TOA"}],
                    "domain_b": [{"path": p, "name": f"ben{i}", "level": "surface"} for i, p in enumerate(BEN_B)],
                    "chip_size": 32},
           "model": {"name": "cyclegan_resnet", "params": dict(CYCLEGAN_MODEL)},
           "objective": {"name": "cyclegan", "params": {"disc_width": 16, "pool_size": 6}}}
    return merge_sections(cfg, sections)


def train_and_export(tmp_dir, family: str, steps: int = 6) -> Dict[str, str]:
    """Train ``family`` (pix2pix or cyclegan) a few steps and export it: ``{"checkpoint", "model"}`` and,
    for CycleGAN, ``"model_ba"`` (the B->A generator)."""
    from hls_translate.training.config import load_train_config
    from hls_translate.training.export import export_checkpoint
    from hls_translate.training.trainer import train

    make = pix2pix_config if family == "pix2pix" else cyclegan_config
    res = train(load_train_config(None, base=make(tmp_dir / "run", run={"steps": steps})), log=lambda m: None)
    out = {"checkpoint": res.last_checkpoint, "model": str(tmp_dir / f"{family}.onnx")}
    export_checkpoint(res.last_checkpoint, out["model"])
    if family == "cyclegan":
        out["model_ba"] = str(tmp_dir / "cyclegan_ba.onnx")
        export_checkpoint(res.last_checkpoint, out["model_ba"], module="generator_ba")
    return out
