"""Scoring a model on held-out scenes: the tasks, the engine runs, the rows and the summary.

:func:`score_scenes` scores every task of every scene: a conditional model with ``all`` (every other band
as sources) and ``single`` (each other band alone) source sets, a single-pair model on its pairs, a
fixed-band model on each of its output bands from its fixed inputs.  The model runs through the inference
engine (:func:`hls_translate.core.engine.predict_array`), over the whole evaluated area at once (one tile,
reflect-padded to the stride) or ``tiled`` at the model's recommended tile size and overlap, as
``hls-translate predict`` and QGIS run it; so a checkpoint and its export score the same.  Metrics come from
:func:`hls_translate.core.metrics.score` (RMSE, MAE, bias, PSNR, SSIM in reflectance units, data range 1.0)
over the pixels valid in the target and every source.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ...core import bands as _bands
from ...core.bands import NUM_CLASSES
from ...core.engine import PredictOptions, predict_array
from ...core.errors import HLSTranslateError, ModelError
from ...core.metrics import REFLECTANCE_RANGE, score
from ...core.runtime import RunnableModel
from ...core.tiling import round_up
from ..data import DataError, SceneData, Task, band_code
from .baseline import GBTBaseline, LinearBaseline
from .records import (EvaluatedModel, EvaluatedScene, EvaluationReport, EvaluationRow, EvaluationSummary,
                      PairComparison, TargetSummary)

SOURCE_MODES = ("all", "single", "both")
#: The use case: the bands Landsat 8/9 and HLS L30 have (coastal, blue, green, red, NIR narrow, SWIR 1 and 2,
#: cirrus) as the sources of the bands only Sentinel-2 has (red edge 1-3, NIR broad, water vapour).
USE_CASE_SOURCES = tuple(_bands.band_class(k).id for k in (
    "coastal_aerosol", "blue", "green", "red", "nir_narrow", "swir_1", "swir_2", "cirrus"))
USE_CASE_TARGETS = tuple(_bands.band_class(k).id for k in (
    "red_edge_1", "red_edge_2", "red_edge_3", "nir_broad", "water_vapour"))
#: Source sets the gradient-boosted baseline is fitted for (one fit per task; "single" would be ~150 fits).
GBT_SOURCE_SETS = ("all", "pair", "fixed", "landsat")


class ScoredTask(NamedTuple):
    """A task to score and the source set it belongs to."""

    source_set: str
    task: Task


class SceneCrop(NamedTuple):
    """Class-indexed values and validity ``[15, h, w]`` of a scene's evaluated window (absent classes 0 /
    False), and the window ``(row, col, h, w)``."""

    values: np.ndarray
    valid: np.ndarray
    window: Tuple[int, int, int, int]


def use_case_tasks(scene_bands: Sequence[int], model: EvaluatedModel, targets: Sequence[int] = (),
                   without: Sequence[int] = ()) -> List[ScoredTask]:
    """The use-case tasks (source set ``landsat``) a conditional model can run on a scene: each of
    :data:`USE_CASE_TARGETS` it has, from those of :data:`USE_CASE_SOURCES` it has."""
    if model.kind != "conditional" or model.pairs:
        return []
    src = tuple(c for c in USE_CASE_SOURCES if c in scene_bands and c in model.sources and c not in without)
    if not src:
        return []
    return [ScoredTask("landsat", Task(t, src)) for t in USE_CASE_TARGETS
            if t in scene_bands and t in model.targets and (not targets or t in targets)]


def tasks_for(scene_bands: Sequence[int], model: EvaluatedModel, mode: str = "both",
              targets: Sequence[int] = (), without: Sequence[int] = ()) -> List[ScoredTask]:
    """The tasks to score on a scene with ``scene_bands``; ``without``: classes never used as a source
    (they are still scored as targets; a fixed-band model that needs one is not scored)."""
    if mode not in SOURCE_MODES:
        raise ValueError(f"source mode must be one of {', '.join(SOURCE_MODES)}, got {mode!r}")
    have = list(scene_bands)
    if model.kind == "fixed_bands":
        if not set(model.sources) <= set(have) or set(model.sources) & set(without):
            return []
        # a target the model also reads (a same-band domain translation, e.g. CycleGAN's TOA -> surface)
        # has no truth in the scene it reads from: the scene's band is the input, not the translation
        return [ScoredTask("fixed", Task(t, tuple(model.sources))) for t in model.targets
                if t in have and t not in model.sources and (not targets or t in targets)]
    if model.pairs:
        return [ScoredTask("pair", t) for t in model.pairs
                if set(t.sources) <= set(have) and t.target in have and (not targets or t.target in targets)
                and not set(t.sources) & set(without)]
    src_ok = [c for c in have if c in model.sources and c not in without]
    out: List[ScoredTask] = []
    for t in have:
        if t not in model.targets or (targets and t not in targets):
            continue
        others = [c for c in src_ok if c != t]
        if not others:
            continue
        if mode in ("all", "both"):
            out.append(ScoredTask("all", Task(t, tuple(others))))
        if mode in ("single", "both"):
            out.extend(ScoredTask("single", Task(t, (s,))) for s in others)
    return out


def crop_scene(scene: SceneData, max_size: Optional[int], multiple: int = 1) -> SceneCrop:
    """The centred window of at most ``max_size`` (rounded down to ``multiple``) of ``scene``."""
    h, w = scene.shape
    ch = min(h, max_size) if max_size else h
    cw = min(w, max_size) if max_size else w
    if multiple > 1 and max_size:
        ch, cw = max(multiple, ch - ch % multiple), max(multiple, cw - cw % multiple)
        ch, cw = min(ch, h), min(cw, w)
    r0, c0 = (h - ch) // 2, (w - cw) // 2
    values = np.zeros((NUM_CLASSES, ch, cw), dtype=np.float32)
    valid = np.zeros((NUM_CLASSES, ch, cw), dtype=bool)
    for k, cid in enumerate(scene.band_ids):
        values[cid] = scene.values[k, r0:r0 + ch, c0:c0 + cw]
        valid[cid] = scene.valid[k, r0:r0 + ch, c0:c0 + cw]
    return SceneCrop(values, valid, (r0, c0, ch, cw))


def _engine_groups(tasks: Sequence[ScoredTask], kind: str, batch: int) -> List[List[ScoredTask]]:
    """Consecutive tasks one engine call can run: distinct targets whose sources are the call's sources
    minus the target (the engine's rule); a conditional model runs one item per target, so at most
    ``batch`` of them; a fixed-band model computes all its outputs in one run."""
    groups: List[List[ScoredTask]] = []
    for st in tasks:
        g = groups[-1] if groups else None
        if g is not None and st.task.target not in {x.task.target for x in g}:
            if kind != "conditional":
                g.append(st)
                continue
            union = set(st.task.sources).union(*(x.task.sources for x in g))
            if len(g) < batch and all(union - {x.task.target} == set(x.task.sources) for x in g + [st]):
                g.append(st)
                continue
        groups.append([st])
    return groups


def _run_group(predictor: RunnableModel, model: EvaluatedModel, scene: SceneData, crop: SceneCrop,
               group: Sequence[ScoredTask], tiled: bool) -> np.ndarray:
    """The model's predictions ``[n, h, w]`` of the tasks of ``group`` on ``crop``."""
    _, _, h, w = crop.window
    ids = list(scene.band_ids)
    if tiled:
        opts = dict(device="cpu")
    else:  # one tile over the whole window: the model sees it at once
        opts = dict(tile_size=round_up(max(h, w), model.stride), overlap=0, device="cpu")
    sources = None
    if model.kind == "conditional":
        sources = tuple(sorted(set().union(*(st.task.sources for st in group))))
    out, _ = predict_array(predictor, crop.values[ids], None, ids, [st.task.target for st in group],
                           PredictOptions(sources=sources, batch_size=1, **opts), sensor=scene.sensor)
    return out


def score_scenes(predictor: RunnableModel, model: EvaluatedModel, scenes: Sequence[SceneData],
                 baseline: Optional[LinearBaseline] = None, *, mode: str = "both", targets: Sequence[int] = (),
                 max_size: Optional[int] = None, batch: int = 4, progress: Optional[Callable[[float], None]] = None,
                 extra: Sequence[Task] = (), keep_predictions: bool = False, without: Sequence[int] = (),
                 tiled: bool = False, gbt: Optional[GBTBaseline] = None, use_case: bool = False,
                 check_tiling: bool = False) -> EvaluationReport:
    """Score ``predictor`` (and ``baseline``) on every task of every scene (see the module docstring).

    ``gbt``: the gradient-boosted baseline, scored on the rows of :data:`GBT_SOURCE_SETS`.  ``use_case``:
    also the use-case tasks (:func:`use_case_tasks`, source set ``landsat``).  ``check_tiling``: run every
    task both tiled and as one whole-image pass and record the largest difference (``tiling_difference``);
    the scores are those of the ``tiled`` choice.

    ``extra``: further (sources -> target) tasks scored as source set ``pair`` where a scene has their
    bands and they are not among the tasks of ``mode`` already.  ``without``: band classes never used
    as a source (as if the scenes lacked them as inputs; still scored as targets).  ``batch``: items per
    forward pass of a conditional model."""
    if model.kind not in ("conditional", "fixed_bands"):
        raise ModelError(f"{model.name} is a {model.kind.replace('_', ' ')} model: evaluation scores models that "
                         "synthesize bands from bands, against the same bands of held-out scenes")
    all_tasks = []
    for s in scenes:
        tl = tasks_for(s.band_ids, model, mode, targets, without)
        have = {st.task for st in tl}
        tl += [ScoredTask("pair", t) for t in extra if t not in have and s.has(t.target)
               and all(s.has(c) for c in t.sources) and not set(t.sources) & set(without)]
        if use_case:
            tl += [st for st in use_case_tasks(s.band_ids, model, targets, without) if st.task not in have]
        all_tasks.append((s, tl))
    total = sum(len(t) for _, t in all_tasks) or 1
    done = 0
    t0 = time.time()
    rows: List[EvaluationRow] = []
    preds: Dict[Tuple[str, str, Tuple[int, ...]], np.ndarray] = {}
    crops = {}
    for scene, tasks in all_tasks:
        if not tasks:
            needs = (f"inputs {', '.join(band_code(c) for c in model.sources)}; " if model.kind == "fixed_bands"
                     else "")
            why = ("; the model's targets are among its inputs, so this scene has no truth for them (it is the "
                   "input domain of a same-band translation)" if model.kind == "fixed_bands"
                   and set(model.targets) <= set(model.sources) else "")
            raise DataError(f"scene {scene.name}: no task to evaluate (bands {', '.join(scene.codes())}; model "
                            f"{needs}targets {', '.join(band_code(c) for c in model.targets)}){why}")
        crop = crops[scene.name] = crop_scene(scene, max_size, model.stride)
        for group in _engine_groups(tasks, model.kind, batch):
            out = _run_group(predictor, model, scene, crop, group, tiled)
            other = _run_group(predictor, model, scene, crop, group, not tiled) if check_tiling else None
            for k, (set_name, t) in enumerate(group):
                ok = crop.valid[t.target] & crop.valid[list(t.sources)].all(axis=0)
                real = crop.values[t.target]
                base = gbt_scores = tiling = None
                if baseline is not None:
                    base = score(baseline.predict(crop.values, t.sources, t.target), real, ok, REFLECTANCE_RANGE)
                if gbt is not None and set_name in GBT_SOURCE_SETS:
                    gbt_scores = score(gbt.predict(crop.values, t.sources, t.target), real, ok, REFLECTANCE_RANGE)
                if other is not None:
                    tiling = float(np.abs(out[k] - other[k])[ok].max()) if ok.any() else float("nan")
                row = EvaluationRow(scene.name, scene.sensor, t.target, t.sources, set_name,
                                    float(np.std(real[ok])) if ok.any() else float("nan"),
                                    score(out[k], real, ok, REFLECTANCE_RANGE), base, gbt_scores, tiling)
                rows.append(row)
                if keep_predictions:
                    preds[(scene.name, row.target_code, t.sources)] = out[k]
            done += len(group)
            if progress:
                progress(done / total)
    evaluated = tuple(EvaluatedScene(s.name, tuple(s.codes()), s.level or "unknown", s.grid.describe(),
                                     crops[s.name].window if s.name in crops
                                     else crop_scene(s, max_size, model.stride).window) for s in scenes)
    return EvaluationReport(model=model, scenes=evaluated, rows=tuple(rows), summary=summarize(rows),
                            sources_left_out=tuple(without), seconds=time.time() - t0, predictions=preds,
                            windows={name: (c.values, c.valid) for name, c in crops.items()} if keep_predictions else {})


def headline_rows(rows: Sequence[EvaluationRow]) -> List[EvaluationRow]:
    """The rows of the headline table: all other bands as sources (a pair model: its pairs; a fixed-band
    model: its outputs)."""
    for source_set in ("all", "pair", "fixed"):
        chosen = [r for r in rows if r.source_set == source_set]
        if chosen:
            return chosen
    return []


def summarize(rows: Sequence[EvaluationRow]) -> EvaluationSummary:
    """Headline numbers: per target, model vs baseline RMSE over the headline rows."""
    head = headline_rows(rows)
    singles = [r for r in rows if r.source_set == "single"]
    single_frac = None
    if singles and all(r.baseline is not None for r in singles):
        single_frac = float(np.mean([r.model.rmse < r.baseline.rmse for r in singles]))
    if not head:
        return EvaluationSummary(single_source_fraction_beating_baseline=single_frac)
    several = len({r.scene for r in head}) > 1
    per_target = {(f"{r.scene}:{r.target_code}" if several else r.target_code):
                  TargetSummary(r.model.rmse, r.model.mae, r.model.psnr, r.model.ssim,
                                r.baseline.rmse if r.baseline is not None else None,
                                r.gbt.rmse if r.gbt is not None else None) for r in head}
    normed = [r.model.rmse / r.target_std for r in head if r.target_std > 0]
    out = dict(mean_rmse=float(np.mean([r.model.rmse for r in head])),
               mean_rmse_norm=float(np.mean(normed)) if normed else float("nan"), per_target=per_target,
               single_source_fraction_beating_baseline=single_frac)
    if all(r.baseline is not None for r in head):
        wins = tuple(_cell(r, several) for r in head if r.model.rmse < r.baseline.rmse)
        out.update(baseline_mean_rmse=float(np.mean([r.baseline.rmse for r in head])),
                   targets_beating_baseline=wins, fraction_beating_baseline=len(wins) / len(head))
    if all(r.gbt is not None for r in head):
        wins = tuple(_cell(r, several) for r in head if r.model.rmse < r.gbt.rmse)
        out.update(gbt_mean_rmse=float(np.mean([r.gbt.rmse for r in head])),
                   targets_beating_gbt=wins, fraction_beating_gbt=len(wins) / len(head))
    diffs = [r.tiling_difference for r in rows if r.tiling_difference is not None]
    if diffs:
        out.update(max_tiling_difference=float(np.nanmax(diffs)))
    return EvaluationSummary(**out)


def _cell(r: EvaluationRow, several: bool) -> str:
    return f"{r.scene}:{r.target_code}" if several else r.target_code


def compare_pairs(main: EvaluationReport, pair_reports: Sequence[EvaluationReport]) -> Tuple[PairComparison, ...]:
    """For each pair model's (sources -> target): its RMSE vs the conditional model's RMSE on the same
    task (the conditional model must have been scored with ``mode`` single/both, or on that set)."""
    out = []
    for rep in pair_reports:
        for r in rep.rows:
            match = [m for m in main.rows if m.scene == r.scene and m.target_code == r.target_code
                     and sorted(m.source_codes) == sorted(r.source_codes)]
            if not match:
                raise HLSTranslateError(f"the conditional model was not scored on {'+'.join(r.source_codes)} -> "
                                        f"{r.target_code}; evaluate it with --sources both")
            out.append(PairComparison(r.scene, tuple(r.source_codes), r.target_code, rep.model.name, r.model.rmse,
                                      match[0].model.rmse, r.baseline.rmse if r.baseline is not None else None))
    return tuple(out)


__all__ = ["SOURCE_MODES", "USE_CASE_SOURCES", "USE_CASE_TARGETS", "GBT_SOURCE_SETS", "use_case_tasks", "ScoredTask", "SceneCrop", "tasks_for", "crop_scene", "score_scenes", "headline_rows",
           "summarize", "compare_pairs"]
