"""Shared test fixtures: paths to the real scenes in ../shared/data.

QGIS tests live in tests/qgis/ with their own conftest (one headless QgsApplication per session).
"""

import os
import pathlib

import pytest

# GDAL writes statistics QGIS computes into .aux.xml files beside the rasters it reads; tests must leave the
# repository's sample scene and the shared data untouched.  (Set before QGIS or GDAL is initialised;
# subprocesses such as qgis_process inherit it.)
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")

REPO = pathlib.Path(__file__).resolve().parents[1]


def _shared_data() -> pathlib.Path:
    env = os.environ.get("HLS_TRANSLATE_DATA")
    candidates = [pathlib.Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data", REPO / "shared" / "data", pathlib.Path("/work/shared/data")]
    for c in candidates:
        if (c / "README.md").is_file():
            return c
    raise RuntimeError(
        "the real scenes were not found: set HLS_TRANSLATE_DATA or put them in ../shared/data "
        f"(looked in {', '.join(str(c) for c in candidates)})")


DATA = _shared_data()
SPAIN = DATA / "s2_l1c_13band_spain_512px" / "Spain_7370579_S2Hand.tif"
T19UDP = DATA / "s2_l1c_13band_T19UDP_160m" / "T19UDP_20170729_L1C_13band_160m_stack.tif"
T29RKH = DATA / "s2_l2a_12band_T29RKH_decimated"
BIGEARTHNET = DATA / "bigearthnet_s2_l2a_12band_patches"


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return DATA


@pytest.fixture(scope="session")
def spain_tif() -> pathlib.Path:
    return SPAIN


@pytest.fixture(scope="session")
def t19udp_tif() -> pathlib.Path:
    return T19UDP


@pytest.fixture(scope="session")
def t29rkh_dir() -> pathlib.Path:
    return T29RKH


@pytest.fixture(scope="session")
def bigearthnet_patch() -> pathlib.Path:
    return sorted(p for p in BIGEARTHNET.iterdir() if p.is_dir())[0]
