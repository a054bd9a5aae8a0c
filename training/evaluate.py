"""Evaluation on held-out scenes: per target band and per source set, against a linear baseline.

* A *predictor* is any function ``(bands [N,15,H,W], present [N,15], target [N]) -> [N,1,H,W]`` in physical
  units (numpy): :func:`torch_predictor` wraps a PyTorch model (a checkpoint), :func:`onnx_predictor` an
  exported ``.onnx`` file run by ONNX Runtime.  Both run the model on the whole evaluated area at once
  (reflect-padded to a multiple of the model's stride), so a checkpoint and its export score the same.
* :class:`LinearBaseline`: per-pixel least squares ``target = a0 + sum_i a_i * source_i``, fitted for each
  (source set, target) on the same training scenes, weighted like the training sampler (each scene by its
  sampling weight, spread over its pixels that are valid in every band).  It is solved from one weighted
  Gram matrix per training scene, so any source subset costs one small linear solve.
* :func:`evaluate_scenes` scores every task (``all``: every other band as sources; ``single``: each
  other band alone) with :func:`hls_translate.core.metrics.score` (RMSE, MAE, bias, PSNR and SSIM in
  reflectance units, ``data_range`` 1.0) over the pixels valid in the target and every source.
* :func:`write_report` writes ``evaluation.json``, ``evaluation.md`` (tables) and ``heatmap.png``
  (source -> target matrices: model RMSE coloured by skill, and the model / baseline RMSE ratio).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..core import bands as _bands
from ..core.errors import HLSTranslateError, ModelError
from ..core.fileio import atomic_write_text
from ..core.metrics import REFLECTANCE_RANGE, score
from .data import DataError, SceneData, Task, band_code

NUM_CLASSES = _bands.NUM_CLASSES
Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
SOURCE_MODES = ("all", "single", "both")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    stride: int
    sources: Tuple[int, ...]  # classes the model accepts (with statistics from data)
    targets: Tuple[int, ...]  # classes it can synthesize
    pairs: Tuple[Task, ...] = ()  # a fixed-pair model: the tasks it was trained on


# --- predictors -------------------------------------------------------------------------------------------
def torch_predictor(model, device: str = "cpu", batch: int = 4) -> Tuple[Predictor, ModelInfo]:
    """A numpy predictor around a PyTorch model of the conditional family (eval mode, no grad)."""
    import torch

    model = model.to(device).eval()
    srcs, tgts = tuple(model.usable_sources()), tuple(model.usable_targets())

    def predict(bands: np.ndarray, present: np.ndarray, target: np.ndarray) -> np.ndarray:
        outs = []
        with torch.no_grad():
            for i in range(0, len(target), batch):
                out = model(torch.from_numpy(np.ascontiguousarray(bands[i:i + batch])).to(device),
                            torch.from_numpy(np.ascontiguousarray(present[i:i + batch])).to(device),
                            torch.from_numpy(np.ascontiguousarray(target[i:i + batch])).to(device))
                outs.append(out.float().cpu().numpy())
        return np.concatenate(outs, axis=0)

    return predict, ModelInfo(getattr(model, "model_name", type(model).__name__), int(model.stride), srcs, tgts)


def onnx_predictor(path: str, batch: int = 4, threads: int = 0) -> Tuple[Predictor, ModelInfo, Any]:
    """A numpy predictor around an exported model run with ONNX Runtime (CPU); also returns its metadata."""
    from ..core.metadata import read_metadata

    md = read_metadata(path)
    if not md.conditional:
        raise ModelError(f"{path}: evaluate scores conditional models (bands + presence + target inputs); "
                         f"this one is a fixed {md.family} model")
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("evaluating an .onnx model needs onnxruntime (pip install onnxruntime)") from None
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    names = {role: md.input(role).name for role in ("bands", "presence", "target")}
    out_name = md.output.name

    def predict(bands: np.ndarray, present: np.ndarray, target: np.ndarray) -> np.ndarray:
        outs = []
        for i in range(0, len(target), batch):
            feeds = {names["bands"]: np.ascontiguousarray(bands[i:i + batch], dtype=np.float32),
                     names["presence"]: np.ascontiguousarray(present[i:i + batch], dtype=np.float32),
                     names["target"]: np.ascontiguousarray(target[i:i + batch], dtype=np.int64)}
            outs.append(sess.run([out_name], feeds)[0])
        return np.concatenate(outs, axis=0)

    tasks = (md.training or {}).get("tasks") or {}
    pairs = tuple(_pairs_from_summary(tasks)) if tasks.get("mode") == "pairs" else ()
    info = ModelInfo(md.architecture, md.tiling.stride, tuple(md.source_bands), tuple(md.target_bands), pairs)
    return predict, info, md


def engine_predictor(path: str, tile_size: Optional[int] = None, overlap: Optional[int] = None,
                     threads: int = 0) -> Tuple[Predictor, ModelInfo, Any]:
    """A predictor that runs an exported model the way ``hls-translate predict`` and the QGIS plugin do:
    :func:`hls_translate.core.engine.predict_array`, tiled and blended at the model's recommended tile
    size and overlap (or the given ones).  One engine call per item (its sources and target)."""
    from ..core import engine
    from ..core.runtime import load_model

    _, info, md = onnx_predictor(path)
    model = load_model(path, device="cpu", threads=threads)
    opts = dict(tile_size=tile_size, overlap=overlap, device="cpu", threads=threads)

    def predict(bands: np.ndarray, present: np.ndarray, target: np.ndarray) -> np.ndarray:
        out = np.empty((len(target), 1) + bands.shape[2:], dtype=np.float32)
        for i in range(len(target)):
            src = [int(c) for c in np.nonzero(present[i] > 0.5)[0]]
            o = engine.PredictOptions(sources=tuple(src), **opts)
            y, _ = engine.predict_array(model, bands[i, src], None, src, [int(target[i])], o)
            out[i, 0] = y[0]
        return out

    return predict, info, md


def _pairs_from_summary(tasks: Mapping[str, Any]) -> List[Task]:
    out = []
    for p in tasks.get("pairs", []):
        src = tuple(sorted(_bands.resolve_band(c, "S2").id for c in p["sources"]))
        out.append(Task(_bands.resolve_band(p["target"], "S2").id, src))
    return out


def predict_padded(predict: Predictor, stride: int, values: np.ndarray, present: np.ndarray,
                   target: np.ndarray) -> np.ndarray:
    """Run ``predict`` on ``values`` [N,15,H,W] reflect-padded up to a multiple of ``stride``; crop back."""
    n, c, h, w = values.shape
    ph = (-h) % stride + (2 * stride if h < 2 * stride else 0)
    pw = (-w) % stride + (2 * stride if w < 2 * stride else 0)
    if ph or pw:
        values = np.pad(values, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
    return predict(values, present, target)[:, :, :h, :w]


# --- the linear baseline --------------------------------------------------------------------------------
class LinearBaseline:
    """Per-pixel least-squares regression from any source subset to any target (see module docstring)."""

    RIDGE = 1e-12  # relative Tikhonov term: keeps nearly collinear band sets solvable

    def __init__(self, grams: Sequence[Tuple[str, Tuple[int, ...], np.ndarray, float]]):
        # (scene name, class ids present, (1+15)x(1+15) mean outer product over valid pixels, weight)
        self.grams = [(n, tuple(ids), np.asarray(g, dtype=np.float64), float(w)) for n, ids, g, w in grams]

    @classmethod
    def fit(cls, scenes: Sequence[SceneData]) -> "LinearBaseline":
        grams = []
        for s in scenes:
            ok = s.all_valid
            n = int(ok.sum())
            if n == 0:
                continue
            x = np.empty((n, 1 + len(s.band_ids)), dtype=np.float64)
            x[:, 0] = 1.0
            for ch in range(len(s.band_ids)):
                x[:, 1 + ch] = s.values[ch][ok]
            g_small = x.T @ x / n
            g = np.zeros((1 + NUM_CLASSES, 1 + NUM_CLASSES))
            idx = [0] + [1 + c for c in s.band_ids]
            g[np.ix_(idx, idx)] = g_small
            grams.append((s.name, s.band_ids, g, s.weight))
        if not grams:
            raise DataError("linear baseline: the training scenes have no pixel valid in every band")
        return cls(grams)

    def coefficients(self, sources: Sequence[int], target: int) -> np.ndarray:
        """``[a0, a_1..a_k]`` for the sources in the order given."""
        need = set(sources) | {target}
        use = [(g, w) for _, ids, g, w in self.grams if need <= set(ids)]
        if not use:
            raise DataError(f"linear baseline: no training scene has {', '.join(band_code(c) for c in sorted(need))}")
        g = sum(w * gm for gm, w in use) / sum(w for _, w in use)
        idx = [0] + [1 + c for c in sources]
        a = g[np.ix_(idx, idx)]
        b = g[idx, 1 + target]
        a = a + self.RIDGE * np.trace(a) / len(idx) * np.eye(len(idx))
        return np.linalg.solve(a, b)

    def predict(self, values: np.ndarray, sources: Sequence[int], target: int) -> np.ndarray:
        """``values`` [15, H, W] (class-indexed); returns [H, W] float32."""
        coef = self.coefficients(sources, target)
        out = np.full(values.shape[1:], coef[0], dtype=np.float64)
        for a, c in zip(coef[1:], sources):
            out += a * values[c]
        return out.astype(np.float32)

    def to_dict(self) -> Dict[str, Any]:
        return {"grams": [{"scene": n, "bands": list(ids), "gram": g.tolist(), "weight": w}
                          for n, ids, g, w in self.grams]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LinearBaseline":
        return cls([(e["scene"], tuple(e["bands"]), np.array(e["gram"]), e["weight"]) for e in d["grams"]])


# --- tasks and scoring --------------------------------------------------------------------------------
def tasks_for(scene_bands: Sequence[int], model: ModelInfo, mode: str = "both",
              targets: Sequence[int] = (), without: Sequence[int] = ()) -> List[Tuple[str, Task]]:
    """(source set name, task) pairs to score on a scene with ``scene_bands``; ``without``: classes never
    used as a source (they are still scored as targets)."""
    if mode not in SOURCE_MODES:
        raise ValueError(f"source mode must be one of {', '.join(SOURCE_MODES)}, got {mode!r}")
    have = [c for c in scene_bands]
    if model.pairs:
        return [("pair", t) for t in model.pairs
                if set(t.sources) <= set(have) and t.target in have and (not targets or t.target in targets)
                and not set(t.sources) & set(without)]
    src_ok = [c for c in have if c in model.sources and c not in without]
    out: List[Tuple[str, Task]] = []
    for t in have:
        if t not in model.targets or (targets and t not in targets):
            continue
        others = [c for c in src_ok if c != t]
        if not others:
            continue
        if mode in ("all", "both"):
            out.append(("all", Task(t, tuple(others))))
        if mode in ("single", "both"):
            out.extend(("single", Task(t, (s,))) for s in others)
    return out


def crop_scene(scene: SceneData, max_size: Optional[int], multiple: int = 1) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int, int, int]]:
    """Class-indexed values [15,H,W] and validity [15,H,W] of a centred crop of at most ``max_size``
    (rounded down to ``multiple``); absent classes are 0 / False.  Returns (values, valid, (row, col, h, w))."""
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
    return values, valid, (r0, c0, ch, cw)


def evaluate_scenes(predict: Predictor, model: ModelInfo, scenes: Sequence[SceneData],
                    baseline: Optional[LinearBaseline] = None, *, mode: str = "both",
                    targets: Sequence[int] = (), max_size: Optional[int] = None, batch: int = 4,
                    progress: Optional[Callable[[float], None]] = None, extra: Sequence[Task] = (),
                    keep_predictions: bool = False, without: Sequence[int] = ()) -> Dict[str, Any]:
    """Score ``predict`` (and ``baseline``) on every task of every scene; returns the report dict.

    ``extra``: further (sources -> target) tasks scored as source set ``pair`` where a scene has their
    bands and they are not among the tasks of ``mode`` already.  ``without``: band classes never used
    as a source (as if the scenes lacked them as inputs; still scored as targets)."""
    rows: List[Dict[str, Any]] = []
    preds: Dict[Tuple[str, str, Tuple[int, ...]], np.ndarray] = {}
    all_tasks = []
    for s in scenes:
        tl = tasks_for(s.band_ids, model, mode, targets, without)
        have = {t for _, t in tl}
        tl += [("pair", t) for t in extra if t not in have and s.has(t.target) and all(s.has(c) for c in t.sources)
               and not set(t.sources) & set(without)]
        all_tasks.append((s, tl))
    total = sum(len(t) for _, t in all_tasks) or 1
    done = 0
    t0 = time.time()
    for scene, tasks in all_tasks:
        if not tasks:
            raise DataError(f"scene {scene.name}: no task to evaluate (bands {', '.join(scene.codes())}; model "
                            f"targets {', '.join(band_code(c) for c in model.targets)})")
        values, valid, (r0, c0, h, w) = crop_scene(scene, max_size, model.stride)
        for i in range(0, len(tasks), batch):
            chunk = tasks[i:i + batch]
            n = len(chunk)
            present = np.zeros((n, NUM_CLASSES), dtype=np.float32)
            tgt = np.array([t.target for _, t in chunk], dtype=np.int64)
            x = np.zeros((n, NUM_CLASSES, h, w), dtype=np.float32)
            for k, (_, t) in enumerate(chunk):
                present[k, list(t.sources)] = 1.0
                x[k, list(t.sources)] = values[list(t.sources)]
            out = predict_padded(predict, model.stride, x, present, tgt)
            if out.shape != (n, 1, h, w):
                raise ModelError(f"model returned shape {out.shape}, expected {(n, 1, h, w)}")
            for k, (set_name, t) in enumerate(chunk):
                ok = valid[t.target] & valid[list(t.sources)].all(axis=0)
                real = values[t.target]
                row = {"scene": scene.name, "target": band_code(t.target, scene.sensor),
                       "target_key": _bands.BAND_CLASSES[t.target].key,
                       "sources": [band_code(c, scene.sensor) for c in t.sources], "source_set": set_name,
                       "target_std": float(np.std(real[ok])) if ok.any() else float("nan"),
                       "model": score(out[k, 0], real, ok, REFLECTANCE_RANGE).as_dict()}
                if baseline is not None:
                    row["baseline"] = score(baseline.predict(values, t.sources, t.target), real, ok,
                                            REFLECTANCE_RANGE).as_dict()
                rows.append(row)
                if keep_predictions:
                    preds[(scene.name, row["target"], t.sources)] = out[k, 0]
            done += n
            if progress:
                progress(done / total)
    report = {"schema": "hls_translate.evaluation", "schema_version": 1,
              "model": {"name": model.name, "stride": model.stride,
                        "sources": [band_code(c) for c in model.sources],
                        "targets": [band_code(c) for c in model.targets]},
              "scenes": [{"name": s.name, "bands": s.codes(), "level": s.level or "unknown",
                          "grid": s.grid.describe(), "evaluated": list(crop_scene(s, max_size, model.stride)[2])}
                         for s in scenes],
              "metric_units": "reflectance (physical units); PSNR/SSIM with data_range 1.0",
              "valid_pixels": "valid in the target and in every source band",
              "sources_left_out": [band_code(c) for c in without],
              "rows": rows, "summary": summarize(rows), "seconds": round(time.time() - t0, 2)}
    if keep_predictions:
        report["_predictions"] = preds
    return report


def headline_rows(rows: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """The rows of the headline table: all other bands as sources (a pair model: its pairs)."""
    alls = [r for r in rows if r["source_set"] == "all"]
    return alls or [r for r in rows if r["source_set"] == "pair"]


def summarize(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Headline numbers: with all other bands as sources, per target, model vs baseline RMSE."""
    out: Dict[str, Any] = {}
    headline = headline_rows(rows)
    if headline:
        rm = [r["model"]["rmse"] for r in headline]
        out["mean_rmse"] = float(np.mean(rm))
        out["mean_rmse_norm"] = float(np.mean([r["model"]["rmse"] / r["target_std"] for r in headline
                                               if r["target_std"] > 0]))
        if all("baseline" in r for r in headline):
            wins = [r["target"] for r in headline if r["model"]["rmse"] < r["baseline"]["rmse"]]
            out["baseline_mean_rmse"] = float(np.mean([r["baseline"]["rmse"] for r in headline]))
            out["targets_beating_baseline"] = wins
            out["fraction_beating_baseline"] = len(wins) / len(headline)
        out["per_target"] = {f"{r['scene']}:{r['target']}" if len({x['scene'] for x in headline}) > 1 else r["target"]:
                             {"rmse": r["model"]["rmse"], "mae": r["model"]["mae"], "psnr": r["model"]["psnr"],
                              "ssim": r["model"]["ssim"],
                              **({"baseline_rmse": r["baseline"]["rmse"]} if "baseline" in r else {})}
                             for r in headline}
    singles = [r for r in rows if r["source_set"] == "single"]
    if singles and all("baseline" in r for r in singles):
        out["single_source_fraction_beating_baseline"] = float(np.mean(
            [r["model"]["rmse"] < r["baseline"]["rmse"] for r in singles]))
    return out


