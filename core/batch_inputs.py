"""The scenes of a batch: found in folders, globs and STAC documents, one :class:`SceneInput` each.

* A **folder** is searched recursively (hidden folders skipped); the raster files of each folder are
  grouped into scenes by their names (:func:`~.naming.group_scene_files`: HLS granule ids, Sentinel-2
  tile and time, Landsat product ids, ``<prefix>_B05.tif``).  A flat folder of many granules' files and a
  folder of granule folders give the same scenes.
* A **glob** (``/data/HLS.L30.T10SEG.2020*``, ``**`` allowed) is expanded; each match is read as a folder,
  a raster file, or a STAC document.
* A **STAC document** (``.json``): an ItemCollection, an Item, or a Catalog/Collection whose ``item`` and
  ``child`` links are followed.  Each item is one scene, named by its ``id``; its raster assets are its
  files: relative hrefs are resolved against the document, ``http(s)://``, ``s3://`` and ``gs://`` hrefs
  become GDAL's ``/vsicurl/``, ``/vsis3/`` and ``/vsigs/`` paths.  An asset whose file name names no band
  is named by its key or ``eo:bands`` name (``B05``, ``red``) when that is a band.

A label-map model (SPADE) also needs each scene's **label raster**: :func:`label_file` finds it from a
pattern (``{granule}_SCL.tif``, ``/data/scl/{granule}.tif``, ``labels/*{granule}*.tif``): ``{granule}``
(or ``{scene}``) is the scene's id, a relative pattern starts at the folder of the scene's files, glob
characters must match exactly one file, and a pattern without a placeholder names one raster for every
scene (a land-cover map covering them all).  :func:`with_labels` also takes the label file out of the
scene's own files (the granule's SCL or Fmask, which discovery took for its QA layer).

Nothing here opens a raster: discovery is names only, checks come later (:mod:`.batch`).
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .bands import normalize_code
from .errors import ConfigError, FilenameError, HLSTranslateError, RasterNotFoundError
from .naming import BAND, QA, RASTER_EXTENSIONS, group_scene_files, identify_file

_GLOB_CHARS = ("*", "?", "[")
#: what a label file pattern may hold: the scene's id (granule id), under either name
LABEL_PLACEHOLDERS = ("{granule}", "{scene}")
_REMOTE = {"http://": "/vsicurl/", "https://": "/vsicurl/", "s3://": "/vsis3/", "gs://": "/vsigs/"}
_SKIPPED_ROLES = {"thumbnail", "overview", "metadata", "visual"}


@dataclass(frozen=True)
class SceneInput:
    """One scene of a batch: its id, the files to open, and where it was found.

    ``band_map`` names the band of files whose names do not tell (``((path, band), ...)``, from STAC asset
    keys); ``origin`` is the folder, glob or STAC document it came from, for messages.
    """

    scene_id: str
    paths: Tuple[str, ...]
    origin: str = ""
    band_map: Tuple[Tuple[str, str], ...] = ()

    @property
    def open_arg(self):
        """What :func:`~.scene.open_scene` takes for these files: the file itself for a one-file scene."""
        return self.paths[0] if len(self.paths) == 1 else list(self.paths)


def discover_scenes(inputs: Sequence[str], exclude: Sequence[str] = ()) -> Tuple[List[SceneInput], List[str]]:
    """The scenes of ``inputs`` (folders, globs, raster files, STAC documents), sorted by scene id, and
    warnings (a scene found twice: the first is kept; an input that holds no scene; a folder whose files
    cannot be grouped).  Files under a folder of ``exclude`` (the output folder) are never inputs.  Raises
    :class:`RasterNotFoundError` for an input that is neither a file, a folder nor a glob that matches
    something, :class:`ConfigError` for a JSON file that is not STAC."""
    d = _Discovery(tuple(os.path.abspath(e) + os.sep for e in exclude))
    for item in inputs:
        item = os.fspath(item)
        before = len(d.found) + d.repeats
        if any(c in item for c in _GLOB_CHARS) and not os.path.exists(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise RasterNotFoundError(f"input {item}: the pattern matches no file or folder")
            d.files([m for m in matches if os.path.isfile(m) and not _is_stac(m)], item)
            for m in matches:
                if os.path.isdir(m):
                    d.folder(m)
                elif _is_stac(m):
                    d.add(stac_scenes(m))
        elif os.path.isdir(item):
            d.folder(item)
        elif os.path.isfile(item):
            if _is_stac(item):
                d.add(stac_scenes(item))
            else:
                d.files([item], item)
        else:
            raise RasterNotFoundError(f"input {item}: no such file or folder")
        if len(d.found) + d.repeats == before:
            d.warnings.append(f"{item}: no scene found (no band files, no STAC items)")
    return [d.found[k] for k in sorted(d.found)], d.warnings


class _Discovery:
    """Scenes found so far (the first of each id wins) and the warnings of the search."""

    def __init__(self, skip: Tuple[str, ...]):
        self.skip = skip
        self.found: Dict[str, SceneInput] = {}
        self.warnings: List[str] = []
        self.repeats = 0

    def add(self, scenes: Iterable[SceneInput]) -> None:
        for s in scenes:
            have = self.found.get(s.scene_id)
            if have is None:
                self.found[s.scene_id] = s
                continue
            self.repeats += 1
            if set(have.paths) != set(s.paths):
                self.warnings.append(f"scene {s.scene_id} is found twice ({have.origin} and {s.origin}); "
                                     f"using the files from {have.origin}")

    def folder(self, folder: str) -> None:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            self.files([os.path.join(root, f) for f in sorted(files) if f.lower().endswith(RASTER_EXTENSIONS)], root)

    def files(self, paths: Sequence[str], origin: str) -> None:
        """Files grouped into scenes folder by folder (a bare ``B05.tif`` names its folder's scene)."""
        by_folder: Dict[str, List[str]] = {}
        for p in paths:
            p = os.path.abspath(p)
            if not p.startswith(self.skip) and not os.path.basename(p).startswith("."):
                by_folder.setdefault(os.path.dirname(p), []).append(p)
        for folder, group in sorted(by_folder.items()):
            try:
                scenes = group_scene_files(group)
            except HLSTranslateError as exc:
                self.warnings.append(f"{folder}: {exc}; its files are left out")
                continue
            self.add(SceneInput(g.scene_id if g.scene_id and g.scene_id != "scene" else os.path.basename(folder),
                                tuple(g.paths()), origin=origin) for g in scenes)


def _is_stac(path: str) -> bool:
    return path.lower().endswith(".json") and os.path.isfile(path)


# --- STAC --------------------------------------------------------------------------------------------
def stac_scenes(path: str) -> List[SceneInput]:
    """The scenes of a STAC ItemCollection, Item, Catalog or Collection (local document; see the module
    docstring).  Raises :class:`ConfigError` for a document that is not STAC."""
    return [_item_scene(item, where, path) for item, where in _stac_items(os.path.abspath(path), set())]


def _load_json(path: str) -> Mapping:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read it as a STAC JSON document ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a STAC document (a JSON object with a 'type' is expected)")
    return doc


def _stac_items(path: str, seen: set) -> List[Tuple[Mapping, str]]:
    if path in seen:
        return []
    seen.add(path)
    doc = _load_json(path)
    kind = doc.get("type")
    folder = os.path.dirname(path)
    if kind == "FeatureCollection":
        return [(f, path) for f in doc.get("features") or [] if isinstance(f, dict)]
    if kind == "Feature":
        return [(doc, path)]
    if kind in ("Catalog", "Collection"):
        out: List[Tuple[Mapping, str]] = []
        for link in doc.get("links") or []:
            rel, href = link.get("rel"), link.get("href") or ""
            if rel in ("item", "child") and not _remote_prefix(href):
                out += _stac_items(os.path.normpath(os.path.join(folder, _local(href))), seen)
        return out
    raise ConfigError(f"{path}: STAC type {kind!r} is not an ItemCollection (FeatureCollection), Item (Feature), "
                      "Catalog or Collection")


def _remote_prefix(href: str) -> Optional[str]:
    return next((v for k, v in _REMOTE.items() if href.lower().startswith(k)), None)


def _local(href: str) -> str:
    return href[len("file://"):] if href.startswith("file://") else href


def asset_path(href: str, document: str) -> str:
    """The path GDAL opens for a STAC asset ``href`` found in ``document``."""
    for scheme, prefix in _REMOTE.items():
        if href.lower().startswith(scheme):
            rest = href[len(scheme):]
            return prefix + (href if prefix == "/vsicurl/" else rest)
    href = _local(href)
    return href if os.path.isabs(href) else os.path.normpath(os.path.join(os.path.dirname(document), href))


def _is_raster_asset(asset: Mapping) -> bool:
    roles = set(asset.get("roles") or [])
    if roles & _SKIPPED_ROLES and "data" not in roles:
        return False
    media = str(asset.get("type") or "").lower()
    href = str(asset.get("href") or "").split("?")[0].lower()
    return "tiff" in media or "jp2" in media or href.endswith(RASTER_EXTENSIONS)


def _asset_band(key: str, asset: Mapping) -> Optional[str]:
    """The band an asset's key or ``eo:bands`` names, when it names one."""
    names = [key] + [str(b.get("name") or "") for b in asset.get("eo:bands") or [] if isinstance(b, dict)]
    return next((n for n in names if normalize_code(n)), None)


def _item_scene(item: Mapping, where: str, document: str) -> SceneInput:
    sid = str(item.get("id") or "").strip()
    if not sid:
        raise ConfigError(f"{where}: a STAC item without an id")
    paths, band_map = [], []
    for key, asset in sorted((item.get("assets") or {}).items()):
        if not isinstance(asset, dict) or not asset.get("href") or not _is_raster_asset(asset):
            continue
        p = asset_path(str(asset["href"]), where)
        try:
            named = identify_file(p)
        except FilenameError:
            named = None
        if named is None or named.role not in (BAND, QA):
            band = _asset_band(key, asset)
            if band is None:
                continue  # neither its name nor its key names a band or QA layer (a preview, an angle)
            band_map.append((p, band))
        paths.append(p)
    return SceneInput(sid, tuple(paths), origin=f"{where} (item {sid})", band_map=tuple(band_map))


# --- label rasters (label-map models) ----------------------------------------------------------------
def check_label_pattern(pattern: str) -> str:
    """``pattern`` if it can name label files (placeholders only from :data:`LABEL_PLACEHOLDERS`), else
    :class:`ConfigError`."""
    if not str(pattern or "").strip():
        raise ConfigError("the label file pattern is empty; give e.g. '{granule}_SCL.tif'")
    leftover = str(pattern)
    for p in LABEL_PLACEHOLDERS:
        leftover = leftover.replace(p, "")
    if "{" in leftover or "}" in leftover:
        raise ConfigError(f"label file pattern {pattern!r}: unknown placeholder; use {LABEL_PLACEHOLDERS[0]} "
                          "(the scene's id)")
    return str(pattern)


def scene_folder(scene: SceneInput) -> str:
    """The folder holding ``scene``'s files (their common folder): where relative label patterns start."""
    folders = sorted({os.path.dirname(p) for p in scene.paths})
    try:
        return os.path.commonpath(folders)
    except ValueError:  # folders on different drives
        return folders[0]


def _fill(pattern: str, value: str) -> str:
    for p in LABEL_PLACEHOLDERS:
        pattern = pattern.replace(p, value)
    return pattern


def label_file(scene: SceneInput, pattern: str) -> str:
    """The label raster of ``scene`` that ``pattern`` names (see the module docstring).  Names only:
    raises :class:`RasterNotFoundError` when no file is there and :class:`ConfigError` when a glob
    matches several, both naming the scene, the pattern and where it looked."""
    check_label_pattern(pattern)
    expanded = os.path.expanduser(pattern)
    remote = expanded.startswith("/vsi")
    base = "" if remote or os.path.isabs(expanded) else scene_folder(scene)
    sid = scene.scene_id
    if any(c in _fill(expanded, "") for c in _GLOB_CHARS):
        where = _fill(expanded, glob.escape(sid))
        where = os.path.join(glob.escape(base), where) if base else where
        matches = sorted(os.path.abspath(m) for m in glob.glob(where, recursive=True) if os.path.isfile(m))
        if not matches:
            raise RasterNotFoundError(f"granule {sid}: no label file: the pattern {pattern!r} (looked for {where}) "
                                      "matches no file")
        if len(matches) > 1:
            shown = ", ".join(matches[:3]) + (f" and {len(matches) - 3} more" if len(matches) > 3 else "")
            raise ConfigError(f"granule {sid}: the label pattern {pattern!r} matches {len(matches)} files ({shown}); "
                              "make it name one file per granule")
        return matches[0]
    path = _fill(expanded, sid)
    if remote:
        return path
    path = os.path.abspath(os.path.join(base, path))
    if not os.path.isfile(path):
        raise RasterNotFoundError(f"granule {sid}: no label file {path} (the label pattern {pattern!r}"
                                  + (f" in the granule's folder {base})" if base else ")"))
    return path


def with_labels(scene: SceneInput, pattern: str) -> Tuple[SceneInput, str]:
    """``(scene without its label file, the label file)``: :func:`label_file`, and the label raster taken out
    of the scene's own files when discovery counted it among them (a granule's SCL or Fmask is its QA layer
    otherwise).  Raises as :func:`label_file` does, and :class:`ConfigError` when the label file is all the
    scene has (its bands give the output grid)."""
    path = label_file(scene, pattern)
    keep = tuple(p for p in scene.paths if os.path.abspath(p) != path)
    if not keep:
        raise ConfigError(f"granule {scene.scene_id}: the label file {path} is the only file of the scene; its "
                          "bands give the grid the labels are read onto")
    if len(keep) == len(scene.paths):
        return scene, path
    band_map = tuple((p, b) for p, b in scene.band_map if os.path.abspath(p) != path)
    return SceneInput(scene.scene_id, keep, scene.origin, band_map), path


__all__ = ["SceneInput", "discover_scenes", "stac_scenes", "asset_path", "LABEL_PLACEHOLDERS", "check_label_pattern",
           "scene_folder", "label_file", "with_labels"]
