"""Names of what a run writes: output files per target, and the names results are shown under.

``hls-translate predict --out`` and the QGIS algorithms' OUTPUT both go through :func:`output_paths`;
the layer names QGIS loads results under come from :func:`synthesized_name` and
:func:`translated_name`, prefixed with :func:`scene_label` so that the results of a batch of scenes
tell their scene.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Sequence, Union

from .bands import band_class, band_label
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


__all__ = ["TARGET_PLACEHOLDER", "file_safe", "output_paths", "scene_label", "synthesized_name", "translated_name"]
