"""Writing an evaluation: ``evaluation.json`` (from :meth:`EvaluationReport.to_dict`), ``evaluation.md``
(tables), and the matplotlib figures of :mod:`..figures`: ``heatmap[_<scene>].png`` (source -> target
matrix: model RMSE coloured by the model / linear-baseline ratio) and, when the predictions were kept,
``scatter[_<scene>].png`` (synthesized vs real)."""

from __future__ import annotations

import json
import os
from typing import Dict

import numpy as np

from ...core.fileio import atomic_write_text
from ..data import band_code
from .records import EvaluationReport, EvaluationRow, band_order, sort_codes
from .scoring import headline_rows

def _sources_text(r: EvaluationRow) -> str:
    return {"all": "all other bands", "fixed": "the model's inputs"}.get(r.source_set, "+".join(r.source_codes))


def _key(r: EvaluationRow):
    return (r.scene, band_order(r.target_code))


def _table(rows, with_sources: bool = True):
    has_b = all(r.baseline is not None for r in rows)
    has_g = all(r.gbt is not None for r in rows)
    has_t = any(r.tiling_difference is not None for r in rows)
    head = "| scene | target |" + (" sources |" if with_sources else "") + " RMSE | bias | MAE | SSIM |"
    rule = "|---|---|" + ("---|" if with_sources else "") + "---:|---:|---:|---:|"
    if has_b:
        head, rule = head + " linear RMSE | model/linear |", rule + "---:|---:|"
    if has_g:
        head, rule = head + " GBT RMSE | model/GBT |", rule + "---:|---:|"
    if has_t:
        head, rule = head + " max tiled-whole |", rule + "---:|"
    lines = [head, rule]
    for r in sorted(rows, key=_key):
        m = r.model
        line = (f"| {r.scene} | {r.target_code} |" + (f" {_sources_text(r)} |" if with_sources else "") +
                f" {m.rmse:.4f} | {m.bias:+.4f} | {m.mae:.4f} | {m.ssim:.3f} |")
        for on, b in ((has_b, r.baseline), (has_g, r.gbt)):
            if on:
                line += f" {b.rmse:.4f} | {m.rmse / b.rmse:.2f}{' **win**' if m.rmse < b.rmse else ''} |" \
                    if b.rmse > 0 else f" {b.rmse:.4f} | - |"
        if has_t:
            line += f" {r.tiling_difference:.1e} |" if r.tiling_difference is not None else " - |"
        lines.append(line)
    return lines


def _verdict(rows, what: str):
    out = []
    model_mean = float(np.mean([r.model.rmse for r in rows])) if rows else float("nan")
    for attr, name in (("baseline", "the linear fit"), ("gbt", "the gradient-boosted trees")):
        bs = [getattr(r, attr) for r in rows]
        if rows and all(b is not None for b in bs):
            wins = sum(r.model.rmse < b.rmse for r, b in zip(rows, bs))
            base_mean = float(np.mean([b.rmse for b in bs]))
            out.append(f"{what}: the model beats {name} in {wins} of {len(rows)} cells ({wins / len(rows):.0%}); "
                       f"mean RMSE {model_mean:.4f} vs {base_mean:.4f} ({model_mean / base_mean:.2f}x).")
    return out


def markdown_tables(report: EvaluationReport) -> str:
    lines = [f"# Evaluation: {report.model.name}", ""]
    for sc in report.scenes:
        lines.append(f"Scene **{sc.name}** ({sc.level}), evaluated window (row, col, h, w) {list(sc.window)}.")
    if report.inference:
        lines.append(f"Inference: {report.inference}.")
    if report.sources_left_out:
        lines.append(f"Never used as a source: {', '.join(band_code(c) for c in report.sources_left_out)}.")
    lines += ["", "Metrics in reflectance units over pixels valid in the target and every source; "
              "PSNR/SSIM with data range 1.0.", ""]
    head = headline_rows(report.rows)
    if head:
        lines += _table(head) + [""] + _verdict(head, "Headline")
        s = report.summary
        if s.max_tiling_difference is not None:
            lines.append(f"Largest tiled vs whole-image difference over every scored task: {s.max_tiling_difference:.1e}.")
    use = [r for r in report.rows if r.source_set == "landsat"]
    if use:
        lines += ["", "## Use case: the Landsat / HLS L30 bands as input", "",
                  "Sources: " + ", ".join(sort_codes({c for r in use for c in r.source_codes}))
                  + " (those of them each scene has).", ""]
        lines += _table(use, with_sources=False) + [""] + _verdict(use, "Use case")
    if report.pair_comparison:
        lines += ["", "## Conditional model vs single-pair models of the same size", "",
                  "| scene | pair | pair model RMSE | conditional RMSE | conditional vs pair | baseline RMSE |",
                  "|---|---|---:|---:|---:|---:|"]
        for c in report.pair_comparison:
            b = c.baseline_rmse
            lines.append(f"| {c.scene} | {'+'.join(c.sources)} -> {c.target} | {c.pair_model_rmse:.4f} | "
                         f"{c.conditional_rmse:.4f} | {c.relative_difference:+.1%} | "
                         f"{'-' if b is None else f'{b:.4f}'} |")
    return "\n".join(lines) + "\n"


def write_report(report: EvaluationReport, out_dir: str) -> Dict[str, str]:
    """``evaluation.json``, ``evaluation.md`` and the figures (one heatmap per scene; one scatter per scene
    and source set when the predictions were kept: ``score_scenes(keep_predictions=True)``) in ``out_dir``."""
    from ..figures import heatmap_figure, scatter_figure

    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "evaluation.json"), "markdown": os.path.join(out_dir, "evaluation.md")}
    atomic_write_text(paths["json"], json.dumps(report.to_dict(), indent=1))
    atomic_write_text(paths["markdown"], markdown_tables(report))
    scenes = [s.name for s in report.scenes]
    for sc in scenes:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in sc)
        suffix = "" if len(scenes) == 1 else f"_{safe}"
        p = heatmap_figure(report.rows, sc, os.path.join(out_dir, f"heatmap{suffix}.png"))
        if p:
            paths[f"heatmap{suffix}"] = p
        windows = report.windows
        if sc in windows and report.predictions:
            for source_set, stem in (("all", "scatter"), ("landsat", "scatter_landsat"), ("fixed", "scatter"),
                                     ("pair", "scatter")):
                key = f"{stem}{suffix}"
                if key in paths:
                    continue
                p = scatter_figure(report.rows, sc, report.predictions, windows[sc][0], windows[sc][1],
                                   os.path.join(out_dir, f"{key}.png"), source_set=source_set)
                if p:
                    paths[key] = p
    return paths


__all__ = ["markdown_tables", "write_report"]
