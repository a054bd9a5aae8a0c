"""Scenes: band sources (and a QA layer) read together on one grid, in physical units.

:func:`open_scene` takes a folder (one scene's files), a list of files or one multi-band file, identifies
every band (:mod:`.sources`) and QA layer (:mod:`.naming`, from the product table), checks that they
share a grid or resamples them onto one, and returns a :class:`Scene`.

* A read returns ``values`` (float32, physical units) and ``valid`` (bool): False where the file says
  nodata/fill, where the value is not finite, and (when asked) where the QA layer flags the pixel.
* A read allocates only what the window needs (plus one raw-typed copy of the window).
* :meth:`Scene.clipped` gives the same scene cut to a window of its grid (a clip extent): the bands are
  still read (and warped) on the whole scene's grid, so the pixels of a clipped scene are exactly those
  of the whole one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import bands as _bands
from .backends import check_raster_path, open_reader, raster_info, transform_bounds
from .bands import BandClass, resolve_band
from .errors import (BandError, ConfigError, FilenameError, GridMismatchError, MissingBandError,
                     NotARasterError, RasterNotFoundError)
from .grid import Grid, Window
from .naming import OTHER, QA, SceneFiles, group_scene_files, guess_sensor, identify_file
from .products import PRODUCTS_BY_KEY
from .qa import qa_invalid
from .sources import BandSource, QASource, band_sources_of

#: Resampling methods accepted when band sources must be brought onto one grid.
RESAMPLING_METHODS = ("nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode")


@dataclass(frozen=True)
class InputHints:
    """How a caller's user sets what :func:`open_scene`'s errors suggest: the band mapping and the
    resampling method, in the caller's own terms (a command-line option, a dialog's setting).  The
    defaults are this library's Python arguments."""

    band_map: str = "give a band mapping, e.g. band_map={1: 'B04'}"
    resampling: str = "ask for resampling onto the finest band's grid (resampling='bilinear', 'average', ...)"
    sensor: str = "or name the sensor (sensor='S2', 'LANDSAT', ...)"


