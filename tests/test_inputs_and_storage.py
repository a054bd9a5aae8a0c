"""Issue 13's library side: names the detector reads (Sentinel-2 SAFE/JP2, STAC assets, per-band VRTs),
scene names, clip windows, the report of what inputs are taken for, and outputs stored in their inputs'
convention (with creation options), on real files."""

import glob
import os
import shutil

import numpy as np
import pytest
from osgeo import gdal

from hls_translate.core import bands
from hls_translate.core.backends import vrt_band_files
from hls_translate.core.delivery import StorageOptions, encodings_for, predict_stored
from hls_translate.core.errors import RasterWriteError
from hls_translate.core.grid import Window
from hls_translate.core.input_report import inspect_inputs
from hls_translate.core.metadata import read_metadata
from hls_translate.core.naming import group_scene_files, guess_sensor, identify_file
from hls_translate.core.scene import InputHints, open_scene, scene_name_of
from hls_translate.core.sources import band_sources_of
from hls_translate.core.writer import creation_options, hls_encoding, input_encoding
from support import REPO
from support.data import LANDSAT_C2L2_COLOMBIA

gdal.UseExceptions()
SAMPLE = REPO / "resources" / "sample" / "spain_l1c_crop"
MODEL = REPO / "resources" / "models" / "hls_translate_default.onnx"


def sample(code):
    return str(SAMPLE / f"Spain_7370579_S2L1C_crop_{code}.tif")


def copy_band(src, dst, description=None, nodata=None, scale=None):
    gdal.Translate(str(dst), str(src))
    ds = gdal.Open(str(dst), gdal.GA_Update)
    b = ds.GetRasterBand(1)
    if description is not None:
        b.SetDescription(description)
    if nodata is not None:
        b.SetNoDataValue(nodata)
    if scale is not None:
        b.SetScale(scale)
        b.SetOffset(0.0)
    ds = None
    return str(dst)


# --- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, role, code, product, res", [
    ("T29RKH_20200219T112119_B05_20m.jp2", "band", "B05", "s2_l2a", 20),
    ("T29RKH_20200219T112119_B05.jp2", "band", "B05", "s2_l1c", None),
    ("S2A_MSIL2A_20200219T112119_N0214_R037_T29RKH_20200219T123456_B05_20m.jp2", "band", "B05", "s2_l2a", 20),
    ("S2A_OPER_MSI_L1C_TL_SGS__20160112T160915_A002939_T18SVG_B05.jp2", "band", "B05", "s2_l1c", None),
    ("S2A_OPER_MSI_L1C_TL_SGS__20160112T160915_A002939_T18SVG_N02.01_B8A.jp2", "band", "B8A", "s2_l1c", None),
    ("T29RKH_20200219T112119_SCL_20m.jp2", "qa", "", "s2_l2a", 20),
])
def test_sentinel2_safe_jp2_names(name, role, code, product, res):
    f = identify_file(name)
    assert (f.role, f.code, f.product.key, f.resolution_m) == (role, code, product, res)


@pytest.mark.parametrize("name, role, key", [
    ("rededge1.tif", "band", "red_edge_1"), ("nir08.tif", "band", "nir_narrow"), ("nir.tif", "band", "nir_broad"),
    ("S2B_29RKH_20200219_0_L2A_swir16.tif", "band", "swir_1"), ("LC09_x_lwir11.tif", "band", "thermal_1"),
    ("item_scl.tif", "qa", ""), ("visual.tif", "other", ""), ("filtered.tif", None, None)])
def test_stac_asset_names(name, role, key):
    f = identify_file(name)
    assert (f.role, f.band_key) == (role, key) if role else f is None


def test_stac_asset_files_make_a_scene(tmp_path):
    stac = {"B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1", "B8A": "nir08", "B11": "swir16"}
    for code, asset in stac.items():
        copy_band(sample(code), tmp_path / f"S2B_30SXH_20190530_0_L2A_{asset}.tif", description="")
    assert guess_sensor([f"{a}.tif" for a in stac.values()]) == "S2"  # red edge: only Sentinel-2 has it
    (group,) = group_scene_files(str(tmp_path))
    assert group.scene_id == "S2B_30SXH_20190530_0_L2A" and group.sensor == "S2"
    s = open_scene(str(tmp_path))
    assert [b.key for b in s.bands] == ["blue", "green", "red", "red_edge_1", "nir_narrow", "swir_1"]
    src = s.source("nir_narrow")
    assert (src.code, src.identified_by, src.scale, src.nodata) == ("B8A", "file name", 1e-4, 0.0)
    np.testing.assert_array_equal(s.read("red_edge_1")[0], open_scene([sample("B05")], sensor="S2").read("B05")[0])


