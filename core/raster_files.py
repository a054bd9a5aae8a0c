"""The two ways a :class:`~.writer.RasterWriter` writes its temporary GeoTIFF: GDAL's Python bindings
(:class:`GdalFile`) or rasterio's bundled GDAL where they are missing (:class:`RasterioFile`).

Both take the same GDAL creation options, georeferencing, dataset and band metadata, nodata and
scale/offset tags (:class:`BandSpec`), write the encoded pixels window by window, build overviews and
convert to COG the same way; ``tests/test_pip_only.py`` compares their files.  rasterio is imported only
when a :class:`RasterioFile` is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from .backends import gdal_exceptions, import_rasterio
from .errors import RasterWriteError
from .grid import Grid, Window

_GDAL_TYPES = {"float32": "Float32", "int16": "Int16", "uint8": "Byte", "uint16": "UInt16"}


@dataclass(frozen=True)
class BandSpec:
    """One band as both backends write it: description, metadata, and scale/offset (None: not stated)."""

    description: str
    metadata: Mapping[str, str]
    scale: Optional[float]
    offset: Optional[float]


class GdalFile:
    """The temporary GeoTIFF of a :class:`RasterWriter`, written through GDAL's Python bindings."""

    def __init__(self, tmp: str, path: str, grid: Grid, dtype: str, options: Sequence[str],
                 metadata: Mapping[str, str], bands: Sequence[BandSpec], nodata: float):
        self.path = path
        with gdal_exceptions() as gdal:
            drv = gdal.GetDriverByName("GTiff")
            try:
                ds = drv.Create(tmp, grid.width, grid.height, len(bands), getattr(gdal, "GDT_" + _GDAL_TYPES[dtype]),
                                list(options))
            except RuntimeError as exc:
                raise RasterWriteError(f"cannot create {path}: {exc}") from None
            ds.SetGeoTransform(grid.transform)
            if grid.crs_wkt:
                ds.SetProjection(grid.crs_wkt)
            if metadata:
                ds.SetMetadata({str(k): str(v) for k, v in metadata.items()})
            for i, b in enumerate(bands):
                rb = ds.GetRasterBand(i + 1)
                rb.SetNoDataValue(nodata)
                rb.SetDescription(b.description)
                if b.metadata:
                    rb.SetMetadata(dict(b.metadata))
                if b.scale is not None:
                    rb.SetScale(b.scale)
                    rb.SetOffset(b.offset)
        self.ds = ds

    def write(self, band: int, array: np.ndarray, window: Window) -> None:
        with gdal_exceptions():
            try:
                self.ds.GetRasterBand(band).WriteArray(array, window.col_off, window.row_off)
            except RuntimeError as exc:
                raise RasterWriteError(f"writing {self.path}: {exc}") from None

    def finish(self, levels: Sequence[int], resampling: str) -> None:
        with gdal_exceptions():
            ds, self.ds = self.ds, None
            if levels:
                ds.BuildOverviews(resampling, list(levels))
            ds.FlushCache()
            ds = None

    @staticmethod
    def copy_as_cog(src: str, dst: str, options: Sequence[str]) -> None:
        with gdal_exceptions() as gdal:
            gdal.Translate(dst, src, format="COG", creationOptions=list(options))

    def discard(self) -> None:
        self.ds = None


class RasterioFile:
    """The temporary GeoTIFF of a :class:`RasterWriter`, written through rasterio (its bundled GDAL)."""

    def __init__(self, tmp: str, path: str, grid: Grid, dtype: str, options: Sequence[str],
                 metadata: Mapping[str, str], bands: Sequence[BandSpec], nodata: float):
        rasterio = import_rasterio()
        from affine import Affine
        from rasterio.crs import CRS

        self.path = path
        try:
            ds = rasterio.open(tmp, "w", driver="GTiff", width=grid.width, height=grid.height, count=len(bands),
                               dtype=dtype, crs=CRS.from_wkt(grid.crs_wkt) if grid.crs_wkt else None,
                               transform=Affine.from_gdal(*grid.transform), nodata=nodata, **as_kwargs(options))
            if metadata:
                ds.update_tags(**{str(k): str(v) for k, v in metadata.items()})
            for i, b in enumerate(bands):
                ds.set_band_description(i + 1, b.description)
                if b.metadata:
                    ds.update_tags(i + 1, **dict(b.metadata))
            if any(b.scale is not None for b in bands):
                ds.scales = tuple(1.0 if b.scale is None else b.scale for b in bands)
                ds.offsets = tuple(0.0 if b.offset is None else b.offset for b in bands)
        except rasterio.errors.RasterioError as exc:
            raise RasterWriteError(f"cannot create {path}: {exc}") from None
        self.ds = ds

    def write(self, band: int, array: np.ndarray, window: Window) -> None:
        import rasterio
        from rasterio.windows import Window as RWindow

        try:
            self.ds.write(array, band, window=RWindow(window.col_off, window.row_off, window.width, window.height))
        except rasterio.errors.RasterioError as exc:
            raise RasterWriteError(f"writing {self.path}: {exc}") from None

    def finish(self, levels: Sequence[int], resampling: str) -> None:
        import rasterio
        from rasterio.enums import Resampling

        ds, self.ds = self.ds, None
        try:
            if levels:
                ds.build_overviews(list(levels), Resampling[resampling.lower()])
            ds.close()
        except rasterio.errors.RasterioError as exc:
            raise RasterWriteError(str(exc)) from None

    @staticmethod
    def copy_as_cog(src: str, dst: str, options: Sequence[str]) -> None:
        import rasterio
        import rasterio.shutil

        try:
            rasterio.shutil.copy(src, dst, driver="COG", **as_kwargs(options))
        except rasterio.errors.RasterioError as exc:
            raise RasterWriteError(str(exc)) from None

    def discard(self) -> None:
        if self.ds is not None:
            ds, self.ds = self.ds, None
            try:
                ds.close()
            except Exception:  # noqa: BLE001 - the file is removed next; a failing close changes nothing
                pass


def as_kwargs(options: Sequence[str]) -> dict:
    """GDAL creation options ``KEY=VALUE`` as rasterio's keyword arguments."""
    return dict(o.split("=", 1) for o in options)


__all__ = ["BandSpec", "GdalFile", "RasterioFile", "as_kwargs"]
