"""Writing rasters: tiled, compressed GeoTIFF or COG, window by window, atomically (needs ``osgeo``).

:class:`RasterWriter` writes into a hidden temporary file beside the output and renames it into place
only when complete; :func:`write_raster` writes a whole array at once.  Values are physical; integer
outputs store ``round((value - offset) / scale)`` and record the scale/offset in the file, and every
band records its band class (:data:`~.products.BAND_CLASS_KEY`) so that this library reads it back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Sequence

import numpy as np

from . import bands as _bands
from .backends import gdal_exceptions
from .bands import BandClass
from .errors import RasterWriteError
from .fileio import part_path, remove_stale_parts, writable_output_path
from .grid import Grid, Window
from .products import BAND_CLASS_KEY, BAND_CODE_KEY


@dataclass(frozen=True)
class OutputBand:
    """How one output band is described and stored."""

    description: str
    band: Optional[BandClass] = None
    code: str = ""  # sensor band code, written as HLS_TRANSLATE_CODE
    scale: Optional[float] = None  # integer output: physical = DN * scale + offset (None: the class's scale)
    offset: float = 0.0
    metadata: Mapping[str, str] = field(default_factory=dict)

    def storage_scale(self, dtype: str) -> float:
        """The scale integer values of ``dtype`` are stored with (1 for float32)."""
        if dtype == "float32":
            return 1.0
        if self.scale is not None:
            return float(self.scale)
        return self.band.scale if self.band is not None else 1.0


_DTYPES = {"float32": np.float32, "int16": np.int16, "uint8": np.uint8, "uint16": np.uint16}
_GDAL_TYPES = {"float32": "Float32", "int16": "Int16", "uint8": "Byte", "uint16": "UInt16"}


def default_nodata(dtype: str) -> float:
    """The nodata value an output of ``dtype`` gets unless one is asked for."""
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
        remove_stale_parts(self.path)
        self._tmp = part_path(self.path, ".tif")
        self._tmp_cog = part_path(self.path, ".cog.tif")
        self._ds = None
        self._done = False
        self._open()

    def _open(self):
        with gdal_exceptions() as gdal:
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
                    md[BAND_CODE_KEY] = b.code
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
        with gdal_exceptions():
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
            with gdal_exceptions() as gdal:
                ds, self._ds = self._ds, None
                if self.driver == "GTiff" and self.overviews:
                    levels = overview_levels(self.grid.width, self.grid.height, self.blocksize)
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


def overview_levels(width: int, height: int, block: int) -> List[int]:
    """Overview factors (2, 4, ...) down to about half a block."""
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
