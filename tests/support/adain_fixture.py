"""Small, deterministic models for tests (importable by every test module).

``small_adain_onnx(path)`` builds a seeded ``adain_unet`` (width 8, depth 2: stride 4) whose
normalization statistics are measured on the real Spain Sentinel-2 L1C scene of ``../shared/data``
(13 reflectance classes; the two thermal classes stay unfitted, so the exported model lists them neither
as sources nor as targets, like a model trained on Sentinel-2 data), and exports it with metadata.
The weights are untrained (seeded random): outputs are plausible reflectances around each target's
mean, and identical from run to run.  About a second.  Tests using any of these read the Spain scene,
so they are ``data`` tests.

    from support.adain_fixture import small_adain_onnx, small_adain_model, spain_stats
"""

from __future__ import annotations

import functools
import os
from typing import Dict, Optional, Tuple

import numpy as np

from support.data import SPAIN  # the real Spain Sentinel-2 L1C scene

#: Architecture of the fixture model (small: ~35 k parameters, stride 4).
SMALL_ADAIN = {"width": 8, "depth": 2, "embed_dim": 16, "tile_size": 64}


@functools.lru_cache(maxsize=None)
def spain_stats() -> Dict[int, Tuple[float, float]]:
    """``{class id: (mean, std)}`` of the valid pixels of every band of the Spain scene (physical units)."""
    from hls_translate.core.scene import open_scene

    with open_scene(str(SPAIN)) as scene:
        stats = {}
        for b in scene.bands:
            values, valid = scene.read(b)
            v = values[valid].astype(np.float64)
            stats[b.id] = (float(v.mean()), float(v.std()))
    return stats


def small_adain_model(seed: int = 0, **overrides):
    """The fixture model in torch (eval mode), statistics set from :func:`spain_stats`."""
    import torch

    from hls_translate.core.models import create_model

    torch.manual_seed(seed)
    model = create_model("adain_unet", **{**SMALL_ADAIN, **overrides})
    model.set_normalization(spain_stats())
    return model.eval()


def small_adain_onnx(path, seed: int = 0, model_version: str = "fixture", training: Optional[dict] = None,
                     metrics: Optional[dict] = None, **overrides) -> str:
    """Export the fixture model to ``path`` (with metadata; ONNX Runtime checked against torch); returns
    the path as a string."""
    from hls_translate.training.export import export_model

    path = os.fspath(path)
    export_model(small_adain_model(seed, **overrides), path, model_version=model_version,
                 training=training or {"note": "untrained fixture model; statistics from the Spain L1C scene"},
                 metrics=metrics or {})
    return path
