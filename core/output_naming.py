"""Names of what a run writes: output files per target, and the names results are shown under.

``hls-translate predict --out`` and the QGIS algorithms' OUTPUT both go through :func:`output_paths`;
the layer names QGIS loads results under come from :func:`synthesized_name` and
:func:`translated_name`, prefixed with :func:`scene_label` so that the results of a batch of scenes
tell their scene.  ``hls-translate batch`` names one file per scene and target with
:func:`scene_output_paths`: ``HLS.L30.T10SEG.2020273T184741.v2.0.B05.synth.tif``, the band code
in :data:`BAND_NAME_CONVENTION`'s numbering whatever the scene's sensor (:func:`convention_band_name`).
"""

from __future__ import annotations

import os
import re
from typing import Dict, Sequence, Union

from .bands import SENSORS, band_class, band_label, sensor_band_for_class
from .errors import ConfigError, FilenameError
from .naming import identify_file

#: the placeholder in an output name that is replaced by each target's name (one file per target)
TARGET_PLACEHOLDER = "{target}"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def file_safe(name: str) -> str:
    """``name`` with every run of characters other than letters, digits, ``_ . -`` replaced by ``_``
    (``S30:B10`` -> ``S30_B10``); ``band`` when nothing is left."""
    return _UNSAFE.sub("_", str(name)).strip("_") or "band"


def output_paths(out: str, targets: Sequence[str], one_file_per_target: bool = False) -> Union[str, Dict[str, str]]:
    """Where the outputs of ``targets`` go: ``{target: path}`` (one file per target) or ``out`` itself
    (one multi-band file, one band per target).

    ``{target}`` in ``out`` is replaced by each target's :func:`file_safe` name.  Without it, ``out``
    holds every target, unless ``one_file_per_target``: then a single target is written to ``out`` and
    several to ``out`` with ``_<target>`` before the extension (``.tif`` when it has none).  Two targets
    that would share a file are refused.
    """
    targets = list(targets)
    if TARGET_PLACEHOLDER in out:
        paths = {t: out.replace(TARGET_PLACEHOLDER, file_safe(t)) for t in targets}
    elif not one_file_per_target:
        return out
    elif len(targets) == 1:
        paths = {targets[0]: out}
    else:
        stem, ext = os.path.splitext(out)
        paths = {t: f"{stem}_{file_safe(t)}{ext or '.tif'}" for t in targets}
    if len(set(paths.values())) != len(paths):
        raise ConfigError(f"output {out}: two targets give the same file name ({', '.join(paths.values())})")
    return paths


def scene_label(name: str, paths: Sequence[str] = ()) -> str:
    """A short name of a scene for layer names: its (HLS sensor,) tile and acquisition date where its
    files' names tell them (``S30 T29RKH 2020-02-19``), else ``name``."""
    for p in paths:
        try:
            f = identify_file(p)
        except FilenameError:
            continue
        if f is not None and f.tile and f.acquired is not None:
            hls = f.product is not None and f.product.key.startswith("hls_")
            return f"{f.sensor + ' ' if hls else ''}{f.tile} {f.acquired:%Y-%m-%d}"
    return name


def synthesized_name(band, sensor: str = "", scene: str = "") -> str:
    """``B10 cirrus (synthesized)``: a synthesized band by its label in ``sensor``'s terms, after
    ``scene: `` when a scene label is given."""
    return f"{scene + ': ' if scene else ''}{band_label(band, sensor)} (synthesized)"


def translated_name(source: str, family: str, bands: Sequence, sensor: str = "", scene: str = "") -> str:
    """The name of a model's output for the raster ``source``: :func:`synthesized_name` for one band,
    ``<source> translated by <family> (<band keys>)`` for several."""
    if len(bands) == 1:
        return synthesized_name(bands[0], sensor, scene)
    return f"{source} translated by {family} ({', '.join(band_class(b).key for b in bands)})"


#: The band numbering batch output names use for every scene: HLS S30's (Sentinel-2 MSI's), which has a
#: code for every reflectance class, so an L30 granule's synthesized red edge 1 is ``B05`` as in S30
#: (L30's own ``B05`` is NIR narrow).  Classes S30 lacks (thermal) are named by their class key.
BAND_NAME_CONVENTION = "S30"
#: Placeholders of a batch output name: the scene id, the band in :data:`BAND_NAME_CONVENTION`, the class key.
SCENE_PLACEHOLDERS = ("{scene}", "{band}", "{target}")
#: The default batch output name: the granule id and the synthesized band, ``.synth.tif``.
DEFAULT_SCENE_NAME = "{scene}.{band}.synth.tif"


def convention_band_name(band) -> str:
    """The band's code in :data:`BAND_NAME_CONVENTION`'s numbering (``red_edge_1`` -> ``B05``,
    ``cirrus`` -> ``B10``), or its class key where that numbering has none (``thermal_1``)."""
    sb = sensor_band_for_class(BAND_NAME_CONVENTION, band)
    return sb.code if sb is not None else band_class(band).key


def describe_convention() -> str:
    """One line saying how batch output names spell bands."""
    return (f"band codes in output names follow the {SENSORS[BAND_NAME_CONVENTION].name} numbering for every "
            "scene (red edge 1 = B05, NIR narrow = B8A, cirrus = B10); bands it lacks go by class name")


def check_scene_name(pattern: str) -> str:
    """``pattern`` if it names one file per scene and target (``{scene}`` and ``{band}`` or ``{target}``,
    no folder), else :class:`ConfigError`."""
    if "{scene}" not in pattern or not ("{band}" in pattern or "{target}" in pattern):
        raise ConfigError(f"output name {pattern!r} must contain {{scene}} and {{band}} (or {{target}}), so that "
                          "every scene and target gets its own file")
    if "/" in pattern or "\\" in pattern:
        raise ConfigError(f"output name {pattern!r} must be a file name, not a path (the folder is the output folder)")
    leftover = pattern
    for p in SCENE_PLACEHOLDERS:
        leftover = leftover.replace(p, "")
    if "{" in leftover or "}" in leftover:
        raise ConfigError(f"output name {pattern!r}: unknown placeholder; use {', '.join(SCENE_PLACEHOLDERS)}")
    return pattern


def scene_output_paths(folder: str, scene_id: str, targets: Sequence, pattern: str = DEFAULT_SCENE_NAME) -> Dict[str, str]:
    """``{class key: path}``: where a batch writes each target of scene ``scene_id`` in ``folder``
    (see :data:`DEFAULT_SCENE_NAME`; every part of the name made :func:`file_safe`)."""
    check_scene_name(pattern)
    out = {}
    for t in targets:
        c = band_class(t)
        name = (pattern.replace("{scene}", file_safe(scene_id)).replace("{band}", convention_band_name(c))
                .replace("{target}", c.key))
        out[c.key] = os.path.join(folder, name)
    if len(set(out.values())) != len(out):
        raise ConfigError(f"output name {pattern!r} gives two targets the same file")
    return out


__all__ = ["TARGET_PLACEHOLDER", "file_safe", "output_paths", "scene_label", "synthesized_name", "translated_name",
           "BAND_NAME_CONVENTION", "DEFAULT_SCENE_NAME", "convention_band_name", "describe_convention",
           "check_scene_name", "scene_output_paths"]
