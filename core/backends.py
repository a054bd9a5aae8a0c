"""The two ways this library reads rasters: GDAL's Python bindings, or rasterio where they are missing.

Reads go through ``osgeo`` (shipped with QGIS) and fall back to rasterio where ``osgeo`` is not installed
(pip-only training machines); rasterio is imported only then, never at module level.  Set
``HLS_TRANSLATE_RASTER_BACKEND=rasterio`` (or ``gdal``) to force one.  Both readers give the same
:class:`RasterInfo` and the same arrays; writing (:mod:`.writer`) needs ``osgeo``.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple, Union

import numpy as np

from .errors import NotARasterError, RasterError, RasterNotFoundError
from .grid import Grid, Window

#: Environment variable that forces a read backend (``gdal`` or ``rasterio``).
BACKEND_ENV = "HLS_TRANSLATE_RASTER_BACKEND"


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file says about itself."""

    path: str
    driver: str
    grid: Grid
    count: int
    dtypes: Tuple[str, ...]
    nodata: Tuple[Optional[float], ...]
    scales: Tuple[Optional[float], ...]  # None where the file states no scale/offset
    offsets: Tuple[Optional[float], ...]
    descriptions: Tuple[str, ...]
    band_metadata: Tuple[Mapping[str, str], ...]
    metadata: Mapping[str, str] = field(default_factory=dict)


def backend_name() -> str:
    """``gdal`` or ``rasterio``: the one forced by :data:`BACKEND_ENV`, else GDAL where it imports."""
    forced = os.environ.get(BACKEND_ENV, "").strip().lower()
    if forced in ("gdal", "rasterio"):
        return forced
    try:
        from osgeo import gdal  # noqa: F401
        return "gdal"
    except ImportError:
        return "rasterio"


@contextmanager
def gdal_exceptions():
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


def crs_equal(a: str, b: str) -> bool:
    """Whether two WKT strings define the same CRS (with whichever CRS library is installed)."""
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


def transform_bounds(bounds: Tuple[float, float, float, float], src_wkt: str, dst_wkt: str,
                     points: int = 21) -> Optional[Tuple[float, float, float, float]]:
    """``(minx, miny, maxx, maxy)`` in ``src_wkt`` as a box in ``dst_wkt`` (edges densified with ``points``
    points each, traditional x/y axis order); None where the CRS library cannot transform them."""
    x0, y0, x1, y1 = bounds
    t = [i / (points - 1) for i in range(points)]
    xs = [x0 + (x1 - x0) * f for f in t] * 2 + [x0] * points + [x1] * points
    ys = [y0] * points + [y1] * points + [y0 + (y1 - y0) * f for f in t] * 2
    try:
        from osgeo import osr
    except ImportError:
        try:
            from rasterio.crs import CRS
            from rasterio.warp import transform

            tx, ty = transform(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), xs, ys)
        except Exception:  # noqa: BLE001 - any CRS library failure: unknown
            return None
    else:
        sa, sb = osr.SpatialReference(), osr.SpatialReference()
        if sa.ImportFromWkt(src_wkt) != 0 or sb.ImportFromWkt(dst_wkt) != 0:
            return None
        for sr in (sa, sb):
            sr.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        try:
            pts = osr.CoordinateTransformation(sa, sb).TransformPoints(list(zip(xs, ys)))
        except Exception:  # noqa: BLE001 - a projection that fails for these points
            return None
        tx, ty = [p[0] for p in pts], [p[1] for p in pts]
    good = [(a, b) for a, b in zip(tx, ty) if math.isfinite(a) and math.isfinite(b)]
    if not good:
        return None
    return (min(a for a, _ in good), min(b for _, b in good), max(a for a, _ in good), max(b for _, b in good))


def check_raster_path(path) -> str:
    """The path as a string, if it names an existing file (or a GDAL ``/vsi`` path)."""
    p = os.fspath(path)
    if not p.startswith("/vsi") and not os.path.exists(p):
        raise RasterNotFoundError(f"raster file not found: {p}")
    if os.path.isdir(p):
        raise NotARasterError(f"{p} is a folder, not a raster file")
    return p


