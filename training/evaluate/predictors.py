"""What runs the model under evaluation: predictors over dict batches, the engine's own interface.

A predictor is a :class:`~hls_translate.core.runtime.RunnableModel`: ``run(feeds)`` takes a batch keyed by
tensor role (``bands``, ``presence``, ``target``, ...) and returns the output, and ``metadata`` describes
the model.  Evaluation runs predictors through the inference engine
(:func:`hls_translate.core.engine.predict_array`), so the feeds are built by the engine's feed strategy for
the model's kind, never a second time here:

* :func:`onnx_predictor`: an exported ``.onnx`` file in :class:`~hls_translate.core.runtime.OnnxModel`
  (ONNX Runtime, CPU);
* :func:`torch_predictor`: a PyTorch model (a checkpoint) in :class:`TorchPredictor`, described by the
  metadata its export would carry.
"""

from __future__ import annotations

import time
from typing import Any, List, Mapping, NamedTuple, Sequence, Tuple

import numpy as np

from ...core import bands as _bands
from ...core.runtime import OnnxModel, RunnableModel
from ..data import Task
from .records import EvaluatedModel


class TorchPredictor:
    """A PyTorch model with the face of :class:`~hls_translate.core.runtime.OnnxModel`: numpy feeds keyed by
    tensor role in, the output out (eval mode, no grad, at most ``batch`` items per forward pass)."""

    provider = "torch"

    def __init__(self, model, device: str = "cpu", batch: int = 4):
        from ..export import build_metadata

        self.model = model.to(device).eval()
        self.device = device
        self.batch = max(1, int(batch))
        self.metadata = build_metadata(model)
        self.roles = [t.role for t in self.metadata.inputs]  # the order of the model's forward arguments
        self.run_seconds = 0.0

    @property
    def name(self) -> str:
        return str(getattr(self.model, "model_name", type(self.model).__name__))

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        import torch

        t0 = time.perf_counter()
        n = len(feeds[self.roles[0]])
        outs = []
        with torch.no_grad():
            for i in range(0, n, self.batch):
                args = [torch.from_numpy(np.ascontiguousarray(feeds[r][i:i + self.batch])).to(self.device)
                        for r in self.roles]
                outs.append(self.model(*args).float().cpu().numpy())
        self.run_seconds += time.perf_counter() - t0
        return np.concatenate(outs, axis=0)

    def describe(self) -> str:
        md = self.metadata
        return f"{self.name}: {md.family} ({md.architecture}), {md.kind.replace('_', ' ')}, torch on {self.device}"


class LoadedPredictor(NamedTuple):
    """A predictor and the record of the model it runs."""

    predictor: RunnableModel
    model: EvaluatedModel


def torch_predictor(model, device: str = "cpu", batch: int = 4, pairs: Sequence[Task] = ()) -> LoadedPredictor:
    """A predictor around a PyTorch model built by ``create_model`` (statistics set)."""
    p = TorchPredictor(model, device=device, batch=batch)
    return LoadedPredictor(p, EvaluatedModel.from_metadata(p.metadata, p.name, tuple(pairs)))


def onnx_predictor(path: str, threads: int = 0) -> LoadedPredictor:
    """A predictor around an exported model run with ONNX Runtime on the CPU; a single-pair model's pairs
    come from its training summary."""
    m = OnnxModel(path, device="cpu", threads=threads)
    tasks = (m.metadata.training or {}).get("tasks") or {}
    pairs = pairs_from_summary(tasks) if tasks.get("mode") == "pairs" else ()
    return LoadedPredictor(m, EvaluatedModel.from_metadata(m.metadata, pairs=pairs))


def pairs_from_summary(tasks: Mapping[str, Any]) -> Tuple[Task, ...]:
    """The tasks of a single-pair model, from the ``tasks`` entry of its training summary."""
    out: List[Task] = []
    for p in tasks.get("pairs", []):
        src = tuple(sorted(_bands.resolve_band(c, "S2").id for c in p["sources"]))
        out.append(Task(_bands.resolve_band(p["target"], "S2").id, src))
    return tuple(out)


__all__ = ["TorchPredictor", "LoadedPredictor", "torch_predictor", "onnx_predictor", "pairs_from_summary"]
