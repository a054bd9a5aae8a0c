"""A model's metadata as a person reads it: what it is, which bands it reads and makes (in Sentinel-2 and
Landsat terms), how it tiles, what it was trained on and how well it did on held-out data.

:func:`model_report` gives sections of (label, text) rows and tables; :func:`report_text` and
:func:`report_html` lay them out as plain text (the QGIS log) and HTML (QGIS's results viewer).  The
machine-readable document stays :meth:`~.metadata.ModelMetadata.to_json`.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import List, Mapping, Sequence, Tuple

from .bands import band_class, band_label
from .metadata import ModelMetadata


@dataclass(frozen=True)
class Section:
    """A titled part of the report: (label, value) rows and an optional table."""

    title: str
    rows: Tuple[Tuple[str, str], ...] = ()
    header: Tuple[str, ...] = ()
    table: Tuple[Tuple[str, ...], ...] = field(default_factory=tuple)


def _bands(ids: Sequence[int]) -> str:
    """``cirrus (S2 B10, Landsat B09), ...``."""
    out = []
    for i in ids:
        c = band_class(i)
        codes = [f"{name} {band_label(c, s).split()[0]}" for s, name in (("S2", "S2"), ("LANDSAT", "Landsat"))
                 if band_label(c, s) != c.key]
        out.append(f"{c.key} ({', '.join(codes)})" if codes else c.key)
    return ", ".join(out)


def _number(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _composition(training: Mapping) -> List[Tuple[str, str]]:
    """Rows saying what the model is made of: the members of an ensemble, a grafted tree prior."""
    rows = []
    members = training.get("ensemble") or []
    if isinstance(members, list) and members:
        seeds = ", ".join(str(m.get("seed", "?")) for m in members if isinstance(m, Mapping))
        steps = sorted({m.get("steps") for m in members if isinstance(m, Mapping) and m.get("steps") is not None})
        rows.append(("members", f"{len(members)} trainings (seeds {seeds}"
                     + (f", {', '.join(f'{s:,}' for s in steps)} steps each" if steps else "")
                     + "); the network's output is their mean"))
    trees = training.get("tree_prior")
    if isinstance(trees, Mapping):
        targets = trees.get("targets") or []
        w = trees.get("weight")
        rows.append(("trees", f"{trees.get('trees', '?')} gradient-boosted trees for {len(targets)} targets "
                     f"({trees.get('max_iter', '?')} per target, at most {trees.get('max_leaf_nodes', '?')} leaves, "
                     f"fitted on {trees.get('pixels_per_scene', '?')} pixels per training scene"
                     + ("; each band over the pixel's brightness" if trees.get("relative") not in (None, "no") else "")
                     + ("; on the linear fit's residual" if str(trees.get("base", "")).startswith("linear") else "")
                     + ("; per target one ensemble for all other bands, one for the L30 bands and one for any "
                        "other source set" if trees.get("per_set") not in (None, "no") else "")
                     + (f", a set's own weighted {trees['set_mix']:g} against the shared one's {1 - trees['set_mix']:g}"
                        if isinstance(trees.get("set_mix"), (int, float)) and trees.get("set_mix") != 1 else "")
                     + (f"; the tree branch {trees['linear_mix']:g} x trees + {1 - trees['linear_mix']:g} x the "
                        "linear fit" if isinstance(trees.get("linear_mix"), (int, float))
                        and trees.get("linear_mix") != 1 else "")
                     + "); "
                     + (f"output = {1 - w:g} x network + {w:g} x trees" if isinstance(w, (int, float)) else "")))
    return rows


def model_report(md: ModelMetadata, path: str = "") -> List[Section]:
    """The sections of a readable report of ``md`` (the model file ``path``)."""
    t = md.tiling
    what = [("file", path)] if path else []
    what += [("family", f"{md.family} ({md.architecture}), version {md.model_version}"),
             ("kind", {"conditional": "conditional: the band to synthesize is chosen at each run",
                       "label_map": "label map: synthesizes its output bands from a categorical label raster",
                       }.get(md.kind, "fixed bands: reads exactly its input bands, writes its output bands")),
             ("created", md.created or "not recorded")]
    if md.description:
        what.append(("about", md.description))
    what += _composition(md.training or {})
    sections = [Section("Model", tuple(what))]
    if md.conditional:
        band_rows = (("reads (any of)", _bands(md.source_bands)), ("synthesizes", _bands(md.target_bands)))
    elif md.kind == "label_map":
        band_rows = (("reads", "a label raster with the classes "
                      + ", ".join(f"{c.value}={c.name}" for c in md.label_classes)
                      + " (nearest neighbour; other values are nodata)"
                      + ("; and a seeded style vector" if md.has_input("noise") else "")),
                     ("writes", _bands(md.output.bands)))
    else:
        band_rows = (("reads (in this order)", _bands(md.input("bands").bands)), ("writes", _bands(md.output.bands)))
    sections.append(Section("Bands", band_rows + (("units", f"{md.units} values; nodata {md.nodata:g}"),)))
    sections.append(Section("Tiling", (
        ("recommended tile", f"{t.tile_size} px, overlap {t.overlap} px"),
        ("stride", f"{t.stride} px (tile sizes must be multiples of it)"),
        ("receptive field", f"{t.receptive_field} px"))))
    training = md.training or {}
    scenes = training.get("train_scenes") or []
    if scenes:
        rows = tuple((str(s.get("name", "?")), ", ".join(str(x) for x in (
            s.get("sensor", ""), s.get("level", ""), "x".join(str(v) for v in s.get("size", [])) + " px",
            s.get("crs", "")) if x)) for s in scenes)
        sections.append(Section("Trained on", rows))
    metrics: Mapping = md.metrics or {}
    per_target = metrics.get("per_target") or {}
    if per_target:
        names = sorted({k for v in per_target.values() for k in v})
        table = tuple((str(band),) + tuple(_number(scores.get(n, "")) for n in names)
                      for band, scores in per_target.items())
        rows = []
        if metrics.get("held_out"):
            rows.append(("held out (never trained on)", ", ".join(map(str, metrics["held_out"]))))
        if metrics.get("source_set"):
            rows.append(("inputs", str(metrics["source_set"])))
        if metrics.get("units"):
            rows.append(("units", str(metrics["units"])))
        sections.append(Section("Validation", tuple(rows), ("band",) + tuple(n.upper() for n in names), table))
    held = metrics.get("held_out_evaluation") or {}
    cells = held.get("cells") or {}
    if cells:  # ``hls-translate export --evaluation``: the model beside both baselines on held-out scenes
        what = {"all": "all other bands", "landsat": "the Landsat / L30 bands", "fixed": "its inputs",
                "pair": "its pair"}
        table = tuple((f"{cell} ({what.get(source_set, source_set)})",) + tuple(
            _number(scores.get(k, "")) for k in ("rmse", "bias", "linear_rmse", "gbt_rmse"))
            for source_set, by_cell in cells.items() for cell, scores in by_cell.items())
        summary = held.get("summary") or {}
        rows = [("held out (never trained on)", ", ".join(map(str, held.get("scenes") or []))),
                ("inference", str(held.get("inference", "")))]
        for key, label in (("fraction_beating_baseline", "beats the linear fit in"),
                           ("fraction_beating_gbt", "beats the boosted trees in")):
            if isinstance(summary.get(key), (int, float)):
                rows.append((label, f"{100 * summary[key]:.0f} % of the cells (all other bands as input)"))
        sections.append(Section("Held-out evaluation", tuple(rows), ("scene:band (inputs)", "RMSE", "BIAS",
                                                                     "LINEAR RMSE", "TREES RMSE"), table))
    return sections


def report_text(sections: Sequence[Section]) -> str:
    """The report as aligned plain text."""
    lines: List[str] = []
    for s in sections:
        lines.append(s.title)
        width = max((len(label) for label, _ in s.rows), default=0)
        lines += [f"  {label.ljust(width)}  {value}" for label, value in s.rows]
        if s.table:
            cols = [max(len(str(r[i])) for r in (s.header,) + s.table) for i in range(len(s.header))]
            for row in (s.header,) + s.table:
                lines.append("  " + "  ".join(str(v).rjust(w) if i else str(v).ljust(w)
                                               for i, (v, w) in enumerate(zip(row, cols))))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def report_html(sections: Sequence[Section], title: str) -> str:
    """The report as a small HTML page."""
    e = html.escape
    parts = [f"<html><head><meta charset='utf-8'><title>{e(title)}</title></head><body><h2>{e(title)}</h2>"]
    for s in sections:
        parts.append(f"<h3>{e(s.title)}</h3><table>")
        parts += [f"<tr><th align='left'>{e(label)}</th><td>{e(value)}</td></tr>" for label, value in s.rows]
        parts.append("</table>")
        if s.table:
            parts.append("<table border='1' cellspacing='0' cellpadding='3'><tr>"
                         + "".join(f"<th>{e(h)}</th>" for h in s.header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in s.table]
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def model_title(path: str) -> str:
    return f"Model {os.path.basename(path)}" if path else "Model"
