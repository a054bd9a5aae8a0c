"""Writing an evaluation: ``evaluation.json`` (from :meth:`EvaluationReport.to_dict`), ``evaluation.md``
(tables) and ``heatmap[_<scene>].png`` (source -> target matrices: model RMSE coloured by skill, and the
model / baseline RMSE ratio)."""

from __future__ import annotations

import json
import os
from typing import Dict, Optional, Sequence

import numpy as np

from ...core.fileio import atomic_write_text
from ..data import band_code
from .records import EvaluationReport, EvaluationRow
from .scoring import headline_rows

_ORDER = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


def _sort_codes(codes):
    return sorted(codes, key=lambda c: (_ORDER.index(c) if c in _ORDER else 100, c))


def heatmap_image(rows: Sequence[EvaluationRow], scene: str) -> Optional[np.ndarray]:
    """The source -> target matrices of one scene as an RGB image (None if there are no single/all rows)."""
    from ..heatmap import diverging, render_matrix, sequential, stack_panels

    rs = [r for r in rows if r.scene == scene and r.source_set in ("single", "all")]
    if not rs:
        return None
    targets = _sort_codes({r.target_code for r in rs})
    sources = _sort_codes({r.source_codes[0] for r in rs if r.source_set == "single"})
    row_labels = sources + ["ALL OTHERS"]
    rmse = np.full((len(row_labels), len(targets)), np.nan)
    skill = np.full_like(rmse, np.nan)
    ratio = np.full_like(rmse, np.nan)
    has_base = all(r.baseline is not None for r in rs)
    for r in rs:
        i = row_labels.index(r.source_codes[0]) if r.source_set == "single" else len(row_labels) - 1
        j = targets.index(r.target_code)
        rmse[i, j] = r.model.rmse * 1e4
        if r.target_std > 0:
            skill[i, j] = 1.0 - (r.model.rmse / r.target_std) ** 2
        if has_base and r.baseline.rmse > 0:
            ratio[i, j] = r.model.rmse / r.baseline.rmse
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


def _sources_text(r: EvaluationRow) -> str:
    return {"all": "all other bands", "fixed": "the model's inputs"}.get(r.source_set, "+".join(r.source_codes))


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
        has_b = all(r.baseline is not None for r in head)
        lines.append("| scene | target | sources | RMSE | MAE | PSNR dB | SSIM |" +
                     (" baseline RMSE | model/baseline |" if has_b else ""))
        lines.append("|---|---|---|---:|---:|---:|---:|" + ("---:|---:|" if has_b else ""))
        for r in sorted(head, key=lambda r: (r.scene, _ORDER.index(r.target_code) if r.target_code in _ORDER else 99)):
            m = r.model
            line = (f"| {r.scene} | {r.target_code} | {_sources_text(r)} | {m.rmse:.4f} | {m.mae:.4f} | "
                    f"{m.psnr:.2f} | {m.ssim:.4f} |")
            if has_b:
                b = r.baseline.rmse
                line += f" {b:.4f} | {m.rmse / b:.3f} |" if b > 0 else f" {b:.4f} | - |"
            lines.append(line)
        s = report.summary
        if s.fraction_beating_baseline is not None:
            lines += ["", f"Model beats the baseline's RMSE on {len(s.targets_beating_baseline)} of {len(head)} "
                      f"targets ({s.fraction_beating_baseline:.0%})."]
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
    """``evaluation.json``, ``evaluation.md`` and one ``heatmap[_<scene>].png`` per scene in ``out_dir``."""
    from ..heatmap import write_png

    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "evaluation.json"), "markdown": os.path.join(out_dir, "evaluation.md")}
    atomic_write_text(paths["json"], json.dumps(report.to_dict(), indent=1))
    atomic_write_text(paths["markdown"], markdown_tables(report))
    scenes = [s.name for s in report.scenes]
    for sc in scenes:
        img = heatmap_image(report.rows, sc)
        if img is not None:
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in sc)
            key = "heatmap" if len(scenes) == 1 else f"heatmap_{safe}"
            paths[key] = write_png(os.path.join(out_dir, f"{key}.png"), img)
    return paths


__all__ = ["heatmap_image", "markdown_tables", "write_report"]
