"""GDAL's block cache during a streaming run: one policy for ``hls-translate predict`` and QGIS.

By default GDAL lets its block cache grow to 5 % of RAM, and a run that reads a large raster window
by window fills it: memory then grows with the raster's area although the tile loop only ever touches
a band of rows.  :func:`bounded_gdal_cache` caps the cache, for the duration of a run, at two rows of
512-pixel blocks of every input and output band (at least 256 MB): a size that grows with the
raster's width, never with its area.  It never raises the cache, leaves it alone when the user chose a
size (``GDAL_CACHEMAX``) or when GDAL's bindings are missing (reads through rasterio: its own GDAL and
cache), and restores the previous size afterwards (inside QGIS the cache also serves map rendering).
Overlapping runs (QGIS runs algorithms in threads) share one cap, the smallest any of them asks for.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Sequence

import numpy as np

if TYPE_CHECKING:
    from .scene import Scene

MIN_CACHE_BYTES = 256 << 20
#: rows of 512-pixel blocks of every band the cache must hold (the tile loop's working set)
BLOCK_ROWS = 2 * 512

_lock = threading.Lock()
_requests: List[int] = []  # the cap each run in progress asked for
_size_before: Optional[int] = None  # the cache size found when the first of them started


def gdal_cache_bytes(scenes: Sequence[Scene], n_outputs: int) -> int:
    """The block-cache size one streaming run needs: two rows of 512-pixel blocks of every band of
    ``scenes`` plus ``n_outputs`` float32 output bands on the first scene's grid, at least 256 MB."""
    row = sum(s.grid.width * np.dtype(s.dtype).itemsize for scene in scenes for s in scene.sources.values())
    row += scenes[0].grid.width * 4 * max(1, n_outputs)
    return max(MIN_CACHE_BYTES, BLOCK_ROWS * row)


@contextlib.contextmanager
def bounded_gdal_cache(scenes: Sequence[Scene], n_outputs: int,
                       log: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Cap GDAL's block cache at :func:`gdal_cache_bytes` while the ``with`` block runs (see the module
    docstring for when it is left alone); ``log`` is told the size chosen."""
    gdal = _gdal_unless_user_set()
    if gdal is None:
        yield
        return
    global _size_before
    size = gdal_cache_bytes(scenes, n_outputs)
    with _lock:
        if not _requests:
            _size_before = gdal.GetCacheMax()
        _requests.append(size)
        cap = _apply(gdal)
        limited = cap < _size_before
    if limited and log:
        log(f"GDAL block cache limited to {cap >> 20} MB (set GDAL_CACHEMAX to choose)")
    try:
        yield
    finally:
        with _lock:
            _requests.remove(size)
            _apply(gdal)


def _apply(gdal) -> int:
    """Set the cache to the smallest request in progress (never above the size found), or back to the
    size found when none is left; returns the size set."""
    target = min([_size_before] + _requests)
    if gdal.GetCacheMax() != target:
        gdal.SetCacheMax(target)
    return target


def _gdal_unless_user_set():
    if os.environ.get("GDAL_CACHEMAX"):
        return None
    try:
        from osgeo import gdal
    except ImportError:
        return None
    return gdal


__all__ = ["bounded_gdal_cache", "gdal_cache_bytes", "MIN_CACHE_BYTES"]
