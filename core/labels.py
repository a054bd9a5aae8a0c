"""Categorical label rasters (land cover, scene classification) as model inputs, never interpolated.

A label raster holds class values, not measurements: half-way between class 6 (water) and class 8
(cloud) there is no class 7.  So:

* :class:`LabelRaster` reads one band of a label file onto another grid (the scene's) by **nearest
  neighbour only**.  On the same CRS without rotated transforms (the common case: a 20 m SCL layer under
  10 m bands) each output pixel takes the value of the label pixel under its centre, computed here from
  the two geotransforms, and pixels whose centre lies outside the label raster are marked outside.  On
  another CRS the raster backend warps with ``nearest`` (pixels outside then read as the file's nodata).
* :class:`LabelEncoding` maps raw class values to a model's class indices (the position of the value in
  the model's ``label_classes``); values the model does not know, and the raster's nodata, are invalid.
* :func:`check_label_classes` refuses a label layer that holds none of a model's classes on the grid (a
  wrong file: everything would be nodata), reading it strip by strip and stopping at the first known class.

numpy and the raster backend only (no torch).
"""

from __future__ import annotations

import math
import os
from typing import Optional, Sequence, Tuple

import numpy as np

from .errors import BandError, RasterError
from .metadata import LabelClass, ModelMetadata
from .backends import open_reader, raster_info
from .grid import Grid, Window


