"""Tile grids and blend windows for tiled inference (numpy only).

A :class:`TileGrid` covers a ``height x width`` raster with tiles of one shape:

* along an axis longer than the tile, tiles of ``tile_size`` start every ``tile_size - overlap`` pixels
  and the last one is shifted inward so that it ends exactly at the raster's edge (no tile hangs over the
  border, so no tile is zero-padded);
* along an axis no longer than the tile there is one tile spanning the whole axis; the model sees it
  reflect-padded at its far end to the next multiple of ``stride`` (see :func:`pad_to`), and the
  prediction is cropped back.

Blending (:meth:`TileGrid.weights`): every tile's prediction is multiplied by a weight window and
accumulated; the mosaic is the weighted sum divided by the summed weight.

========  ====================================================================================
blend     weight window along each axis (the 2-D window is the outer product)
========  ====================================================================================
cosine    1 in the tile's interior, half-cosine ramps over ``overlap`` pixels at both ends
gaussian  ``exp(-d^2 / (2 sigma^2))`` around the tile centre, ``sigma = tile / 8``
mean      1 everywhere (plain average of overlapping predictions)
crop      1 on the part of the tile nearer its centre than any neighbour's, 0 elsewhere: each pixel
          comes from exactly one tile (the cut lies in the middle of each overlap)
========  ====================================================================================

``cosine`` and ``gaussian`` never go below ``floor`` (default 1e-3), so pixels at the raster's border,
which only one tile covers, are never weighted by zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

BLEND_MODES = ("cosine", "gaussian", "mean", "crop")
#: Smallest weight of the ``cosine`` and ``gaussian`` windows.
DEFAULT_FLOOR = 1e-3


def round_up(n: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``n``."""
    return -(-int(n) // int(multiple)) * int(multiple)


def tile_starts(length: int, tile: int, overlap: int) -> Tuple[int, ...]:
    """Start offsets of tiles of ``tile`` pixels overlapping by at least ``overlap`` along one axis.

    Tiles step by ``tile - overlap``; the last tile is shifted inward to end at ``length``.  An axis no
    longer than ``tile`` gets a single tile at 0.
    """
    if length <= 0:
        raise ValueError(f"axis length must be positive, got {length}")
    if tile <= 0:
        raise ValueError(f"tile size must be positive, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile size {tile}), got {overlap}")
    if length <= tile:
        return (0,)
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return tuple(starts)


def _cosine_profile(n: int, ramp: int, floor: float) -> np.ndarray:
    w = np.ones(n, dtype=np.float64)
    if ramp > 0:
        i = np.arange(n, dtype=np.float64)
        d = np.minimum(i, n - 1 - i) + 0.5  # distance of the pixel centre from the tile's edge
        r = np.clip(d / ramp, 0.0, 1.0)
        w = 0.5 - 0.5 * np.cos(np.pi * r)
    return np.maximum(w, floor)


def _gaussian_profile(n: int, floor: float) -> np.ndarray:
    i = np.arange(n, dtype=np.float64)
    sigma = max(n / 8.0, 0.5)
    w = np.exp(-((i - (n - 1) / 2.0) ** 2) / (2.0 * sigma * sigma))
    return np.maximum(w, floor)


def _crop_profile(starts: Sequence[int], n: int, length: int, k: int) -> np.ndarray:
    """1 on the pixels tile ``k`` owns along this axis: between the mid-points of its overlaps."""
    lo = 0 if k == 0 else (starts[k] + starts[k - 1] + n) // 2
    hi = length if k == len(starts) - 1 else (starts[k + 1] + starts[k] + n) // 2
    w = np.zeros(n, dtype=np.float64)
    w[max(lo - starts[k], 0):max(hi - starts[k], 0)] = 1.0
    return w


@dataclass(frozen=True)
class Tile:
    """One tile: its place in the grid and the raster pixels it covers."""

    row: int  # index of the tile row
    col: int  # index of the tile column
    y: int  # first raster row
    x: int  # first raster column
    height: int  # raster rows covered (<= the grid's tile height)
    width: int  # raster columns covered


@dataclass(frozen=True)
class TileGrid:
    """Tiles covering a ``height x width`` raster (see the module documentation)."""

    height: int
    width: int
    tile_size: int
    overlap: int
    stride: int = 1
    row_starts: Tuple[int, ...] = field(init=False)
    col_starts: Tuple[int, ...] = field(init=False)

    def __post_init__(self):
        if self.stride <= 0:
            raise ValueError(f"stride must be positive, got {self.stride}")
        if self.tile_size <= 0 or self.tile_size % self.stride:
            raise ValueError(f"tile size {self.tile_size} must be a positive multiple of the model's stride "
                             f"{self.stride}")
        if not 0 <= self.overlap < self.tile_size:
            raise ValueError(f"overlap {self.overlap} must be in [0, tile size {self.tile_size})")
        object.__setattr__(self, "row_starts", tile_starts(self.height, self.tile_size, self.overlap))
        object.__setattr__(self, "col_starts", tile_starts(self.width, self.tile_size, self.overlap))

    # -- shape -----------------------------------------------------------------------------------
    @property
    def tile_height(self) -> int:
        """Raster rows one tile covers (the tile size, or the raster height if smaller)."""
        return min(self.tile_size, self.height)

    @property
    def tile_width(self) -> int:
        return min(self.tile_size, self.width)

    @property
    def model_shape(self) -> Tuple[int, int]:
        """(height, width) of the arrays given to the model: the tile shape padded to the stride, and to at
        least twice the stride (a strided model's innermost level must keep 2 pixels for its reflect
        padding), so rasters of a few pixels run too."""
        least = 2 * self.stride if self.stride > 1 else 1
        return (max(round_up(self.tile_height, self.stride), least), max(round_up(self.tile_width, self.stride), least))

    @property
    def rows(self) -> int:
        return len(self.row_starts)

    @property
    def cols(self) -> int:
        return len(self.col_starts)

    def __len__(self) -> int:
        return self.rows * self.cols

    def tile(self, row: int, col: int) -> Tile:
        return Tile(row, col, self.row_starts[row], self.col_starts[col], self.tile_height, self.tile_width)

    def row_tiles(self, row: int) -> List[Tile]:
        return [self.tile(row, c) for c in range(self.cols)]

    def __iter__(self):
        for r in range(self.rows):
            yield from self.row_tiles(r)

    def rows_final_after(self, row: int) -> int:
        """Raster rows ``[0, n)`` that no tile row after ``row`` touches: final once ``row`` is done."""
        return self.height if row == self.rows - 1 else self.row_starts[row + 1]

    def coverage(self) -> np.ndarray:
        """How many tiles cover each pixel (int32 ``[height, width]``; for tests and seam statistics)."""
        cover = np.zeros((self.height, self.width), dtype=np.int32)
        for t in self:
            cover[t.y:t.y + t.height, t.x:t.x + t.width] += 1
        return cover

    # -- weights ---------------------------------------------------------------------------------
    def profile(self, axis: int, index: int, blend: str, floor: float = DEFAULT_FLOOR) -> np.ndarray:
        """1-D weights (float64) of tile ``index`` along ``axis`` (0: rows, 1: columns)."""
        starts = self.row_starts if axis == 0 else self.col_starts
        n = self.tile_height if axis == 0 else self.tile_width
        length = self.height if axis == 0 else self.width
        if blend == "cosine":
            return _cosine_profile(n, self.overlap if len(starts) > 1 else 0, floor)
        if blend == "gaussian":
            return _gaussian_profile(n, floor) if len(starts) > 1 else np.ones(n)
        if blend == "mean":
            return np.ones(n, dtype=np.float64)
        if blend == "crop":
            return _crop_profile(starts, n, length, index)
        raise ValueError(f"unknown blend mode {blend!r}; use one of {', '.join(BLEND_MODES)}")

    def weights(self, tile: Tile, blend: str, floor: float = DEFAULT_FLOOR) -> np.ndarray:
        """2-D float32 weight window ``[tile_height, tile_width]`` of ``tile``."""
        return _weights_cached(self, tile.row if blend == "crop" else 0, tile.col if blend == "crop" else 0,
                               blend, float(floor))


_WEIGHT_CACHE: Dict[tuple, np.ndarray] = {}


def _weights_cached(grid: TileGrid, row: int, col: int, blend: str, floor: float) -> np.ndarray:
    key = (grid.height, grid.width, grid.tile_size, grid.overlap, row, col, blend, floor)
    w = _WEIGHT_CACHE.get(key)
    if w is None:
        if len(_WEIGHT_CACHE) > 256:
            _WEIGHT_CACHE.clear()
        w = np.outer(grid.profile(0, row, blend, 0.0), grid.profile(1, col, blend, 0.0))
        if blend in ("cosine", "gaussian"):
            w = np.maximum(w, floor)  # the floor applies to the 2-D window (corners included)
        w = w.astype(np.float32)
        w.setflags(write=False)
        _WEIGHT_CACHE[key] = w
    return w


def pad_to(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad the last two axes of ``a`` at their far ends to ``height x width``.

    Reflection (not zeros) keeps the padded border statistically like the image, so a convolutional
    model's prediction of the real pixels is not pulled towards zero; a one-pixel axis is repeated.
    """
    h, w = a.shape[-2:]
    if (h, w) == (height, width):
        return a
    if h > height or w > width:
        raise ValueError(f"cannot pad {h}x{w} to the smaller {height}x{width}")
    pad = [(0, 0)] * (a.ndim - 2) + [(0, height - h), (0, width - w)]
    return np.pad(a, pad, mode="reflect")


def seam_mask(grid: TileGrid) -> np.ndarray:
    """True where more than one tile covers the pixel: where blend modes differ (seam statistics)."""
    return grid.coverage() > 1


def _multi_cover_1d(starts: Sequence[int], n: int, length: int) -> np.ndarray:
    cover = np.zeros(length, dtype=np.int32)
    for s in starts:
        cover[s:s + n] += 1
    return cover > 1


def seam_error(diff: np.ndarray, grid: TileGrid, segment: int = 16) -> Tuple[float, float]:
    """How visible tile seams are in ``diff`` = tiled prediction - one whole-image prediction (2-D).

    A seam is a step in the mosaic that runs along a line.  For every pair of neighbouring columns
    (rows) of which at least one lies where tiles overlap, the step ``diff[:, x+1] - diff[:, x]`` is
    averaged along segments of ``segment`` pixels of the line: steps that run along the line (seams)
    survive the average, the pixel-to-pixel texture of ``diff`` mostly cancels.  Returns the RMS and the
    largest absolute value of those line-averaged steps (NaN pixels are ignored).
    """
    d = np.asarray(diff, dtype=np.float64)
    if d.shape != (grid.height, grid.width):
        raise ValueError(f"diff has shape {d.shape}, the grid is {grid.height}x{grid.width}")
    steps = []
    for a, starts, n in ((d, grid.col_starts, grid.tile_width), (d.T, grid.row_starts, grid.tile_height)):
        band = _multi_cover_1d(starts, n, a.shape[1])
        pairs = band[1:] | band[:-1]
        if not pairs.any():
            continue
        step = (a[:, 1:] - a[:, :-1])[:, pairs]
        k = (step.shape[0] // segment) * segment
        if k == 0:
            continue
        steps.append(np.nanmean(step[:k].reshape(-1, segment, step.shape[1]), axis=1).ravel())
    if not steps:
        return 0.0, 0.0
    s = np.concatenate(steps)
    s = s[np.isfinite(s)]
    return float(np.sqrt(np.mean(s * s))), float(np.abs(s).max())


def describe(grid: TileGrid) -> str:
    mh, mw = grid.model_shape
    pad = f", padded to {mh}x{mw}" if (mh, mw) != (grid.tile_height, grid.tile_width) else ""
    return (f"{len(grid)} tiles ({grid.rows} rows x {grid.cols} columns) of {grid.tile_height}x{grid.tile_width} px"
            f"{pad}, overlap {grid.overlap}, stride {grid.stride}")


__all__ = ["BLEND_MODES", "DEFAULT_FLOOR", "Tile", "TileGrid", "tile_starts", "round_up", "pad_to",
           "seam_mask", "seam_error", "describe"]

