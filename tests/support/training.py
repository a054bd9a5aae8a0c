"""Small training configs on the real scenes, shared by the training and evaluation tests.

The tests train a tiny ``adain_unet`` (a few thousand parameters) for a handful of steps on two
BigEarthNet patches (real L2A data, 120 x 120 px) and validate on a crop of the held-out Spain scene, so
each run takes seconds on two CPU cores.  The configs point into the real data, so tests that train or
read scenes with them are ``data`` tests; tests that only load or validate a config are not.
"""

from __future__ import annotations

import copy
import pathlib
from typing import Any, Dict

import yaml

from support.data import BIGEARTHNET, DATA, SPAIN

TINY_MODEL = {"width": 4, "depth": 2, "embed_dim": 8, "tile_size": 64}
#: Small sizes of the registered models whose defaults (the papers') are too big for quick tests.
SMALL_MODELS = {"adain_unet": {"width": 4, "depth": 2, "embed_dim": 8, "tile_size": 32},
                "pix2pix_unet": {"width": 4, "downsamplings": 3, "tile_size": 32},
                "cyclegan_resnet": {"width": 4, "blocks": 1, "tile_size": 32},
                "spade_generator": {"ngf": 4, "upsamplings": 3, "spade_hidden": 8, "tile_size": 32}}
BEN = BIGEARTHNET.relative_to(DATA).as_posix()


def tiny_config(out_dir, **sections) -> Dict[str, Any]:
    """A complete config dict; ``sections`` replace keys section by section (``run={"steps": 4}``)."""
    cfg: Dict[str, Any] = {
        "run": {"out_dir": str(out_dir), "steps": 6, "batch_size": 4, "seed": 3, "device": "cpu", "threads": 1,
                "log_every": 2, "validate_every": 0, "checkpoint_every": 0, "tensorboard": False, "progress": False},
        "data": {
            "root": str(DATA),
            "train": [{"path": f"{BEN}/S2A_MSIL2A_20170617T113321_36_85", "name": "ben_a", "level": "surface"},
                      {"path": f"{BEN}/S2B_MSIL2A_20170914T093029_32_39", "name": "ben_b", "level": "surface"}],
            "validation": [{"path": SPAIN.relative_to(DATA).as_posix(), "name": "Spain",
                            "level": "TOA"}],
            "chip_size": 32, "reference": "finest", "resampling": "bilinear",
        },
        "model": {"name": "adain_unet", "params": dict(TINY_MODEL)},
        "optim": {"lr": 0.003, "warmup_steps": 2},
        "validation": {"max_size": 64},
    }
    return merge_sections(cfg, sections)


def merge_sections(cfg: Dict[str, Any], sections: Dict[str, Any]) -> Dict[str, Any]:
    """``cfg`` with ``sections`` merged in: a dict replaces the keys it names in its section, anything else
    the whole section."""
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **copy.deepcopy(v)}
        else:
            cfg[k] = copy.deepcopy(v)
    return cfg


def write_config(path: pathlib.Path, cfg: Dict[str, Any]) -> pathlib.Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def assert_same_checkpoints(path_a, path_b, step: int):
    """Both checkpoints are at ``step`` and hold the same tensors in every module (to 1e-6): how the
    resume tests check that stopping and resuming changed nothing.  Returns both, loaded."""
    import torch

    from hls_translate.training.checkpoint import load_checkpoint

    sa, sb = load_checkpoint(str(path_a)), load_checkpoint(str(path_b))
    assert sa["step"] == sb["step"] == step
    for name in sa["modules"]:
        for k, v in sa["modules"][name].items():
            assert torch.allclose(v.float(), sb["modules"][name][k].float(), atol=1e-6, rtol=0), (name, k)
    return sa, sb

