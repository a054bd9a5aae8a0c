"""Raster I/O on the real scenes and on small files the tests make: values, georeferencing, metadata."""

import os
import stat
import tracemalloc

import numpy as np
import pytest
from osgeo import gdal

from hls_translate.core import bands
from hls_translate.core.backends import RasterioReader
from hls_translate.core.errors import (AmbiguousBandError, GridMismatchError, MissingBandError, NotARasterError,
                                       RasterError, RasterNotFoundError, RasterWriteError, UnknownBandError)
from hls_translate.core.grid import Grid, Window, iter_windows
from hls_translate.core.scene import open_scene
from hls_translate.core.writer import OutputBand, RasterWriter, write_raster

gdal.UseExceptions()
SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources", "sample", "spain_l1c_crop")


def _gdal_band(path, index=1, win=None):
    ds = gdal.Open(str(path))
    b = ds.GetRasterBand(index)
    return b.ReadAsArray(*win) if win else b.ReadAsArray()


# --- reading the real scenes -----------------------------------------------------------------------
def test_multiband_file_by_descriptions(spain_tif):
    s = open_scene(spain_tif)
    assert s.sensor == "S2"
    assert [b.key for b in s.bands] == [b.key for b in bands.BAND_CLASSES[:13]]
    src = s.source("B8A")
    assert (src.index, src.code, src.nodata, src.scale) == (9, "B8A", 0.0, 1e-4)
    win = Window(100, 200, 37, 23)
    values, valid = s.read("nir_narrow", win)
    raw = _gdal_band(spain_tif, 9, (100, 200, 37, 23))
    assert values.dtype == np.float32 and values.shape == (23, 37)
    np.testing.assert_allclose(values, raw.astype(np.float64) * 1e-4, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(valid, raw != 0)
    # B05 in a Sentinel-2 scene is red edge 1, read on the scene's own sensor
    np.testing.assert_array_equal(s.read("B05", win)[0], s.read("red_edge_1", win)[0])


def test_uint16_stack_without_declared_nodata_uses_sensor_convention(t19udp_tif):
    s = open_scene(t19udp_tif)
    src = s.source("cirrus")
    assert src.nodata == 0.0 and src.dtype == "uint16" and src.index == 11
    values, valid = s.read("cirrus")
    raw = _gdal_band(t19udp_tif, 11)
    np.testing.assert_array_equal(valid, raw != 0)
    assert 0 < valid.mean() <= 1
    np.testing.assert_allclose(values[valid], raw[valid] * 1e-4, atol=1e-7)


def test_read_stack_matches_single_reads(spain_tif):
    s = open_scene(spain_tif)
    w = Window(0, 0, 16, 16)
    v, m = s.read_stack(["B02", "B8A", "B12"], w)
    assert v.shape == (3, 16, 16) and m.shape == (3, 16, 16)
    for i, b in enumerate(["B02", "B8A", "B12"]):
        np.testing.assert_array_equal(v[i], s.read(b, w)[0])


def test_per_band_files_at_mixed_resolution_need_resampling(bigearthnet_patch):
    with pytest.raises(GridMismatchError) as e:
        open_scene(bigearthnet_patch)
    msg = str(e.value)
    assert "_B05.tif: 60x60 px, 20 x 20" in msg and "_B02.tif: 120x120 px, 10 x 10" in msg
    assert "resampling" in msg


def test_resampling_onto_reference_band(bigearthnet_patch):
    s = open_scene(bigearthnet_patch, resampling="nearest", reference="B02")
    assert (s.grid.width, s.grid.height) == (120, 120) and s.grid.res == (10.0, 10.0)
    b05, valid = s.read("B05")
    raw = _gdal_band(next(bigearthnet_patch.glob("*_B05.tif")))
    # nearest from 20 m onto 10 m: every 20 m pixel becomes a 2x2 block
    np.testing.assert_allclose(b05, np.repeat(np.repeat(raw, 2, 0), 2, 1) * 1e-4, atol=1e-7)
    assert valid.all()
    # a window of a warped band equals the same part of the whole warped band
    w = Window(33, 41, 20, 17)
    np.testing.assert_array_equal(s.read("B05", w)[0], b05[w.slices])
    # the coarse grid as reference: average resampling of the 10 m bands
    c = open_scene(bigearthnet_patch, resampling="average", reference="B05")
    assert (c.grid.width, c.grid.height) == (60, 60)
    b02 = c.read("B02")[0]
    fine = _gdal_band(next(bigearthnet_patch.glob("*_B02.tif"))).astype(np.float64) * 1e-4
    np.testing.assert_allclose(b02, fine.reshape(60, 2, 60, 2).mean(axis=(1, 3)), atol=1e-4)


def test_reference_band_must_exist(bigearthnet_patch):
    with pytest.raises(MissingBandError, match="reference band cirrus"):
        open_scene(bigearthnet_patch, resampling="bilinear", reference="cirrus")


def test_qa_layer_masks_pixels(t29rkh_dir):
    s = open_scene(t29rkh_dir, resampling="bilinear", reference="B02")
    assert s.qa is not None and s.qa.kind == "SCL"
    w = Window(0, 0, 1098, 1098)
    bad = s.qa_invalid(w)
    scl = _gdal_band(t29rkh_dir / "SCL.tif")
    # SCL (200 m) read with nearest onto the 100 m grid
    expected = np.isin(np.repeat(np.repeat(scl, 2, 0), 2, 1), [0, 1, 3, 8, 9, 10])
    np.testing.assert_array_equal(bad, expected)
    assert 0 < bad.mean() < 0.5
    _, valid = s.read("B04", w)
    assert not valid[bad].any()
    _, valid_no_qa = s.read("B04", w, use_qa=False)
    assert valid_no_qa.sum() > valid.sum()
    s2 = open_scene(t29rkh_dir, resampling="bilinear", use_qa=False)
    assert s2.qa is None


def test_read_needs_memory_of_the_window_only(t29rkh_dir):
    s = open_scene(t29rkh_dir / "B04.tif")
    s.read("red", Window(0, 0, 8, 8))  # open the handle first
    tracemalloc.start()
    try:
        values, valid = s.read("red", Window(500, 500, 64, 64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    window_bytes = 64 * 64 * 4
    full_bytes = 1098 * 1098 * 4
    assert peak < 8 * window_bytes < full_bytes // 30, peak


def test_window_outside_the_scene_is_refused(spain_tif):
    s = open_scene(spain_tif)
    with pytest.raises(ValueError, match="outside"):
        s.read("red", Window(500, 500, 64, 64))


# --- errors ------------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(RasterNotFoundError, match="nope.tif"):
        open_scene(tmp_path / "nope.tif")


def test_not_a_raster(tmp_path, data_dir):
    with pytest.raises(NotARasterError, match="README.md"):
        open_scene(data_dir / "README.md")
    bad = tmp_path / "broken_B04.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(NotARasterError, match="broken_B04.tif"):
        open_scene(bad)


def test_band_the_scene_lacks(t29rkh_dir):
    s = open_scene(t29rkh_dir, resampling="bilinear")
    with pytest.raises(MissingBandError) as e:
        s.read("cirrus")
    assert "cirrus" in str(e.value) and "swir_2" in str(e.value)


def test_unknown_band_name(spain_tif):
    s = open_scene(spain_tif)
    with pytest.raises(UnknownBandError, match="S2 has no band 'B13'; its bands are: B01"):
        s.read("B13")
    with pytest.raises(UnknownBandError, match="known band names: coastal_aerosol"):
        s.read("ultraviolet")
    with pytest.raises(UnknownBandError, match="B13"):
        open_scene(spain_tif, band_map={1: "B13"})


def test_band_map_overrides_descriptions(spain_tif):
    s = open_scene(spain_tif, band_map={4: "red", 8: "nir_broad"})
    assert [b.key for b in s.bands] == ["red", "nir_broad"]
    np.testing.assert_array_equal(s.read("red")[0], open_scene(spain_tif).read("B04")[0])


def test_file_without_band_names_needs_a_map(tmp_path, spain_tif):
    p = tmp_path / "anonymous.tif"
    gdal.Translate(str(p), str(spain_tif), bandList=[4])
    ds = gdal.Open(str(p), gdal.GA_Update)
    ds.GetRasterBand(1).SetDescription("")
    ds = None
    with pytest.raises(Exception, match="cannot tell which band"):
        open_scene(p)
    s = open_scene(p, band_map={1: "B04"}, sensor="S2")
    assert s.bands[0].key == "red"


def test_ambiguous_per_band_files_need_a_sensor(tmp_path, spain_tif):
    for i, code in ((4, "B04"), (5, "B05")):
        gdal.Translate(str(tmp_path / f"x_{code}.tif"), str(spain_tif), bandList=[i])
    paths = sorted(str(p) for p in tmp_path.iterdir())
    with pytest.raises(AmbiguousBandError, match="B05"):
        open_scene(paths)
    s = open_scene(paths, sensor="S2")
    assert [b.key for b in s.bands] == ["red", "red_edge_1"]


def test_folder_with_two_scenes_is_an_error(tmp_path, spain_tif):
    for prefix in ("a", "b"):
        gdal.Translate(str(tmp_path / f"{prefix}_B04.tif"), str(spain_tif), bandList=[4])
    with pytest.raises(Exception, match="holds 2 scenes"):
        open_scene(tmp_path)


# --- HLS granules ------------------------------------------------------------------------------------
def _write_hls_band(path, arr, scale=None, nodata=-9999, grid_from=None):
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(str(path), arr.shape[1], arr.shape[0], 1,
                    gdal.GDT_Int16 if arr.dtype == np.int16 else gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 30.0, 0.0, 4200000.0, 0.0, -30.0))
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32610)
    ds.SetProjection(srs.ExportToWkt())
    b = ds.GetRasterBand(1)
    if nodata is not None:
        b.SetNoDataValue(nodata)
    if scale is not None:
        b.SetScale(scale)
    b.WriteArray(arr)
    ds = None


def test_hls_granule_folder_with_fmask(tmp_path):
    gid = "HLS.L30.T10SEG.2021180T183000.v2.0"
    rng = np.random.default_rng(0)
    b05 = rng.integers(0, 6000, (40, 50)).astype(np.int16)
    b05[0, :5] = -9999
    b10 = rng.integers(1000, 4000, (40, 50)).astype(np.int16)  # degC * 100
    fmask = np.zeros((40, 50), np.uint8)
    fmask[10:12, 10:20] = 0b10  # cloud
    fmask[20, 20] = 0b100000  # water: usable
    _write_hls_band(tmp_path / f"{gid}.B05.tif", b05, scale=1e-4)
    _write_hls_band(tmp_path / f"{gid}.B10.tif", b10)  # no scale in file: class scale (0.01)
    _write_hls_band(tmp_path / f"{gid}.Fmask.tif", fmask, nodata=255)
    s = open_scene(tmp_path)
    assert s.name == gid and s.sensor == "L30" and s.qa.kind == "Fmask"
    assert [b.key for b in s.bands] == ["nir_narrow", "thermal_1"]
    v, m = s.read("B05")  # on L30, B05 is NIR narrow
    np.testing.assert_allclose(v[m], b05[m] * 1e-4, atol=1e-7)
    assert not m[0, :5].any() and not m[10:12, 10:20].any() and m[20, 20] and m.sum() == 2000 - 5 - 20
    t, _ = s.read("thermal_1")
    np.testing.assert_allclose(t, b10 * 0.01, atol=1e-5)
    assert s.source("thermal_1").scale == 0.01
    s2 = open_scene(tmp_path, qa_exclude=("water",))
    assert not s2.read("B05")[1][20, 20] and s2.read("B05")[1][10, 10]


# --- writing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("driver", ["GTiff", "COG"])
@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_write_round_trip_preserves_values_and_georeferencing(tmp_path, spain_tif, driver, dtype):
    s = open_scene(spain_tif)
    values, valid = s.read_stack(["B8A", "B10"])
    valid[:, :3, :3] = False
    out = tmp_path / f"out_{driver}_{dtype}.tif"
    bands_out = [OutputBand("B8A NIR narrow (test)", bands.resolve_band("B8A"), code="B8A",
                            metadata={"source": "test"}),
                 OutputBand("B10 cirrus (test)", bands.resolve_band("cirrus"), code="B10")]
    write_raster(out, s.grid, values, bands_out, valid=valid, dtype=dtype, driver=driver,
                 metadata={"HLS_TRANSLATE_MODEL": "unit-test"})
    ds = gdal.Open(str(out))
    assert ds.GetGeoTransform() == s.grid.transform
    assert Grid(ds.GetProjection(), ds.GetGeoTransform(), 512, 512).matches(s.grid)
    assert ds.GetMetadataItem("HLS_TRANSLATE_MODEL") == "unit-test"
    if driver == "COG":
        assert ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    b1 = ds.GetRasterBand(1)
    assert b1.GetDescription() == "B8A NIR narrow (test)"
    assert b1.GetMetadataItem("HLS_TRANSLATE_BAND") == "nir_narrow" and b1.GetMetadataItem("source") == "test"
    assert b1.GetOverviewCount() >= 1
    assert b1.GetNoDataValue() == -9999
    if dtype == "int16":
        assert b1.DataType == gdal.GDT_Int16 and b1.GetScale() == 1e-4
    # read back through the library: same band classes, same values, same mask
    r = open_scene(out)
    assert [b.key for b in r.bands] == ["nir_narrow", "cirrus"]
    assert r.grid.matches(s.grid)
    v2, m2 = r.read_stack(["nir_narrow", "cirrus"])
    np.testing.assert_array_equal(m2, valid)
    tol = 1e-7 if dtype == "float32" else 0.5e-4 + 1e-7
    np.testing.assert_allclose(v2[valid], values[valid], atol=tol)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_windowed_writer_streams(tmp_path, spain_tif):
    s = open_scene(spain_tif)
    out = tmp_path / "strips.tif"
    with RasterWriter(out, s.grid, [OutputBand("red", bands.resolve_band("red"))]) as w:
        for win in iter_windows(512, 512, 200):
            v, m = s.read("red", win)
            w.write(win, v, m)
        assert not out.exists()  # nothing at the path until complete
    np.testing.assert_array_equal(open_scene(out).read("red")[0], s.read("red")[0])


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path, spain_tif):
    s = open_scene(spain_tif)
    out = tmp_path / "keep.tif"
    out.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="boom"):
        with RasterWriter(out, s.grid, [OutputBand("red")]) as w:
            w.write(Window(0, 0, 10, 10), np.ones((10, 10), np.float32))
            raise RuntimeError("boom")
    assert out.read_bytes() == b"previous result"
    assert sorted(os.listdir(tmp_path)) == ["keep.tif"]