def test_gdalbuildvrt_separate_bands_named_by_their_source_files(tmp_path):
    granule = "HLS.L30.T30SXH.2019150T105031.v2.0"
    files = [copy_band(sample(c), tmp_path / f"{granule}.{c}.tif", description="", nodata=-9999, scale=1e-4)
             for c in ("B02", "B04", "B05")]  # L30 numbering: B05 is NIR narrow
    vrt = tmp_path / "stack.vrt"
    gdal.BuildVRT(str(vrt), files, separate=True)
    assert [len(f) for f in vrt_band_files(str(vrt))] == [1, 1, 1]
    found = band_sources_of(str(vrt))
    assert [(s.band.key, s.code, s.sensor, s.identified_by) for s in found] == [
        ("blue", "B02", "L30", "VRT source file name"), ("red", "B04", "L30", "VRT source file name"),
        ("nir_narrow", "B05", "L30", "VRT source file name")]
    direct = open_scene(files)
    np.testing.assert_array_equal(open_scene([str(vrt)]).read("nir_narrow")[0], direct.read("nir_narrow")[0])


def test_scene_named_after_what_its_files_share(t29rkh_dir):
    files = sorted(glob.glob(str(SAMPLE / "*.tif")))
    assert scene_name_of(files) == "Spain_7370579_S2L1C_crop"
    assert open_scene(files[:4]).name == "Spain_7370579_S2L1C_crop"
    bare = sorted(glob.glob(str(t29rkh_dir / "B0[234].tif")))  # files named by band alone: the folder
    assert scene_name_of(bare) == os.path.basename(str(t29rkh_dir)) != "B02"


def test_hints_word_the_remedies(bigearthnet_patch):
    files = sorted(glob.glob(str(bigearthnet_patch / "*_B0[25].tif")))
    with pytest.raises(Exception, match="use the dialog's Resampling"):
        open_scene(files, hints=InputHints(resampling="use the dialog's Resampling"))


# --- clip windows ------------------------------------------------------------------------------------
def test_clip_window_reads_the_whole_scenes_pixels(bigearthnet_patch):
    files = sorted(glob.glob(str(bigearthnet_patch / "*_B*.tif")))
    whole = open_scene(files, resampling="bilinear")
    g = whole.grid
    x0, y0 = g.transform[0], g.transform[3]
    win = g.window_of((x0 + 15 * 10 + 3, y0 - 70 * 10 - 2, x0 + 60 * 10, y0 - 20 * 10))  # metres, 10 m pixels
    assert win == Window(15, 20, 45, 51)
    part = whole.clipped(win)
    assert part.grid.transform[0] == x0 + 150 and part.grid.transform[3] == y0 - 200
    assert (part.grid.width, part.grid.height) == (45, 51) and part.window == win
    for band in ("B02", "B05", "B09"):  # native 10, 20 and 60 m: warped on the whole scene's grid first
        np.testing.assert_array_equal(part.read(band)[0], whole.read(band, win)[0])
    assert g.window_of((x0 - 1000, y0 - 10, x0 - 500, y0)).width == 0
    with pytest.raises(Exception, match="does not overlap"):
        whole.clipped(Window(0, 0, 0, 0))


# --- what the inputs are taken for ------------------------------------------------------------------------
def test_input_report(tmp_path, bigearthnet_patch):
    md = read_metadata(str(MODEL))
    r = inspect_inputs([sample("B04")], targets=["cirrus", "thermal_1"], model=md)
    assert not r.error and r.rows[0].taken_as == "red" and r.rows[0].told_by == "band description"  # no sensor
    text = "\n".join(r.warnings)
    assert "cannot synthesize thermal_1" in text
    assert "cirrus from red: only 1 input band and none in the SWIR region of cirrus" in text
    for c in ("B02", "B03", "B04", "B05", "B06"):  # a "landsat" folder: B05 is read as NIR narrow
        shutil.copy(sample(c), tmp_path / f"landsat8_scene_{c}.tif")
    r = inspect_inputs(sorted(glob.glob(str(tmp_path / "landsat8_*.tif"))), targets=["cirrus"], model=md)
    assert r.rows[3].taken_as == "B05 NIR narrow (nir_narrow)"
    assert any(w.startswith("B05 of landsat8_scene_B05.tif is read as NIR narrow (LANDSAT numbering") and
               "B05 red edge 1" in w for w in r.warnings)
    assert not any("B05" in w for w in inspect_inputs(sorted(glob.glob(str(tmp_path / "landsat8_*.tif"))),
                                                      sensor="LANDSAT").warnings)
    files = sorted(glob.glob(str(bigearthnet_patch / "*_B*.tif")))
    refused = inspect_inputs(files, hints=InputHints(resampling="choose RESAMPLING"))
    assert "different grids (10, 20, 60); choose RESAMPLING" in refused.error
    r = inspect_inputs(files, resampling="bilinear")
    b09 = next(row for row in r.rows if row.taken_as.startswith("B09"))
    assert b09.grid == "60" and b09.note.startswith("resampled (bilinear) onto 10")


