"""Raster I/O: scenes made of band sources, windowed reads in physical units, atomic GeoTIFF/COG writes.

Reads go through GDAL's Python bindings (``osgeo``, shipped with QGIS) and fall back to rasterio where
``osgeo`` is not installed (pip-only training machines); writes need ``osgeo``.  Set
``HLS_TRANSLATE_RASTER_BACKEND=rasterio`` (or ``gdal``) to force one.

Conventions
-----------
* :class:`Window` and :class:`Grid` are small frozen values; windows are in pixels of the scene's grid.
* A read returns ``values`` (float32, physical units: DN * scale + offset) and ``valid`` (bool): False
  where the file says nodata/fill, where the value is not finite, and (when asked) where the QA layer
  (HLS Fmask or Sentinel-2 SCL) flags the pixel.
* A read allocates only what the window needs (plus one raw-typed copy of the window).
"""

from __future__ import annotations

import math
import os
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import bands as _bands
from .bands import BandClass, SENSORS, resolve_band
from .errors import (AmbiguousBandError, BandError, GridMismatchError, MissingBandError, NotARasterError,
                     RasterError, RasterNotFoundError, RasterWriteError, UnknownBandError)
from .fileio import writable_output_path
from .hls import GranuleFiles, group_granules, is_hls_name, parse_hls_name, band_code_from_filename, qa_invalid

#: Resampling methods accepted when band sources must be brought onto one grid.
RESAMPLING_METHODS = ("nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode")
#: GDAL band metadata key under which written rasters record their band class.
BAND_CLASS_KEY = "HLS_TRANSLATE_BAND"


# --- value types -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: column/row offset and size."""

    col_off: int
    row_off: int
    width: int
    height: int

    def __post_init__(self):
        if self.width < 0 or self.height < 0:
            raise ValueError(f"window size must be non-negative, got {self.width}x{self.height}")

    @classmethod
    def full(cls, width: int, height: int) -> "Window":
        return cls(0, 0, width, height)

    @property
    def shape(self) -> Tuple[int, int]:
        return (self.height, self.width)

    @property
    def slices(self) -> Tuple[slice, slice]:
        return (slice(self.row_off, self.row_off + self.height), slice(self.col_off, self.col_off + self.width))

    def inside(self, width: int, height: int) -> bool:
        return (self.col_off >= 0 and self.row_off >= 0 and self.col_off + self.width <= width
                and self.row_off + self.height <= height)

    def intersection(self, other: "Window") -> "Window":
        c0, r0 = max(self.col_off, other.col_off), max(self.row_off, other.row_off)
        c1 = min(self.col_off + self.width, other.col_off + other.width)
        r1 = min(self.row_off + self.height, other.row_off + other.height)
        return Window(c0, r0, max(0, c1 - c0), max(0, r1 - r0))


