"""Evaluation on held-out scenes: per target band and per source set, against a linear baseline.

* :mod:`.predictors`: what runs the model (predictors over dict batches: an exported ``.onnx`` in
  ``OnnxModel``, a checkpoint's PyTorch model in :class:`TorchPredictor`), through the inference engine;
* :mod:`.baseline`: :class:`LinearBaseline`, per-pixel least squares from the same sources, fitted on the
  training scenes, for every model that maps bands to bands;
* :mod:`.scoring`: the tasks (``all``: every other band as sources; ``single``: each other band alone;
  a pair model's pairs; a fixed-band model's outputs) and :func:`score_scenes`;
* :mod:`.records`: the typed records (:class:`EvaluatedModel`, :class:`EvaluationRow`,
  :class:`EvaluationReport`, ...) and the ``evaluation.json`` document made from them;
* :mod:`.report`: :func:`write_report` (JSON, Markdown tables, heatmap PNG).
"""

from __future__ import annotations

from .baseline import GBTBaseline, LinearBaseline, SceneMoments
from .predictors import LoadedPredictor, TorchPredictor, onnx_predictor, pairs_from_summary, torch_predictor
from .records import (SOURCE_SETS, EvaluatedModel, EvaluatedScene, EvaluationReport, EvaluationRow,
                      EvaluationSummary, PairComparison, TargetSummary)
from .report import markdown_tables, write_report
from .scoring import (SOURCE_MODES, USE_CASE_SOURCES, USE_CASE_TARGETS, SceneCrop, use_case_tasks, ScoredTask, compare_pairs, crop_scene, headline_rows, score_scenes,
                      summarize, tasks_for)


__all__ = ["GBTBaseline", "LinearBaseline", "SceneMoments", "USE_CASE_SOURCES", "USE_CASE_TARGETS", "use_case_tasks", "LoadedPredictor", "TorchPredictor", "onnx_predictor",
           "pairs_from_summary", "torch_predictor", "SOURCE_SETS", "EvaluatedModel", "EvaluatedScene",
           "EvaluationReport", "EvaluationRow", "EvaluationSummary", "PairComparison", "TargetSummary",
           "markdown_tables", "write_report", "SOURCE_MODES", "SceneCrop", "ScoredTask",
           "compare_pairs", "crop_scene", "headline_rows", "score_scenes", "summarize", "tasks_for"]