# --- reports ---------------------------------------------------------------------------------------------
def _atomic_write_text(path: str, text: str) -> None:
    atomic_write_text(path, text)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


_ORDER = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


def _sort_codes(codes):
    return sorted(codes, key=lambda c: (_ORDER.index(c) if c in _ORDER else 100, c))


def heatmap_image(rows: Sequence[Mapping[str, Any]], scene: str) -> Optional[np.ndarray]:
    """The source -> target matrices of one scene as an RGB image (None if there are no single/all rows)."""
    from .heatmap import diverging, render_matrix, sequential, stack_panels

    rs = [r for r in rows if r["scene"] == scene and r["source_set"] in ("single", "all")]
    if not rs:
        return None
    targets = _sort_codes({r["target"] for r in rs})
    sources = _sort_codes({r["sources"][0] for r in rs if r["source_set"] == "single"})
    row_labels = sources + ["ALL OTHERS"]
    rmse = np.full((len(row_labels), len(targets)), np.nan)
    skill = np.full_like(rmse, np.nan)
    ratio = np.full_like(rmse, np.nan)
    has_base = all("baseline" in r for r in rs)
    for r in rs:
        i = row_labels.index(r["sources"][0]) if r["source_set"] == "single" else len(row_labels) - 1
        j = targets.index(r["target"])
        rmse[i, j] = r["model"]["rmse"] * 1e4
        if r["target_std"] > 0:
            skill[i, j] = 1.0 - (r["model"]["rmse"] / r["target_std"]) ** 2
        if has_base and r["baseline"]["rmse"] > 0:
            ratio[i, j] = r["model"]["rmse"] / r["baseline"]["rmse"]
    panels = [render_matrix(
        rmse, row_labels, targets, title=f"MODEL RMSE ON {scene} (REFLECTANCE X 10000)",
        color=sequential, color_values=skill, fmt=lambda v: f"{v:.0f}", row_title="SOURCE BAND",
        col_title="TARGET BAND (SYNTHESIZED)",
        notes=["COLOUR: SKILL = 1 - RMSE^2/VAR(TARGET): GREEN 1 = PERFECT, RED 0 = NO BETTER THAN THE MEAN",
               "ROWS: ONE SOURCE BAND ALONE; LAST ROW: ALL OTHER BANDS AS SOURCES. GREY: NOT EVALUATED"])]
    if has_base:
        with np.errstate(divide="ignore", invalid="ignore"):
            logr = np.log2(ratio)
        panels.append(render_matrix(
            ratio, row_labels, targets, title="MODEL RMSE / LINEAR BASELINE RMSE (BELOW 1: MODEL BETTER)",
            color=diverging, color_values=logr, fmt=lambda v: f"{v:.2f}", row_title="SOURCE BAND",
            col_title="TARGET BAND (SYNTHESIZED)",
            notes=["BASELINE: PER-PIXEL LEAST SQUARES FROM THE SAME SOURCES, FITTED ON THE TRAINING SCENES",
                   "GREEN: MODEL BETTER, WHITE: EQUAL, RED: BASELINE BETTER (FULL COLOUR AT 2X)"]))
    return stack_panels(panels)