class LabelEncoding:
    """Raw label values -> class indices ``0..K-1`` of a model, with validity."""

    def __init__(self, classes: Sequence[LabelClass]):
        if not classes:
            raise BandError("a label encoding needs at least one class")
        self.classes: Tuple[LabelClass, ...] = tuple(classes)
        values = np.array([c.value for c in self.classes], dtype=np.int64)
        self._order = np.argsort(values, kind="stable")
        self._sorted = values[self._order]
        if len(np.unique(values)) != len(values):
            raise BandError(f"label classes repeat a value: {values.tolist()}")

    @classmethod
    def from_metadata(cls, metadata: ModelMetadata) -> "LabelEncoding":
        if not metadata.label_classes:
            raise BandError(f"{metadata.architecture} is not a label-map model: its metadata lists no label classes")
        return cls(metadata.label_classes)

    def __len__(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        return ", ".join(f"{c.value}={c.name}" for c in self.classes)

    def encode(self, raw: np.ndarray, valid: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """``(index int64, valid bool)`` of raw label values; ``valid`` (optional) marks pixels already known
        to be usable (not nodata, inside the raster).  Unknown values are invalid; the index is -1 wherever
        the result is invalid."""
        raw = np.asarray(raw)
        pos = np.minimum(np.searchsorted(self._sorted, raw), len(self._sorted) - 1)
        known = self._sorted[pos] == raw  # False for NaN and for values between or beyond the classes
        if valid is not None:
            known &= valid
        index = self._order[pos].astype(np.int64)
        index[~known] = -1
        return index, known


class LabelRaster:
    """One band of a categorical raster, read onto ``grid`` by nearest neighbour (see the module docs).

    ``read(window)`` returns the raw values ``[h, w]`` and where they are usable (inside the label raster
    and not its nodata); ``read_classes(window, encoding)`` the class indices and validity.
    """

    def __init__(self, path: str, grid: Grid, band: int = 1):
        self.path = os.path.abspath(os.fspath(path))
        info = raster_info(self.path)
        if not 1 <= int(band) <= info.count:
            raise BandError(f"label raster {self.path} has {info.count} band(s); band {band} does not exist")
        self.band = int(band)
        self.grid = grid
        self.source_grid = info.grid
        self.nodata = info.nodata[self.band - 1]
        self.dtype = info.dtypes[self.band - 1]
        if self.source_grid.matches(grid):
            self._mode = "same"
        elif _axis_aligned(self.source_grid) and _axis_aligned(grid) and self.source_grid.same_crs(grid):
            self._mode = "index"
        elif self.source_grid.crs_wkt and grid.crs_wkt:
            self._mode = "warp"
        else:
            raise RasterError(f"label raster {self.path} is on {self.source_grid.describe()}, the scene on "
                              f"{grid.describe()}; without a CRS on both it cannot be brought onto the scene's grid")
        self._handle = None

    def _open(self):
        if self._handle is None:
            h = open_reader(self.path)
            self._handle = h.warped(self.grid, "nearest") if self._mode == "warp" else h
        return self._handle

    def describe(self) -> str:
        how = {"same": "on the scene's grid", "index": "nearest neighbour from " + self.source_grid.describe(),
               "warp": "warped (nearest) from " + self.source_grid.describe()}[self._mode]
        return f"{os.path.basename(self.path)} band {self.band} ({how})"

    def read(self, window: Optional[Window] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Raw label values of ``window`` (default: the whole grid) and where they are usable."""
        w = window or Window.full(self.grid.width, self.grid.height)
        if self._mode == "index":
            raw, inside = self._read_nearest(w)
        else:
            raw = self._open().read(self.band, w)
            inside = np.ones(raw.shape, dtype=bool)
        if self.nodata is not None and not math.isnan(self.nodata):
            inside &= raw != self.nodata
        return raw, inside

    def read_classes(self, window: Optional[Window], encoding: LabelEncoding) -> Tuple[np.ndarray, np.ndarray]:
        raw, ok = self.read(window)
        return encoding.encode(raw, ok)

    def _read_nearest(self, w: Window) -> Tuple[np.ndarray, np.ndarray]:
        """The label pixel under each pixel centre of ``w`` (same CRS, no rotation)."""
        gx, gy = self.grid.transform[0], self.grid.transform[3]
        dx, dy = self.grid.transform[1], self.grid.transform[5]
        sx, sy = self.source_grid.transform[0], self.source_grid.transform[3]
        sdx, sdy = self.source_grid.transform[1], self.source_grid.transform[5]
        cols = np.floor((gx + (np.arange(w.col_off, w.col_off + w.width) + 0.5) * dx - sx) / sdx).astype(np.int64)
        rows = np.floor((gy + (np.arange(w.row_off, w.row_off + w.height) + 0.5) * dy - sy) / sdy).astype(np.int64)
        col_in = (cols >= 0) & (cols < self.source_grid.width)
        row_in = (rows >= 0) & (rows < self.source_grid.height)
        raw = np.zeros((w.height, w.width), dtype=np.dtype(self.dtype))
        inside = row_in[:, None] & col_in[None, :]
        if inside.any():
            r0, r1 = int(rows[row_in].min()), int(rows[row_in].max()) + 1
            c0, c1 = int(cols[col_in].min()), int(cols[col_in].max()) + 1
            block = self._open().read(self.band, Window(c0, r0, c1 - c0, r1 - r0))
            ri = np.clip(rows - r0, 0, r1 - r0 - 1)
            ci = np.clip(cols - c0, 0, c1 - c0 - 1)
            raw = np.where(inside, block[np.ix_(ri, ci)], raw)
        return raw, inside

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "LabelRaster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_handle"] = None
        return d


def _value(v) -> str:
    return f"{float(v):g}"


def check_label_classes(raster: LabelRaster, encoding: LabelEncoding, where: str = "the scene",
                        rows: int = 512) -> None:
    """Raise :class:`BandError` when ``raster`` (on its grid) has no pixel of one of ``encoding``'s classes:
    no usable pixel at all (outside the label raster, or its nodata), or only values the model does not
    know (named in the message with the model's classes).  Reads ``rows`` rows at a time and stops at the
    first strip holding a known class, so a right file costs one strip."""
    g = raster.grid
    seen: set = set()
    usable = False
    for y in range(0, g.height, rows):
        raw, ok = raster.read(Window(0, y, g.width, min(rows, g.height - y)))
        if encoding.encode(raw, ok)[1].any():
            return
        if ok.any():
            usable = True
            if len(seen) <= 12:
                seen.update(np.unique(raw[ok]).tolist())
    if not usable:
        nodata = f" or its nodata ({_value(raster.nodata)})" if raster.nodata is not None else ""
        raise BandError(f"label raster {raster.path} has no usable pixel on {where}'s grid (every pixel is outside "
                        f"the label raster{nodata}): it does not cover {where}")
    values = sorted(seen)
    shown = ", ".join(_value(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
    raise BandError(f"label raster {raster.path} holds none of the model's classes ({encoding.describe()}) on "
                    f"{where} (its values there: {shown}); is it the label layer the model was trained on?")


def _axis_aligned(grid: Grid) -> bool:
    """No rotation terms in the geotransform: rows and columns follow the CRS axes."""
    return grid.transform[2] == 0.0 and grid.transform[4] == 0.0


__all__ = ["LabelEncoding", "LabelRaster", "check_label_classes"]