# --- storage conventions -------------------------------------------------------------------------------
@pytest.mark.data
def test_input_encoding_follows_the_inputs():
    s2 = band_sources_of(sample("B04")) + band_sources_of(sample("B8A"))
    enc, why = input_encoding(s2, bands.band_class("cirrus"))
    assert (enc.dtype, enc.nodata, enc.scale, enc.offset, enc.tagged) == ("int16", 0.0, 1e-4, 0.0, False)
    assert enc.valid_range == (-0.01, 1.6) and "2 input band(s)" in why
    thermal, why = input_encoding(s2, bands.band_class("thermal_1"))
    assert thermal == hls_encoding(bands.band_class("thermal_1")) and "no input band of its kind" in why
    landsat = [s for s in band_sources_of(str(LANDSAT_C2L2_COLOMBIA)) if not s.band.is_thermal]
    enc, _ = input_encoding(landsat, bands.band_class("cirrus"))
    assert (enc.dtype, enc.nodata, enc.scale, enc.offset, enc.tagged) == ("uint16", 0.0, 2.75e-5, -0.2, True)
    mixed, why = input_encoding(s2 + landsat, bands.band_class("cirrus"))
    assert mixed == hls_encoding(bands.band_class("cirrus")) and "2 different ways" in why


def test_outputs_stored_like_the_inputs(tmp_path):
    files = [sample(c) for c in ("B02", "B03", "B04", "B8A", "B11", "B12")]
    cirrus = bands.band_class("cirrus")
    with open_scene(files) as scene:
        float_out, dn_out = tmp_path / "float.tif", tmp_path / "dn.tif"
        predict_stored(str(MODEL), scene, [cirrus], {"cirrus": str(float_out)})
        result = predict_stored(str(MODEL), scene, [cirrus], {"cirrus": str(dn_out)}, storage=StorageOptions("input"))
    assert result.outputs == {"cirrus": str(dn_out)} and sorted(os.listdir(tmp_path)) == ["dn.tif", "float.tif"]
    physical = gdal.Open(str(float_out)).ReadAsArray()
    ds = gdal.Open(str(dn_out))
    b = ds.GetRasterBand(1)
    dn = b.ReadAsArray()
    ref_ds = gdal.Open(files[0])
    ref = ref_ds.GetRasterBand(1)
    # the inputs' data type and nodata, and like them no GDAL scale tag: QGIS shows both in the same units
    assert dn.dtype == np.int16 and b.GetNoDataValue() == ref.GetNoDataValue() == 0
    assert b.GetScale() in (None, 1.0) and ref.GetScale() in (None, 1.0)
    expected = np.rint(physical * 1e4)
    expected[expected == 0] = 1  # a valid value that rounds onto the nodata value 0 is moved one step away
    np.testing.assert_array_equal(dn, expected.astype(np.int16))
    back = open_scene([str(dn_out)]).read("cirrus")[0]  # this library reads it back in reflectance
    np.testing.assert_allclose(back, dn * 1e-4, rtol=0, atol=1e-7)
    assert ds.GetGeoTransform() == gdal.Open(files[0]).GetGeoTransform()
    assert ds.GetMetadataItem("HLS_TRANSLATE_SCENE") == "Spain_7370579_S2L1C_crop"


def test_creation_options(tmp_path):
    assert creation_options("COMPRESS=ZSTD|zstd_level=9") == ("COMPRESS=ZSTD", "ZSTD_LEVEL=9")
    assert creation_options("-co COMPRESS=LZW -co PREDICTOR=2") == ("COMPRESS=LZW", "PREDICTOR=2")
    with pytest.raises(RasterWriteError, match="not KEY=VALUE"):
        creation_options("COMPRESS")
    cirrus = bands.band_class("cirrus")
    with open_scene([sample(c) for c in ("B02", "B04", "B8A", "B11")]) as scene:
        out = tmp_path / "zstd.tif"
        predict_stored(str(MODEL), scene, [cirrus], {"cirrus": str(out)},
                       storage=StorageOptions("int16", ("COMPRESS=ZSTD", "ZSTD_LEVEL=9")))
        assert gdal.Open(str(out)).GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "ZSTD"
        with pytest.raises(RasterWriteError, match="NO_SUCH is not one of the GTiff driver's"):
            predict_stored(str(MODEL), scene, [cirrus], {"cirrus": str(tmp_path / "bad.tif")},
                           storage=StorageOptions("input", ("NO_SUCH=1",)))
    assert sorted(os.listdir(tmp_path)) == ["zstd.tif"]  # a refused run leaves nothing


def test_encodings_for_each_choice():
    with open_scene([sample("B04")]) as scene:
        targets = [bands.band_class("cirrus")]
        assert encodings_for(scene, targets, StorageOptions("float32"))["cirrus"][0].physical
        assert encodings_for(scene, targets, StorageOptions("int16"))["cirrus"][0].tagged
        assert encodings_for(scene, targets, StorageOptions("input"))["cirrus"][0].dtype == "int16"