def markdown_tables(report: Mapping[str, Any]) -> str:
    rows = report["rows"]
    lines = [f"# Evaluation: {report['model']['name']}", ""]
    for sc in report["scenes"]:
        lines.append(f"Scene **{sc['name']}** ({sc['level']}), evaluated window (row, col, h, w) {sc['evaluated']}.")
    if report.get("inference"):
        lines.append(f"Inference: {report['inference']}.")
    if report.get("sources_left_out"):
        lines.append(f"Never used as a source: {', '.join(report['sources_left_out'])}.")
    lines += ["", "Metrics in reflectance units over pixels valid in the target and every source; "
              "PSNR/SSIM with data range 1.0.", ""]
    head = headline_rows(rows)
    if head:
        has_b = all("baseline" in r for r in head)
        lines.append("| scene | target | sources | RMSE | MAE | PSNR dB | SSIM |" +
                     (" baseline RMSE | model/baseline |" if has_b else ""))
        lines.append("|---|---|---|---:|---:|---:|---:|" + ("---:|---:|" if has_b else ""))
        for r in sorted(head, key=lambda r: (r["scene"], _ORDER.index(r["target"]) if r["target"] in _ORDER else 99)):
            m = r["model"]
            src = "all other bands" if r["source_set"] == "all" else "+".join(r["sources"])
            line = (f"| {r['scene']} | {r['target']} | {src} | {m['rmse']:.4f} | {m['mae']:.4f} | {m['psnr']:.2f} | "
                    f"{m['ssim']:.4f} |")
            if has_b:
                b = r["baseline"]["rmse"]
                line += f" {b:.4f} | {m['rmse'] / b:.3f} |" if b > 0 else f" {b:.4f} | - |"
            lines.append(line)
        s = report["summary"]
        if "fraction_beating_baseline" in s:
            lines += ["", f"Model beats the baseline's RMSE on {len(s['targets_beating_baseline'])} of {len(head)} "
                      f"targets ({s['fraction_beating_baseline']:.0%})."]
    if report.get("pair_comparison"):
        lines += ["", "## Conditional model vs single-pair models of the same size", "",
                  "| scene | pair | pair model RMSE | conditional RMSE | conditional vs pair | baseline RMSE |",
                  "|---|---|---:|---:|---:|---:|"]
        for c in report["pair_comparison"]:
            b = c.get("baseline_rmse")
            lines.append(f"| {c['scene']} | {'+'.join(c['sources'])} -> {c['target']} | {c['pair_model_rmse']:.4f} | "
                         f"{c['conditional_rmse']:.4f} | {c['relative_difference']:+.1%} | "
                         f"{'-' if b is None else f'{b:.4f}'} |")
    return "\n".join(lines) + "\n"