class Scene:
    """Band sources (and an optional QA layer) read together on one grid.

    Build one with :func:`open_scene`.  File handles open lazily and are not pickled, so a Scene can be
    sent to DataLoader worker processes.
    """

    def __init__(self, sources: Sequence[BandSource], grid: Grid, qa: Optional[QASource] = None,
                 resampling: Optional[str] = None, name: str = ""):
        by_class: Dict[int, BandSource] = {}
        for s in sources:
            if s.band.id in by_class:
                other = by_class[s.band.id]
                raise BandError(f"band {s.band.key} is given twice: {other.label} and {s.label}")
            by_class[s.band.id] = s
        if not by_class:
            raise MissingBandError("a scene needs at least one spectral band; none was identified")
        self.sources: Dict[int, BandSource] = dict(sorted(by_class.items()))
        self.grid = grid
        self.qa = qa
        self.resampling = resampling
        self.name = name
        self._handles: Dict[Tuple[str, bool], object] = {}
        # values outside their band's physical range, masked as invalid: counts per band class key, and the
        # rows already counted (full-width reads, such as the engine's strips, count each pixel once)
        self.out_of_range: Dict[str, int] = {}
        self._counted_rows: Dict[int, np.ndarray] = {}
        self._base = grid  # the grid sources are read (and warped) on; ``grid`` is a window of it
        self._origin = (0, 0)  # column, row of ``grid``'s first pixel on ``_base``

    # pickling drops open handles
    def __getstate__(self):
        d = dict(self.__dict__)
        d["_handles"] = {}
        return d

    def __repr__(self) -> str:
        return f"Scene({self.name!r}, bands={[b.key for b in self.bands]}, grid={self.grid.describe()})"

    @property
    def bands(self) -> Tuple[BandClass, ...]:
        return tuple(s.band for s in self.sources.values())

    @property
    def sensor(self) -> str:
        sensors = {s.sensor for s in self.sources.values() if s.sensor}
        return sensors.pop() if len(sensors) == 1 else ""

    @property
    def level(self) -> str:
        """``TOA`` or ``surface`` where the products of all its bands say the same, else ""."""
        levels = {PRODUCTS_BY_KEY[s.product].level for s in self.sources.values() if s.product}
        return levels.pop() if len(levels) == 1 else ""

    def band_level(self, band) -> str:
        """``TOA`` or ``surface`` for one band of the scene, as its product declares it (an HLS surface
        product's water vapour and cirrus are TOA); "" where no product tells."""
        source = self.sources[self.band_class(band).id]
        return PRODUCTS_BY_KEY[source.product].band_level(self.band_class(band).key) if source.product else ""

    def band_class(self, band) -> BandClass:
        """Resolve a band name in this scene's terms (``B05`` is read on the scene's sensor)."""
        if isinstance(band, (BandClass, int)):
            return _bands.band_class(band)
        return resolve_band(str(band), self.sensor or None)

    def has(self, band) -> bool:
        return self.band_class(band).id in self.sources

    def source(self, band) -> BandSource:
        cls = self.band_class(band)
        if cls.id not in self.sources:
            have = ", ".join(b.key for b in self.bands)
            where = f"scene {self.name}" if self.name else "the scene"
            raise MissingBandError(f"{where} has no {cls.key} band ({cls.name}); it has: {have}")
        return self.sources[cls.id]

    def clipped(self, window: Window) -> "Scene":
        """This scene cut to ``window`` of its grid (a clip extent): a Scene whose grid is the window's,
        reading the same pixels the whole scene has there (see the module docstring)."""
        w = self._window(window)
        if w.width == 0 or w.height == 0:
            raise ConfigError(f"the clip extent does not overlap the scene ({self.grid.describe()})")
        part = Scene(list(self.sources.values()), self.grid.subgrid(w), qa=self.qa, resampling=self.resampling,
                     name=self.name)
        part._base = self._base
        part._origin = (self._origin[0] + w.col_off, self._origin[1] + w.row_off)
        return part

    @property
    def window(self) -> Window:
        """Where this scene's grid lies on the grid its bands are read on (all of it unless clipped)."""
        return Window(self._origin[0], self._origin[1], self.grid.width, self.grid.height)

    def _handle(self, path: str, grid: Grid, resampling: Optional[str] = None):
        warp = not grid.matches(self._base)
        key = (path, warp)
        h = self._handles.get(key)
        if h is None:
            h = open_reader(path)
            if warp:
                h = h.warped(self._base, resampling or self.resampling or "nearest")
            self._handles[key] = h
        return h

    def _window(self, window: Optional[Window]) -> Window:
        w = window or Window.full(self.grid.width, self.grid.height)
        if not w.inside(self.grid.width, self.grid.height):
            raise ValueError(f"window {w} is outside the scene's {self.grid.width}x{self.grid.height} grid")
        return w

    def _on_base(self, window: Window) -> Window:
        """``window`` of this scene's grid as a window of the grid its bands are read on."""
        return Window(window.col_off + self._origin[0], window.row_off + self._origin[1], window.width,
                      window.height)

    def read_raw(self, band, window: Optional[Window] = None) -> np.ndarray:
        s = self.source(band)
        return self._handle(s.path, s.grid).read(s.index, self._on_base(self._window(window)))

    def read(self, band, window: Optional[Window] = None, use_qa: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """One band's physical values (float32) and validity (bool) in ``window`` (default: all)."""
        w = self._window(window)
        s = self.source(band)
        raw = self._handle(s.path, s.grid).read(s.index, self._on_base(w))
        valid = ~s.is_nodata(raw)
        values = s.physical(raw)
        del raw
        valid &= np.isfinite(values)
        lo, hi = s.band.physical_range
        outside = valid & ((values < lo) | (values > hi))
        if outside.any():
            valid &= ~outside
            self._count_out_of_range(s.band, w, outside)
        if use_qa and self.qa is not None:
            valid &= ~self.qa_invalid(w)
        return values, valid

    def _count_out_of_range(self, band: BandClass, w: Window, outside: np.ndarray) -> None:
        rows = outside.any(axis=1)
        if w.col_off == 0 and w.width == self.grid.width:
            seen = self._counted_rows.setdefault(band.id, np.zeros(self.grid.height, dtype=bool))
            new = ~seen[w.row_off:w.row_off + w.height]
            n = int(outside[new].sum())
            seen[w.row_off:w.row_off + w.height] |= rows
        else:
            n = int(outside.sum())
        if n:
            self.out_of_range[band.key] = self.out_of_range.get(band.key, 0) + n

    def files_read(self) -> Dict[str, str]:
        """Every file a read of this scene opens, with what it is (for the outputs-are-not-inputs check)."""
        read = {s.path: f"the input band {s.band.key}" for s in self.sources.values()}
        if self.qa is not None:
            read[self.qa.path] = f"the scene's {self.qa.kind} layer"
        return read

    def describe_out_of_range(self) -> str:
        """One line on the values masked because they lie outside their band's physical range ("" if none)."""
        if not self.out_of_range:
            return ""
        parts = [f"{k} {n:,} px (outside {_bands.band_class(k).physical_range[0]:g}.."
                 f"{_bands.band_class(k).physical_range[1]:g})" for k, n in sorted(self.out_of_range.items())]
        return "values outside the band's physical range were treated as nodata: " + ", ".join(parts)

    def read_stack(self, bands: Sequence, window: Optional[Window] = None,
                   use_qa: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """Several bands at once: values ``[C, h, w]`` float32 and valid ``[C, h, w]`` bool."""
        w = self._window(window)
        values = np.empty((len(bands), w.height, w.width), dtype=np.float32)
        valid = np.empty((len(bands), w.height, w.width), dtype=bool)
        qa_bad = self.qa_invalid(w) if (use_qa and self.qa is not None) else None
        for i, b in enumerate(bands):
            values[i], valid[i] = self.read(b, w, use_qa=False)
            if qa_bad is not None:
                valid[i] &= ~qa_bad
        return values, valid

    def qa_invalid(self, window: Optional[Window] = None) -> np.ndarray:
        """True where the QA layer marks the pixel unusable (all False without a QA layer)."""
        w = self._window(window)
        if self.qa is None:
            return np.zeros(w.shape, dtype=bool)
        h = self._handle(self.qa.path, self.qa.grid, "nearest")  # QA codes must not be interpolated
        return qa_invalid(self.qa.kind, h.read(self.qa.index, self._on_base(w)), self.qa.exclude)

    def close(self) -> None:
        for h in self._handles.values():
            h.close()
        self._handles.clear()

    def __enter__(self) -> "Scene":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _expand_inputs(inputs) -> Tuple[List[str], Optional[SceneFiles]]:
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = [os.fspath(p) for p in inputs]
    if not paths:
        raise RasterNotFoundError("no input raster given")
    if len(paths) == 1 and os.path.isdir(paths[0]):
        groups = group_scene_files(paths[0])
        if not groups:
            raise RasterNotFoundError(f"folder {paths[0]} holds no band files (HLS granules or *_B05.tif-style names)")
        if len(groups) > 1:
            raise BandError(f"folder {paths[0]} holds {len(groups)} scenes ({', '.join(g.scene_id for g in groups)}); "
                            "pass one scene's files or folder")
        return groups[0].paths(), groups[0]
    for p in paths:
        if os.path.isdir(p):
            raise NotARasterError(f"{p} is a folder; pass either one folder or a list of files")
        check_raster_path(p)
    return paths, None


def _reference_grid(sources: Sequence[BandSource], reference, sensor: Optional[str]) -> Grid:
    """The grid named by ``reference`` (a Grid, a band of the scene, None: the finest band's grid)."""
    if reference is None:
        return min((s.grid for s in sources), key=lambda g: g.res[0] * g.res[1])
    if isinstance(reference, Grid):
        return reference
    ref_sensor = sensor or next((s.sensor for s in sources if s.sensor), None)
    ref_cls = (_bands.band_class(reference) if isinstance(reference, (int, BandClass))
               else resolve_band(str(reference), ref_sensor))
    matches = [s for s in sources if s.band == ref_cls]
    if not matches:
        raise MissingBandError(f"reference band {ref_cls.key} is not among the inputs "
                               f"({', '.join(s.band.key for s in sources)})")
    return matches[0].grid


def _check_overlap(path: str, src: Grid, dst: Grid) -> None:
    """A file warped onto ``dst`` must cover some of it: otherwise the scene would be all nodata."""
    box = src.bounds if src.same_crs(dst) else transform_bounds(src.bounds, src.crs_wkt, dst.crs_wkt)
    if box is None:
        return  # the CRS library could not say: GDAL's warper decides
    x0, y0, x1, y1 = dst.bounds
    ix = max(0.0, min(x1, box[2]) - max(x0, box[0]))
    iy = max(0.0, min(y1, box[3]) - max(y0, box[1]))
    if ix * iy <= 0.0:
        raise GridMismatchError(
            f"{path} does not overlap the reference grid ({dst.describe()}): its extent in that CRS is "
            f"({box[0]:.6g}, {box[1]:.6g}) .. ({box[2]:.6g}, {box[3]:.6g}), the grid's ({x0:.6g}, {y0:.6g}) .. "
            f"({x1:.6g}, {y1:.6g}); its CRS or georeferencing is probably wrong")


def open_scene(inputs, *, sensor: Optional[str] = None, band_map: Optional[Mapping] = None,
               reference=None, resampling: Optional[str] = None, use_qa: bool = True,
               qa_exclude: Optional[Sequence[str]] = None, name: str = "",
               hints: InputHints = InputHints()) -> Scene:
    """Open a scene from a folder (one scene's files), per-band files, or a multi-band file.

    ``band_map`` overrides band identification: for a multi-band file ``{band_number: band_name}``, for
    per-band files ``{path_or_basename: band_name}``.  Band sources must share one grid; if they do not,
    :class:`GridMismatchError` names each file and its grid, unless ``resampling`` (one of
    :data:`RESAMPLING_METHODS`) is given: then all bands are warped onto the grid of the ``reference``
    band (default: the finest-resolution band).  QA layers among the inputs (Fmask, SCL, QA_PIXEL, BQA:
    the product table says which files are QA) mask unusable pixels when ``use_qa``.
    """
    paths, group = _expand_inputs(inputs)
    if resampling is not None and resampling not in RESAMPLING_METHODS:
        raise ConfigError(f"unknown resampling method {resampling!r}; use one of {', '.join(RESAMPLING_METHODS)}")
    sensor = sensor or (group.sensor if group and group.sensor else None)
    if sensor is None and len(paths) > 1:
        sensor = guess_sensor([os.path.basename(p) for p in paths], hint=os.path.dirname(paths[0]))
    sources: List[BandSource] = []
    qa: Optional[QASource] = None
    for p in paths:
        named = identify_file(p)
        if named is not None and named.role == QA:
            if qa is not None and use_qa:
                raise BandError(f"two QA layers given: {qa.path} and {p}; pass one")
            if use_qa:
                qa = QASource(p, named.qa_kind, raster_info(p).grid,
                              exclude=tuple(qa_exclude) if qa_exclude else None)
            continue
        if named is not None and named.role == OTHER:
            if len(paths) == 1:
                raise BandError(f"{p} is {named.what} ({named.layer}), not a spectral band")
            continue
        per_file_map = None
        if band_map:
            if len(paths) == 1:
                per_file_map = band_map
            else:
                v = band_map.get(p, band_map.get(os.path.basename(p)))
                per_file_map = {"": v} if v is not None else None
        found = band_sources_of(p, sensor, per_file_map)
        if not found and len(paths) == 1:
            raise BandError(
                f"{p}: cannot tell which band(s) it holds (no band description, no band code in the name); "
                + hints.band_map)
        sources.extend(found)
    if not sources:
        raise MissingBandError(f"no spectral bands identified in: {', '.join(paths)}")
    grid = _reference_grid(sources, reference, sensor)
    mismatched = [s for s in sources if not s.grid.matches(grid)] + (
        [qa] if qa is not None and not qa.grid.matches(grid) else [])
    if mismatched and resampling is None:
        lines = [f"  {os.path.basename(s.path)}: {s.grid.describe()}" for s in sources]
        if qa is not None:
            lines.append(f"  {os.path.basename(qa.path)}: {qa.grid.describe()}")
        raise GridMismatchError(
            "band sources are on different grids (CRS, resolution or extent differ):\n" + "\n".join(
                dict.fromkeys(lines)) + "\nbring them onto one grid first, or " + hints.resampling)
    if mismatched and grid.rotated:
        raise GridMismatchError(
            f"the reference grid ({grid.describe()}) has a rotated geotransform (terms {grid.transform[2]:g}, "
            f"{grid.transform[4]:g}); resampling other bands onto a rotated grid is not supported: bring the bands "
            "onto one north-up grid first (gdalwarp), or give bands that all share the rotated grid")
    for s in mismatched:
        if not s.grid.same_crs(grid) and not (s.grid.crs_wkt and grid.crs_wkt):
            raise GridMismatchError(f"{s.path} has no CRS; cannot resample it onto {grid.describe()}")
        _check_overlap(s.path, s.grid, grid)
    scene_name = name or (group.scene_id if group else scene_name_of(paths))
    return Scene(sources, grid, qa=qa, resampling=resampling, name=scene_name)


def scene_name_of(paths: Sequence[str]) -> str:
    """The name of the scene ``paths`` make up: the scene id their names share (an HLS granule, the
    ``<prefix>`` of ``<prefix>_B05.tif`` files), else the file name of a single file, else the folder of
    files named by band alone (``B05.tif``)."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    if len(paths) == 1:
        return stems[0]
    try:
        groups = group_scene_files(paths)
    except (BandError, FilenameError):  # two files of one band: not one scene by name
        groups = []
    if len(groups) == 1:
        return groups[0].scene_id
    common = os.path.commonprefix(stems).rstrip("_.- ")
    return common or os.path.basename(os.path.dirname(os.path.abspath(paths[0]))) or stems[0]