def test_unwritable_output_fails_before_any_work(tmp_path, spain_tif):
    grid = open_scene(spain_tif).grid
    with pytest.raises(RasterWriteError, match="does not exist"):
        RasterWriter(tmp_path / "no" / "such" / "dir.tif", grid, [OutputBand("x")])
    with pytest.raises(RasterWriteError, match="is a folder"):
        RasterWriter(tmp_path, grid, [OutputBand("x")])
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        with pytest.raises(RasterWriteError, match="not writable"):
            RasterWriter(ro / "x.tif", grid, [OutputBand("x")])


def test_int16_encoding_clips_and_reserves_fill(tmp_path, spain_tif):
    grid = Grid(open_scene(spain_tif).grid.crs_wkt, (0, 1, 0, 0, 0, -1), 5, 1)
    vals = np.array([[-5.0, 0.1234, 10.0, np.nan, -0.9999]], np.float32)
    out = write_raster(tmp_path / "i16.tif", grid, vals[None],
                       [OutputBand("red", bands.resolve_band("red"))], dtype="int16")
    dn = _gdal_band(out)
    # clipped to the int16 range; NaN -> fill; a valid value landing on the fill moves off it
    assert dn.tolist() == [[-32768, 1234, 32767, -9999, -9998]]


def test_rasterio_backend_reads_the_same(monkeypatch, bigearthnet_patch, spain_tif):
    pytest.importorskip("rasterio")
    w = Window(10, 20, 30, 40)
    ref = open_scene(spain_tif).read_stack(["B04", "B8A"], w)
    ref_warp = open_scene(bigearthnet_patch, resampling="nearest", reference="B02").read("B05")[0]
    monkeypatch.setenv("HLS_TRANSLATE_RASTER_BACKEND", "rasterio")
    s = open_scene(spain_tif)
    assert isinstance(s._handle(str(spain_tif), s.grid), RasterioReader)
    got = s.read_stack(["B04", "B8A"], w)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    warped = open_scene(bigearthnet_patch, resampling="nearest", reference="B02").read("B05")[0]
    np.testing.assert_array_equal(warped, ref_warp)


