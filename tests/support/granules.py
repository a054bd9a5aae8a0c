"""HLS v2.0 granule folders built from the real scenes of ``../shared/data``, for the batch tests.

:func:`make_granules` crops six real scenes (five Sentinel-2 L1C/HLS S30 scenes from four places and the
HLS L30 Landsat 8 granule piece) and writes each as an HLS v2.0 granule folder: one int16 COG-style
GeoTIFF per band named ``HLS.<S30|L30>.<tile>.<date>T<time>.v2.0.<band>.tif`` (reflectance x 1e4,
thermal degC x 100, fill -9999), with the Fmask where the source has one.  :func:`break_granule` makes
a copy of one granule whose band file is cut short: its header reads (so it passes the checks) but its
pixels do not (:func:`granules_with_a_broken_one`: both).  Written with the library's writer (GDAL or rasterio).

    from support.granules import make_granules, break_granule
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Dict

import numpy as np

from support import data

#: granule id -> (source scene, sensor of its band numbering); the crops are taken from each scene's centre
SOURCES = {
    "HLS.S30.T30SXH.2019250T105031.v2.0": (data.SPAIN, "S2"),
    "HLS.S30.T19UDP.2017210T153819.v2.0": (data.T19UDP, "S2"),
    "HLS.S30.T38KQE.2018153T070621.v2.0": (data.BETSIBOKA, "S2"),
    "HLS.S30.T33TVM.2017157T100031.v2.0": (data.SLOVENIA_FRAMES[1], "S2"),
    "HLS.S30.T29QND.2019182T112119.v2.0": (data.HLS_V15_S30, "S30"),
    "HLS.L30.T04VER.2019182T211436.v2.0": (data.HLS_V15_L30, "L30"),
}


def _crop_window(width: int, height: int, size: int):
    from hls_translate.core.grid import Window

    w, h = min(size, width), min(size, height)
    return Window((width - w) // 2, (height - h) // 2, w, h)


def write_granule(folder: pathlib.Path, granule: str, source: pathlib.Path, sensor: str, size: int) -> pathlib.Path:
    """One granule folder ``folder/granule`` from the centre ``size`` x ``size`` crop of ``source``."""
    from hls_translate.core import bands
    from hls_translate.core.grid import Grid
    from hls_translate.core.scene import open_scene
    from hls_translate.core.writer import OutputBand, write_raster

    out = folder / granule
    out.mkdir(parents=True, exist_ok=True)
    sid = granule.split(".")[1]
    qa = source.with_name(source.stem + "_Fmask.tif")
    with open_scene([str(source), str(qa)] if qa.exists() else str(source), sensor=sensor) as scene:
        win = _crop_window(scene.grid.width, scene.grid.height, size)
        grid = Grid(scene.grid.crs_wkt, scene.grid.window_transform(win), win.width, win.height)
        for cls in scene.bands:
            sb = bands.sensor_band_for_class(sid, cls)
            if sb is None:
                continue
            values, valid = scene.read(cls, win, use_qa=False)
            write_raster(str(out / f"{granule}.{sb.code}.tif"), grid, values[None],
                         [OutputBand(sb.code, band=cls, code=sb.code)], valid=valid[None], dtype="int16",
                         nodata=float(bands.HLS_FILL), overviews=False)
        if scene.qa is not None:
            from hls_translate.core.backends import open_reader

            h = open_reader(scene.qa.path)
            fmask = h.read(scene.qa.index, win).astype(np.float32)
            h.close()
            write_raster(str(out / f"{granule}.Fmask.tif"), grid, fmask[None], [OutputBand("Fmask")], dtype="uint8",
                         overviews=False)
    return out


def make_granules(folder, size: int = 96) -> Dict[str, pathlib.Path]:
    """Every granule of :data:`SOURCES` under ``folder``: ``{granule id: its folder}``."""
    folder = pathlib.Path(folder)
    return {g: write_granule(folder, g, src, sensor, size) for g, (src, sensor) in SOURCES.items()}


#: the broken granule of :func:`granules_with_a_broken_one`, and the granule it is a broken copy of
BROKEN = "HLS.S30.T30SXH.2019251T105031.v2.0"
BROKEN_FROM = "HLS.S30.T30SXH.2019250T105031.v2.0"


def granules_with_a_broken_one(folder, size: int) -> Dict[str, pathlib.Path]:
    """:func:`make_granules` plus :data:`BROKEN`, a copy of :data:`BROKEN_FROM` whose B04 file is cut short."""
    folder = pathlib.Path(folder)
    made = make_granules(folder, size=size)
    made[BROKEN] = break_granule(made[BROKEN_FROM], folder, BROKEN)
    return made


def break_granule(granule_dir: pathlib.Path, folder: pathlib.Path, new_id: str, band: str = "B04") -> pathlib.Path:
    """A copy of ``granule_dir`` named ``new_id`` under ``folder`` whose ``band`` file is cut off a few bytes
    into its pixel data: the header and georeferencing read, the pixels do not (needs ``osgeo``)."""
    from osgeo import gdal

    old_id = granule_dir.name
    out = folder / new_id
    out.mkdir(parents=True)
    for f in sorted(granule_dir.iterdir()):
        shutil.copy(f, out / f.name.replace(old_id, new_id))
    victim = out / f"{new_id}.{band}.tif"
    ds = gdal.Open(str(victim))
    first = int(ds.GetRasterBand(1).GetMetadataItem("BLOCK_OFFSET_0_0", "TIFF"))
    ds = None
    with open(victim, "r+b") as f:
        f.truncate(first + 16)
    assert os.path.getsize(victim) == first + 16
    return out