def _stated(scale: Optional[float], offset: Optional[float]) -> Tuple[Optional[float], Optional[float]]:
    """(None, None) for the identity pair: a file that says scale 1 / offset 0 states nothing.

    A PAM sidecar (.aux.xml, written e.g. when QGIS computes statistics) makes GDAL report 1 / 0 for bands
    that state none, and rasterio reports 1 / 0 for every band without tags; integer DN then keep the
    scale their product gives them.
    """
    if scale in (None, 1.0) and offset in (None, 0.0):
        return None, None
    return scale, offset


class GdalReader:
    """One raster file opened read-only through GDAL."""

    def __init__(self, path):
        self.path = check_raster_path(path)
        with gdal_exceptions() as gdal:
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
        so = [_stated(b.GetScale(), b.GetOffset()) for b in bands]
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
        with gdal_exceptions():
            try:
                a = self.ds.GetRasterBand(index).ReadAsArray(
                    window.col_off, window.row_off, window.width, window.height)
            except RuntimeError as exc:
                raise RasterError(f"reading {self.path} band {index} window {window}: {exc}") from None
        if a is None:
            raise RasterError(f"reading {self.path} band {index} window {window} failed")
        return a

    def warped(self, grid: Grid, resampling: str) -> "GdalReader":
        """A reader of the same file resampled onto ``grid`` (a virtual warp; nothing is written)."""
        with gdal_exceptions() as gdal:
            minx, miny, maxx, maxy = grid.bounds
            vrt = gdal.Warp("", self.ds, format="VRT", outputBounds=(minx, miny, maxx, maxy),
                            width=grid.width, height=grid.height, dstSRS=grid.crs_wkt or None,
                            resampleAlg=resampling, multithread=False)
        h = object.__new__(GdalReader)
        h.path, h.ds = self.path, vrt
        return h

    def close(self):
        self.ds = None


class RasterioReader:
    """One raster file opened read-only through rasterio (used where ``osgeo`` is missing)."""

    def __init__(self, path):
        self.path = check_raster_path(path)
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
        so = [_stated(s, o) for s, o in zip(ds.scales, ds.offsets)]
        return RasterInfo(
            path=self.path, driver=ds.driver, grid=grid, count=n, dtypes=tuple(ds.dtypes),
            nodata=tuple(ds.nodatavals), scales=tuple(s for s, _ in so), offsets=tuple(o for _, o in so),
            descriptions=tuple(d or "" for d in ds.descriptions),
            band_metadata=tuple(dict(ds.tags(i + 1)) for i in range(n)), metadata=dict(ds.tags()))

    def read(self, index: int, window: Window) -> np.ndarray:
        from rasterio.windows import Window as RWindow

        return self.ds.read(index, window=RWindow(window.col_off, window.row_off, window.width, window.height))

    def warped(self, grid: Grid, resampling: str) -> "RasterioReader":
        """A reader of the same file resampled onto ``grid`` (a virtual warp; nothing is written)."""
        from affine import Affine
        from rasterio.crs import CRS
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        vrt = WarpedVRT(self.ds, crs=CRS.from_wkt(grid.crs_wkt) if grid.crs_wkt else self.ds.crs,
                        transform=Affine.from_gdal(*grid.transform), width=grid.width, height=grid.height,
                        resampling=Resampling[resampling])
        h = object.__new__(RasterioReader)
        h.path, h.ds = self.path, vrt
        return h

    def close(self):
        self.ds.close()


RasterReader = Union[GdalReader, RasterioReader]


def open_reader(path) -> RasterReader:
    """Open ``path`` read-only with the backend :func:`backend_name` picks."""
    return GdalReader(path) if backend_name() == "gdal" else RasterioReader(path)


def raster_info(path) -> RasterInfo:
    """Read a raster file's header (grid, band count, types, nodata, scale, descriptions)."""
    h = open_reader(path)
    try:
        return h.info()
    finally:
        h.close()