GeoTransform = Tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS (WKT), GDAL geotransform and size in pixels."""

    crs_wkt: str
    transform: GeoTransform
    width: int
    height: int

    @property
    def res(self) -> Tuple[float, float]:
        return (abs(self.transform[1]), abs(self.transform[5]))

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) for a north-up grid."""
        x0, dx, _, y0, _, dy = self.transform
        xs = (x0, x0 + dx * self.width)
        ys = (y0, y0 + dy * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    def window_transform(self, window: Window) -> GeoTransform:
        x0, dx, rx, y0, ry, dy = self.transform
        return (x0 + window.col_off * dx + window.row_off * rx, dx, rx,
                y0 + window.col_off * ry + window.row_off * dy, ry, dy)

    def same_crs(self, other: "Grid") -> bool:
        if self.crs_wkt == other.crs_wkt:
            return True
        return _crs_equal(self.crs_wkt, other.crs_wkt)

    def matches(self, other: "Grid", tol: float = 1e-6) -> bool:
        """Same CRS, size and geotransform (to ``tol`` of a pixel)."""
        if (self.width, self.height) != (other.width, other.height) or not self.same_crs(other):
            return False
        px = max(abs(self.transform[1]), abs(self.transform[5]), 1e-12)
        return all(abs(a - b) <= tol * px for a, b in zip(self.transform, other.transform))

    def describe(self) -> str:
        return (f"{self.width}x{self.height} px, {self.res[0]:g} x {self.res[1]:g} units/px, "
                f"origin ({self.transform[0]:.10g}, {self.transform[3]:.10g}), CRS {_crs_name(self.crs_wkt)}")


def _crs_equal(a: str, b: str) -> bool:
    try:
        from osgeo import osr
    except ImportError:  # rasterio backend
        try:
            from rasterio.crs import CRS
            return CRS.from_wkt(a) == CRS.from_wkt(b) if a and b else a == b
        except Exception:  # noqa: BLE001
            return a == b
    if not a or not b:
        return a == b
    sa, sb = osr.SpatialReference(), osr.SpatialReference()
    if sa.ImportFromWkt(a) != 0 or sb.ImportFromWkt(b) != 0:
        return a == b
    return bool(sa.IsSame(sb))


def _crs_name(wkt: str) -> str:
    if not wkt:
        return "(none)"
    m = re.search(r'ID\["EPSG",(\d+)\]\]\s*$', wkt) or re.search(r'AUTHORITY\["EPSG","(\d+)"\]\]\s*$', wkt)
    name = re.match(r'^\w+\["([^"]+)"', wkt)
    return (f"EPSG:{m.group(1)} " if m else "") + (f"({name.group(1)})" if name else "")


@dataclass(frozen=True)
class BandSource:
    """One band of one file, with what is needed to turn its numbers into physical values."""

    path: str
    index: int  # 1-based band number in the file
    band: BandClass
    sensor: str  # sensor id or "" when unknown
    code: str  # sensor band code ("B8A") or "" when named by class
    grid: Grid
    dtype: str  # numpy dtype name of the stored values
    nodata: Optional[float]
    scale: float = 1.0
    offset: float = 0.0
    description: str = ""

    @property
    def label(self) -> str:
        base = f"{self.code} {self.band.name}" if self.code else self.band.name
        return f"{base} ({os.path.basename(self.path)} band {self.index})"


@dataclass(frozen=True)
class QASource:
    """A QA layer (HLS ``Fmask`` or Sentinel-2 ``SCL``) used to mask unusable pixels."""

    path: str
    kind: str  # "Fmask" or "SCL"
    grid: Grid
    index: int = 1
    exclude: Optional[Tuple[str, ...]] = None  # classes that make a pixel invalid; None: the defaults


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file says about itself."""

    path: str
    driver: str
    grid: Grid
    count: int
    dtypes: Tuple[str, ...]
    nodata: Tuple[Optional[float], ...]
    scales: Tuple[Optional[float], ...]
    offsets: Tuple[Optional[float], ...]
    descriptions: Tuple[str, ...]
    band_metadata: Tuple[Mapping[str, str], ...]
    metadata: Mapping[str, str] = field(default_factory=dict)


# --- backends ----------------------------------------------------------------------------------------
def _backend_name() -> str:
    forced = os.environ.get("HLS_TRANSLATE_RASTER_BACKEND", "").strip().lower()
    if forced in ("gdal", "rasterio"):
        return forced
    try:
        from osgeo import gdal  # noqa: F401
        return "gdal"
    except ImportError:
        return "rasterio"


@contextmanager
def _gdal_exceptions():
    """Turn on GDAL exceptions for the block only (QGIS and other plugins share the global switch)."""
    from osgeo import gdal

    previous = gdal.GetUseExceptions()
    if not previous:
        gdal.UseExceptions()
    try:
        yield gdal
    finally:
        if not previous:
            gdal.DontUseExceptions()


def _check_path(path: str) -> str:
    p = os.fspath(path)
    if not p.startswith("/vsi") and not os.path.exists(p):
        raise RasterNotFoundError(f"raster file not found: {p}")
    if os.path.isdir(p):
        raise NotARasterError(f"{p} is a folder, not a raster file")
    return p


class _GdalHandle:
    def __init__(self, path: str):
        self.path = _check_path(path)
        with _gdal_exceptions() as gdal:
            try:
                self.ds = gdal.Open(self.path, gdal.GA_ReadOnly)
            except RuntimeError as exc:
                raise NotARasterError(f"GDAL cannot open {self.path} as a raster: {exc}") from None
            if self.ds is None or self.ds.RasterCount == 0:
                raise NotARasterError(f"{self.path} is not a raster (GDAL found no raster bands)")

    def info(self) -> RasterInfo:
        ds = self.ds
        from osgeo import gdal_array

        bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
        gt = tuple(float(v) for v in ds.GetGeoTransform())
        # A PAM sidecar (.aux.xml, written e.g. when QGIS computes statistics) makes GDAL report scale 1 /
        # offset 0 for bands that state none; treat that identity pair as "not stated", as the rasterio
        # backend does, so that integer DN keep their band class's scale.
        so = [(b.GetScale(), b.GetOffset()) for b in bands]
        so = [(None, None) if (s in (None, 1.0) and o in (None, 0.0)) else (s, o) for s, o in so]
        grid = Grid(ds.GetProjection() or "", gt, ds.RasterXSize, ds.RasterYSize)
        return RasterInfo(
            path=self.path, driver=ds.GetDriver().ShortName, grid=grid, count=ds.RasterCount,
            dtypes=tuple(np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(b.DataType)).name for b in bands),
            nodata=tuple(b.GetNoDataValue() for b in bands), scales=tuple(s for s, _ in so),
            offsets=tuple(o for _, o in so),
            descriptions=tuple(b.GetDescription() or "" for b in bands),
            band_metadata=tuple(dict(b.GetMetadata() or {}) for b in bands),
            metadata=dict(ds.GetMetadata() or {}))

    def read(self, index: int, window: Window) -> np.ndarray:
        with _gdal_exceptions():
            try:
                a = self.ds.GetRasterBand(index).ReadAsArray(
                    window.col_off, window.row_off, window.width, window.height)
            except RuntimeError as exc:
                raise RasterError(f"reading {self.path} band {index} window {window}: {exc}") from None
        if a is None:
            raise RasterError(f"reading {self.path} band {index} window {window} failed")
        return a

    def warped(self, grid: Grid, resampling: str) -> "_GdalHandle":
        with _gdal_exceptions() as gdal:
            minx, miny, maxx, maxy = grid.bounds
            vrt = gdal.Warp("", self.ds, format="VRT", outputBounds=(minx, miny, maxx, maxy),
                            width=grid.width, height=grid.height, dstSRS=grid.crs_wkt or None,
                            resampleAlg=resampling, multithread=False)
        h = object.__new__(_GdalHandle)
        h.path, h.ds = self.path, vrt
        return h

    def close(self):
        self.ds = None


class _RasterioHandle:
    def __init__(self, path: str):
        self.path = _check_path(path)
        import rasterio
        from rasterio.errors import RasterioIOError

        try:
            self.ds = rasterio.open(self.path)
        except RasterioIOError as exc:
            raise NotARasterError(f"cannot open {self.path} as a raster: {exc}") from None
        if self.ds.count == 0:
            raise NotARasterError(f"{self.path} is not a raster (no raster bands)")

    def info(self) -> RasterInfo:
        ds = self.ds
        grid = Grid(ds.crs.to_wkt() if ds.crs else "", tuple(ds.transform.to_gdal()), ds.width, ds.height)
        n = ds.count
        scales = tuple(None if (s == 1.0 and o == 0.0) else s for s, o in zip(ds.scales, ds.offsets))
        offsets = tuple(None if (s == 1.0 and o == 0.0) else o for s, o in zip(ds.scales, ds.offsets))
        return RasterInfo(
            path=self.path, driver=ds.driver, grid=grid, count=n, dtypes=tuple(ds.dtypes),
            nodata=tuple(ds.nodatavals), scales=scales, offsets=offsets,
            descriptions=tuple(d or "" for d in ds.descriptions),
            band_metadata=tuple(dict(ds.tags(i + 1)) for i in range(n)), metadata=dict(ds.tags()))

    def read(self, index: int, window: Window) -> np.ndarray:
        from rasterio.windows import Window as RWindow

        return self.ds.read(index, window=RWindow(window.col_off, window.row_off, window.width, window.height))

    def warped(self, grid: Grid, resampling: str) -> "_RasterioHandle":
        from affine import Affine
        from rasterio.crs import CRS
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        vrt = WarpedVRT(self.ds, crs=CRS.from_wkt(grid.crs_wkt) if grid.crs_wkt else self.ds.crs,
                        transform=Affine.from_gdal(*grid.transform), width=grid.width, height=grid.height,
                        resampling=Resampling[resampling])
        h = object.__new__(_RasterioHandle)
        h.path, h.ds = self.path, vrt
        return h

    def close(self):
        self.ds.close()


def _open_handle(path: str):
    return _GdalHandle(path) if _backend_name() == "gdal" else _RasterioHandle(path)


def raster_info(path: str) -> RasterInfo:
    """Read a raster file's header (grid, band count, types, nodata, scale, descriptions)."""
    h = _open_handle(path)
    try:
        return h.info()
    finally:
        h.close()


# --- band identification -----------------------------------------------------------------------------
def _band_from_text(text: str, sensor: Optional[str]) -> Optional[Tuple[BandClass, str]]:
    """(class, sensor code) named by a band description or metadata value, or None if it names none."""
    text = text.strip()
    if not text:
        return None
    candidates = [text, text.split()[0], text.split("(")[0].strip()]
    for cand in dict.fromkeys(candidates):
        try:
            cls = resolve_band(cand, sensor) if _bands.normalize_code(cand) else resolve_band(cand)
        except AmbiguousBandError:
            raise
        except BandError:
            continue
        code = _bands.normalize_code(cand) or ""
        if not code and sensor:
            sb = _bands.sensor_band_for_class(sensor, cls)
            code = sb.code if sb else ""
        return cls, code
    return None


def _scale_offset(info: RasterInfo, i: int, cls: BandClass, sensor: str, code_text: str) -> Tuple[float, float]:
    s, o = info.scales[i], info.offsets[i]
    if s is not None or (o not in (None, 0.0)):
        return (1.0 if s is None else float(s)), (0.0 if o is None else float(o))
    if not np.issubdtype(np.dtype(info.dtypes[i]), np.integer):
        return 1.0, 0.0  # floating point without a stated scale: already physical
    upper = code_text.upper()
    if sensor == "LANDSAT" and upper.startswith("SR_"):
        return 2.75e-5, -0.2  # Collection 2 Level-2 surface reflectance
    if sensor == "LANDSAT" and upper.startswith("ST_"):
        return 0.00341802, 149.0 - 273.15  # Collection 2 Level-2 surface temperature, in degC
    return cls.scale, 0.0


def _nodata(info: RasterInfo, i: int, sensor: str) -> Optional[float]:
    if info.nodata[i] is not None:
        return float(info.nodata[i])
    if sensor in SENSORS and np.issubdtype(np.dtype(info.dtypes[i]), np.integer):
        return SENSORS[sensor].default_nodata
    return None


BandMap = Mapping[Union[int, str], str]


def band_sources_of(path: str, sensor: Optional[str] = None, band_map: Optional[BandMap] = None,
                    info: Optional[RasterInfo] = None) -> List[BandSource]:
    """The band sources a file holds.

    Bands are identified, in order: by ``band_map`` (``{1: "B04", 2: "nir_narrow"}`` for a multi-band file,
    ``{"": "B05"}`` or ``{path: "B05"}`` for a single-band file), by the ``HLS_TRANSLATE_BAND`` metadata
    this library writes, by the band description, and for single-band files by the file name (HLS names,
    ``..._B05.tif``).  Bands identified by none of these are skipped unless ``band_map`` names them.
    """
    info = info or raster_info(path)
    base = os.path.basename(path)
    if sensor is None:
        if is_hls_name(base):
            sensor = parse_hls_name(base).product
        else:
            names = [d for d in info.descriptions if d]
            code = band_code_from_filename(base)
            sensor = _bands.guess_sensor(names + ([code] if code else []), hint=path)
    sensor = _bands.sensor(sensor).id if sensor else ""
    out: List[BandSource] = []
    for i in range(info.count):
        explicit = None
        if band_map:
            explicit = band_map.get(i + 1, band_map.get(str(i + 1)))
            if explicit is None and info.count == 1:
                explicit = band_map.get("", band_map.get(path, band_map.get(base)))
        found: Optional[Tuple[BandClass, str]] = None
        code_text = ""
        if explicit is not None:
            found = _band_from_text(str(explicit), sensor or None)
            if found is None:
                raise UnknownBandError(
                    f"{path} band {i + 1}: unknown band {explicit!r}; known: {', '.join(_bands.known_band_names())}")
            code_text = str(explicit)
        elif info.band_metadata[i].get(BAND_CLASS_KEY):
            found = (resolve_band(info.band_metadata[i][BAND_CLASS_KEY]),
                     info.band_metadata[i].get("HLS_TRANSLATE_CODE", ""))
        elif info.descriptions[i]:
            found = _band_from_text(info.descriptions[i], sensor or None)
            code_text = info.descriptions[i].split()[0]
        if found is None and info.count == 1:
            code = band_code_from_filename(base)
            if code is not None and is_hls_name(base):
                hn = parse_hls_name(base)
                if not hn.is_spectral:
                    return []
            if code is not None:
                found = (resolve_band(code, sensor or None), code)
                m = re.search(r"(SR_|ST_)B\d+", base, re.IGNORECASE)
                code_text = m.group(0) if m else code
        if found is None or (band_map and explicit is None):
            continue  # an explicit mapping names exactly the bands to use
        cls, code = found
        scale, offset = _scale_offset(info, i, cls, sensor, code_text)
        out.append(BandSource(path=path, index=i + 1, band=cls, sensor=sensor, code=code, grid=info.grid,
                              dtype=info.dtypes[i], nodata=_nodata(info, i, sensor), scale=scale,
                              offset=offset, description=info.descriptions[i]))
    return out


# --- scenes ------------------------------------------------------------------------------------------
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

    def _handle(self, path: str, grid: Grid, resampling: Optional[str] = None):
        warp = not grid.matches(self.grid)
        key = (path, warp)
        h = self._handles.get(key)
        if h is None:
            h = _open_handle(path)
            if warp:
                h = h.warped(self.grid, resampling or self.resampling or "nearest")
            self._handles[key] = h
        return h

    def _window(self, window: Optional[Window]) -> Window:
        w = window or Window.full(self.grid.width, self.grid.height)
        if not w.inside(self.grid.width, self.grid.height):
            raise ValueError(f"window {w} is outside the scene's {self.grid.width}x{self.grid.height} grid")
        return w

    def read_raw(self, band, window: Optional[Window] = None) -> np.ndarray:
        s = self.source(band)
        return self._handle(s.path, s.grid).read(s.index, self._window(window))

    def read(self, band, window: Optional[Window] = None, use_qa: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """One band's physical values (float32) and validity (bool) in ``window`` (default: all)."""
        w = self._window(window)
        s = self.source(band)
        raw = self._handle(s.path, s.grid).read(s.index, w)
        valid = np.ones(raw.shape, dtype=bool) if s.nodata is None or math.isnan(s.nodata) else raw != s.nodata
        values = raw.astype(np.float32)
        del raw
        if s.scale != 1.0:
            values *= np.float32(s.scale)
        if s.offset != 0.0:
            values += np.float32(s.offset)
        valid &= np.isfinite(values)
        if use_qa and self.qa is not None:
            valid &= ~self.qa_invalid(w)
        return values, valid

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
        return qa_invalid(self.qa.kind, h.read(self.qa.index, w), self.qa.exclude)

    def close(self) -> None:
        for h in self._handles.values():
            h.close()
        self._handles.clear()

    def __enter__(self) -> "Scene":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _expand_inputs(inputs) -> Tuple[List[str], Optional[GranuleFiles]]:
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = [os.fspath(p) for p in inputs]
    if not paths:
        raise RasterNotFoundError("no input raster given")
    if len(paths) == 1 and os.path.isdir(paths[0]):
        groups = group_granules(paths[0])
        if not groups:
            raise RasterNotFoundError(f"folder {paths[0]} holds no band files (HLS granules or *_B05.tif-style names)")
        if len(groups) > 1:
            raise BandError(f"folder {paths[0]} holds {len(groups)} scenes ({', '.join(g.scene_id for g in groups)}); "
                            "pass one scene's files or folder")
        return groups[0].paths(), groups[0]
    for p in paths:
        if os.path.isdir(p):
            raise NotARasterError(f"{p} is a folder; pass either one folder or a list of files")
        _check_path(p)
    return paths, None


def open_scene(inputs, *, sensor: Optional[str] = None, band_map: Optional[Mapping] = None,
               reference=None, resampling: Optional[str] = None, use_qa: bool = True,
               qa_exclude: Optional[Sequence[str]] = None, name: str = "") -> Scene:
    """Open a scene from a folder (one HLS granule or per-band files), per-band files, or a multi-band file.

    ``band_map`` overrides band identification: for a multi-band file ``{band_number: band_name}``, for
    per-band files ``{path_or_basename: band_name}``.  Band sources must share one grid; if they do not,
    :class:`GridMismatchError` names each file and its grid, unless ``resampling`` (one of
    :data:`RESAMPLING_METHODS`) is given: then all bands are warped onto the grid of the ``reference``
    band (default: the finest-resolution band).  Fmask/SCL files among the inputs mask unusable pixels
    when ``use_qa``.
    """
    paths, granule = _expand_inputs(inputs)
    if resampling is not None and resampling not in RESAMPLING_METHODS:
        raise ValueError(f"unknown resampling method {resampling!r}; use one of {', '.join(RESAMPLING_METHODS)}")
    sensor = sensor or (granule.sensor if granule and granule.sensor else None)
    if sensor is None and len(paths) > 1:
        sensor = _bands.guess_sensor([os.path.basename(p) for p in paths], hint=os.path.dirname(paths[0]))
    qa_paths = {v: k for k, v in (granule.qa.items() if granule else [])}
    sources: List[BandSource] = []
    qa: Optional[QASource] = None
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0].upper()
        kind = qa_paths.get(p) or ("Fmask" if stem.endswith("FMASK") else "SCL" if stem.endswith("SCL") else None)
        if kind is not None:
            if use_qa:
                qa = QASource(p, kind, raster_info(p).grid, exclude=tuple(qa_exclude) if qa_exclude else None)
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
                "give a band mapping, e.g. {1: 'B04'}")
        sources.extend(found)
    if not sources:
        raise MissingBandError(f"no spectral bands identified in: {', '.join(paths)}")
    if reference is not None:
        ref_sensor = sensor or next((s.sensor for s in sources if s.sensor), None)
        ref_cls = None
        if not isinstance(reference, Grid):
            ref_cls = (_bands.band_class(reference) if isinstance(reference, (int, BandClass))
                       else resolve_band(str(reference), ref_sensor))
        if ref_cls is not None:
            matches = [s for s in sources if s.band == ref_cls]
            if not matches:
                raise MissingBandError(f"reference band {ref_cls.key} is not among the inputs "
                                       f"({', '.join(s.band.key for s in sources)})")
            grid = matches[0].grid
        else:
            grid = reference
    else:
        grid = min((s.grid for s in sources), key=lambda g: g.res[0] * g.res[1])
    mismatched = [s for s in sources if not s.grid.matches(grid)] + (
        [qa] if qa is not None and not qa.grid.matches(grid) else [])
    if mismatched and resampling is None:
        lines = [f"  {os.path.basename(s.path)}: {s.grid.describe()}" for s in sources]
        if qa is not None:
            lines.append(f"  {os.path.basename(qa.path)}: {qa.grid.describe()}")
        raise GridMismatchError(
            "band sources are on different grids (CRS, resolution or extent differ):\n" + "\n".join(
                dict.fromkeys(lines)) + "\nbring them onto one grid first, or ask for resampling onto a "
            "reference band's grid (resampling='bilinear', 'average', ...)")
    for s in mismatched:
        if not s.grid.same_crs(grid) and not (s.grid.crs_wkt and grid.crs_wkt):
            raise GridMismatchError(f"{s.path} has no CRS; cannot resample it onto {grid.describe()}")
    scene_name = name or (granule.scene_id if granule else os.path.splitext(os.path.basename(paths[0]))[0])
    return Scene(sources, grid, qa=qa, resampling=resampling, name=scene_name)


