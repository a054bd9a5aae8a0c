"""core/gdal_cache.py: GDAL's block cache is capped during a run and restored after it."""

import pathlib
from types import SimpleNamespace

import pytest

from hls_translate.core.scene import open_scene
from hls_translate.core.gdal_cache import MIN_CACHE_BYTES, bounded_gdal_cache, gdal_cache_bytes

gdal = pytest.importorskip("osgeo.gdal")
SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "resources" / "sample" / "spain_l1c_crop"


@pytest.fixture
def scene():
    with open_scene(str(SAMPLE)) as s:
        yield s


@pytest.fixture
def big_cache(monkeypatch):
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(4 << 30)
    yield 4 << 30
    gdal.SetCacheMax(before)


def _wide(width, n_bands):
    """What gdal_cache_bytes reads of a scene: its grid's width and its bands' widths and dtypes."""
    grid = SimpleNamespace(width=width, height=1)
    return SimpleNamespace(grid=grid, sources={i: SimpleNamespace(grid=grid, dtype="int16") for i in range(n_bands)})


def test_size_grows_with_width_only(scene):
    assert gdal_cache_bytes([scene], 1) == MIN_CACHE_BYTES  # a small raster: the floor
    # two rows of 512-pixel blocks of 13 int16 inputs and 2 float32 outputs
    assert gdal_cache_bytes([_wide(10000, 13)], 2) == 1024 * 10000 * (13 * 2 + 2 * 4)
    assert gdal_cache_bytes([_wide(10000, 13), _wide(10000, 1)], 1) == 1024 * 10000 * (14 * 2 + 4)


def test_capped_during_the_run_and_restored(scene, big_cache):
    messages = []
    with bounded_gdal_cache([scene], 1, messages.append):
        assert gdal.GetCacheMax() == MIN_CACHE_BYTES
        with bounded_gdal_cache([scene, scene], 2):  # an overlapping run: the smallest cap holds
            assert gdal.GetCacheMax() == MIN_CACHE_BYTES
        assert gdal.GetCacheMax() == MIN_CACHE_BYTES
    assert gdal.GetCacheMax() == big_cache
    assert messages == [f"GDAL block cache limited to {MIN_CACHE_BYTES >> 20} MB (set GDAL_CACHEMAX to choose)"]


def test_restored_after_an_error_and_never_raised(scene, big_cache):
    with pytest.raises(RuntimeError):
        with bounded_gdal_cache([scene], 1):
            raise RuntimeError("boom")
    assert gdal.GetCacheMax() == big_cache
    gdal.SetCacheMax(64 << 20)  # already below what a run needs: left alone
    with bounded_gdal_cache([scene], 1):
        assert gdal.GetCacheMax() == 64 << 20
    assert gdal.GetCacheMax() == 64 << 20


def test_left_alone_when_the_user_chose(scene, big_cache, monkeypatch):
    monkeypatch.setenv("GDAL_CACHEMAX", "512")
    with bounded_gdal_cache([scene], 1):
        assert gdal.GetCacheMax() == big_cache