# --- hostile and careless input ---------------------------------------------------------------------------
def _single_band(path, src_path, band, gt=None, srs_wkt=None, dtype=None):
    from osgeo import gdal

    src = gdal.Open(str(src_path))
    a = src.GetRasterBand(band).ReadAsArray()
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(str(path), a.shape[1], a.shape[0], 1, dtype or src.GetRasterBand(band).DataType)
    ds.SetGeoTransform(gt or src.GetGeoTransform())
    ds.SetProjection(srs_wkt or src.GetProjection())
    ds.GetRasterBand(1).WriteArray(a)
    ds.GetRasterBand(1).SetDescription(src.GetRasterBand(band).GetDescription())
    ds = None
    return str(path)


@pytest.mark.data
def test_complex_rasters_and_missing_band_numbers_are_refused_clearly(tmp_path, spain_tif, capsys):
    from osgeo import gdal

    from hls_translate.cli import main

    cplx = _single_band(tmp_path / "c_B04.tif", spain_tif, 4, dtype=gdal.GDT_CFloat32)
    with pytest.raises(RasterError, match=r"holds complex numbers \(complex64\)"):
        open_scene(cplx)
    with pytest.raises(UnknownBandError, match=r"names band 99, but the file has 13 bands"):
        open_scene(str(spain_tif), band_map={99: "B04"})
    assert main(["predict", "--model", "m.onnx", "--input", str(spain_tif), "--band-map", "99=B04", "--target",
                 "B05", "--out", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err
    assert "names band 99" in err and "description" not in err


@pytest.mark.data
def test_rotated_reference_grid_with_resampling_is_refused_not_misregistered(tmp_path, spain_tif):
    from osgeo import gdal

    gt = list(gdal.Open(str(spain_tif)).GetGeoTransform())
    rot = [gt[0], gt[1], 2e-6, gt[3], 2e-6, gt[5]]
    a = _single_band(tmp_path / "T30SXH_20200101_B04.tif", spain_tif, 4, gt=rot)
    b = _single_band(tmp_path / "T30SXH_20200101_B03.tif", spain_tif, 3, gt=rot)
    with open_scene([a, b]) as s:  # one shared rotated grid: read as it is, no warping
        assert s.grid.rotated and s.read("B04")[1].all()
    coarse = tmp_path / "T30SXH_20200101_B11.tif"
    gdal.Translate(str(coarse), _single_band(tmp_path / "T30SXH_20200102_B11.tif", spain_tif, 12), width=256, height=256)
    with pytest.raises(GridMismatchError, match="rotated geotransform"):
        open_scene([a, b, str(coarse)], resampling="bilinear")


@pytest.mark.data
def test_a_band_in_another_crs_that_does_not_overlap_is_an_error_not_an_empty_scene(tmp_path, spain_tif):
    from osgeo import osr

    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32633)  # zone 33N: Spain's degrees read as metres there lie far away
    a = _single_band(tmp_path / "m_B04.tif", spain_tif, 4)
    b = _single_band(tmp_path / "m_B03.tif", spain_tif, 3, srs_wkt=utm.ExportToWkt())
    with pytest.raises(GridMismatchError, match=r"m_B03.tif does not overlap the reference grid"):
        open_scene([a, b], resampling="bilinear")


def test_unknown_resampling_is_a_config_error():
    from hls_translate.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown resampling method 'foo'"):
        open_scene(str(SAMPLE), resampling="foo")
