"""Training batches from chips, one collation per model kind (the training side's feed strategies).

A batch is a dict of numpy arrays keyed by tensor role, the same roles the model contract and the ONNX
metadata use (``bands``, ``presence``, ``target``, ``labels``), plus the supervision: ``real`` (the
true output bands, physical units) and ``mask`` (where the loss may look: the output band valid and every
input band valid).  :func:`collator_for` picks the collation of a model's kind; objectives call it.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy as np

from ..core.bands import NUM_CLASSES
from ..core.errors import ModelError
from .data import Chip

Batch = Dict[str, np.ndarray]


def collate_conditional(chips: Sequence[Chip]) -> Batch:
    """Conditional models: each chip's task. ``bands`` [B, 15, k, k] (absent classes 0), ``presence`` [B, 15],
    ``target`` [B], ``real`` [B, 1, k, k], ``mask`` [B, 1, k, k]."""
    b, k = len(chips), chips[0].values.shape[-1]
    bands = np.zeros((b, NUM_CLASSES, k, k), dtype=np.float32)
    presence = np.zeros((b, NUM_CLASSES), dtype=np.float32)
    target = np.zeros(b, dtype=np.int64)
    real = np.zeros((b, 1, k, k), dtype=np.float32)
    mask = np.zeros((b, 1, k, k), dtype=bool)
    for i, chip in enumerate(chips):
        task = chip.task
        chs = chip.channels(task.sources)
        tch = chip.band_ids.index(task.target)
        bands[i, list(task.sources)] = chip.values[chs]
        presence[i, list(task.sources)] = 1.0
        target[i] = task.target
        real[i, 0] = chip.values[tch]
        mask[i, 0] = chip.valid[tch] & chip.valid[chs].all(axis=0)
    return {"bands": bands, "presence": presence, "target": target, "real": real, "mask": mask}


def collate_bands(chips: Sequence[Chip], class_ids: Sequence[int], targets: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """``values`` [B, C, k, k] float32 of those classes in that order, and ``valid`` [B, C, k, k] (with
    ``targets``: from a paired image's B half where the chips have one, see :meth:`Chip.stack`)."""
    stacks = [chip.stack(class_ids, targets) for chip in chips]
    return (np.stack([v for v, _ in stacks]).astype(np.float32, copy=False), np.stack([ok for _, ok in stacks]))


def collate_fixed(chips: Sequence[Chip], sources: Sequence[int], targets: Sequence[int]) -> Batch:
    """Fixed-band models: ``bands`` [B, C_in, k, k] in the model's source order, ``real`` and ``mask``
    [B, C_out, k, k] in its output order (a pixel counts where its output band and every input are valid)."""
    bands, bands_ok = collate_bands(chips, sources)
    real, real_ok = collate_bands(chips, targets, targets=True)
    return {"bands": bands, "real": real, "mask": real_ok & bands_ok.all(axis=1, keepdims=True)}


def collate_label_map(chips: Sequence[Chip], targets: Sequence[int]) -> Batch:
    """Label-map models: ``labels`` [B, k, k] int64 class indices (-1 invalid), ``real``/``mask``
    [B, C_out, k, k]; a pixel counts where its label is known and its output band valid."""
    if any(chip.labels is None for chip in chips):
        raise ModelError("a label-map model needs scenes with a label raster (data.train[i].labels)")
    labels = np.stack([chip.labels for chip in chips]).astype(np.int64, copy=False)
    real = np.stack([chip.values[chip.channels(targets)] for chip in chips]).astype(np.float32, copy=False)
    mask = np.stack([chip.valid[chip.channels(targets)] for chip in chips]) & (labels[:, None] >= 0)
    return {"labels": labels, "real": real, "mask": mask}


def collator_for(model) -> Callable[[Sequence[Chip]], Batch]:
    """The collation of ``model``'s kind, bound to its band lists (from its tensor specs)."""
    inputs, outputs = model.io_specs()
    if model.kind == "conditional":
        return collate_conditional
    out_bands = tuple(outputs[0].bands)
    if model.kind == "fixed_bands":
        in_bands = tuple(next(t for t in inputs if t.role == "bands").bands)
        return lambda chips: collate_fixed(chips, in_bands, out_bands)
    if model.kind == "label_map":
        return lambda chips: collate_label_map(chips, out_bands)
    raise ModelError(f"{model.model_name}: no training collation for model kind {model.kind!r}")


__all__ = ["Batch", "collate_bands", "collate_conditional", "collate_fixed", "collate_label_map", "collator_for"]