def write_report(report: Mapping[str, Any], out_dir: str) -> Dict[str, str]:
    """``evaluation.json``, ``evaluation.md`` and one ``heatmap[_<scene>].png`` per scene in ``out_dir``."""
    from .heatmap import write_png

    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "evaluation.json"), "markdown": os.path.join(out_dir, "evaluation.md")}
    _atomic_write_text(paths["json"], json.dumps(_clean(report), indent=1))
    _atomic_write_text(paths["markdown"], markdown_tables(report))
    scenes = [s["name"] for s in report["scenes"]]
    for sc in scenes:
        img = heatmap_image(report["rows"], sc)
        if img is not None:
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in sc)
            key = "heatmap" if len(scenes) == 1 else f"heatmap_{safe}"
            paths[key] = write_png(os.path.join(out_dir, f"{key}.png"), img)
    return paths


def compare_pairs(main: Mapping[str, Any], pair_reports: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """For each pair model's (sources -> target): its RMSE vs the conditional model's RMSE on the same
    task (the conditional model must have been scored with ``mode`` single/both, or on that set)."""
    out = []
    for rep in pair_reports:
        for r in rep["rows"]:
            match = [m for m in main["rows"] if m["scene"] == r["scene"] and m["target"] == r["target"]
                     and sorted(m["sources"]) == sorted(r["sources"])]
            if not match:
                raise HLSTranslateError(f"the conditional model was not scored on {'+'.join(r['sources'])} -> "
                                        f"{r['target']}; evaluate it with --sources both")
            cm, pm = match[0]["model"]["rmse"], r["model"]["rmse"]
            out.append({"scene": r["scene"], "sources": r["sources"], "target": r["target"],
                        "pair_model": rep["model"]["name"], "pair_model_rmse": pm, "conditional_rmse": cm,
                        "relative_difference": cm / pm - 1.0,
                        "baseline_rmse": r.get("baseline", {}).get("rmse")})
    return out


__all__ = ["ModelInfo", "Predictor", "LinearBaseline", "torch_predictor", "onnx_predictor", "engine_predictor",
           "predict_padded",
           "tasks_for", "crop_scene", "evaluate_scenes", "summarize", "write_report", "heatmap_image",
           "markdown_tables", "compare_pairs", "SOURCE_MODES"]
