"""Hooks and fixtures for every test: the real scenes of ../shared/data, and what happens without them.

A test that reads the real scenes says so: with ``@pytest.mark.data`` (or ``pytestmark``), or by using
one of the fixtures below, which all build on ``data_dir`` (such tests get the marker automatically).
Without the data those tests are skipped, naming where the data was looked for; under ``CI=true`` the run
stops before collection instead, so a CI run can never pass by skipping them.  The paths themselves and
the other shared helpers are in tests/support (``from support.data import SPAIN``).

QGIS tests live in tests/qgis/ with their own conftest (one headless QgsApplication per session).
"""

import os
import pathlib

import pytest

# GDAL writes statistics QGIS computes into .aux.xml files beside the rasters it reads; tests must leave the
# repository's sample scene and the shared data untouched.  (Set before QGIS or GDAL is initialised;
# subprocesses such as qgis_process inherit it.)
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")

from support import data  # noqa: E402


def pytest_configure(config):
    if data.running_in_ci() and not data.AVAILABLE:
        raise pytest.UsageError(f"CI must run every test, but {data.missing_reason()}")


@pytest.hookimpl(tryfirst=True)  # before `-m` selection reads the markers
def pytest_collection_modifyitems(config, items):
    """Mark the tests whose fixtures need the data; skip every data test when the data is absent."""
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)
    if data.AVAILABLE:
        return
    skip = pytest.mark.skip(reason=data.missing_reason())
    for item in items:
        if item.get_closest_marker("data") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return data.DATA


@pytest.fixture(scope="session")
def spain_tif(data_dir) -> pathlib.Path:
    return data.SPAIN


@pytest.fixture(scope="session")
def t19udp_tif(data_dir) -> pathlib.Path:
    return data.T19UDP


@pytest.fixture(scope="session")
def t29rkh_dir(data_dir) -> pathlib.Path:
    return data.T29RKH


@pytest.fixture(scope="session")
def bigearthnet_patch(data_dir) -> pathlib.Path:
    return sorted(p for p in data.BIGEARTHNET.iterdir() if p.is_dir())[0]
