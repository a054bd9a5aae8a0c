"""The typed records of an evaluation: the model under evaluation, one scored row, the summary, the report.

Scores are :class:`~hls_translate.core.metrics.BandScores`.  :meth:`EvaluationReport.to_dict` serializes a
report into the ``evaluation.json`` document (schema ``hls_translate.evaluation`` version 1), whose keys
and shape readers rely on; nothing else builds that document.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ...core import bands as _bands
from ...core.metadata import ModelMetadata
from ...core.metrics import BandScores
from ..data import Task, band_code

REPORT_SCHEMA = "hls_translate.evaluation"
REPORT_VERSION = 1
METRIC_UNITS = "reflectance (physical units); PSNR/SSIM with data_range 1.0"
VALID_PIXELS = "valid in the target and in every source band"
#: Source sets a row can be scored with: every other band, one band alone, a pair model's pair, or the
#: fixed inputs of a fixed-band model.
#: The order bands are listed in (Sentinel-2 numbering; other codes after these).
BAND_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


def band_order(code: str) -> int:
    """Position of a band code in :data:`BAND_ORDER` (codes not in it: after every one that is)."""
    return BAND_ORDER.index(code) if code in BAND_ORDER else len(BAND_ORDER)


def sort_codes(codes) -> List[str]:
    """Band codes in :data:`BAND_ORDER`, others after them by name."""
    return sorted(codes, key=lambda c: (band_order(c), c))


SOURCE_SETS = ("all", "single", "pair", "fixed", "landsat")  # landsat: the use case (the L30 bands as sources)


@dataclass(frozen=True)
class EvaluatedModel:
    """The model under evaluation: its name, stride and kind, the bands it takes and can synthesize, and
    (a single-pair model) the tasks it was trained on."""

    name: str
    stride: int
    sources: Tuple[int, ...]  # classes it accepts (a fixed-band model: its inputs, in order)
    targets: Tuple[int, ...]  # classes it can synthesize
    pairs: Tuple[Task, ...] = ()
    kind: str = "conditional"

    @classmethod
    def from_metadata(cls, md: ModelMetadata, name: str = "", pairs: Tuple[Task, ...] = ()) -> "EvaluatedModel":
        if md.kind == "fixed_bands":
            sources, targets = tuple(md.input("bands").bands), tuple(md.output.bands)
        else:
            sources, targets = tuple(md.source_bands), tuple(md.target_bands)
        return cls(name or md.architecture, int(md.tiling.stride), sources, targets, tuple(pairs), md.kind)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "stride": self.stride, "sources": [band_code(c) for c in self.sources],
                "targets": [band_code(c) for c in self.targets]}


@dataclass(frozen=True)
class EvaluationRow:
    """One task scored on one scene: the model's scores and (when fitted) the linear baseline's."""

    scene: str
    sensor: str
    target: int  # class id
    sources: Tuple[int, ...]
    source_set: str  # one of SOURCE_SETS
    target_std: float  # of the real target over the scored pixels
    model: BandScores
    baseline: Optional[BandScores] = None  # the linear baseline
    gbt: Optional[BandScores] = None  # the gradient-boosted baseline (headline and use-case rows)
    tiling_difference: Optional[float] = None  # max |tiled - whole-image| over the scored pixels, when checked

    @property
    def target_code(self) -> str:
        return band_code(self.target, self.sensor)

    @property
    def source_codes(self) -> List[str]:
        return [band_code(c, self.sensor) for c in self.sources]

    def to_dict(self) -> Dict[str, Any]:
        d = {"scene": self.scene, "target": self.target_code, "target_key": _bands.BAND_CLASSES[self.target].key,
             "sources": self.source_codes, "source_set": self.source_set, "target_std": self.target_std,
             "model": self.model.as_dict()}
        if self.baseline is not None:
            d["baseline"] = self.baseline.as_dict()
        if self.gbt is not None:
            d["gbt"] = self.gbt.as_dict()
        if self.tiling_difference is not None:
            d["tiling_difference"] = self.tiling_difference
        return d


@dataclass(frozen=True)
class TargetSummary:
    """The headline scores of one target (per scene when several scenes are evaluated)."""

    rmse: float
    mae: float
    psnr: float
    ssim: float
    baseline_rmse: Optional[float] = None
    gbt_rmse: Optional[float] = None

    def to_dict(self) -> Dict[str, float]:
        d = {"rmse": self.rmse, "mae": self.mae, "psnr": self.psnr, "ssim": self.ssim}
        if self.baseline_rmse is not None:
            d["baseline_rmse"] = self.baseline_rmse
        if self.gbt_rmse is not None:
            d["gbt_rmse"] = self.gbt_rmse
        return d


@dataclass(frozen=True)
class EvaluationSummary:
    """Headline numbers over the headline rows (see ``scoring.headline_rows``); baseline figures are None
    without a baseline, and everything is None/empty without headline rows."""

    mean_rmse: Optional[float] = None
    mean_rmse_norm: Optional[float] = None
    baseline_mean_rmse: Optional[float] = None
    targets_beating_baseline: Optional[Tuple[str, ...]] = None
    fraction_beating_baseline: Optional[float] = None
    per_target: Mapping[str, TargetSummary] = field(default_factory=dict)
    single_source_fraction_beating_baseline: Optional[float] = None
    gbt_mean_rmse: Optional[float] = None
    targets_beating_gbt: Optional[Tuple[str, ...]] = None
    fraction_beating_gbt: Optional[float] = None
    max_tiling_difference: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        if self.mean_rmse is not None:
            d["mean_rmse"] = self.mean_rmse
            d["mean_rmse_norm"] = self.mean_rmse_norm
            if self.fraction_beating_baseline is not None:
                d["baseline_mean_rmse"] = self.baseline_mean_rmse
                d["targets_beating_baseline"] = list(self.targets_beating_baseline or ())
                d["fraction_beating_baseline"] = self.fraction_beating_baseline
            if self.fraction_beating_gbt is not None:
                d["gbt_mean_rmse"] = self.gbt_mean_rmse
                d["targets_beating_gbt"] = list(self.targets_beating_gbt or ())
                d["fraction_beating_gbt"] = self.fraction_beating_gbt
            if self.max_tiling_difference is not None:
                d["max_tiling_difference"] = self.max_tiling_difference
            d["per_target"] = {k: v.to_dict() for k, v in self.per_target.items()}
        if self.single_source_fraction_beating_baseline is not None:
            d["single_source_fraction_beating_baseline"] = self.single_source_fraction_beating_baseline
        return d


@dataclass(frozen=True)
class EvaluatedScene:
    """A held-out scene and the window of it that was scored."""

    name: str
    bands: Tuple[str, ...]  # band codes
    level: str  # "TOA", "surface" or "unknown"
    grid: str  # the grid, described
    window: Tuple[int, int, int, int]  # (row, col, height, width)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "bands": list(self.bands), "level": self.level, "grid": self.grid,
                "evaluated": list(self.window)}


@dataclass(frozen=True)
class PairComparison:
    """A single-pair model against the conditional model on that pair."""

    scene: str
    sources: Tuple[str, ...]
    target: str
    pair_model: str
    pair_model_rmse: float
    conditional_rmse: float
    baseline_rmse: Optional[float]

    @property
    def relative_difference(self) -> float:
        return self.conditional_rmse / self.pair_model_rmse - 1.0

    def to_dict(self) -> Dict[str, Any]:
        return {"scene": self.scene, "sources": list(self.sources), "target": self.target,
                "pair_model": self.pair_model, "pair_model_rmse": self.pair_model_rmse,
                "conditional_rmse": self.conditional_rmse, "relative_difference": self.relative_difference,
                "baseline_rmse": self.baseline_rmse}


@dataclass(frozen=True)
class EvaluationReport:
    """Everything one evaluation found; ``predictions`` and ``windows`` (kept on request: each task's
    prediction, each scene's evaluated class-indexed ``(values, valid)`` window) never go to disk."""

    model: EvaluatedModel
    scenes: Tuple[EvaluatedScene, ...]
    rows: Tuple[EvaluationRow, ...]
    summary: EvaluationSummary
    sources_left_out: Tuple[int, ...] = ()
    seconds: float = 0.0
    predictions: Mapping[Tuple[str, str, Tuple[int, ...]], np.ndarray] = field(default_factory=dict)
    windows: Mapping[str, Tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    model_path: str = ""
    inference: str = ""
    held_out: Tuple[str, ...] = ()
    trained_on: Tuple[str, ...] = ()
    pair_reports: Tuple["EvaluationReport", ...] = ()
    pair_comparison: Tuple[PairComparison, ...] = ()

    def model_dict(self) -> Dict[str, Any]:
        d = self.model.to_dict()
        if self.model_path:
            d["path"] = self.model_path
        return d

    def to_dict(self, json_ready: bool = True) -> Dict[str, Any]:
        """The ``evaluation.json`` document (``json_ready``: non-finite numbers become null)."""
        d: Dict[str, Any] = {
            "schema": REPORT_SCHEMA, "schema_version": REPORT_VERSION, "model": self.model_dict(),
            "scenes": [s.to_dict() for s in self.scenes], "metric_units": METRIC_UNITS, "valid_pixels": VALID_PIXELS,
            "sources_left_out": [band_code(c) for c in self.sources_left_out],
            "rows": [r.to_dict() for r in self.rows], "summary": self.summary.to_dict(),
            "seconds": round(self.seconds, 2)}
        if self.inference:
            d["inference"] = self.inference
        if self.held_out or self.trained_on:
            d["held_out"], d["trained_on"] = list(self.held_out), list(self.trained_on)
        if self.pair_reports:
            d["pair_models"] = [{"model": r.model_dict(), "rows": [x.to_dict() for x in r.rows]}
                                for r in self.pair_reports]
            d["pair_comparison"] = [c.to_dict() for c in self.pair_comparison]
        return finite_or_none(d) if json_ready else d


def finite_or_none(obj: Any) -> Any:
    """JSON-ready data: non-finite floats become None, numpy scalars plain numbers."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


__all__ = ["BAND_ORDER", "band_order", "sort_codes", "EvaluatedModel", "EvaluationRow", "TargetSummary", "EvaluationSummary", "EvaluatedScene",
           "PairComparison", "EvaluationReport", "SOURCE_SETS", "finite_or_none"]
