"""Pixel windows and raster grids: small frozen values and the arithmetic on them (no file I/O).

A :class:`Window` is a rectangle of pixels of a grid; a :class:`Grid` is a CRS (WKT), a GDAL geotransform
and a size.  Whether two CRS definitions mean the same CRS needs a CRS library; :meth:`Grid.same_crs`
asks :func:`hls_translate.core.backends.crs_equal` for it (imported when first needed, so this module
imports neither GDAL nor rasterio).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Tuple

#: A GDAL geotransform: (x origin, pixel width, row rotation, y origin, column rotation, pixel height).
GeoTransform = Tuple[float, float, float, float, float, float]


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
    def rotated(self) -> bool:
        """Whether the geotransform has rotation/shear terms (not north-up)."""
        return self.transform[2] != 0.0 or self.transform[4] != 0.0

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of the four corners (the bounding box, for rotated grids too)."""
        x0, dx, rx, y0, ry, dy = self.transform
        xs = [x0 + c * dx + r * rx for c in (0, self.width) for r in (0, self.height)]
        ys = [y0 + c * ry + r * dy for c in (0, self.width) for r in (0, self.height)]
        return (min(xs), min(ys), max(xs), max(ys))

    def window_transform(self, window: Window) -> GeoTransform:
        """The geotransform of ``window`` of this grid."""
        x0, dx, rx, y0, ry, dy = self.transform
        return (x0 + window.col_off * dx + window.row_off * rx, dx, rx,
                y0 + window.col_off * ry + window.row_off * dy, ry, dy)

    def same_crs(self, other: "Grid") -> bool:
        if self.crs_wkt == other.crs_wkt:
            return True
        from .backends import crs_equal

        return crs_equal(self.crs_wkt, other.crs_wkt)

    def matches(self, other: "Grid", tol: float = 1e-6) -> bool:
        """Same CRS, size and geotransform (to ``tol`` of a pixel)."""
        if (self.width, self.height) != (other.width, other.height) or not self.same_crs(other):
            return False
        px = max(abs(self.transform[1]), abs(self.transform[5]), 1e-12)
        return all(abs(a - b) <= tol * px for a, b in zip(self.transform, other.transform))

    def describe(self) -> str:
        return (f"{self.width}x{self.height} px, {self.res[0]:g} x {self.res[1]:g} units/px, "
                f"origin ({self.transform[0]:.10g}, {self.transform[3]:.10g}), CRS {crs_name(self.crs_wkt)}")


def crs_name(wkt: str) -> str:
    """``EPSG:32629 (WGS 84 / UTM zone 29N)`` for a WKT string, as far as the WKT itself says."""
    if not wkt:
        return "(none)"
    m = re.search(r'ID\["EPSG",(\d+)\]\]\s*$', wkt) or re.search(r'AUTHORITY\["EPSG","(\d+)"\]\]\s*$', wkt)
    name = re.match(r'^\w+\["([^"]+)"', wkt)
    return (f"EPSG:{m.group(1)} " if m else "") + (f"({name.group(1)})" if name else "")


def iter_windows(width: int, height: int, block: int) -> Iterator[Window]:
    """Row-major square blocks covering a grid (the last row/column may be smaller)."""
    for r in range(0, height, block):
        for c in range(0, width, block):
            yield Window(c, r, min(block, width - c), min(block, height - r))
