"""What a set of input files will be taken for, before anything runs: each band's class and what told it,
which bands get resampled onto which grid, QA layers, files that give no band, and warnings (a band code
read on a guessed sensor where the two numberings disagree, targets the model cannot make, a weak set of
inputs for a target).  The QGIS dialog shows it as its band table; it never raises for bad inputs (the
problem is the report's ``error``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Sequence, Tuple

from . import bands as _bands
from .errors import AmbiguousBandError, HLSTranslateError
from .naming import OTHER, QA, identify_file
from .scene import InputHints, Scene, open_scene

#: Spectral regions (nm) a target's inputs should reach into for a good synthesis.
REGIONS: Tuple[Tuple[str, float, float], ...] = (
    ("visible", 400.0, 700.0), ("red edge / NIR", 700.0, 1000.0), ("SWIR", 1000.0, 2500.0),
    ("thermal", 8000.0, 14000.0))
#: Fewer input bands than this for a target is a weak input set.
FEW_INPUTS = 3


@dataclass(frozen=True)
class InputRow:
    """One band (or a file that gives none) of the inputs."""

    layer: str  # the layer's or file's name
    band: int  # band number in the file; 0 for a file that gives no band
    taken_as: str  # "B8A NIR narrow (nir_narrow)", "QA layer (Fmask)", "not used" (the note says why)
    told_by: str  # what told it (core.sources.IDENTIFIED_BY), "" when nothing did
    grid: str  # its pixel size
    note: str = ""  # resampling, scale and nodata


@dataclass(frozen=True)
class InputReport:
    rows: Tuple[InputRow, ...] = ()
    summary: str = ""
    warnings: Tuple[str, ...] = ()
    error: str = ""  # why the inputs cannot be used as they are ("" when they can)
    band_keys: Mapping[str, str] = field(default_factory=dict)  # layer name or "band N" -> class key


def region(wavelength_nm: float) -> str:
    return next((name for name, lo, hi in REGIONS if lo <= wavelength_nm < hi), "other")


def _pixel(grid) -> str:
    x, y = grid.res
    return f"{x:g} x {y:g}" if abs(x - y) > 1e-9 * max(x, 1) else f"{x:g}"


def _file_rows(paths: Sequence[str], names: Sequence[str], used: set) -> List[InputRow]:
    """Rows of the files that give no spectral band."""
    rows = []
    for path, name in zip(paths, names):
        if path in used:
            continue
        try:
            f = identify_file(path)
        except HLSTranslateError as exc:
            rows.append(InputRow(name, 0, "not used", "", "", str(exc)))
            continue
        if f is not None and f.role == QA:
            rows.append(InputRow(name, 0, f"QA layer ({f.qa_kind})", "file name", "",
                                 "masks unusable pixels when QA masking is on"))
        elif f is not None and f.role == OTHER:
            rows.append(InputRow(name, 0, "not used", "file name", "", f"not a spectral band: {f.what}"))
        else:
            rows.append(InputRow(name, 0, "not used", "", "", "no band identified: choose its band here or in "
                                 "the band mapping"))
    return rows


def _weak(target: _bands.BandClass, sources: Sequence[_bands.BandClass], sensor: str) -> Optional[str]:
    reasons = []
    if len(sources) < FEW_INPUTS:
        reasons.append(f"only {len(sources)} input band{'s' if len(sources) != 1 else ''}")
    want = region(target.wavelength_nm)
    if want != "other" and not any(region(s.wavelength_nm) == want for s in sources):
        reasons.append(f"none in the {want} region of {target.key}")
    if not reasons:
        return None
    names = ", ".join(_bands.band_label(s, sensor) for s in sources)
    return (f"{_bands.band_label(target, sensor)} from {names}: {' and '.join(reasons)}; expect a poor result "
            "(add bands nearer in wavelength)")


def _ambiguous(scene: Scene, sensor_given: bool) -> List[str]:
    """Band codes read on a sensor no file name states, where the other numbering means another band."""
    if sensor_given:
        return []
    out = []
    for s in scene.sources.values():
        if not (s.code and s.sensor) or s.identified_by not in ("file name", "band description", "VRT source file name"):
            continue
        try:
            _bands.resolve_band(s.code)
            continue  # the same band on both numberings
        except AmbiguousBandError:
            pass
        named = identify_file(s.path)
        if named is not None and named.product is not None:
            continue  # the product's name states the sensor
        other = "S2" if _bands.sensor(s.sensor).numbering == "landsat" else "LANDSAT"
        elsewhere = _bands.SENSOR_BANDS[other].get(s.code)
        there = f"; on the other numbering {elsewhere.label}" if elsewhere else ""
        out.append(f"{s.code} of {os.path.basename(s.path)} is read as {s.band.name} ({s.sensor} numbering, told "
                   f"by the names or bands of the inputs, not by a product name){there}: if that is wrong, choose "
                   "the sensor or map the band")
    return out


def inspect_inputs(paths: Sequence[str], names: Sequence[str] = (), band_map: Optional[Mapping] = None,
                   sensor: Optional[str] = None, resampling: Optional[str] = None, targets: Sequence[str] = (),
                   model=None, hints: InputHints = InputHints()) -> InputReport:
    """The report for ``paths`` (shown as ``names``) read as :func:`~.scene.open_scene` reads them, for
    ``targets`` of ``model`` (a :class:`~.metadata.ModelMetadata`, or None)."""
    names = list(names) or [os.path.basename(p) for p in paths]
    if not paths:
        return InputReport(error="no input layer chosen")
    try:
        scene = open_scene(list(paths), band_map=band_map or None, sensor=sensor, resampling=resampling or "nearest",
                           hints=hints)
    except AmbiguousBandError as exc:
        return InputReport(rows=tuple(_file_rows(paths, names, set())), error=f"{exc}; {hints.sensor}")
    except HLSTranslateError as exc:
        return InputReport(rows=tuple(_file_rows(paths, names, set())), error=str(exc))
    with scene:
        by_path = dict(zip(paths, names))
        rows, keys, warnings = [], {}, []
        error = ""
        resampled = [s for s in scene.sources.values() if not s.grid.matches(scene.grid)]
        for s in scene.sources.values():
            layer = by_path.get(s.path, os.path.basename(s.path))
            note = f"scale {s.scale:g}{f', offset {s.offset:g}' if s.offset else ''}, nodata " + (
                f"{s.nodata:g}" if s.nodata is not None else "none")
            if s in resampled:
                note = (f"resampled ({resampling}) onto {_pixel(scene.grid)}; " if resampling
                        else "on another grid than the finest band; ") + note
            label = _bands.band_label(s.band, s.sensor)
            rows.append(InputRow(layer, s.index, label if label == s.band.key else f"{label} ({s.band.key})",
                                 s.identified_by, _pixel(s.grid), note))
            keys[layer if len(paths) > 1 else f"band {s.index}"] = s.band.key
        rows += _file_rows(paths, names, {s.path for s in scene.sources.values()} | (
            {scene.qa.path} if scene.qa is not None else set()))
        if scene.qa is not None:
            rows.append(InputRow(by_path.get(scene.qa.path, os.path.basename(scene.qa.path)), scene.qa.index,
                                 f"QA layer ({scene.qa.kind})", "file name", _pixel(scene.qa.grid),
                                 "masks unusable pixels when QA masking is on"))
        if resampled and resampling is None:
            error = ("the bands are on different grids (" + ", ".join(sorted({_pixel(s.grid) for s in
                     scene.sources.values()})) + "); " + hints.resampling)
        elif resampled:
            warnings.append(f"{len(resampled)} band(s) resampled ({resampling}) onto the {_pixel(scene.grid)} grid "
                            "of the finest band")
        if not scene.sensor:
            warnings.append("sensor unknown: band codes are read on neither numbering; class names work")
        warnings += _ambiguous(scene, sensor is not None)
        summary = (f"{len(scene.sources)} band(s) of scene {scene.name} ({scene.sensor or 'sensor unknown'}) on "
                   f"{scene.grid.describe()}")
        if model is not None and targets:
            warnings += _target_warnings(scene, targets, model)
    return InputReport(tuple(rows), summary, tuple(warnings), error, keys)


def _target_warnings(scene: Scene, targets: Sequence[str], md) -> List[str]:
    from .engine import plan

    can = set(md.target_bands if md.conditional else md.output.bands)
    out = []
    wanted = [_bands.band_class(t) for t in targets]
    lacking = [t for t in wanted if t.id not in can]
    if lacking:
        out.append(f"the model cannot synthesize {', '.join(t.key for t in lacking)}; it can: "
                   + ", ".join(_bands.band_class(i).key for i in sorted(can)))
    makeable = [t for t in wanted if t.id in can]
    if not makeable:
        return out
    try:
        p = plan(md, [c.id for c in scene.bands], scene.grid.height, scene.grid.width, makeable, sensor=scene.sensor)
    except HLSTranslateError as exc:
        return out + [str(exc)]
    for t, sources in zip(p.targets, p.target_sources):
        weak = _weak(t, sources, scene.sensor)
        if weak:
            out.append(weak)
        if t in scene.bands:
            out.append(f"{t.key} is among the inputs: it is synthesized anew from the others (gap-fill keeps its "
                       "real pixels)")
    return out