# --- writing -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutputBand:
    """How one output band is described and stored."""

    description: str
    band: Optional[BandClass] = None
    code: str = ""  # sensor band code, written as HLS_TRANSLATE_CODE
    scale: Optional[float] = None  # integer output: physical = DN * scale + offset (None: the class's scale)
    offset: float = 0.0

    def storage_scale(self, dtype: str) -> float:
        if dtype == "float32":
            return 1.0
        if self.scale is not None:
            return float(self.scale)
        return self.band.scale if self.band is not None else 1.0
    metadata: Mapping[str, str] = field(default_factory=dict)


_DTYPES = {"float32": np.float32, "int16": np.int16, "uint8": np.uint8, "uint16": np.uint16}
_GDAL_TYPES = {"float32": "Float32", "int16": "Int16", "uint8": "Byte", "uint16": "UInt16"}


def default_nodata(dtype: str) -> float:
    return {"float32": -9999.0, "int16": float(_bands.HLS_FILL), "uint8": 255.0, "uint16": 65535.0}[dtype]


def check_writable(path: str) -> str:
    """Fail early (before any compute) if ``path`` cannot be written; returns the absolute path."""
    return writable_output_path(path, RasterWriteError)


class RasterWriter:
    """Writes a raster window by window; the result appears at ``path`` only when complete.

    Data go to a hidden temporary file beside ``path``; :meth:`commit` builds overviews (or converts to
    COG) and renames it into place.  Leaving the ``with`` block through an exception, or calling
    :meth:`abort`, deletes the temporary file and leaves ``path`` as it was.

    ``write`` takes physical values; pixels where ``valid`` is False or the value is not finite become
    nodata.  For ``int16``/``uint16`` output, values are stored as ``round((v - offset) / scale)``.
    """

    def __init__(self, path: str, grid: Grid, bands: Sequence[OutputBand], *, dtype: str = "float32",
                 driver: str = "GTiff", nodata: Optional[float] = None, compress: str = "DEFLATE",
                 blocksize: int = 256, overviews: bool = True, metadata: Optional[Mapping[str, str]] = None):
        if dtype not in _DTYPES:
            raise ValueError(f"unsupported output dtype {dtype!r}; use one of {', '.join(_DTYPES)}")
        driver = {"GTIFF": "GTiff", "COG": "COG"}.get(driver.upper(), driver)
        if driver not in ("GTiff", "COG"):
            raise ValueError(f"unsupported output format {driver!r}; use GTiff or COG")
        if not bands:
            raise ValueError("an output raster needs at least one band")
        self.path = check_writable(path)
        self.grid, self.bands, self.dtype, self.driver = grid, list(bands), dtype, driver
        self.nodata = default_nodata(dtype) if nodata is None else float(nodata)
        self.compress, self.blocksize, self.overviews = compress, blocksize, overviews
        self.metadata = dict(metadata or {})
        folder, name = os.path.split(self.path)
        tag = uuid.uuid4().hex[:8]
        self._tmp = os.path.join(folder, f".{name}.{tag}.part.tif")
        self._tmp_cog = os.path.join(folder, f".{name}.{tag}.cog.part.tif")
        self._ds = None
        self._done = False
        self._open()

    def _open(self):
        with _gdal_exceptions() as gdal:
            drv = gdal.GetDriverByName("GTiff")
            opts = [f"COMPRESS={self.compress}", "TILED=YES", f"BLOCKXSIZE={self.blocksize}",
                    f"BLOCKYSIZE={self.blocksize}", "BIGTIFF=IF_SAFER"]
            if self.compress.upper() in ("DEFLATE", "LZW", "ZSTD"):
                opts.append("PREDICTOR=3" if self.dtype == "float32" else "PREDICTOR=2")
            try:
                ds = drv.Create(self._tmp, self.grid.width, self.grid.height, len(self.bands),
                                getattr(gdal, "GDT_" + _GDAL_TYPES[self.dtype]), opts)
            except RuntimeError as exc:
                raise RasterWriteError(f"cannot create {self.path}: {exc}") from None
            ds.SetGeoTransform(self.grid.transform)
            if self.grid.crs_wkt:
                ds.SetProjection(self.grid.crs_wkt)
            if self.metadata:
                ds.SetMetadata({str(k): str(v) for k, v in self.metadata.items()})
            for i, b in enumerate(self.bands):
                rb = ds.GetRasterBand(i + 1)
                rb.SetNoDataValue(self.nodata)
                rb.SetDescription(b.description)
                md = {str(k): str(v) for k, v in b.metadata.items()}
                if b.band is not None:
                    md[BAND_CLASS_KEY] = b.band.key
                    md.setdefault("units", b.band.units)
                if b.code:
                    md["HLS_TRANSLATE_CODE"] = b.code
                if md:
                    rb.SetMetadata(md)
                if self.dtype != "float32" and (b.storage_scale(self.dtype) != 1.0 or b.offset != 0.0):
                    rb.SetScale(b.storage_scale(self.dtype))
                    rb.SetOffset(b.offset)
        self._ds = ds

    def write(self, window: Window, values: np.ndarray, valid: Optional[np.ndarray] = None,
              band: Optional[int] = None) -> None:
        """Write physical ``values`` (``[C, h, w]`` for all bands, or ``[h, w]`` for ``band``, 1-based)."""
        if self._ds is None:
            raise RasterWriteError(f"{self.path}: writer is closed")
        if not window.inside(self.grid.width, self.grid.height):
            raise ValueError(f"window {window} is outside the output's {self.grid.width}x{self.grid.height} grid")
        arr = np.asarray(values)
        if band is None:
            if arr.ndim == 2 and len(self.bands) == 1:
                arr = arr[None]
            if arr.shape != (len(self.bands), window.height, window.width):
                raise ValueError(f"expected values of shape {(len(self.bands), window.height, window.width)}, "
                                 f"got {arr.shape}")
            targets = range(1, len(self.bands) + 1)
        else:
            arr = arr[None]
            if arr.shape[1:] != window.shape:
                raise ValueError(f"expected values of shape {window.shape}, got {arr.shape[1:]}")
            targets = [band]
        vmask = None if valid is None else np.asarray(valid, dtype=bool).reshape(arr.shape)
        with _gdal_exceptions():
            for k, bnum in enumerate(targets):
                out = self._encode(arr[k], None if vmask is None else vmask[k], self.bands[bnum - 1])
                try:
                    self._ds.GetRasterBand(bnum).WriteArray(out, window.col_off, window.row_off)
                except RuntimeError as exc:
                    raise RasterWriteError(f"writing {self.path}: {exc}") from None

    def _encode(self, v: np.ndarray, valid: Optional[np.ndarray], b: OutputBand) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32)
        bad = ~np.isfinite(v)
        if valid is not None:
            bad |= ~valid
        if self.dtype == "float32":
            out = v.copy()
        else:
            info = np.iinfo(_DTYPES[self.dtype])
            dn = np.rint((v.astype(np.float64) - b.offset) / b.storage_scale(self.dtype))
            lo, hi = info.min, info.max
            # keep the nodata value for nodata only
            if self.nodata == lo:
                lo += 1
            elif self.nodata == hi:
                hi -= 1
            out = np.clip(np.nan_to_num(dn, nan=0.0), lo, hi).astype(_DTYPES[self.dtype])
            # a valid value that rounds onto the nodata value is moved one step away from it
            out[(out == self.nodata) & ~bad] = self.nodata + (1 if self.nodata < hi else -1)
        out[bad] = self.nodata
        return out

    def commit(self) -> str:
        """Finish the file (overviews, COG layout) and move it to ``path``; returns ``path``."""
        if self._done:
            return self.path
        try:
            with _gdal_exceptions() as gdal:
                ds, self._ds = self._ds, None
                if self.driver == "GTiff" and self.overviews:
                    levels = _overview_levels(self.grid.width, self.grid.height, self.blocksize)
                    if levels:
                        ds.BuildOverviews("NEAREST" if self.dtype != "float32" else "AVERAGE", levels)
                ds.FlushCache()
                ds = None
                final_tmp = self._tmp
                if self.driver == "COG":
                    opts = [f"COMPRESS={self.compress}", f"BLOCKSIZE={max(self.blocksize, 256)}",
                            "BIGTIFF=IF_SAFER", "OVERVIEWS=AUTO" if self.overviews else "OVERVIEWS=NONE",
                            "RESAMPLING=AVERAGE" if self.dtype == "float32" else "RESAMPLING=NEAREST"]
                    if self.compress.upper() in ("DEFLATE", "LZW", "ZSTD"):
                        opts.append("PREDICTOR=YES")
                    gdal.Translate(self._tmp_cog, self._tmp, format="COG", creationOptions=opts)
                    os.remove(self._tmp)
                    final_tmp = self._tmp_cog
                os.replace(final_tmp, self.path)
        except (RuntimeError, OSError) as exc:
            self.abort()
            raise RasterWriteError(f"cannot finish {self.path}: {exc}") from None
        self._done = True
        return self.path

    def abort(self) -> None:
        """Discard everything written; ``path`` is left as it was."""
        self._ds = None
        for p in (self._tmp, self._tmp_cog, self._tmp + ".aux.xml", self._tmp_cog + ".aux.xml"):
            try:
                os.remove(p)
            except FileNotFoundError:
                pass
        self._done = True

    def __enter__(self) -> "RasterWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def __del__(self):
        if not getattr(self, "_done", True):
            self.abort()


def _overview_levels(width: int, height: int, block: int) -> List[int]:
    levels, f = [], 2
    while max(width, height) / f >= block / 2 and f <= 4096:
        levels.append(f)
        f *= 2
    return levels


def write_raster(path: str, grid: Grid, values: np.ndarray, bands: Sequence[OutputBand],
                 valid: Optional[np.ndarray] = None, **kwargs) -> str:
    """Write a whole array (``[C, H, W]`` physical values) at once; see :class:`RasterWriter`."""
    with RasterWriter(path, grid, bands, **kwargs) as w:
        w.write(Window.full(grid.width, grid.height), values, valid)
    return w.path


def iter_windows(width: int, height: int, block: int) -> Iterator[Window]:
    """Row-major square blocks covering a grid (the last row/column may be smaller)."""
    for r in range(0, height, block):
        for c in range(0, width, block):
            yield Window(c, r, min(block, width - c), min(block, height - r))
